"""`python -m core train`: pytorch-ssd's training recipe, recorded as a `train` run in the ledger."""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from core.commands.values import NON_NEGATIVE, POSITIVE, RATE, output_folder, whole_list
from core.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train mobilenet-v1-ssd (pytorch-ssd recipe)")
    parser.add_argument("--data", required=True, type=Path, help="Open Images downloader folder or VOC folder")
    parser.add_argument("--labels", type=Path, help="labels.txt (default: BACKGROUND + sorted train classes)")
    parser.add_argument("--output", type=output_folder,
                        help="checkpoint folder (default: <data root>/models/<data name>)")
    parser.add_argument("--epochs", type=POSITIVE, default=30)
    parser.add_argument("--batch-size", type=POSITIVE, default=32)
    parser.add_argument("--lr", type=RATE, default=0.01)
    parser.add_argument("--momentum", type=RATE, default=0.9)
    parser.add_argument("--weight-decay", type=RATE, default=5e-4)
    parser.add_argument("--base-net-lr", type=RATE)
    parser.add_argument("--extra-layers-lr", type=RATE)
    parser.add_argument("--scheduler", choices=["cosine", "multistep"], default="cosine")
    parser.add_argument("--milestones", type=whole_list(1), default=(80, 100), help="multistep epochs, comma separated")
    parser.add_argument("--t-max", type=POSITIVE, help="cosine period in epochs (default: --epochs)")
    parser.add_argument("--freeze-base-net", action="store_true")
    parser.add_argument("--freeze-net", action="store_true", help="train only the heads")
    parser.add_argument("--pretrained", type=Path, help="initial weights, e.g. mobilenet-v1-ssd-mp-0_675.pth")
    parser.add_argument("--resume", type=Path, help="checkpoint to continue from (epoch count and LR schedule too)")
    parser.add_argument("--workers", type=NON_NEGATIVE, default=2)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-epochs", type=POSITIVE, default=1)
    parser.add_argument("--no-map", action="store_true", help="skip validation mAP after each checkpoint")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.optimize.train import TrainConfig, Trainer, config_params
    from core.commands.history import open_history
    from core.ledger import RunKind

    output = args.output or load_settings().data_root / "models" / args.data.resolve().name
    config = TrainConfig(
        data=args.data, output=output, epochs=args.epochs, batch_size=args.batch_size, labels=args.labels,
        lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay, base_net_lr=args.base_net_lr,
        extra_layers_lr=args.extra_layers_lr, scheduler=args.scheduler,
        milestones=args.milestones, t_max=args.t_max,
        freeze_base_net=args.freeze_base_net, freeze_net=args.freeze_net, pretrained=args.pretrained,
        resume=args.resume, workers=args.workers, device=args.device, seed=args.seed,
        validation_epochs=args.validation_epochs, evaluate_map=not args.no_map,
    )
    with open_history(args) as ledger, ledger.record(RunKind.TRAIN, config_params(config)) as run:
        history: list[dict] = []

        def record(metrics: dict) -> None:
            history.append(metrics)
            units = {"images_per_sec": "img/s", "epoch_seconds": "s", "lr": None}
            for name, value in metrics.items():
                if name != "epoch":
                    run.metric(name, value, unit=units.get(name), epoch=metrics["epoch"])

        trainer = Trainer(config, on_epoch=record)
        run.metric("train_images", len(trainer.train_data), unit="images")
        if args.resume:
            run.artifact(args.resume, kind="input", format="pth")
        checkpoint = trainer.run()
        summary = {
            "images_per_sec": statistics.median(m["images_per_sec"] for m in history),
            "epoch_seconds": statistics.median(m["epoch_seconds"] for m in history),
            **{key: history[-1][key] for key in ("train_loss", "val_loss", "val_map50") if key in history[-1]},
        }
        for name, value in summary.items():
            run.metric(name, value, unit={"images_per_sec": "img/s", "epoch_seconds": "s"}.get(name))
        run.artifact(checkpoint, kind="output", format="pth", precision="fp32")
        run.artifact(output / "labels.txt", kind="output", format="txt")
    print(json.dumps({"checkpoint": str(checkpoint), "run_id": run.id, **summary}, indent=2))
    return 0
