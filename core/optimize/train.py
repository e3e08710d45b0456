"""Train MobileNet-v1-SSD with pytorch-ssd's recipe and write checkpoints in its format and naming.

Multibox loss with 3:1 hard-negative mining, the SSD augmentation chain, SGD with momentum and a cosine or
multistep schedule, optional base-net freezing. Checkpoints `<net>-Epoch-<e>-Loss-<val_loss>.pth` (plain
state_dict) and `labels.txt` go to the output folder so jetson-inference's tools and our loader read them; a
`training-state.pt` beside them (weights-only loadable) lets `--resume` continue epoch count and LR schedule.
Every epoch records images/sec, time per epoch, train and validation losses and validation mAP@0.5.
"""
from __future__ import annotations

import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from core.data.dataset import CorruptImageError, DetectionDataset
from core.data.readers import default_class_names, open_split, read_dataset
from core.errors import UserError
from core.files.atomic import atomic_path
from core.model import build_mobilenet_v1_ssd, read_labels
from core.model.checkpoint import check_state_dict, read_state_dict, save_state_dict, write_labels
from core.model.mobilenet_ssd import MobileNetV1SSD
from core.model.priors import generate_priors
from core.optimize.augment import augment, augment_reference, resize_normalize
from core.optimize.multibox_loss import multibox_loss
from core.optimize.prior_matching import match_priors

log = logging.getLogger(__name__)
NET_NAME = "mb1-ssd"
STATE_FILE = "training-state.pt"
METRICS_FILE = "metrics.jsonl"
_EPOCH_IN_NAME = re.compile(r"-Epoch-(\d+)-")
AUGMENTATIONS = {"warp": augment, "reference": augment_reference}


@dataclass
class TrainConfig:
    data: Path
    output: Path
    epochs: int = 30
    batch_size: int = 32
    labels: Path | None = None
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    base_net_lr: float | None = None
    extra_layers_lr: float | None = None
    scheduler: str = "cosine"  # "cosine" or "multistep"
    milestones: tuple[int, ...] = (80, 100)
    t_max: int | None = None  # cosine period in epochs (default: epochs)
    freeze_base_net: bool = False
    freeze_net: bool = False
    pretrained: Path | None = None
    resume: Path | None = None
    workers: int = 2
    device: str = "auto"
    seed: int = 0
    validation_epochs: int = 1
    evaluate_map: bool = True
    augmentation: str = "warp"  # "warp" (one warp per sample) or "reference" (pytorch-ssd's step-by-step images)


class SSDTrainingSet(Dataset):
    """Samples of a `DetectionDataset` as (input, regression targets, class targets); augmented when training."""

    def __init__(self, dataset: DetectionDataset, *, train: bool, augmentation: str = "warp") -> None:
        if augmentation not in AUGMENTATIONS:
            raise UserError(f"unknown augmentation {augmentation!r} ({' or '.join(AUGMENTATIONS)})")
        self.dataset = dataset
        self.train = train
        self.augment = AUGMENTATIONS[augmentation]
        self.priors = generate_priors()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        for offset in range(len(self.dataset)):
            try:
                sample = self.dataset[(index + offset) % len(self.dataset)]
                break
            except CorruptImageError as error:
                log.warning("skipping %s", error)
        else:
            raise UserError(f"no readable image in {self.dataset.name}")
        height, width = sample.image.shape[:2]
        if self.train:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ())))
            image, boxes, labels = self.augment(sample.image, sample.boxes, sample.labels, rng)
        else:
            image = resize_normalize(sample.image)
            boxes = sample.boxes / np.array([width, height, width, height], np.float32)
            labels = sample.labels
        locations, targets = match_priors(torch.from_numpy(boxes), torch.from_numpy(labels.astype(np.int64)),
                                          self.priors)
        return torch.from_numpy(image), locations, targets


