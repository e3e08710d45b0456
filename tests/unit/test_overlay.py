"""Overlay drawing: boxes and labels land where the detections are, one stable colour per class."""
from __future__ import annotations

import numpy as np

from core.detect.base import Detections
from core.detect.overlay import class_colour, draw_detections
from core.pictures.drawing import draw_boxes


def test_colours_are_stable_and_distinct():
    assert class_colour(3) == class_colour(3)
    assert len({class_colour(i) for i in range(1, 21)}) == 20


def test_box_and_label_are_drawn_in_class_colour():
    frame = np.full((480, 640, 3), 40, np.uint8)
    detections = Detections(np.array([[100, 150, 300, 400]], np.float32), np.array([0.87], np.float32), np.array([2]))
    drawn = draw_detections(frame, detections, ["BACKGROUND", "Zebra", "Whale"])
    assert (frame == 40).all(), "the input frame is not modified"
    colour = np.array(class_colour(2))
    assert (np.abs(drawn[300, 100].astype(int) - colour) <= 2).all()  # left edge of the box
    assert (drawn[300, 200] == 40).all()  # inside the box stays untouched
    label_band = drawn[120:150, 100:200]
    assert (np.abs(label_band.astype(int) - colour).sum(axis=2) <= 6).mean() > 0.3  # filled label background


def test_label_stays_inside_frame_for_box_at_top_edge():
    frame = np.zeros((240, 320, 3), np.uint8)
    detections = Detections(np.array([[250, 0, 330, 50]], np.float32), np.array([0.5], np.float32), np.array([1]))
    drawn = draw_detections(frame, detections, ["BACKGROUND", "Sea turtle"])
    assert drawn[:, :250].any(), "a long label near the right edge is shifted left into view"


def test_ground_truth_is_labelled_with_its_class_alone():
    """The dataset gallery's boxes carry no score, so their label is the class name only (not "Zebra 1.00")."""
    frame = np.full((480, 640, 3), 40, np.uint8)
    detections = Detections(np.array([[100, 150, 300, 400]], np.float32), np.array([1.0], np.float32), np.array([1]))
    scored = draw_detections(frame, detections, ["BACKGROUND", "Zebra"])
    named = draw_boxes(frame, detections.boxes, None, detections.labels, ["BACKGROUND", "Zebra"])
    colour = np.array(class_colour(1))

    def label_width(drawn: np.ndarray) -> int:
        band = np.abs(drawn[125:145, 100:400].astype(int) - colour).sum(axis=2) <= 6
        return int(np.flatnonzero(band.any(axis=0)).max())

    assert 0 < label_width(named) < label_width(scored) - 20  # " 1.00" left out
