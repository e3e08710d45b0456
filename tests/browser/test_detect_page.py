"""README command 1 in headless chromium: over HTTPS, logged in through the one-time URL it printed, the Detect
page detects a bundled sample and shows it annotated, and the history pages show the demo model's committed runs
(training, and optimize on this CPU and on an H200)."""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot
from tests.history_helpers import markdown_rows

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def test_readme_demo_command_serves_detect_page_with_annotated_sample(demo_server, page):
    assert demo_server.login_url.startswith(demo_server.url + "/?token=")
    page.goto(demo_server.login_url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Detect").wait_for(timeout=60_000)
    page.wait_for_function("() => !location.search.includes('token')", timeout=10_000)  # gone from the address bar
    image = page.locator(".eds-image img").first
    image.wait_for(state="visible", timeout=120_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
    caption = page.locator(".eds-image figcaption").first.inner_text()
    match = re.search(r"(\d+) (detections?), (\d+)x(\d+)", caption)
    assert match, caption
    assert int(match.group(1)) >= 1, "the bundled demo model finds the shapes of the bundled sample"
    assert (match.group(2) == "detection") == (int(match.group(1)) == 1), caption  # "1 detection", "2 detections"
    width = page.evaluate("img => img.naturalWidth", image.element_handle())
    assert width == int(match.group(3))
    assert page.get_by_text("No trained model found").count() == 0
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1000)  # the grid paints its canvas after it becomes visible
    path = screenshot(page, "detect_page")
    assert path.stat().st_size > 10_000

    _history_pages_are_populated(page)


def _history_pages_are_populated(page) -> None:
    """In the same session (sidebar navigation keeps the login): the committed optimize and training runs."""
    page.get_by_role("link", name="Compare").click()
    page.get_by_text(re.compile("Side by side, against #\\d+ torch-fp32")).wait_for(timeout=60_000)
    page.get_by_text("Copy as Markdown").click()
    markdown = page.locator('[data-testid="stCode"]').first.inner_text(timeout=30_000)
    rows = markdown_rows(markdown)
    # the latest optimize (this CPU's), beside the same model's newest optimize on the other device (the H100)
    assert [row["target"] for row in rows] == ["torch-fp32", "ort-fp32", "ort-int8",
                                               "torch-fp32", "torch-fp16", "torch-bf16"], markdown
    assert [row["device"] for row in rows][3:] == ["NVIDIA H100 80GB HBM3"] * 3, markdown
    screenshot(page, "demo_compare_page")
    page.get_by_role("link", name="Runs").click()
    page.get_by_text(re.compile(r"\d+ runs match")).wait_for(timeout=60_000)
    page.get_by_role("link", name="Training").click()
    page.get_by_text("Training speed").wait_for(timeout=60_000)
    for width, height in ((1440, 900), (1024, 768)):  # the demo dataset on a first visit, with no click
        page.set_viewport_size({"width": width, "height": height})
        page.get_by_role("link", name="Dataset").click()
        page.get_by_text("Boxes per class").first.wait_for(timeout=60_000)
        assert page.get_by_text("No dataset found").count() == 0
        screenshot(page, f"demo_dataset_page_{width}x{height}")
        page.get_by_role("link", name="Detect").click()
        page.get_by_role("heading", name="Detect").wait_for(timeout=60_000)