def _xavier(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def initialise(network: MobileNetV1SSD, pretrained: Path | None) -> None:
    """Xavier init for extras and heads (pytorch-ssd); `pretrained` copies every matching non-head tensor, so both a
    pretrained SSD (e.g. mobilenet-v1-ssd-mp-0_675.pth) and a base-net-only file work."""
    for part in (network.extras, network.classification_headers, network.regression_headers):
        part.apply(_xavier)
    if pretrained is None:
        return
    source = read_state_dict(pretrained)
    own = network.state_dict()
    usable = {key: tensor.float() if tensor.is_floating_point() else tensor for key, tensor in source.items()
              if key in own and own[key].shape == tensor.shape and "_headers." not in key}
    if not any(key.startswith("base_net.") for key in usable):
        raise UserError(f"{pretrained} has no base_net weights matching mb1-ssd")
    network.load_state_dict(usable, strict=False)
    log.info("initialised %d tensors from %s", len(usable), pretrained)


def _parameter_groups(network: MobileNetV1SSD, config: TrainConfig) -> list[dict]:
    heads = [*network.classification_headers.parameters(), *network.regression_headers.parameters()]
    if config.freeze_net:
        for parameter in [*network.base_net.parameters(), *network.extras.parameters()]:
            parameter.requires_grad_(False)
        return [{"params": heads}]
    groups = [{"params": [*network.extras.parameters()], "lr": config.extra_layers_lr or config.lr},
              {"params": heads}]
    if config.freeze_base_net:
        for parameter in network.base_net.parameters():
            parameter.requires_grad_(False)
    else:
        groups.insert(0, {"params": [*network.base_net.parameters()], "lr": config.base_net_lr or config.lr})
    return groups


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.t_max or config.epochs)
    if config.scheduler == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), gamma=0.1)
    raise UserError(f"unknown scheduler {config.scheduler!r} (cosine or multistep)")


def checkpoint_name(epoch: int, validation_loss: float) -> str:
    """pytorch-ssd's file name: 0-based epoch and the loss as the full float repr."""
    return f"{NET_NAME}-Epoch-{epoch}-Loss-{validation_loss}.pth"


def _single_threaded_worker(worker_id: int) -> None:
    """Loader workers already run in parallel: OpenCV's own thread pool in each would oversubscribe the cores."""
    cv2.setNumThreads(1)


def _loader(dataset: Dataset, config: TrainConfig, *, train: bool, cuda: bool) -> DataLoader:
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=train, num_workers=config.workers,
                      pin_memory=cuda, drop_last=False, persistent_workers=config.workers > 0,
                      worker_init_fn=_single_threaded_worker if config.workers > 0 else None,
                      generator=torch.Generator().manual_seed(config.seed) if train else None)


