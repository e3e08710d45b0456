"""Which way of running the torch FP32 network is fastest on this CPU: eager, eager channels-last, and traced +
frozen + `optimize_for_inference` (BatchNorm folded into the convolutions, oneDNN convolutions fused with their
ReLU; what the torch backend runs on the CPU, `core.model.frozen.freeze_for_cpu`). Network only, batch 1, calls interleaved so a load change hits every variant
alike; each variant's largest output difference from eager is reported beside its time.

    python -m benchmarks.cpu_torch_variants [--threads 2] [--rounds 100]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from benchmarks.cpu_detect import DEMO_LABELS, DEMO_WEIGHTS
from core.model import SSDInference, load_model
from core.model.config import IMAGE_SIZE
from core.model.frozen import freeze_for_cpu
from core.timing.percentiles import percentile


def _network() -> torch.nn.Module:
    return SSDInference(load_model(DEMO_WEIGHTS, DEMO_LABELS).network).float().eval()


def variants(example: torch.Tensor) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    channels_last = example.contiguous(memory_format=torch.channels_last)
    return {"eager": (_network(), example),
            "eager_channels_last": (_network().to(memory_format=torch.channels_last), channels_last),
            "jit_frozen": (freeze_for_cpu(_network(), example), example)}


def measure(threads: int, rounds: int) -> dict:
    torch.set_num_threads(threads)
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, IMAGE_SIZE, IMAGE_SIZE))).float()
    models = variants(example)
    samples: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        reference = models["eager"][0](example)
        deviation = {name: max(float((a - b).abs().max()) for a, b in zip(model(inputs), reference))
                     for name, (model, inputs) in models.items()}
        for _ in range(5):
            for model, inputs in models.values():
                model(inputs)
        for _ in range(rounds):
            for name, (model, inputs) in models.items():
                started = time.perf_counter()
                model(inputs)
                samples[name].append((time.perf_counter() - started) * 1000.0)
    return {"threads": threads, "rounds": rounds, "variants": {
        name: {"median_ms": float(np.median(values)), "p95_ms": percentile(values, 95),
               "max_output_deviation": deviation[name]} for name, values in samples.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.threads, args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
