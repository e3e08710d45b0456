"""The annotation table every dataset layout is read into, and the layout-independent view of a dataset root.

One row per box with the columns of `TABLE_COLUMNS`: `ImageID`, `ClassName` and normalized `XMin, XMax, YMin, YMax`
(0..1 of the image width/height, as in Open Images CSVs). Statistics, the gallery and the training readers all work
on this table, so every tool sees a dataset the same way whatever its layout on disk.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

TABLE_COLUMNS: tuple[str, ...] = ("ImageID", "ClassName", "XMin", "XMax", "YMin", "YMax")
COORDINATE_COLUMNS: tuple[str, ...] = ("XMin", "XMax", "YMin", "YMax")


@dataclass(frozen=True)
class DatasetTables:
    """A dataset root read into one annotation table per split (in the layout's split order).

    `image_path(split, image_id)` gives the image file of a row's ImageID.
    """

    root: Path
    layout: str
    splits: Mapping[str, pd.DataFrame]
    image_path: Callable[[str, str], Path]


def empty_table() -> pd.DataFrame:
    return pd.DataFrame({
        "ImageID": pd.Series(dtype=object),
        "ClassName": pd.Series(dtype=object),
        **{column: pd.Series(dtype="float64") for column in COORDINATE_COLUMNS},
    })


def to_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The annotation table of any frame with the table's columns (coordinates parsed as floats)."""
    table = frame.loc[:, list(TABLE_COLUMNS)]
    return table.astype({column: "float64" for column in COORDINATE_COLUMNS})
