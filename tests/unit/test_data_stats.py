"""Statistics: the downloader's --stats-only block byte for byte for the seed's counts, JSON, warnings."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from core.cli import main
from core.data.open_images import SUBSET_COLUMNS, annotation_file
from core.data.stats import format_downloader_text, statistics_from_tables

# The seed's per-class box counts in the order the classes first appear in each split's rows (so value_counts
# ties resolve like the seed's printout: validation Zebra before Whale, Rhinoceros before Blue jay).
SEED = {
    "train": (3626, [("Sparrow", 1387), ("Zebra", 993), ("Sea turtle", 958), ("Whale", 912), ("Rhinoceros", 659),
                     ("Blue jay", 232), ("Armadillo", 38)]),
    "validation": (171, [("Sparrow", 63), ("Zebra", 41), ("Whale", 41), ("Sea turtle", 33), ("Rhinoceros", 21),
                         ("Blue jay", 21)]),
    "test": (505, [("Sparrow", 159), ("Sea turtle", 152), ("Whale", 124), ("Zebra", 111), ("Rhinoceros", 69),
                   ("Blue jay", 60)]),
}

SEED_BLOCK = """
-------------------------------------
 'train' set statistics
-------------------------------------
  Image count:  3626
  Bounding box count:  5179
  Bounding box distribution: 
    Sparrow:  1387/5179 = 0.27
    Zebra:  993/5179 = 0.19
    Sea turtle:  958/5179 = 0.18
    Whale:  912/5179 = 0.18
    Rhinoceros:  659/5179 = 0.13
    Blue jay:  232/5179 = 0.04
    Armadillo:  38/5179 = 0.01
 

-------------------------------------
 'validation' set statistics
-------------------------------------
  Image count:  171
  Bounding box count:  220
  Bounding box distribution: 
    Sparrow:  63/220 = 0.29
    Zebra:  41/220 = 0.19
    Whale:  41/220 = 0.19
    Sea turtle:  33/220 = 0.15
    Rhinoceros:  21/220 = 0.10
    Blue jay:  21/220 = 0.10
 

-------------------------------------
 'test' set statistics
-------------------------------------
  Image count:  505
  Bounding box count:  675
  Bounding box distribution: 
    Sparrow:  159/675 = 0.24
    Sea turtle:  152/675 = 0.23
    Whale:  124/675 = 0.18
    Zebra:  111/675 = 0.16
    Rhinoceros:  69/675 = 0.10
    Blue jay:  60/675 = 0.09
 

-------------------------------------
 Overall statistics
-------------------------------------
  Image count:  4302
  Bounding box count:  6074

"""


def seed_frame(split: str) -> pd.DataFrame:
    """Downloader-style rows with the seed's counts: boxes interleaved over classes, images reused cyclically."""
    images, counts = SEED[split]
    remaining = dict(counts)
    names = []
    while any(remaining.values()):  # round-robin keeps each class's first appearance in the listed order
        for name, _ in counts:
            if remaining[name]:
                names.append(name)
                remaining[name] -= 1
    rows = {column: 0 for column in SUBSET_COLUMNS}
    frame = pd.DataFrame({**rows, "ImageID": [f"{split[0]}{i % images:015x}" for i in range(len(names))],
                          "Source": "xclick", "LabelName": [f"/m/{name.lower()}" for name in names], "Confidence": 1,
                          "XMin": 0.1, "XMax": 0.6, "YMin": 0.2, "YMax": 0.5, "id": [f"/m/{n.lower()}" for n in names],
                          "ClassName": names})
    return frame[list(SUBSET_COLUMNS)]


@pytest.fixture(scope="module")
def seed_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("seed")
    for split in SEED:
        seed_frame(split).to_csv(annotation_file(root, split), index=False)
    return root


def test_seed_statistics_block_is_exact(seed_dataset, capsys):
    assert main(["dataset", "stats", str(seed_dataset)]) == 0
    assert capsys.readouterr().out == SEED_BLOCK


def test_json_gives_the_same_numbers(seed_dataset, capsys):
    assert main(["dataset", "stats", str(seed_dataset), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"] == {"image_count": 4302, "box_count": 6074}
    for split, (images, counts) in SEED.items():
        got = data["splits"][split]
        assert got["image_count"] == images
        assert got["box_count"] == sum(count for _, count in counts)
        assert [(d["class"], d["boxes"]) for d in got["distribution"]] == sorted(counts, key=lambda c: -c[1])
    assert data["classes"][0] == "Sparrow" and data["classes"][-1] == "Armadillo"


def test_warnings_name_rare_and_missing_classes(seed_dataset):
    tables = {split: seed_frame(split) for split in SEED}
    statistics = statistics_from_tables(tables)
    assert "Armadillo is rare: 38 boxes, 0.6% of all boxes (train 38, validation 0, test 0)" in statistics.warnings
    assert "Armadillo has no boxes in validation, test" in statistics.warnings
    assert len(statistics.warnings) == 2


def test_ties_keep_first_appearance_and_ratios_round_like_python():
    table = pd.DataFrame({"ImageID": ["a", "a", "b", "c", "c", "d"], "ClassName": ["B", "A", "A", "B", "C", "C"],
                          "XMin": 0.1, "XMax": 0.2, "YMin": 0.1, "YMax": 0.4})
    statistics = statistics_from_tables({"train": table})
    (split,) = statistics.splits
    assert split.distribution == (("B", 2), ("A", 2), ("C", 2))
    assert split.images_per_class == {"B": 2, "A": 2, "C": 2}
    assert split.objects_per_image == {1: 2, 2: 2}
    assert "    B:  2/6 = 0.33\n" in format_downloader_text(statistics)
    assert sum(split.size_histogram) == 6 and sum(split.aspect_histogram) == 6
    frames = statistics.chart_frames()
    assert frames["per_class"]["boxes"].sum() == 6


def test_stats_of_a_folder_that_is_no_dataset_is_a_one_line_error(tmp_path, capsys):
    assert main(["dataset", "stats", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
