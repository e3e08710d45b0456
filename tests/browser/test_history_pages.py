"""The Runs, Compare and Training pages in headless chromium, on a history made by the project's own commands on the
demo model: evaluate the .pth, export the ONNX, evaluate the ONNX, import the demo model's training runs, optimize
(torch-fp32, ort-fp32, ort-int8)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import REPO_ROOT
from core.optimize.comparison import DECISION_COLUMNS
from tests.browser.conftest import screenshot, start_streamlit
from tests.history_helpers import markdown_rows
from tests.polling import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

DEMO = REPO_ROOT / "assets" / "demo"
MODEL = ["--weights", str(DEMO / "mb1-ssd-demo-fp16.pth"), "--labels", str(DEMO / "labels.txt")]


def make_history(root: Path) -> None:
    """The demo model measured by torch and onnxruntime, and optimized, on a small synthetic dataset: runs 1-3 are
    evaluate/export/evaluate, 4-8 the imported training runs, 9-11 optimize's torch-fp32, ort-fp32, ort-int8."""
    onnx = root / "models" / "mb1-ssd-demo-fp16.onnx"
    evaluate = ["evaluate", "--data", str(root / "demo"), "--split", "test", "--no-progress", "--threads", "1"]
    commands = [
        ["dataset", "synth", str(root / "demo"), "--images", "40", "--seed", "0"],
        [*evaluate, *MODEL],
        ["export-onnx", *MODEL, "--output", str(onnx)],
        [*evaluate, "--weights", str(onnx), "--labels", str(DEMO / "labels.txt"), "--backend", "onnxruntime"],
        ["runs", "import", str(DEMO / "training-runs.jsonl")],
        ["optimize", *MODEL, "--data", str(root / "demo"), "--targets", "torch-fp32,ort-fp32,ort-int8",
         "--calib-images", "16", "--batch-sizes", "1,4", "--repeats", "5", "--threads", "1", "--no-progress"],
    ]
    env = {**os.environ, "EDS_DATA_ROOT": str(root)}
    for command in commands:
        subprocess.run([sys.executable, "-m", "core", *command], cwd=REPO_ROOT, env=env, check=True, timeout=180,
                       stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def history_app(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("history")
    make_history(data_root)
    process, url = start_streamlit({"EDS_AUTH": "off"}, data_root)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def tall_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    yield context.new_page()
    context.close()


def pick_run(page, run_id: int) -> str:
    """Pick run `run_id` in the detail picker, which names it by id, kind, target (or model) and start; its name."""
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Run detail")
    option = page.get_by_role("option", name=re.compile(rf"^#{run_id} · "))

    def open_with_the_option() -> bool:  # a click while the table's fragment redraws can go unanswered: click again
        if option.count():
            return True
        if picker.locator("input").get_attribute("aria-expanded") != "true":
            picker.click()
        return False

    wait_until(open_with_the_option, 30, f"run #{run_id} offered by the detail picker", interval=0.5)
    name = option.inner_text(timeout=30_000)
    option.click()
    return name


def test_runs_page_lists_runs_and_opens_a_detail_with_lineage(history_app, tall_page):
    page = tall_page
    page.goto(f"{history_app}/runs", wait_until="domcontentloaded")
    page.get_by_text("11 runs match; showing 1-11").wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    name = pick_run(page, 11)  # the newest run: ort-int8
    assert re.fullmatch(r"#11 · optimize · ort-int8 · \d{4}-\d\d-\d\d \d\d:\d\d", name), name
    page.get_by_text("Run #11: optimize").wait_for(timeout=30_000)
    assert page.get_by_role("tab", name="Metrics").get_attribute("aria-selected") == "true"  # opens on its figures
    page.get_by_role("tab", name="Lineage").click()
    page.get_by_text("ancestor #9 optimize torch-fp32").wait_for(timeout=30_000)
    page.get_by_text("parent #10 optimize ort-fp32").wait_for(timeout=30_000)  # INT8 was quantized from that ONNX
    page.get_by_role("tab", name="Artifacts").click()
    page.wait_for_timeout(1000)
    screenshot(page, "runs_page")
    pick_run(page, 2)
    page.get_by_text("Run #2: export").wait_for(timeout=30_000)
    page.get_by_role("tab", name="Lineage").click()
    page.get_by_text("child #3 evaluation").wait_for(timeout=30_000)


def test_runs_page_import_of_a_bad_file_shows_the_one_line_message_and_imports_nothing(history_app, tall_page):
    page = tall_page
    page.goto(f"{history_app}/runs", wait_until="domcontentloaded")
    page.get_by_text("11 runs match; showing 1-11").wait_for(timeout=60_000)
    page.get_by_text("Import a history").click()
    record = json.loads((DEMO / "training-runs.jsonl").read_text().splitlines()[0])
    good = {**record, "uuid": "00000000-0000-0000-0000-00000000abcd"}  # not in the history yet
    bad = {**record, "metrics": [{**record["metrics"][0], "value": "abc"}]}
    upload = {"name": "bad.jsonl", "mimeType": "application/jsonl",
              "buffer": f"{json.dumps(good)}\n{json.dumps(bad)}\n".encode()}
    page.locator('input[type="file"]').set_input_files(files=[upload])
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("bad.jsonl:2: metric 1 value must be a number, not the text 'abc'; nothing was imported "
                     "(a file is imported whole or not at all)").wait_for(timeout=60_000)
    assert page.get_by_text("Something went wrong").count() == 0
    screenshot(page, "runs_import_refused")
    page.reload(wait_until="domcontentloaded")
    page.get_by_text("11 runs match; showing 1-11").wait_for(timeout=60_000)  # nothing from the file was imported


def test_compare_page_shows_table_with_deltas_and_pareto_chart(history_app, tall_page):
    page = tall_page
    page.goto(f"{history_app}/compare", wait_until="domcontentloaded")
    page.get_by_text("Side by side, against #9 torch-fp32").wait_for(timeout=60_000)  # the latest optimize
    page.locator(".js-plotly-plot").nth(2).wait_for(state="attached", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 3
    page.get_by_text("Throughput vs mAP@0.5 (Pareto front marked)").wait_for(timeout=30_000)
    page.get_by_text("on the Pareto front").first.wait_for(timeout=30_000)  # the chart's legend
    page.get_by_text("Copy as Markdown").click()
    markdown = page.locator('[data-testid="stCode"]').first.inner_text(timeout=30_000)
    assert "ΔmAP@0.5" in markdown and "speed-up" in markdown and "img/s bs4" in markdown
    assert [row["target"] for row in markdown_rows(markdown)] == ["torch-fp32", "ort-fp32", "ort-int8"]
    delta_header = page.locator('[role="columnheader"]', has_text="Δ #11 ort-int8")  # the grid's accessible header
    delta_header.first.wait_for(state="attached", timeout=30_000)  # per-class AP with its delta against the base
    page.wait_for_timeout(1500)  # plotly finishes drawing after the elements exist
    screenshot(page, "compare_page")


def test_training_page_shows_curves_and_the_seed_table(history_app, tall_page):
    page = tall_page
    page.goto(f"{history_app}/training", wait_until="domcontentloaded")
    page.get_by_text("Training speed").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").nth(2).wait_for(state="attached", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 3
    page.get_by_text("Copy as Markdown").click()
    table = page.locator('[data-testid="stCode"]').first.inner_text(timeout=30_000)
    assert table.startswith("| device | Images/sec | Time per epoch | batch size | dataset |")
    assert "| NVIDIA H100 80GB HBM3 | 1563.8 | 2.0 s | 64 | synthetic |" in table
    page.wait_for_timeout(1500)
    screenshot(page, "training_page")


def _grid(page) -> dict:
    """The first table's box, its scroll widths and its header names (the grid draws them on a canvas, and names
    them for assistive technology)."""
    return page.locator('[data-testid="stDataFrame"]').first.evaluate("""grid => {
        const box = grid.getBoundingClientRect();
        const scroller = grid.querySelector('.dvn-scroller');
        return {left: box.left, right: box.right, top: box.top, bottom: box.bottom,
                scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
                headers: [...grid.querySelectorAll('[role="columnheader"]')].map(cell => cell.textContent)};
    }""")


@contextmanager
def _page_of_size(browser, width: int, height: int) -> Iterator:
    """A page in a browser window of `width` x `height`, closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1024, 768)])
def test_the_decision_columns_are_visible_without_scrolling(history_app, browser, width, height):
    """Compare: target, device, end-to-end time, speed-up, mAP, ΔmAP, COCO, ΔCOCO fit the window, the others wait
    in "More columns"."""
    with _page_of_size(browser, width, height) as page:
        page.goto(f"{history_app}/compare", wait_until="domcontentloaded")
        page.get_by_text("Side by side, against #9 torch-fp32").wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # the grid sizes its columns after it is attached
        grid = _grid(page)
        assert grid["headers"] == ["target", "device", "e2e ms", "speed-up", "mAP", "ΔmAP", "COCO", "ΔCOCO"]
        assert len(grid["headers"]) == len(DECISION_COLUMNS)
        assert grid["scrollWidth"] <= grid["clientWidth"], grid  # no horizontal scrolling inside the table
        assert grid["right"] <= width and grid["top"] + 80 < height, grid  # its header and first row in view
        screenshot(page, f"compare_{width}x{height}")


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (1024, 768)])
def test_the_runs_page_shows_key_figures_and_opens_a_detail_on_its_metrics(history_app, browser, width, height):
    """Runs: the key figures are columns of the table; a run's detail opens on its metrics, bytes in MB."""
    with _page_of_size(browser, width, height) as page:
        page.goto(f"{history_app}/runs", wait_until="domcontentloaded")
        page.get_by_text("11 runs match; showing 1-11").wait_for(timeout=60_000)
        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        headers = _grid(page)["headers"]
        page.locator('[data-testid="stDataFrame"]').first.evaluate(  # the grid names only the columns in view
            "grid => { const scroller = grid.querySelector('.dvn-scroller'); scroller.scrollLeft = scroller.scrollWidth; }")
        page.wait_for_timeout(500)
        headers += _grid(page)["headers"]
        assert {"latency ms", "mAP@0.5", "img/s", "duration s"} <= set(headers), headers
        screenshot(page, f"runs_{width}x{height}")
        pick_run(page, 11)
        heading = page.get_by_text("Run #11: optimize")
        heading.wait_for(timeout=30_000)
        assert page.get_by_role("tab", name="Metrics").get_attribute("aria-selected") == "true"
        cells = page.locator('[data-testid="stDataFrame"]').nth(1)  # the metrics (the run table is the first)
        wait_until(lambda: any(re.fullmatch(r"\d+(\.\d+)? MB", text) for text in cells.evaluate(
            "grid => [...grid.querySelectorAll('[role=gridcell]')].map(cell => cell.textContent)")), 30,
            "the model's bytes in MB among the metrics")
        page.wait_for_timeout(1000)
        screenshot(page, f"run_detail_{width}x{height}")
