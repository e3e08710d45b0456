"""GPU training speed with the full augmentation chain, and the loss curve of both augmentation forms (issue 16,
target 4).

    python -m benchmarks.gpu_train [--images 1600] [--workers 16] [--curve-images 1000] [--curve-epochs 20]
                                   [--json-out FILE]

Speed: batch 64, `--workers` loader workers, three epochs on a synthetic dataset; the rate is the last epoch's
(the first pays worker start-up and cuDNN set-up) and the first step is the cold one of epoch 0, loader start-up
included. Both augmentation forms are measured. Loss curves: the demo recipe (synthetic shapes, batch 64, lr 0.02,
cosine) trained from the same seed once with each form; per-epoch train and validation losses. On a machine
without CUDA every row is "skipped: no CUDA GPU". `run(options)` is the suite's entry point.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.common import save_rows_result
from core.data.synthetic import make_synthetic_dataset
from core.optimize.train import AUGMENTATIONS, TrainConfig, Trainer

NAME = "gpu_train"
RATE_TARGET = 1_000.0  # img/s at batch 64
FIRST_STEP_TARGET_S = 2.0
SPEED_BATCH = 64
SPEED_EPOCHS = 3
SCENARIOS = ((f"training, batch {SPEED_BATCH}, full augmentation", f">= {RATE_TARGET:,.0f} img/s"),
             ("training, first step", f"<= {FIRST_STEP_TARGET_S:.0f} s"),
             ("loss curve, warp vs reference augmentation", "unchanged"))


def skipped_rows(reason: str) -> list[dict]:
    return [{"scenario": name, "target": target, "ours": None, "median": None, "p95": None, "unit": None,
             "verdict": f"skipped: {reason}"} for name, target in SCENARIOS]


def _train(data: Path, output: Path, **config) -> list[dict]:
    history: list[dict] = []
    Trainer(TrainConfig(data=data, output=output, device="cuda", evaluate_map=False, seed=0, **config),
            on_epoch=history.append).run()
    return history


def measure_speed(data: Path, folder: Path, augmentation: str, workers: int) -> dict:
    history = _train(data, folder / f"speed-{augmentation}", epochs=SPEED_EPOCHS, batch_size=SPEED_BATCH,
                     workers=workers, augmentation=augmentation, validation_epochs=SPEED_EPOCHS)
    rates = [epoch["images_per_sec"] for epoch in history]
    return {"augmentation": augmentation, "images_per_sec_per_epoch": rates, "images_per_sec": rates[-1],
            "first_step_seconds": history[0]["first_step_seconds"],
            "later_first_steps_seconds": [epoch["first_step_seconds"] for epoch in history[1:]]}


def _mean_ms(function, repeats: int) -> float:
    begin = time.perf_counter()
    for index in range(repeats):
        function(index)
    return (time.perf_counter() - begin) * 1000.0 / repeats


def profile_stages(data: Path, repeats: int = 40) -> dict:
    """Where a step's time goes: one sample's CPU stages in this process (one core), and the GPU step alone on a
    fixed batch (forward, loss, backward, optimizer), after a warm-up."""
    import numpy as np
    import torch

    from core.optimize.train import SSDTrainingSet

    config = TrainConfig(data=data, output=data / "unused", device="cuda", batch_size=SPEED_BATCH, workers=0)
    trainer = Trainer(config)
    split = trainer.train_data
    samples = [split[index % len(split)] for index in range(repeats)]
    stages = {"load_ms": _mean_ms(lambda index: split[index % len(split)], repeats)}
    for name, augment in AUGMENTATIONS.items():
        stages[f"augment_{name}_ms"] = _mean_ms(
            lambda index: augment(samples[index].image, samples[index].boxes, samples[index].labels,
                                  np.random.default_rng(index)), repeats)
    training_set = SSDTrainingSet(split, train=True)
    stages["sample_total_ms"] = _mean_ms(lambda index: training_set[index % len(split)], repeats)
    images, locations, labels = next(iter(trainer.train_loader))

    def step(_: int) -> None:
        regression, classification = trainer._losses(images, locations, labels)
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer.scaler.scale(regression + classification).backward()
        trainer.scaler.step(trainer.optimizer)
        trainer.scaler.update()
        torch.cuda.synchronize()

    trainer.network.train()
    stages["first_gpu_step_ms"] = _mean_ms(step, 1)
    _mean_ms(step, 5)
    stages["gpu_step_ms"] = _mean_ms(step, 20)
    stages["gpu_bound_images_per_sec"] = SPEED_BATCH * 1000.0 / stages["gpu_step_ms"]
    return stages


def loss_curves(data: Path, folder: Path, epochs: int, workers: int) -> dict:
    curves = {}
    for augmentation in AUGMENTATIONS:
        history = _train(data, folder / f"curve-{augmentation}", epochs=epochs, batch_size=SPEED_BATCH, lr=0.02,
                         workers=workers, augmentation=augmentation)
        curves[augmentation] = {"train_loss": [epoch["train_loss"] for epoch in history],
                                "val_loss": [epoch["val_loss"] for epoch in history]}
    return curves


def curve_gap(curves: dict) -> float:
    """Largest relative difference between the two forms' validation losses over the last third of the epochs."""
    warp, reference = curves["warp"]["val_loss"], curves["reference"]["val_loss"]
    tail = max(1, len(warp) // 3)
    return max(abs(a - b) / b for a, b in zip(warp[-tail:], reference[-tail:]))


def run(options: dict | None = None) -> dict:
    """The suite's entry: {"benchmark", "rows", "details"}; options: images, workers, curve_images, curve_epochs."""
    import torch

    options = options or {}
    if not torch.cuda.is_available():
        return {"benchmark": NAME, "rows": skipped_rows("no CUDA GPU"), "details": {}}
    workers = int(options.get("workers") or min(16, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        data = make_synthetic_dataset(folder / "speed", images=int(options.get("images", 1600)), seed=0)
        speed = {augmentation: measure_speed(data, folder, augmentation, workers) for augmentation in AUGMENTATIONS}
        stages = profile_stages(data)
        demo = make_synthetic_dataset(folder / "demo", images=int(options.get("curve_images", 1000)), seed=0)
        curves = loss_curves(demo, folder, int(options.get("curve_epochs", 20)), workers)
    fast, gap = speed["warp"], curve_gap(curves)
    rows = [
        {"scenario": SCENARIOS[0][0], "target": SCENARIOS[0][1],
         "ours": f"{fast['images_per_sec']:,.0f} img/s (reference augmentation: "
                 f"{speed['reference']['images_per_sec']:,.0f})",
         "median": fast["images_per_sec"], "p95": None, "unit": "img/s",
         "verdict": "met" if fast["images_per_sec"] >= RATE_TARGET else "missed"},
        {"scenario": SCENARIOS[1][0], "target": SCENARIOS[1][1], "ours": f"{fast['first_step_seconds']:.2f} s",
         "median": fast["first_step_seconds"], "p95": None, "unit": "s",
         "verdict": "met" if fast["first_step_seconds"] <= FIRST_STEP_TARGET_S else "missed"},
        {"scenario": SCENARIOS[2][0], "target": SCENARIOS[2][1],
         "ours": f"final val loss {curves['warp']['val_loss'][-1]:.3f} vs {curves['reference']['val_loss'][-1]:.3f}"
                 f" (largest gap over the last third: {gap:.1%})",
         "median": gap, "p95": None, "unit": "relative", "verdict": "measured"},
    ]
    return {"benchmark": NAME, "rows": rows,
            "details": {"workers": workers, "batch_size": SPEED_BATCH, "speed": speed, "stages": stages,
                        "loss_curves": curves}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1600, help="synthetic images for the speed runs")
    parser.add_argument("--workers", type=int, help="loader workers (default: the cores, at most 16)")
    parser.add_argument("--curve-images", type=int, default=1000)
    parser.add_argument("--curve-epochs", type=int, default=20)
    parser.add_argument("--json-out", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run({"images": args.images, "workers": args.workers, "curve_images": args.curve_images,
                  "curve_epochs": args.curve_epochs})
    save_rows_result(NAME, result, args.json_out)


if __name__ == "__main__":
    main()
