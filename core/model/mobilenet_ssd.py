"""The SSD-MobileNet-v1 network with pytorch-ssd's exact module tree, so its `.pth` state_dicts load as they are."""
from __future__ import annotations

import torch
from torch import nn

from core.model.box_ops import center_to_corner, decode_locations
from core.model.config import ANCHORS_PER_LOCATION
from core.model.priors import generate_priors

# (output channels, stride) of MobileNet-v1 blocks 1..13 (block 0 is the 3->32 stride-2 stem).
_DEPTHWISE_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)
# (input, middle, output) channels of the four extra feature layers.
_EXTRAS: tuple[tuple[int, int, int], ...] = ((1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 128, 256))
_HEADER_CHANNELS: tuple[int, ...] = (512, 1024, 512, 256, 256, 256)
_FIRST_SOURCE_LAYER = 12  # header 0 reads the base net after block 11 (19x19 at 300x300)


def _stem(out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, out_channels, 3, 2, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)
    )


def _depthwise_separable(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, 1, 0, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _base_net() -> nn.Sequential:
    layers = [_stem(32)]
    in_channels = 32
    for out_channels, stride in _DEPTHWISE_BLOCKS:
        layers.append(_depthwise_separable(in_channels, out_channels, stride))
        in_channels = out_channels
    return nn.Sequential(*layers)


def _extra(in_channels: int, mid_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, 1),
        nn.ReLU(),
        nn.Conv2d(mid_channels, out_channels, 3, stride=2, padding=1),
        nn.ReLU(),
    )


class MobileNetV1SSD(nn.Module):
    """Returns raw class logits (N, 3000, C) and raw box regressions (N, 3000, 4), as pytorch-ssd in training mode."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError("num_classes counts BACKGROUND and must be at least 2")
        self.num_classes = num_classes
        self.base_net = _base_net()
        self.extras = nn.ModuleList(_extra(*channels) for channels in _EXTRAS)
        self.classification_headers = nn.ModuleList(
            nn.Conv2d(c, ANCHORS_PER_LOCATION * num_classes, 3, padding=1) for c in _HEADER_CHANNELS
        )
        self.regression_headers = nn.ModuleList(
            nn.Conv2d(c, ANCHORS_PER_LOCATION * 4, 3, padding=1) for c in _HEADER_CHANNELS
        )

    def _heads(self, index: int, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = features.shape[0]
        confidence = self.classification_headers[index](features).permute(0, 2, 3, 1).contiguous()
        location = self.regression_headers[index](features).permute(0, 2, 3, 1).contiguous()
        return confidence.view(batch, -1, self.num_classes), location.view(batch, -1, 4)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = [self.base_net[:_FIRST_SOURCE_LAYER](images)]
        features.append(self.base_net[_FIRST_SOURCE_LAYER:](features[0]))
        for extra in self.extras:
            features.append(extra(features[-1]))
        outputs = [self._heads(index, feature) for index, feature in enumerate(features)]
        confidences = torch.cat([confidence for confidence, _ in outputs], dim=1)
        locations = torch.cat([location for _, location in outputs], dim=1)
        return confidences, locations


class SSDInference(nn.Module):
    """pytorch-ssd's `is_test=True` forward: softmaxed scores and decoded, normalized corner boxes (not clamped).

    This is the graph jetson-inference's detectNet expects in ONNX: `scores` [N,3000,C], `boxes` [N,3000,4].
    """

    def __init__(self, network: MobileNetV1SSD) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("priors", generate_priors().clone(), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        confidences, locations = self.network(images)
        scores = torch.softmax(confidences, dim=2)
        boxes = center_to_corner(decode_locations(locations, self.priors.to(locations.dtype)))
        return scores, boxes


def build_mobilenet_v1_ssd(num_classes: int) -> MobileNetV1SSD:
    """A freshly initialised network (PyTorch default init) for `num_classes` including BACKGROUND."""
    return MobileNetV1SSD(num_classes)
