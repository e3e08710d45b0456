"""README command 1 in headless chromium: the Detect page detects a bundled sample and shows it annotated."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def test_readme_demo_command_serves_detect_page_with_annotated_sample(demo_url, page):
    page.goto(demo_url, wait_until="domcontentloaded")
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
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1000)  # the grid paints its canvas after it becomes visible
    path = screenshot(page, "detect_page")
    assert path.stat().st_size > 10_000
