"""Summarizing a large Open Images annotation file: read the CSV, count per split/class, format the text and JSON.

    python -m benchmarks.dataset_stats [--rows 600000] [--classes 600]

Writes a sub-train-annotations-bbox.csv with `--rows` rows in the downloader's 15 columns (random 16-hex ImageIDs,
about 1.5 boxes per image, Zipf-like class sizes) and times `dataset stats` end to end. Goal: under 2 s for 600k rows.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import save_results, time_call
from core.data.open_images import SUBSET_COLUMNS, annotation_file
from core.data.readers import read_dataset
from core.data.stats import compute_statistics, format_downloader_text

GOAL_S = 2.0


def write_annotations(root: Path, rows: int, classes: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 2**63, max(rows * 2 // 3, 1), dtype=np.int64)
    image_ids = np.char.mod("%016x", images[np.sort(rng.integers(0, len(images), rows))])
    weights = 1.0 / np.arange(1, classes + 1)
    class_index = rng.choice(classes, rows, p=weights / weights.sum())
    names = np.array([f"Class {index:03d}" for index in range(classes)], dtype=object)[class_index]
    mids = np.array([f"/m/{index:05x}" for index in range(classes)], dtype=object)[class_index]
    x1, y1 = rng.uniform(0, 0.7, rows).round(6), rng.uniform(0, 0.7, rows).round(6)
    frame = pd.DataFrame({
        "ImageID": image_ids, "Source": "xclick", "LabelName": mids, "Confidence": 1,
        "XMin": x1, "XMax": (x1 + rng.uniform(0.05, 0.3, rows)).round(6),
        "YMin": y1, "YMax": (y1 + rng.uniform(0.05, 0.3, rows)).round(6),
        "IsOccluded": rng.integers(0, 2, rows), "IsTruncated": rng.integers(0, 2, rows), "IsGroupOf": 0,
        "IsDepiction": 0, "IsInside": 0, "id": mids, "ClassName": names,
    })[list(SUBSET_COLUMNS)]
    path = annotation_file(root, "train")
    frame.to_csv(path, index=False)
    return path


def summarize(root: Path) -> str:
    statistics = compute_statistics(read_dataset(root))
    json.dumps(statistics.to_dict())
    return format_downloader_text(statistics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--classes", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = write_annotations(root, args.rows, args.classes)
        timing = time_call(lambda: summarize(root), warmup=1, min_seconds=0.0, min_repeats=5)
        file_bytes = path.stat().st_size
        first_lines = summarize(root).splitlines()[:6]
    median_s = timing["median_ms"] / 1000
    result = save_results("dataset_stats", {
        "rows": args.rows, "classes": args.classes, "csv_bytes": file_bytes, "timing": timing,
        "median_s": median_s, "goal_s": GOAL_S, "meets_goal": median_s < GOAL_S, "output_head": first_lines,
    }, {"summary_median_s": (median_s, "s"), "summary_p95_s": (timing["p95_ms"] / 1000, "s")})
    print(f"{args.rows} rows ({file_bytes / 1e6:.1f} MB): median {median_s:.3f} s, p95 "
          f"{timing['p95_ms'] / 1000:.3f} s over {timing['repeats']} runs (goal < {GOAL_S} s) -> {result}")


if __name__ == "__main__":
    main()
