"""The Dataset page in headless chromium on the demo dataset: statistics charts and the paged gallery."""
from __future__ import annotations

import pytest

from core.data.synthetic import make_synthetic_dataset
from tests.browser.conftest import screenshot, start_streamlit

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def dataset_app(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("data")
    make_synthetic_dataset(data_root / "demo", images=300, seed=0)
    process, url = start_streamlit({}, data_root)
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_dataset_page_shows_charts_and_gallery_of_demo_dataset(dataset_app, browser):
    page = browser.new_context(viewport={"width": 1400, "height": 5200}).new_page()  # the whole page in one shot
    page.goto(f"{dataset_app}/dataset", wait_until="domcontentloaded")
    page.get_by_text("images in train - page 1 of").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").nth(5).wait_for(state="attached", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 6
    gallery = page.locator(".eds-image img")
    assert gallery.count() == 12
    page.wait_for_function("() => [...document.querySelectorAll('.eds-image img')]"
                           ".every(img => img.complete && img.naturalWidth > 0)", timeout=30_000)
    for name in ("circle", "star", "triangle"):
        assert page.get_by_text(name).count() > 0
    page.wait_for_timeout(1500)  # plotly finishes drawing after the elements exist
    path = screenshot(page, "dataset_page")
    assert path.stat().st_size > 50_000
    page.context.close()