class Trainer:
    """Runs the epochs; `on_epoch(metrics)` is called after each one (the CLI records them in the run ledger)."""

    def __init__(self, config: TrainConfig, on_epoch: Callable[[dict], None] | None = None) -> None:
        self.config = config
        self.on_epoch = on_epoch or (lambda metrics: None)
        if config.epochs < 1 or config.batch_size < 1:
            raise UserError("epochs and batch size must be at least 1")
        torch.manual_seed(config.seed)
        self.device = torch.device("cuda" if config.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
        if config.device == "cuda" and self.device.type != "cuda":
            raise UserError("device cuda requested but PyTorch sees no CUDA GPU here")
        tables = read_dataset(config.data)
        self.class_names = read_labels(config.labels) if config.labels else default_class_names(tables)
        if "train" not in tables.splits:
            raise UserError(f"{config.data} has no train split")
        validation_split = next((s for s in ("validation", "test") if s in tables.splits), None)
        self.train_data = open_split(tables, "train", self.class_names)
        self.validation_data = open_split(tables, validation_split, self.class_names) if validation_split else None
        if len(self.train_data) == 0:
            raise UserError(f"the train split of {config.data} has no usable images: {self.train_data.report.summary()}")
        self.network = build_mobilenet_v1_ssd(len(self.class_names))
        self.start_epoch = 0
        self.last_checkpoint: Path | None = None
        cuda = self.device.type == "cuda"
        self.network.to(self.device)
        if cuda:
            self.network.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(_parameter_groups(self.network, config), lr=config.lr,
                                         momentum=config.momentum, weight_decay=config.weight_decay)
        self.scheduler = _scheduler(self.optimizer, config)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda)
        if config.resume:
            self._resume(config.resume)
        else:
            initialise(self.network, config.pretrained)
        self.train_loader = _loader(SSDTrainingSet(self.train_data, train=True, augmentation=config.augmentation),
                                    config, train=True, cuda=cuda)
        self.validation_loader = (_loader(SSDTrainingSet(self.validation_data, train=False), config, train=False,
                                          cuda=cuda) if self.validation_data is not None and len(self.validation_data)
                                  else None)

    def _resume(self, checkpoint: Path) -> None:
        state = read_state_dict(checkpoint)
        check_state_dict(state, self.network, str(checkpoint))
        self.network.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        state_file = checkpoint.parent / STATE_FILE
        saved = torch.load(state_file, map_location="cpu", weights_only=True) if state_file.is_file() else None
        if saved and saved.get("checkpoint") == checkpoint.name:
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            self.scaler.load_state_dict(saved["scaler"])
            self.start_epoch = int(saved["epoch"]) + 1
        else:
            match = _EPOCH_IN_NAME.search(checkpoint.name)
            if not match:
                raise UserError(f"cannot tell the epoch of {checkpoint.name} (expected pytorch-ssd's -Epoch-N- name)")
            self.start_epoch = int(match.group(1)) + 1
            with warnings.catch_warnings():  # stepping the schedule before any optimizer step is the point here
                warnings.simplefilter("ignore", UserWarning)
                for _ in range(self.start_epoch):  # advance the LR schedule to where that run stopped
                    self.scheduler.step()
        log.info("resuming from %s at epoch %d", checkpoint, self.start_epoch)

    def _losses(self, images, locations, labels) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
            confidences, predicted = self.network(images)
        return multibox_loss(confidences, predicted, labels.to(self.device, non_blocking=True),
                             locations.to(self.device, non_blocking=True))

    def train_epoch(self, progress) -> dict:
        self.network.train()
        totals = torch.zeros(2, device=self.device)
        images_seen, started = 0, time.perf_counter()
        first_step_seconds = math.nan
        for images, locations, labels in self.train_loader:
            regression, classification = self._losses(images, locations, labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(regression + classification).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            totals += torch.stack([regression.detach(), classification.detach()]) * len(images)
            if not images_seen:  # the epoch's first step, loader start-up and first batch included
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                first_step_seconds = time.perf_counter() - started
            images_seen += len(images)
            progress.update(len(images))
            progress.set_postfix(img_s=f"{images_seen / (time.perf_counter() - started):.1f}",
                                 loss=f"{float((regression + classification).detach()):.3f}")
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        regression_loss, classification_loss = (totals / max(images_seen, 1)).tolist()
        return {"train_loss": regression_loss + classification_loss, "train_regression_loss": regression_loss,
                "train_classification_loss": classification_loss, "images_per_sec": images_seen / seconds,
                "epoch_seconds": seconds, "first_step_seconds": first_step_seconds}

    @torch.no_grad()
    def validation_loss(self) -> dict:
        self.network.eval()
        totals, count = torch.zeros(2, device=self.device), 0
        for images, locations, labels in self.validation_loader:
            regression, classification = self._losses(images, locations, labels)
            totals += torch.stack([regression, classification]) * len(images)
            count += len(images)
        regression_loss, classification_loss = (totals / max(count, 1)).tolist()
        return {"val_loss": regression_loss + classification_loss, "val_regression_loss": regression_loss,
                "val_classification_loss": classification_loss}

    def _save(self, epoch: int, loss: float) -> Path:
        output = self.config.output
        output.mkdir(parents=True, exist_ok=True)
        write_labels(self.class_names, output / "labels.txt")
        checkpoint = save_state_dict(self.network, output / checkpoint_name(epoch, loss))
        state = {"checkpoint": checkpoint.name, "epoch": epoch, "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict()}
        with atomic_path(output / STATE_FILE) as temporary:
            torch.save(state, temporary)
        self.last_checkpoint = checkpoint
        return checkpoint

    def _validation_map(self, checkpoint: Path) -> float | None:
        if not (self.config.evaluate_map and self.validation_data is not None and len(self.validation_data)):
            return None
        from core.detect import DetectorSpec, load_detector
        from core.optimize.evaluate import evaluate

        detector = load_detector(DetectorSpec(checkpoint, self.config.output / "labels.txt", backend="torch",
                                              device=self.device.type, score_threshold=0.01))
        try:
            return float(evaluate(detector, self.validation_data, batch_size=self.config.batch_size,
                                  progress=False).map50)
        finally:
            detector.close()

    def run(self) -> Path:
        """Train the remaining epochs; returns the last checkpoint written."""
        from tqdm import tqdm

        self.config.output.mkdir(parents=True, exist_ok=True)
        for epoch in range(self.start_epoch, self.config.epochs):
            with tqdm(total=len(self.train_data), desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="img",
                      leave=False, dynamic_ncols=True) as progress:
                metrics = {"epoch": epoch, "lr": self.optimizer.param_groups[-1]["lr"], **self.train_epoch(progress)}
            self.scheduler.step()
            last = epoch == self.config.epochs - 1
            if (epoch + 1) % self.config.validation_epochs == 0 or last:
                if self.validation_loader is not None:
                    metrics.update(self.validation_loss())
                checkpoint = self._save(epoch, metrics.get("val_loss", metrics["train_loss"]))
                map50 = self._validation_map(checkpoint)
                if map50 is not None:
                    metrics["val_map50"] = map50
            self._append_metrics(metrics)
            self.on_epoch(metrics)
            log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in metrics.items()})
        if self.last_checkpoint is None:
            raise UserError("training ran no epoch (the resumed checkpoint is already at the last epoch)")
        return self.last_checkpoint

    def _append_metrics(self, metrics: dict) -> None:
        with (self.config.output / METRICS_FILE).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v)
                                     for k, v in metrics.items()}) + "\n")


def config_params(config: TrainConfig) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}
