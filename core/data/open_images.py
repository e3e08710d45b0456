"""Reader of pytorch-ssd's Open Images downloader layout.

Per split `sub-<split>-annotations-bbox.csv` (columns include ImageID, ClassName and normalized XMin, XMax, YMin,
YMax) and the images `<split>/<ImageID>.jpg`, all under one root folder.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from core.data.dataset import BACKGROUND
from core.data.table import COORDINATE_COLUMNS, TABLE_COLUMNS, DatasetTables
from core.errors import UserError

LAYOUT = "open_images"
SPLITS: tuple[str, ...] = ("train", "validation", "test")
CLASS_DESCRIPTIONS_FILE = "class-descriptions-boxable.csv"
# The 13 columns of the Open Images v4 box files, then the two the downloader adds by joining class descriptions.
SOURCE_COLUMNS: tuple[str, ...] = (
    "ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
    "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside",
)
SUBSET_COLUMNS: tuple[str, ...] = (*SOURCE_COLUMNS, "id", "ClassName")
# An Open Images ImageID: 16 lowercase hexadecimal characters (e.g. 000002b66c9c498e); the downloader refuses others,
# since an id becomes a file name and a URL path.
IMAGE_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
IMAGE_ID_FORMAT = "16 lowercase hex characters"
_DTYPES = {"ImageID": str, "ClassName": str, **{column: "float64" for column in COORDINATE_COLUMNS}}


def annotation_file(root: str | Path, split: str) -> Path:
    return Path(root) / f"sub-{split}-annotations-bbox.csv"


def image_file(root: str | Path, split: str, image_id: str) -> Path:
    return Path(root) / split / f"{image_id}.jpg"


def is_open_images_root(root: str | Path) -> bool:
    return any(annotation_file(root, split).is_file() for split in SPLITS)


def read_annotations(path: str | Path) -> pd.DataFrame:
    """The annotation table of one `sub-<split>-annotations-bbox.csv` (file row order kept)."""
    path = Path(path)
    try:
        return pd.read_csv(path, usecols=list(TABLE_COLUMNS), dtype=_DTYPES, keep_default_na=False,
                           na_values={column: [""] for column in COORDINATE_COLUMNS})
    except FileNotFoundError:
        raise UserError(f"annotation file not found: {path}") from None
    except ValueError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path} is not an Open Images annotation CSV ({first_line})") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"{path} cannot be parsed as CSV ({type(error).__name__})") from None


def read_open_images(root: str | Path) -> DatasetTables:
    """Every split of an Open Images downloader folder that has an annotation file, in train, validation, test order."""
    root = Path(root)
    splits = {split: read_annotations(annotation_file(root, split))
              for split in SPLITS if annotation_file(root, split).is_file()}
    if not splits:
        raise UserError(f"{root} has no sub-<split>-annotations-bbox.csv (not an Open Images downloader folder)")
    return DatasetTables(root=root, layout=LAYOUT, splits=splits,
                         image_path=lambda split, image_id: image_file(root, split, image_id))


def default_class_names(tables: DatasetTables) -> list[str]:
    """BACKGROUND then the sorted class names of the training split (train_ssd.py's labels.txt order)."""
    split = "train" if "train" in tables.splits else next(iter(tables.splits))
    names = tables.splits[split]["ClassName"].dropna().unique().tolist()
    return [BACKGROUND, *sorted(names)]
