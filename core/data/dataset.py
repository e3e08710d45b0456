"""`DetectionDataset`: images with pixel boxes and class ids, read from an annotation table; problems are counted.

Missing images, boxes outside the image (clipped), boxes with no area and boxes of classes not in the label list are
counted in a `ReadReport` and skipped, never fatal. Corrupt images are found when read: `dataset[i]` raises
`CorruptImageError` for one, iteration skips it and counts it.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.table import COORDINATE_COLUMNS
from core.errors import UserError
from core.pictures.imageio import decode_image

logger = logging.getLogger(__name__)

# Index 0 of every model's labels; the same name as core.model.config.BACKGROUND, repeated here so that reading
# data never imports torch (a unit test checks the two agree).
BACKGROUND = "BACKGROUND"
_EXAMPLES = 5


class CorruptImageError(UserError):
    """An image file that exists but does not decode."""


@dataclass(frozen=True)
class Sample:
    """One image of a dataset: BGR uint8 pixels, boxes (N,4) float32 pixel x1,y1,x2,y2, labels (N,) int64."""

    image_id: str
    path: Path
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


@dataclass
class ReadReport:
    """What a reader skipped or repaired; examples keep the first few image ids of each kind."""

    images: int = 0
    boxes: int = 0
    missing_images: int = 0
    corrupt_images: int = 0
    out_of_bounds_boxes: int = 0
    empty_boxes: int = 0
    unknown_class_boxes: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, image_id: str) -> None:
        shown = self.examples.setdefault(kind, [])
        if len(shown) < _EXAMPLES:
            shown.append(image_id)

    @property
    def problems(self) -> int:
        return (self.missing_images + self.corrupt_images + self.out_of_bounds_boxes + self.empty_boxes
                + sum(self.unknown_class_boxes.values()))

    def summary(self) -> str:
        """One line: what was kept, then each kind of problem with its count."""
        parts = [f"{self.images} images, {self.boxes} boxes"]
        if self.missing_images:
            parts.append(f"{self.missing_images} missing images skipped")
        if self.corrupt_images:
            parts.append(f"{self.corrupt_images} corrupt images skipped")
        if self.out_of_bounds_boxes:
            parts.append(f"{self.out_of_bounds_boxes} boxes outside the image clipped")
        if self.empty_boxes:
            parts.append(f"{self.empty_boxes} boxes without area dropped")
        if self.unknown_class_boxes:
            unknown = ", ".join(f"{name} ({count})" for name, count in self.unknown_class_boxes.most_common())
            parts.append(f"{sum(self.unknown_class_boxes.values())} boxes of unknown classes dropped: {unknown}")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {
            "images": self.images, "boxes": self.boxes, "missing_images": self.missing_images,
            "corrupt_images": self.corrupt_images, "out_of_bounds_boxes": self.out_of_bounds_boxes,
            "empty_boxes": self.empty_boxes, "unknown_class_boxes": dict(self.unknown_class_boxes),
            "examples": self.examples,
        }


def _existing_files(paths: Sequence[Path]) -> np.ndarray:
    """Which of `paths` are files, listing each folder once instead of one stat per file."""
    listings: dict[Path, set[str]] = {}
    present = np.zeros(len(paths), dtype=bool)
    for index, path in enumerate(paths):
        folder = path.parent
        if folder not in listings:
            try:
                listings[folder] = {entry.name for entry in os.scandir(folder) if entry.is_file()}
            except OSError:
                listings[folder] = set()
        present[index] = path.name in listings[folder]
    return present


class DetectionDataset:
    """Random access to the images of one split: `dataset[i]` is a `Sample`; `len()` counts readable candidates.

    Images are in order of first appearance in the table; class ids index `class_names` (0 is BACKGROUND).
    """

    def __init__(self, table: pd.DataFrame, image_path: Callable[[str], Path], class_names: Sequence[str],
                 *, name: str = "dataset") -> None:
        self.name = name
        self.class_names = list(class_names)
        self.report = ReadReport()
        self._corrupt: set[str] = set()
        class_ids = {class_name: index for index, class_name in enumerate(self.class_names) if index > 0}
        labels = table["ClassName"].map(class_ids)
        known = labels.notna().to_numpy()
        for class_name, count in table.loc[~known, "ClassName"].value_counts(sort=False).items():
            self.report.unknown_class_boxes[str(class_name)] += int(count)

        xmin, xmax, ymin, ymax = (table[column].to_numpy(np.float64) for column in COORDINATE_COLUMNS)
        corners = np.stack([xmin, ymin, xmax, ymax], axis=1)
        outside = known & ((corners < 0) | (corners > 1)).any(axis=1)
        self.report.out_of_bounds_boxes = int(outside.sum())
        corners = np.clip(corners, 0.0, 1.0)
        has_area = (corners[:, 2] > corners[:, 0]) & (corners[:, 3] > corners[:, 1])  # False for NaN too
        self.report.empty_boxes = int((known & ~has_area).sum())
        keep = known & has_area

        image_codes, image_ids = pd.factorize(table["ImageID"], sort=False)
        paths = [image_path(str(image_id)) for image_id in image_ids]
        present = _existing_files(paths)
        for code in np.flatnonzero(~present):
            self.report.note("missing_images", str(image_ids[code]))
        self.report.missing_images = int((~present).sum())
        keep &= present[image_codes]

        kept_codes = image_codes[keep]
        order = np.argsort(kept_codes, kind="stable")
        counts = np.bincount(kept_codes, minlength=len(image_ids))
        with_boxes = np.flatnonzero(counts)
        self._image_ids = [str(image_ids[code]) for code in with_boxes]
        self._paths = [paths[code] for code in with_boxes]
        self._offsets = np.concatenate([[0], np.cumsum(counts[with_boxes])])
        self._boxes = corners[keep][order].astype(np.float32)
        self._labels = labels.to_numpy()[keep][order].astype(np.int64)
        self.report.images = len(self._image_ids)
        self.report.boxes = int(keep.sum())
        if self.report.problems:
            logger.warning("%s: %s", name, self.report.summary())

    def __len__(self) -> int:
        return len(self._image_ids)

    def image_id(self, index: int) -> str:
        return self._image_ids[index]

    def labels_of(self, index: int) -> np.ndarray:
        """Class ids of an image's boxes without reading the image."""
        return self._labels[self._offsets[index]:self._offsets[index + 1]]

    def indices_with_class(self, class_id: int) -> np.ndarray:
        """Indices of the images with at least one box of `class_id`, in dataset order."""
        image_of_box = np.repeat(np.arange(len(self)), np.diff(self._offsets))
        return np.unique(image_of_box[self._labels == class_id])

    def __getitem__(self, index: int) -> Sample:
        path = self._paths[index]
        try:
            image = decode_image(path.read_bytes(), str(path))
        except (UserError, OSError) as error:
            raise CorruptImageError(f"{path}: {error}") from None
        height, width = image.shape[:2]
        start, stop = self._offsets[index], self._offsets[index + 1]
        boxes = self._boxes[start:stop] * np.array([width, height, width, height], np.float32)
        return Sample(self._image_ids[index], path, image, boxes, self._labels[start:stop].copy())

    def __iter__(self) -> Iterator[Sample]:
        """Every readable sample; corrupt images are skipped and counted in `report`."""
        for index in range(len(self)):
            try:
                yield self[index]
            except CorruptImageError:
                self._count_corrupt(index)

    def _count_corrupt(self, index: int) -> None:
        if self._image_ids[index] in self._corrupt:
            return
        self._corrupt.add(self._image_ids[index])
        self.report.corrupt_images += 1
        self.report.note("corrupt_images", self._image_ids[index])
        logger.warning("%s: corrupt image skipped: %s", self.name, self._paths[index])
