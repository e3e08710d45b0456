"""The command line starts fast: building the parser imports no heavy runtime (each command imports its own)."""
from __future__ import annotations

import json
import subprocess
import sys

from core.config import REPO_ROOT

HEAVY = ("torch", "av", "pandas", "sqlalchemy", "cv2", "onnx", "onnxruntime", "streamlit")


def test_parser_imports_no_heavy_runtime():
    code = ("import sys, json; from core.cli import build_parser; build_parser(); "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_every_command_has_help():
    completed = subprocess.run([sys.executable, "-m", "core", "--help"], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=60)
    assert completed.returncode == 0
    for command in ("detect", "export-onnx", "train", "evaluate", "runs", "dataset", "send", "receive"):
        assert command in completed.stdout
