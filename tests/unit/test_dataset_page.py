"""Smoke tests of the Dataset page with Streamlit's AppTest on a tiny demo dataset."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.data.open_images import annotation_file
from core.data.synthetic import make_synthetic_dataset
from dashboard.components.text import plain

PAGE = str(Path(__file__).resolve().parents[2] / "dashboard" / "views" / "dataset.py")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_synthetic_dataset(root / "demo", images=30, seed=1)
    return root


def run_page(monkeypatch, root) -> AppTest:
    monkeypatch.setenv("EDS_DATA_ROOT", str(root))
    monkeypatch.delenv("EDS_ALLOWED_ROOTS", raising=False)
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.run()
    assert not app.exception
    return app


@pytest.mark.timeout(120)
def test_page_shows_tables_charts_and_gallery(monkeypatch, data_root):
    app = run_page(monkeypatch, data_root)
    assert app.title[0].value == "Dataset"
    assert app.selectbox[0].value == str((data_root / "demo").resolve())
    assert [metric.value for metric in app.metric][:2] == ["30", str(sum(
        len(pd.read_csv(annotation_file(data_root / "demo", split))) for split in ("train", "validation", "test")))]
    assert len(app.get("plotly_chart")) == 6
    assert len(app.dataframe) == 2
    assert len(app.get("html")) == 12  # gallery pictures are inlined (dashboard.components.inline)
    assert app.caption[0].value == "24 images in train - page 1 of 2"

    app.selectbox(key="gallery_class").select("ring").run()
    assert not app.exception
    assert "with ring" in app.caption[0].value
    app.number_input(key="gallery_page").set_value(9).run()
    assert not app.exception


@pytest.mark.timeout(120)
def test_page_warns_about_rare_and_missing_classes(monkeypatch, tmp_path):
    root = tmp_path / "animals"
    make_synthetic_dataset(root, images=30, seed=2)
    for split in ("validation", "test"):
        frame = pd.read_csv(annotation_file(root, split))
        frame[frame["ClassName"] != "ring"].to_csv(annotation_file(root, split), index=False)
    app = run_page(monkeypatch, tmp_path)
    warnings = [warning.value for warning in app.warning]
    assert plain("ring has no boxes in validation, test") in warnings


@pytest.mark.timeout(120)
def test_folders_outside_the_data_roots_are_refused(monkeypatch, data_root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    app = run_page(monkeypatch, data_root)
    app.text_input[0].input(str(outside)).run()
    assert not app.exception
    assert "outside the configured data roots" in app.error[0].value


@pytest.mark.timeout(120)
def test_empty_data_root_offers_the_demo_dataset(monkeypatch, tmp_path):
    app = run_page(monkeypatch, tmp_path)
    assert "No dataset found" in app.info[0].value
    app.button[0].click().run()
    assert not app.exception
    assert (tmp_path / "demo" / "labels.txt").is_file()
    assert len(app.get("plotly_chart")) == 6
