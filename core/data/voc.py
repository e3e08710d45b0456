"""Reader of Pascal VOC folders as pytorch-ssd's train_ssd.py accepts them (`--dataset-type=voc`).

`Annotations/<id>.xml` (pixel boxes, optional `difficult`), `ImageSets/Main/<split>.txt` (ids, one per line; every
list file without an underscore is a split, e.g. trainval, test or CVAT's default), `JPEGImages/<id>.<ext>` and an
optional `labels.txt` in the root listing the classes without BACKGROUND.
"""
from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pandas as pd

from core.data.dataset import BACKGROUND
from core.data.table import TABLE_COLUMNS, DatasetTables, empty_table
from core.errors import UserError
from core.pictures.imageio import read_image

logger = logging.getLogger(__name__)

LAYOUT = "voc"
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
SPLIT_ORDER: tuple[str, ...] = ("trainval", "train", "val", "test", "default")
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def is_voc_root(root: str | Path) -> bool:
    root = Path(root)
    return (root / "Annotations").is_dir() and (root / "ImageSets" / "Main").is_dir()


def voc_splits(root: str | Path) -> list[str]:
    """Split names from ImageSets/Main: the usual ones first, then any other list without an underscore."""
    names = {path.stem for path in (Path(root) / "ImageSets" / "Main").glob("*.txt") if "_" not in path.stem}
    return [name for name in SPLIT_ORDER if name in names] + sorted(names - set(SPLIT_ORDER))


def voc_class_names(root: str | Path) -> list[str]:
    """BACKGROUND then the classes of the root's labels.txt, or the 20 VOC classes without one."""
    path = Path(root) / "labels.txt"
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if path.is_file() else list(VOC_CLASSES)
    return [BACKGROUND, *(name for name in names if name != BACKGROUND)]


def _number(element: ElementTree.Element | None, tag: str) -> float:
    text = element.findtext(tag) if element is not None else None
    return float(text) if text not in (None, "") else float("nan")


def _image_index(root: Path) -> dict[str, Path]:
    folder = root / "JPEGImages"
    found: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                found.setdefault(path.stem, path)
    return found


def _parse_annotation(path: Path, image: Path | None, keep_difficult: bool) -> list[tuple]:
    """Rows (ImageID, ClassName, XMin, XMax, YMin, YMax) of one XML, normalized by the image size.

    Like pytorch-ssd's loader, 1 is subtracted from the pixel coordinates. Without a <size>, the image is read.
    """
    tree = ElementTree.parse(path).getroot()
    size = tree.find("size")
    width, height = _number(size, "width"), _number(size, "height")
    if not (width > 0 and height > 0) and image is not None:
        height, width = read_image(image).shape[:2]
    rows = []
    for obj in tree.iter("object"):
        if not keep_difficult and obj.findtext("difficult", "0").strip() == "1":
            continue
        box = obj.find("bndbox")
        xmin, ymin, xmax, ymax = (_number(box, tag) - 1 for tag in ("xmin", "ymin", "xmax", "ymax"))
        rows.append((path.stem, (obj.findtext("name") or "").strip(),
                     xmin / width, xmax / width, ymin / height, ymax / height))
    return rows


def read_voc(root: str | Path, *, keep_difficult: bool = False) -> DatasetTables:
    """One annotation table per ImageSets/Main split; difficult objects are dropped unless `keep_difficult`."""
    root = Path(root)
    if not is_voc_root(root):
        raise UserError(f"{root} is not a VOC folder (needs Annotations/ and ImageSets/Main/)")
    splits = voc_splits(root)
    if not splits:
        raise UserError(f"{root / 'ImageSets' / 'Main'} lists no split (trainval.txt, test.txt or default.txt)")
    images = _image_index(root)
    parsed: dict[str, list[tuple]] = {}
    tables = {}
    for split in splits:
        ids = [line.strip() for line in (root / "ImageSets" / "Main" / f"{split}.txt").read_text().splitlines()]
        rows, skipped = [], 0
        for image_id in filter(None, ids):
            if image_id not in parsed:
                xml = root / "Annotations" / f"{image_id}.xml"
                try:
                    parsed[image_id] = _parse_annotation(xml, images.get(image_id), keep_difficult) \
                        if xml.is_file() else []
                except (ElementTree.ParseError, ValueError, UserError) as error:
                    logger.warning("%s: unreadable annotation skipped (%s)", xml, error)
                    parsed[image_id] = []
            skipped += not parsed[image_id]
            rows.extend(parsed[image_id])
        if skipped:
            logger.warning("%s split %s: %d ids without objects skipped", root, split, skipped)
        tables[split] = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)) if rows else empty_table()
    def image_path(split: str, image_id: str) -> Path:
        return images.get(image_id, root / "JPEGImages" / f"{image_id}.jpg")

    return DatasetTables(root=root, layout=LAYOUT, splits=tables, image_path=image_path)
