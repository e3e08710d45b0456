"""Per-split and per-class dataset statistics, computed once and shown as the downloader's text, JSON or charts.

`compute_statistics` is the one function that counts; `format_downloader_text` prints exactly the block that
pytorch-ssd's `open_images_downloader.py --stats-only` prints, and `DatasetStatistics.to_dict` gives the same numbers
as JSON. Class distributions follow pandas' `value_counts()`: by count descending, ties in order of first appearance.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.table import DatasetTables

RARE_SHARE = 0.02  # a class with less than this share of all boxes is reported as rare
SIZE_BINS = np.linspace(0.0, 1.0, 21)  # sqrt(relative box area), 0..1
ASPECT_BINS = np.linspace(-4.0, 4.0, 17)  # log2(relative width / relative height), clipped to the edges
_DASHES = "-" * 37


@dataclass(frozen=True)
class SplitStatistics:
    """Counts of one split. `distribution` is (class, boxes) in value_counts order; histograms count boxes."""

    name: str
    image_count: int
    box_count: int
    distribution: tuple[tuple[str, int], ...]
    images_per_class: Mapping[str, int]
    objects_per_image: Mapping[int, int]  # k boxes -> number of images with k boxes
    size_histogram: tuple[int, ...]
    aspect_histogram: tuple[int, ...]

    def boxes_of(self, class_name: str) -> int:
        return dict(self.distribution).get(class_name, 0)


@dataclass(frozen=True)
class DatasetStatistics:
    root: str
    layout: str
    splits: tuple[SplitStatistics, ...]
    classes: tuple[str, ...]  # by total boxes descending, ties in first appearance order
    warnings: tuple[str, ...]

    @property
    def image_count(self) -> int:
        return sum(split.image_count for split in self.splits)

    @property
    def box_count(self) -> int:
        return sum(split.box_count for split in self.splits)

    def class_table(self) -> pd.DataFrame:
        """One row per class: boxes and images in each split, total boxes and share of all boxes."""
        rows = []
        for name in self.classes:
            row: dict[str, object] = {"class": name}
            for split in self.splits:
                row[f"{split.name} boxes"] = split.boxes_of(name)
                row[f"{split.name} images"] = split.images_per_class.get(name, 0)
            total = sum(split.boxes_of(name) for split in self.splits)
            row["total boxes"] = total
            row["share"] = total / self.box_count if self.box_count else 0.0
            rows.append(row)
        return pd.DataFrame(rows)

    def split_table(self) -> pd.DataFrame:
        rows = [{"split": s.name, "images": s.image_count, "boxes": s.box_count, "classes": len(s.distribution),
                 "boxes per image": s.box_count / s.image_count if s.image_count else 0.0} for s in self.splits]
        return pd.DataFrame(rows)

    def chart_frames(self) -> dict[str, pd.DataFrame]:
        """Long-form tables for the page's charts, keyed by chart; every number comes from this object."""
        per_class = [{"split": split.name, "class": name, "boxes": split.boxes_of(name),
                      "images": split.images_per_class.get(name, 0),
                      "share": split.boxes_of(name) / split.box_count if split.box_count else 0.0}
                     for split in self.splits for name in self.classes]
        size_centres = (SIZE_BINS[:-1] + SIZE_BINS[1:]) / 2
        aspect_centres = (ASPECT_BINS[:-1] + ASPECT_BINS[1:]) / 2
        return {
            "per_class": pd.DataFrame(per_class, columns=["split", "class", "boxes", "images", "share"]),
            "box_size": pd.DataFrame([{"split": split.name, "sqrt(relative area)": round(float(c), 3), "boxes": n}
                                      for split in self.splits for c, n in zip(size_centres, split.size_histogram)],
                                     columns=["split", "sqrt(relative area)", "boxes"]),
            "box_aspect": pd.DataFrame([{"split": split.name, "log2(width/height)": round(float(c), 2), "boxes": n}
                                        for split in self.splits
                                        for c, n in zip(aspect_centres, split.aspect_histogram)],
                                       columns=["split", "log2(width/height)", "boxes"]),
            "objects_per_image": pd.DataFrame([{"split": split.name, "boxes in image": k, "images": n}
                                               for split in self.splits for k, n in split.objects_per_image.items()],
                                              columns=["split", "boxes in image", "images"]),
        }

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "layout": self.layout,
            "splits": {
                split.name: {
                    "image_count": split.image_count,
                    "box_count": split.box_count,
                    "distribution": [{"class": name, "boxes": count, "ratio": count / split.box_count}
                                     for name, count in split.distribution],
                    "images_per_class": dict(split.images_per_class),
                    "objects_per_image": {str(k): v for k, v in split.objects_per_image.items()},
                    "size_histogram": {"edges": SIZE_BINS.round(4).tolist(), "counts": list(split.size_histogram)},
                    "aspect_histogram": {"edges": ASPECT_BINS.round(4).tolist(),
                                         "counts": list(split.aspect_histogram)},
                }
                for split in self.splits
            },
            "overall": {"image_count": self.image_count, "box_count": self.box_count},
            "classes": list(self.classes),
            "warnings": list(self.warnings),
        }


