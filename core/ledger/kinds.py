"""The kinds of run the history holds: one constant each, for whoever records, lists or compares runs.

A kind is stored as its text, so a history exported by another version (or written by the Jetson program, which
spells the same texts) reads the same; `RunKind` members are `str`, usable wherever a kind's text is.
"""
from __future__ import annotations

from enum import StrEnum


class RunKind(StrEnum):
    TRAIN = "train"  # core train, the training-speed benchmark, a Jetson's train-time
    EXPORT = "export"  # core export-onnx, export-triton, the graph of a Jetson bundle
    OPTIMIZE = "optimize"  # one target of core optimize (and the Jetson's engines, imported)
    EVALUATION = "evaluation"  # core evaluate
    BENCHMARK = "benchmark"  # core benchmark, python -m benchmarks
    SERVE = "serve"  # core serve (a Triton server's lifetime)
    JETSON_PACK = "jetson-pack"  # core jetson pack


# Runs that measured a model (backend + precision): the rows the Compare page and `report optimize` put side by side.
COMPARED_KINDS = (RunKind.OPTIMIZE, RunKind.EVALUATION)
