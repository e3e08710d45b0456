"""`python -m core detect`: the JSON contract and the annotated output image."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.config import REPO_ROOT
from core.pictures.imageio import read_image, write_image

pytestmark = pytest.mark.timeout(120)


def test_detect_cli_json_contract(random_model, frames, tmp_path):
    weights, labels = random_model
    image = write_image(frames[0], tmp_path / "frame.png")
    command = [sys.executable, "-m", "core", "detect", "--weights", str(weights), "--labels", str(labels),
               "--image", str(image), "--threshold", "0.05", "--json", str(tmp_path / "out.json"),
               "--output", str(tmp_path / "annotated.jpg")]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=100)
    assert completed.returncode == 0, completed.stderr
    result = json.loads((tmp_path / "out.json").read_text())
    assert json.loads(completed.stdout) == result
    assert set(result) == {"image", "width", "height", "detections"}
    assert (result["width"], result["height"]) == (640, 480)
    detections = result["detections"]
    assert detections, "a random model with a low threshold always fires"
    assert [d["score"] for d in detections] == sorted((d["score"] for d in detections), reverse=True)
    for detection in detections:
        assert set(detection) == {"class_id", "label", "score", "box"}
        assert 1 <= detection["class_id"] <= 7 and detection["score"] > 0.05 and len(detection["box"]) == 4
    annotated = read_image(tmp_path / "annotated.jpg")
    assert annotated.shape == frames[0].shape
    assert np.abs(annotated.astype(int) - frames[0].astype(int)).mean() > 1  # boxes were drawn


def test_detect_cli_bad_image_is_one_line(random_model, tmp_path):
    weights, labels = random_model
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    completed = subprocess.run(
        [sys.executable, "-m", "core", "detect", "--weights", str(weights), "--labels", str(labels),
         "--image", str(tmp_path / "broken.jpg")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=100)
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "not a readable image" in completed.stderr
