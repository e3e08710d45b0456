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
from core.data.synthetic import MIN_CONTRAST, SHAPE_CLASSES, _contrasting_colour, _Scene


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


def test_reads_back_without_problems(demo):
    dataset = open_split(read_dataset(demo), "train", (demo / "labels.txt").read_text().split("\n"))
    assert dataset.report.problems == 0 and len(dataset) == 32


def test_a_shape_may_hide_at_most_forty_percent_of_a_labelled_object():
    scene = _Scene(owner=np.full((100, 100), -1, np.int32), boxes=[], areas=[])
    labelled = np.zeros((100, 100), np.uint8)
    labelled[10:50, 10:50] = 255  # 1600 pixels
    scene.add(labelled, (10, 10, 50, 50), labelled=True)
    half_hidden, little_hidden = np.zeros_like(labelled), np.zeros_like(labelled)
    half_hidden[10:50, 30:70] = 255  # hides 800 of its pixels
    little_hidden[10:50, 42:82] = 255  # hides 320
    assert not scene.fits(half_hidden, (30, 10, 70, 50))
    assert scene.fits(little_hidden, (42, 10, 82, 50))
    scene.add(little_hidden, (42, 10, 82, 50), labelled=False)
    more = np.zeros_like(labelled)
    more[10:50, 0:14] = 255  # 160 more hidden: 480 of 1600 out of sight, 70 % left
    assert scene.fits(more, (0, 10, 14, 50))
    more[10:50, 0:20] = 255  # 400 more: 720 out of sight, 55 % left
    assert not scene.fits(more, (0, 10, 20, 50))


def test_every_shape_stands_out_from_what_it_covers():
    rng = np.random.default_rng(5)
    for _ in range(200):
        under = rng.integers(0, 256, 3).astype(np.float32)
        for shape in (None, *SHAPE_CLASSES):
            assert np.linalg.norm(_contrasting_colour(shape, under, rng) - under) >= MIN_CONTRAST


def test_workers_write_the_same_files(demo, tmp_path):
    assert main(["dataset", "synth", str(tmp_path / "parallel"), "--images", "40", "--seed", "3",
                 "--workers", "2"]) == 0
    assert digest(tmp_path / "parallel") == digest(demo)


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
