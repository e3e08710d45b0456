"""The Detect page in headless chromium: a bundled sample is detected and the annotated image appears."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def test_detect_page_renders_annotated_sample(app_url, page):
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Detect").wait_for(timeout=60_000)
    image = page.locator('[data-testid="stImage"] img').first
    image.wait_for(state="visible", timeout=120_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
    caption = page.locator('[data-testid="stImage"]').first.inner_text()
    match = re.search(r"(\d+) detections, (\d+)x(\d+)", caption)
    assert match, caption
    assert int(match.group(1)) >= 1, "the bundled demo model finds the shapes of the bundled sample"
    width = page.evaluate("img => img.naturalWidth", image.element_handle())
    assert width == int(match.group(2))
    assert page.get_by_text("No trained model found").count() == 0
    path = screenshot(page, "detect_page")
    assert path.stat().st_size > 10_000
