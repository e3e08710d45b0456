"""The dataset gallery draws ground truth labelled with its class alone: a box there has no score to show."""
from __future__ import annotations

import numpy as np

from core.data.dataset import BACKGROUND
from core.data.readers import open_split, read_dataset
from core.data.samples import gallery_page
from core.data.synthetic import make_synthetic_dataset
from core.detect.base import Detections
from core.detect.overlay import draw_detections
from core.pictures.drawing import draw_boxes


def test_gallery_boxes_carry_the_class_name_without_a_score(tmp_path):
    tables = read_dataset(make_synthetic_dataset(tmp_path / "demo", images=10, seed=4))
    names = [BACKGROUND, *sorted({str(name) for table in tables.splits.values() for name in table["ClassName"]})]
    sample = open_split(tables, "train", names)[0]
    boxes = Detections(sample.boxes, np.ones(len(sample.labels), np.float32), sample.labels)
    drawn = gallery_page(tables, split="train", page=0, page_size=1).items[0].image
    assert np.array_equal(drawn, draw_boxes(sample.image, sample.boxes, None, sample.labels, names))
    assert not np.array_equal(drawn, draw_detections(sample.image, boxes, names))  # not "circle 1.00"