def _ranked_counts(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, uniques, counts) with uniques ranked like value_counts(): count descending, first appearance on ties."""
    codes, uniques = pd.factorize(values, sort=False)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    rank = np.argsort(-counts, kind="stable")
    return codes, np.asarray(uniques, dtype=object)[rank], counts[rank]


def _split_statistics(name: str, table: pd.DataFrame) -> SplitStatistics:
    table = table[table["ClassName"].notna()]
    class_codes, class_names, class_counts = _ranked_counts(table["ClassName"])
    image_codes, _ = pd.factorize(table["ImageID"], sort=False)
    image_count = int(image_codes.max() + 1) if len(image_codes) else 0

    first_seen = pd.unique(table["ClassName"])
    first_index = {value: index for index, value in enumerate(first_seen)}
    pair_keys = pd.unique(image_codes.astype(np.int64) * max(len(first_seen), 1) + class_codes)  # image-class pairs
    images_by_code = np.bincount(pair_keys % max(len(first_seen), 1), minlength=len(first_seen))
    images_per_class = {str(n): int(images_by_code[first_index[n]]) for n in class_names}

    boxes_per_image = np.bincount(image_codes, minlength=image_count)
    k_values, k_counts = np.unique(boxes_per_image, return_counts=True)

    width = (table["XMax"] - table["XMin"]).to_numpy(np.float64)
    height = (table["YMax"] - table["YMin"]).to_numpy(np.float64)
    valid = (width > 0) & (height > 0)
    size = np.sqrt(width[valid] * height[valid])
    aspect = np.log2(width[valid] / height[valid])
    size_histogram, _ = np.histogram(np.clip(size, SIZE_BINS[0], SIZE_BINS[-1]), SIZE_BINS)
    aspect_histogram, _ = np.histogram(np.clip(aspect, ASPECT_BINS[0], ASPECT_BINS[-1]), ASPECT_BINS)
    return SplitStatistics(
        name=name,
        image_count=image_count,
        box_count=len(table),
        distribution=tuple((str(n), int(c)) for n, c in zip(class_names, class_counts)),
        images_per_class=images_per_class,
        objects_per_image={int(k): int(c) for k, c in zip(k_values, k_counts)},
        size_histogram=tuple(int(v) for v in size_histogram),
        aspect_histogram=tuple(int(v) for v in aspect_histogram),
    )


def _warnings(splits: tuple[SplitStatistics, ...], classes: tuple[str, ...], total_boxes: int) -> tuple[str, ...]:
    found = []
    for name in classes:
        counts = {split.name: split.boxes_of(name) for split in splits}
        total = sum(counts.values())
        if total_boxes and total / total_boxes < RARE_SHARE:
            per_split = ", ".join(f"{split} {count}" for split, count in counts.items())
            found.append(f"{name} is rare: {total} boxes, {100 * total / total_boxes:.1f}% of all boxes ({per_split})")
        missing = [split for split, count in counts.items() if count == 0]
        if missing and len(splits) > 1:
            found.append(f"{name} has no boxes in {', '.join(missing)}")
    return tuple(found)


def statistics_from_tables(tables: Mapping[str, pd.DataFrame], *, root: str | Path = "", layout: str = "open_images"
                           ) -> DatasetStatistics:
    """Statistics of annotation tables (split name -> table), e.g. filtered downloader frames not yet on disk."""
    splits = tuple(_split_statistics(name, table) for name, table in tables.items())
    totals: dict[str, int] = {}
    for split in splits:
        for name in pd.unique(tables[split.name]["ClassName"].dropna()):
            totals.setdefault(str(name), 0)
        for name, count in split.distribution:
            totals[name] += count
    classes = tuple(sorted(totals, key=lambda name: -totals[name]))  # sorted() is stable: first appearance on ties
    total_boxes = sum(split.box_count for split in splits)
    return DatasetStatistics(root=str(root), layout=layout, splits=splits, classes=classes,
                             warnings=_warnings(splits, classes, total_boxes))


def compute_statistics(tables: DatasetTables) -> DatasetStatistics:
    """The numbers the CLI text, the JSON and the Dataset page show, from a dataset's annotation tables."""
    return statistics_from_tables(tables.splits, root=tables.root, layout=tables.layout)


def format_downloader_text(statistics: DatasetStatistics) -> str:
    """The `--stats-only` block of pytorch-ssd's open_images_downloader.py, byte for byte (ends with a newline)."""
    lines: list[str] = []
    for split in statistics.splits:
        lines += ["", _DASHES, f" '{split.name}' set statistics", _DASHES,
                  f"  Image count:  {split.image_count:d}",
                  f"  Bounding box count:  {split.box_count:d}",
                  "  Bounding box distribution: "]
        lines += [f"    {name:s}:  {count:d}/{split.box_count:d} = {count / split.box_count:.2f}"
                  for name, count in split.distribution]
        lines.append(" ")
    lines += ["", _DASHES, " Overall statistics", _DASHES,
              f"  Image count:  {statistics.image_count:d}",
              f"  Bounding box count:  {statistics.box_count:d}", ""]
    return "\n".join(lines) + "\n"
