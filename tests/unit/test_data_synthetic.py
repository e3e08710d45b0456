"""The synthetic demo dataset: seeded, Open Images layout, 7 classes, several objects per image, readable."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.data.dataset import BACKGROUND
from core.data.open_images import SPLITS, SUBSET_COLUMNS, annotation_file
from core.data.readers import open_split, read_dataset
from core.data.samples import gallery_page
from core.data.synthetic import SHAPE_CLASSES


def digest(root):
    hashes = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hashes.update(path.relative_to(root).as_posix().encode())
        hashes.update(path.read_bytes())
    return hashes.hexdigest()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "demo"
    assert main(["dataset", "synth", str(root), "--images", "40", "--seed", "3"]) == 0
    return root


def test_layout_labels_and_splits(demo):
    assert sorted(p.name for p in demo.iterdir()) == [
        "class-descriptions-boxable.csv", "labels.txt", "sub-test-annotations-bbox.csv",
        "sub-train-annotations-bbox.csv", "sub-validation-annotations-bbox.csv", "test", "train", "validation"]
    assert (demo / "labels.txt").read_text() == "\n".join([BACKGROUND, *sorted(s.name for s in SHAPE_CLASSES)])
    counts = {}
    for split in SPLITS:
        frame = pd.read_csv(annotation_file(demo, split))
        assert list(frame.columns) == list(SUBSET_COLUMNS)
        assert frame[["XMin", "YMin"]].ge(0).all().all() and frame[["XMax", "YMax"]].le(1).all().all()
        assert (frame["XMax"] > frame["XMin"]).all() and (frame["YMax"] > frame["YMin"]).all()
        assert {f"{image_id}.jpg" for image_id in frame["ImageID"]} <= {p.name for p in (demo / split).iterdir()}
        counts[split] = frame["ImageID"].nunique()
    assert counts == {"train": 32, "validation": 4, "test": 4}
    train = pd.read_csv(annotation_file(demo, "train"))
    assert set(train["ClassName"]) == {shape.name for shape in SHAPE_CLASSES}
    assert train.groupby("ImageID").size().max() > 1


def test_same_seed_same_files_other_seed_other_files(demo, tmp_path):
    assert main(["dataset", "synth", str(tmp_path / "again"), "--images", "40", "--seed", "3"]) == 0
    assert main(["dataset", "synth", str(tmp_path / "other"), "--images", "40", "--seed", "4"]) == 0
    assert digest(tmp_path / "again") == digest(demo)
    assert digest(tmp_path / "other") != digest(demo)


def test_reads_back_without_problems_and_boxes_cover_coloured_shapes(demo):
    dataset = open_split(read_dataset(demo), "train", (demo / "labels.txt").read_text().split("\n"))
    assert dataset.report.problems == 0
    for sample in list(dataset)[:5]:
        for (x1, y1, x2, y2) in sample.boxes.astype(int):
            crop = sample.image[y1:y2, x1:x2].astype(np.int16)
            saturation = crop.max(axis=2) - crop.min(axis=2)
            assert np.median(saturation) > 40 or saturation.mean() > 30  # a coloured shape fills the box


def test_refuses_a_non_empty_folder_unless_overwrite(demo, capsys):
    assert main(["dataset", "synth", str(demo), "--images", "5"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert not any(p.name.endswith(".partial") for p in demo.parent.iterdir())


def test_gallery_pages_filter_by_class_and_draw_boxes(demo):
    tables = read_dataset(demo)
    everything = gallery_page(tables, split="train", page=0, page_size=5)
    assert everything.total == 32 and everything.pages == 7 and len(everything.items) == 5
    last = gallery_page(tables, split="train", page=99, page_size=5)
    assert last.page == 6 and len(last.items) == 2
    stars = gallery_page(tables, split="validation", class_name="star", page=0, page_size=50)
    assert stars.total == len(stars.items) > 0
    assert all("star" in item.classes for item in stars.items)
    raw = open_split(tables, "train")[0].image
    assert everything.items[0].image.shape == raw.shape and not np.array_equal(everything.items[0].image, raw)
