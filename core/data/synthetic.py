"""The synthetic demo dataset: seeded images of 7 shapes in cluttered scenes, in the Open Images layout.

The scenes are hard on purpose, so that what an optimization costs shows in mAP: objects from 4 % to 22 % of the
shorter side, partly hidden behind each other, in a class colour only half of the time, at varying opacity, among
distractor shapes that resemble the classes (ellipse, hexagon, pentagon, diamond, crescent; the shapes themselves are
`core.pictures.shapes`) and clutter strokes, with sensor noise, blur and JPEG artefacts.

`make_synthetic_dataset(out, images=N)` writes what pytorch-ssd's downloader would (class descriptions, one
`sub-<split>-annotations-bbox.csv` per split, `<split>/<ImageID>.jpg`) plus a model-style `labels.txt`
(BACKGROUND first, then the sorted class names, as train_ssd.py writes it), so every tool reads it like real data.
The same seed gives the same files; a few hundred images take seconds.
"""
from __future__ import annotations

import logging
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from core.data.dataset import BACKGROUND
from core.data.open_images import CLASS_DESCRIPTIONS_FILE, SPLITS, SUBSET_COLUMNS, annotation_file
from core.errors import UserError
from core.model.box_ops import box_iou
from core.pictures.imageio import encode_image
from core.pictures.shapes import DISTRACTORS, SHAPE_CLASSES, ShapeClass, ShapeDrawer

logger = logging.getLogger(__name__)

SPLIT_SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}
IMAGE_SIZES: tuple[tuple[int, int], ...] = ((320, 240), (400, 300), (480, 360), (360, 360), (300, 400))
MAX_OBJECTS = 6
MAX_DISTRACTORS = 3
MAX_OVERLAP = 0.5  # IoU allowed between the boxes of one image's shapes (later shapes hide part of earlier ones)
MIN_VISIBLE = 0.6  # a labelled object keeps at least this share of its pixels in sight
MIN_CONTRAST = 60.0  # an object's colour lies at least this far (RGB distance) from the background it covers
RADIUS_SHARES = (0.04, 0.22)  # an object's radius as a share of the image's shorter side
CLASS_COLOUR_SHARE = 0.5  # the other objects get a random colour: colour is a hint, never the answer
JPEG_QUALITY = (35, 90)


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


