"""Training speed: images/sec and time per epoch at several batch sizes, each a short real `train` run.

    python -m benchmarks.train_speed [--device cpu|cuda] [--batch-sizes 4,32] [--images 200] [--epochs 2]

Trains on a synthetic dataset made for the purpose; the first epoch warms up (workers, cuDNN autotuning), so the
figures are those of the last epoch. Every run is recorded in the run ledger (kind `train`), so
`python -m core report training` lists them beside real trainings; JSON goes to benchmarks/results/.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import configured_history, save_results
from core.data.synthetic import make_synthetic_dataset
from core.ledger import RunKind
from core.optimize.train import TrainConfig, Trainer, config_params


def measure(data: Path, output: Path, *, batch_size: int, epochs: int, device: str, workers: int) -> dict:
    config = TrainConfig(data=data, output=output, epochs=epochs, batch_size=batch_size, workers=workers,
                         device=device, evaluate_map=False, validation_epochs=epochs)
    with configured_history() as ledger, ledger.record(RunKind.TRAIN,
                                                        {**config_params(config), "benchmark": "train_speed"}) as run:
        history: list[dict] = []

        def record(metrics: dict) -> None:
            history.append(metrics)
            run.metric("images_per_sec", metrics["images_per_sec"], unit="img/s", epoch=metrics["epoch"])
            run.metric("epoch_seconds", metrics["epoch_seconds"], unit="s", epoch=metrics["epoch"])

        trainer = Trainer(config, on_epoch=record)
        trainer.run()
        last = history[-1]
        run.metric("images_per_sec", last["images_per_sec"], unit="img/s")
        run.metric("epoch_seconds", last["epoch_seconds"], unit="s")
    return {"batch_size": batch_size, "device": trainer.device.type, "train_images": len(trainer.train_data),
            "images_per_sec": last["images_per_sec"], "epoch_seconds": last["epoch_seconds"], "run_id": run.id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--batch-sizes", default="4,32")
    parser.add_argument("--images", type=int, default=200, help="synthetic images (80 %% are trained on)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = make_synthetic_dataset(Path(folder) / "shapes", images=args.images, seed=0)
        rows = [measure(data, Path(folder) / f"bs{batch}", batch_size=int(batch), epochs=args.epochs,
                        device=args.device, workers=args.workers) for batch in args.batch_sizes.split(",")]
    path = save_results("train_speed", {"images": args.images, "epochs": args.epochs, "rows": rows})
    for row in rows:
        print(f"{row['device']:5s} batch {row['batch_size']:3d}: {row['images_per_sec']:8.1f} img/s, "
              f"{row['epoch_seconds']:7.2f} s/epoch ({row['train_images']} images)")
    print(f"json: {path}")


if __name__ == "__main__":
    main()
