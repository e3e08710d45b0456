"""The synthetic demo dataset: seeded images of 7 distinct shapes on varied backgrounds, in the Open Images layout.

`make_synthetic_dataset(out, images=N)` writes what pytorch-ssd's downloader would (class descriptions, one
`sub-<split>-annotations-bbox.csv` per split, `<split>/<ImageID>.jpg`) plus a model-style `labels.txt`
(BACKGROUND first, then the sorted class names, as train_ssd.py writes it), so every tool reads it like real data.
The same seed gives the same files; a few hundred images take seconds.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from core.data.dataset import BACKGROUND
from core.data.open_images import CLASS_DESCRIPTIONS_FILE, SPLITS, SUBSET_COLUMNS, annotation_file
from core.errors import UserError
from core.imageio import encode_image
from core.model.box_ops import box_iou

logger = logging.getLogger(__name__)

SPLIT_SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}
IMAGE_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (400, 300), (480, 360), (360, 360), (300, 400))
MAX_OBJECTS = 5
MAX_OVERLAP = 0.15  # IoU allowed between objects of one image


def _regular_polygon(points: int, radius: float, angle: float, inner: float | None = None) -> np.ndarray:
    count = points * 2 if inner else points
    angles = angle + np.arange(count) * 2 * np.pi / count
    radii = np.where(np.arange(count) % 2, inner, 1.0) * radius if inner else np.full(count, radius)
    return np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)


def _fill(mask: np.ndarray, centre: np.ndarray, outline: np.ndarray) -> None:
    cv2.fillPoly(mask, [np.round(centre + outline).astype(np.int32)], 255, cv2.LINE_AA)


def _circle(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    cv2.circle(mask, tuple(int(v) for v in centre), int(radius), 255, -1, cv2.LINE_AA)


def _square(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(4, radius, np.pi / 4))


def _triangle(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(3, radius, -np.pi / 2 + rng.uniform(-0.3, 0.3)))


def _star(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(5, radius, rng.uniform(0, 2 * np.pi), inner=0.42))


def _cross(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    arm = radius * 0.33
    for width, height in ((radius, arm), (arm, radius)):
        corner1 = np.round(centre - (width, height)).astype(int)
        corner2 = np.round(centre + (width, height)).astype(int)
        cv2.rectangle(mask, tuple(int(v) for v in corner1), tuple(int(v) for v in corner2), 255, -1)


def _ring(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    cv2.circle(mask, tuple(int(v) for v in centre), int(radius * 0.78), 255, max(int(radius * 0.35), 2), cv2.LINE_AA)


def _heart(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    lobe = radius * 0.5
    for side in (-1, 1):
        cv2.circle(mask, (int(centre[0] + side * lobe), int(centre[1] - lobe * 0.6)), int(lobe), 255, -1, cv2.LINE_AA)
    _fill(mask, centre, np.array([[-2 * lobe, -lobe * 0.35], [2 * lobe, -lobe * 0.35], [0, radius]]))


@dataclass(frozen=True)
class ShapeClass:
    name: str
    colour: tuple[int, int, int]  # BGR base colour; each object is jittered around it
    draw: Callable[[np.ndarray, np.ndarray, float, np.random.Generator], None]


SHAPE_CLASSES: tuple[ShapeClass, ...] = (
    ShapeClass("circle", (40, 40, 220), _circle),
    ShapeClass("square", (220, 120, 30), _square),
    ShapeClass("triangle", (40, 200, 60), _triangle),
    ShapeClass("star", (20, 210, 240), _star),
    ShapeClass("cross", (200, 40, 200), _cross),
    ShapeClass("ring", (230, 220, 40), _ring),
    ShapeClass("heart", (120, 80, 250), _heart),
)


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A muted background: a gradient, blurred noise, stripes or a checkerboard (never a flat colour)."""
    low, high = rng.integers(30, 200, 3), rng.integers(30, 200, 3)
    kind = rng.integers(4)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * x + np.sin(angle) * y) / (width + height)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == 1:
        noise = rng.random((height // 16 + 2, width // 16 + 2)).astype(np.float32)
        t = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    elif kind == 2:
        period = rng.uniform(12, 40)
        t = (np.sin((x * np.cos(rng.uniform(0, np.pi)) + y) * 2 * np.pi / period) + 1) / 2
    else:
        cell = int(rng.integers(16, 48))
        t = ((x // cell + y // cell) % 2).astype(np.float32)
    t = t.astype(np.float32)[..., None]
    image = low.astype(np.float32) + (high - low).astype(np.float32) * t
    image = 0.5 * image + 0.5 * image.mean(axis=2, keepdims=True)  # desaturate so the coloured shapes stand out
    image += rng.standard_normal(image.shape, dtype=np.float32) * 6
    return image.clip(0, 255).astype(np.uint8)


def render_image(rng: np.random.Generator, class_ids: list[int]) -> tuple[np.ndarray, list[tuple[int, tuple]]]:
    """One image with the given classes drawn where they overlap little; returns it and (class id, box) pairs."""
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    image = _background(width, height, rng)
    objects: list[tuple[int, tuple]] = []
    for class_id in class_ids:
        for _ in range(20):
            radius = rng.uniform(0.09, 0.22) * min(width, height)
            centre = np.array([rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)])
            mask = np.zeros((height, width), np.uint8)
            SHAPE_CLASSES[class_id].draw(mask, centre, radius, rng)
            x, y, w, h = cv2.boundingRect(mask)
            box = (x, y, x + w, y + h)
            if w > 2 and h > 2 and all(box_iou(box, other, eps=0.0) <= MAX_OVERLAP for _, other in objects):
                colour = np.clip(np.array(SHAPE_CLASSES[class_id].colour) + rng.integers(-25, 26, 3), 0, 255)
                alpha = (mask[y:y + h, x:x + w].astype(np.float32) / 255.0)[..., None]
                patch = image[y:y + h, x:x + w]
                image[y:y + h, x:x + w] = (patch * (1 - alpha) + colour * alpha).astype(np.uint8)
                objects.append((class_id, box))
                break
    return image, objects


def _split_sizes(total: int) -> dict[str, int]:
    sizes = {split: int(total * share) for split, share in SPLIT_SHARES.items()}
    if total >= len(SPLITS):
        for split in SPLITS:
            sizes[split] = max(sizes[split], 1)
    sizes["train"] = total - sizes["validation"] - sizes["test"]
    return sizes


def _write_split(folder: Path, split: str, count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    (folder / split).mkdir(parents=True, exist_ok=True)
    cycle: list[int] = []
    rows = []
    for index in range(count):
        wanted = []
        for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
            if not cycle:  # classes come in shuffled rounds so every class appears evenly
                cycle = list(rng.permutation(len(SHAPE_CLASSES)))
            wanted.append(int(cycle.pop()))
        image, objects = render_image(rng, wanted)
        # a letter first: pandas (and pytorch-ssd's reader) would turn an all-digit id into a number
        image_id = f"s{seed & 0xFFFF:04x}{SPLITS.index(split):02x}{index:09x}"
        (folder / split / f"{image_id}.jpg").write_bytes(encode_image(image, ".jpg"))
        height, width = image.shape[:2]
        for class_id, (x1, y1, x2, y2) in objects:
            name = SHAPE_CLASSES[class_id].name
            rows.append((image_id, "synthetic", f"/synthetic/{name}", 1, x1 / width, x2 / width, y1 / height,
                         y2 / height, 0, 0, 0, 0, 0, f"/synthetic/{name}", name))
    return pd.DataFrame(rows, columns=list(SUBSET_COLUMNS))


def make_synthetic_dataset(out: str | Path, *, images: int = 300, seed: int = 0, overwrite: bool = False) -> Path:
    """Write `images` images split 80/10/10 into `out` (built beside it, then renamed into place)."""
    out = Path(out)
    if images < 1:
        raise UserError(f"--images must be at least 1, got {images}")
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty (pass --overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.with_name(f".{out.name}.partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        for split, count in _split_sizes(images).items():
            _write_split(building, split, count, seed).to_csv(annotation_file(building, split), index=False)
        descriptions = "".join(f"/synthetic/{shape.name},{shape.name}\n" for shape in SHAPE_CLASSES)
        (building / CLASS_DESCRIPTIONS_FILE).write_text(descriptions, encoding="utf-8")
        names = [BACKGROUND, *sorted(shape.name for shape in SHAPE_CLASSES)]
        (building / "labels.txt").write_text("\n".join(names), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        building.replace(out)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    logger.info("synthetic dataset with %d images written to %s", images, out)
    return out