def _clutter(image: np.ndarray, rng: np.random.Generator) -> None:
    """Strokes and arcs in muted colours: edges the detector must learn to ignore."""
    height, width = image.shape[:2]
    for _ in range(int(rng.integers(4, 16))):
        colour = tuple(int(v) for v in rng.integers(20, 236, 3))
        thickness = int(rng.integers(1, 4))
        start = (int(rng.integers(width)), int(rng.integers(height)))
        if rng.random() < 0.5:
            cv2.line(image, start, (int(rng.integers(width)), int(rng.integers(height))), colour, thickness,
                     cv2.LINE_AA)
        else:
            axes = (int(rng.integers(5, max(6, width // 4))), int(rng.integers(5, max(6, height // 4))))
            cv2.ellipse(image, start, axes, float(rng.uniform(0, 180)), 0, float(rng.uniform(60, 300)), colour,
                        thickness, cv2.LINE_AA)


def _paint(image: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int], colour: np.ndarray,
           opacity: float) -> None:
    x1, y1, x2, y2 = box
    alpha = (mask[y1:y2, x1:x2].astype(np.float32) / 255.0 * opacity)[..., None]
    patch = image[y1:y2, x1:x2]
    image[y1:y2, x1:x2] = (patch * (1 - alpha) + colour * alpha).astype(np.uint8)


@dataclass
class _Scene:
    """What is drawn so far: every shape's box, and which labelled object each pixel shows (-1: none)."""

    owner: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    areas: list[int]  # pixels of each labelled object when it was drawn

    def fits(self, mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        """Whether a shape may go here: boxes overlap little and no labelled object loses too much of its view."""
        if any(box_iou(box, other, eps=0.0) > MAX_OVERLAP for other in self.boxes):
            return False
        x1, y1, x2, y2 = box
        covered = self.owner[y1:y2, x1:x2][mask[y1:y2, x1:x2] > 127]
        visible = np.bincount(self.owner[self.owner >= 0], minlength=len(self.areas))
        hidden = np.bincount(covered[covered >= 0], minlength=len(self.areas))
        return all(visible[index] - hidden[index] >= MIN_VISIBLE * area for index, area in enumerate(self.areas))

    def add(self, mask: np.ndarray, box: tuple[int, int, int, int], labelled: bool) -> None:
        self.boxes.append(box)
        drawn = mask > 127
        if labelled:
            self.owner[drawn] = len(self.areas)
            self.areas.append(int(drawn.sum()))
        else:
            self.owner[drawn] = -1


def _placed(draw: ShapeDrawer, scene: _Scene, rng: np.random.Generator
            ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """A shape's mask and box at a random size and place the scene allows (None when 20 tries found none)."""
    height, width = scene.owner.shape
    for _ in range(20):
        radius = max(rng.uniform(*RADIUS_SHARES) * min(width, height), 6.0)
        centre = np.array([rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)])
        mask = np.zeros((height, width), np.uint8)
        draw(mask, centre, radius, rng)
        x, y, w, h = cv2.boundingRect(mask)
        box = (x, y, x + w, y + h)
        if w > 2 and h > 2 and scene.fits(mask, box):
            return mask, box
    return None


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, 3).astype(np.float32)


def _object_colour(shape: ShapeClass | None, rng: np.random.Generator) -> np.ndarray:
    """A distractor's colour is random; an object's is its class colour (jittered) half of the time."""
    if shape is not None and rng.random() < CLASS_COLOUR_SHARE:
        return np.clip(np.array(shape.colour) + rng.integers(-40, 41, 3), 0, 255).astype(np.float32)
    return _random_colour(rng)


def _contrasting_colour(shape: ShapeClass | None, under: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour for a shape that stands out from `under` (the mean colour it covers), in at most 10 draws."""
    colour = _object_colour(shape, rng)
    for _ in range(10):
        if np.linalg.norm(colour - under) >= MIN_CONTRAST:
            break
        colour = _object_colour(shape, rng)
    return colour


def _degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise and, sometimes, defocus blur (JPEG artefacts come when the image is written)."""
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.6, 1.4)))
    noisy = image.astype(np.float32) + rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(2, 14)
    return noisy.clip(0, 255).astype(np.uint8)


def render_image(rng: np.random.Generator, class_ids: list[int]) -> tuple[np.ndarray, list[tuple[int, tuple]]]:
    """One cluttered image with the given classes and a few distractors; returns it and (class id, box) pairs of
    the classes (distractors are not labelled)."""
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    image = _background(width, height, rng)
    _clutter(image, rng)
    drawers = [(class_id, SHAPE_CLASSES[class_id].draw) for class_id in class_ids]
    drawers += [(None, DISTRACTORS[rng.integers(len(DISTRACTORS))]) for _ in range(rng.integers(MAX_DISTRACTORS + 1))]
    scene = _Scene(owner=np.full((height, width), -1, np.int32), boxes=[], areas=[])
    objects: list[tuple[int, tuple]] = []
    for index in rng.permutation(len(drawers)):  # distractors may lie on top of objects, and objects on each other
        class_id, draw = drawers[index]
        placed = _placed(draw, scene, rng)
        if placed is None:
            continue
        mask, box = placed
        under = image[mask > 127].mean(axis=0)
        shape = None if class_id is None else SHAPE_CLASSES[class_id]
        _paint(image, mask, box, _contrasting_colour(shape, under, rng), float(rng.uniform(0.6, 1.0)))
        scene.add(mask, box, labelled=class_id is not None)
        if class_id is not None:
            objects.append((class_id, box))
    return _degrade(image, rng), objects


def _split_sizes(total: int) -> dict[str, int]:
    sizes = {split: int(total * share) for split, share in SPLIT_SHARES.items()}
    if total >= len(SPLITS):
        for split in SPLITS:
            sizes[split] = max(sizes[split], 1)
    sizes["train"] = total - sizes["validation"] - sizes["test"]
    return sizes


def _class_lists(split: str, count: int, seed: int) -> list[list[int]]:
    """The classes of each image of a split: 1 to MAX_OBJECTS each, drawn in shuffled rounds so every class
    appears evenly."""
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    cycle: list[int] = []
    lists = []
    for _ in range(count):
        wanted = []
        for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
            if not cycle:
                cycle = list(rng.permutation(len(SHAPE_CLASSES)))
            wanted.append(int(cycle.pop()))
        lists.append(wanted)
    return lists


def _write_image(folder: Path, split: str, index: int, seed: int, wanted: list[int]) -> list[tuple]:
    """Render and write one image (its own seeded generator, so any number of workers gives the same files);
    returns its annotation rows."""
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    image, objects = render_image(rng, wanted)
    # a letter first: pandas (and pytorch-ssd's reader) would turn an all-digit id into a number
    image_id = f"s{seed & 0xFFFF:04x}{SPLITS.index(split):02x}{index:09x}"
    quality = int(rng.integers(*JPEG_QUALITY))
    (folder / split / f"{image_id}.jpg").write_bytes(encode_image(image, ".jpg", quality=quality))
    height, width = image.shape[:2]
    return [(image_id, "synthetic", f"/synthetic/{SHAPE_CLASSES[class_id].name}", 1, x1 / width, x2 / width,
             y1 / height, y2 / height, 0, 0, 0, 0, 0, f"/synthetic/{SHAPE_CLASSES[class_id].name}",
             SHAPE_CLASSES[class_id].name)
            for class_id, (x1, y1, x2, y2) in objects]


def _write_split(folder: Path, split: str, count: int, seed: int, workers: int) -> pd.DataFrame:
    (folder / split).mkdir(parents=True, exist_ok=True)
    jobs = [(folder, split, index, seed, wanted) for index, wanted in enumerate(_class_lists(split, count, seed))]
    if workers > 1 and count > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_image = list(pool.map(_write_image, *zip(*jobs), chunksize=16))
    else:
        per_image = [_write_image(*job) for job in jobs]
    return pd.DataFrame([row for rows in per_image for row in rows], columns=list(SUBSET_COLUMNS))


def make_synthetic_dataset(out: str | Path, *, images: int = 300, seed: int = 0, overwrite: bool = False,
                           workers: int = 1) -> Path:
    """Write `images` images split 80/10/10 into `out` (built beside it, then renamed into place), rendered by
    `workers` processes (the files are the same for any number)."""
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
            _write_split(building, split, count, seed, workers).to_csv(annotation_file(building, split), index=False)
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
