"""Dataset readers: Open Images downloader layout and VOC folders, with problems counted instead of raised."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pandas as pd
import pytest

from core.data.dataset import BACKGROUND, CorruptImageError
from core.data.open_images import annotation_file, read_open_images
from core.data.readers import find_datasets, open_split, read_dataset
from core.data.stats import compute_statistics
from core.model.checkpoint import read_labels, write_labels


def write_jpeg(path, width=200, height=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((height, width, 3), 90, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    path.write_bytes(data.tobytes())


@pytest.fixture
def open_images_root(tmp_path):
    root = tmp_path / "oi"
    root.mkdir()
    rows = [
        ("img0", "Zebra", 0.1, 0.5, 0.2, 0.6),
        ("img0", "Whale", 0.0, 1.0, 0.0, 1.0),
        ("img1", "Zebra", -0.1, 0.5, 0.5, 1.2),  # outside the image: clipped and counted
        ("img1", "Unicorn", 0.1, 0.2, 0.1, 0.2),  # unknown class: dropped and counted
        ("img1", "Whale", 0.4, 0.4, 0.1, 0.3),  # no width: dropped and counted
        ("img2", "Whale", 0.1, 0.2, 0.1, 0.2),  # image missing on disk
        ("img3", "Zebra", 0.1, 0.2, 0.1, 0.2),  # image corrupt
    ]
    table = pd.DataFrame(rows, columns=["ImageID", "ClassName", "XMin", "XMax", "YMin", "YMax"])
    table.insert(1, "Source", "xclick")
    table.to_csv(annotation_file(root, "train"), index=False)
    write_jpeg(root / "train" / "img0.jpg")
    write_jpeg(root / "train" / "img1.jpg")
    (root / "train" / "img3.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_a_datasets_class_names_are_a_labels_file_the_model_loads(open_images_root, tmp_path):
    """The readers' BACKGROUND (repeated in core.data to keep it free of core.model) must be the name the model's
    labels loader requires first: a dataset's class list, written as labels.txt, loads back unchanged."""
    dataset = open_split(read_open_images(open_images_root), "train")
    labels = write_labels(dataset.class_names, tmp_path / "labels.txt")
    assert read_labels(labels) == dataset.class_names
    assert BACKGROUND not in dataset.class_names[1:]
    assert all(sample.labels.size and sample.labels.min() >= 1 for sample in dataset)  # no box is background


def test_open_images_samples_have_pixel_boxes_and_label_ids(open_images_root, caplog):
    names = [BACKGROUND, "Whale", "Zebra"]
    with caplog.at_level(logging.WARNING):
        dataset = open_split(read_open_images(open_images_root), "train", names)
    assert "1 missing images skipped" in caplog.text
    assert len(dataset) == 3  # img0, img1, img3 (corrupt, found when read)
    sample = dataset[0]
    assert sample.image_id == "img0" and sample.image.shape == (100, 200, 3)
    np.testing.assert_allclose(sample.boxes, [[20, 20, 100, 60], [0, 0, 200, 100]])
    assert sample.labels.tolist() == [2, 1]
    clipped = dataset[1]
    np.testing.assert_allclose(clipped.boxes, [[0, 50, 100, 100]])
    report = dataset.report
    assert (report.missing_images, report.out_of_bounds_boxes, report.empty_boxes) == (1, 1, 1)
    assert report.unknown_class_boxes == {"Unicorn": 1}
    assert report.examples["missing_images"] == ["img2"]


def test_corrupt_images_are_skipped_when_iterating_and_counted_once(open_images_root):
    dataset = open_split(read_open_images(open_images_root), "train", [BACKGROUND, "Whale", "Zebra"])
    with pytest.raises(CorruptImageError):
        dataset[2]
    for _ in range(2):
        assert [sample.image_id for sample in dataset] == ["img0", "img1"]
    assert dataset.report.corrupt_images == 1
    assert "1 corrupt images skipped" in dataset.report.summary()


def test_default_labels_are_background_then_sorted_training_classes(open_images_root):
    dataset = open_split(read_open_images(open_images_root), "train")
    assert dataset.class_names == [BACKGROUND, "Unicorn", "Whale", "Zebra"]
    assert dataset.indices_with_class(3).tolist() == [0, 1, 2]


VOC_XML = """<annotation><size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objects}</annotation>"""
VOC_OBJECT = ("<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
              "<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>")


@pytest.fixture
def voc_root(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    objects = {
        "a": [("cat", 0, 11, 21, 101, 81), ("dog", 1, 1, 1, 50, 50), ("horse", 0, 5, 5, 20, 20)],
        "b": [("dog", 0, 31, 11, 61, 41)],
        "c": [],
    }
    for image_id, boxes in objects.items():
        xml = VOC_XML.format(w=200, h=100, objects="".join(
            VOC_OBJECT.format(name=n, difficult=d, x1=x1, y1=y1, x2=x2, y2=y2) for n, d, x1, y1, x2, y2 in boxes))
        (root / "Annotations" / f"{image_id}.xml").write_text(xml)
    write_jpeg(root / "JPEGImages" / "a.jpg")
    write_jpeg(root / "JPEGImages" / "b.PNG")
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("a\nc\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("b\n")
    (root / "ImageSets" / "Main" / "cat_trainval.txt").write_text("a 1\n")
    (root / "labels.txt").write_text("cat\ndog\n")
    return root


def test_voc_reader_uses_labels_file_and_drops_difficult(voc_root):
    tables = read_dataset(voc_root)
    assert tables.layout == "voc" and list(tables.splits) == ["trainval", "test"]
    dataset = open_split(tables, "trainval")
    assert dataset.class_names == [BACKGROUND, "cat", "dog"]
    sample = dataset[0]
    np.testing.assert_allclose(sample.boxes, [[10, 20, 100, 80]])  # pytorch-ssd subtracts 1
    assert sample.labels.tolist() == [1]
    assert dataset.report.unknown_class_boxes == {"horse": 1}
    test_sample = open_split(tables, "test")[0]
    assert test_sample.path.name == "b.PNG" and test_sample.labels.tolist() == [2]


def test_voc_statistics_use_its_own_splits(voc_root):
    statistics = compute_statistics(read_dataset(voc_root))
    assert [(s.name, s.image_count, s.box_count) for s in statistics.splits] == [("trainval", 1, 2), ("test", 1, 1)]


def test_find_datasets_lists_both_layouts(open_images_root, voc_root, tmp_path):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    assert find_datasets([tmp_path]) == sorted([open_images_root.resolve(), voc_root.resolve()])


def test_find_datasets_does_not_follow_a_symlink_out_of_the_roots(open_images_root, voc_root, tmp_path):
    root = tmp_path / "data"
    (root / "nested").mkdir(parents=True)
    (root / "outside").symlink_to(open_images_root, target_is_directory=True)  # a dataset outside the root
    (root / "nested" / "outside").symlink_to(tmp_path, target_is_directory=True)  # one level down, to a parent
    (root / "inside").symlink_to(root / "nested" / "voc", target_is_directory=True)
    voc_root.rename(root / "nested" / "voc")
    assert find_datasets([root]) == [(root / "nested" / "voc").resolve()]
    assert find_datasets([root, open_images_root]) == sorted([(root / "nested" / "voc").resolve(),
                                                              open_images_root.resolve()])
