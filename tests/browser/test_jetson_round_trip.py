"""The Jetson round trip end to end: `jetson pack` on the demo model and a synthetic dataset, the Jetson program
under CPython 3.8 with JetPack 5's numpy and a fake TensorRT 8.5 whose engines run the bundle's ONNX graph with
onnxruntime, `train-time` with a stand-in of pytorch-ssd's train_ssd.py, then `jetson import`: the Jetson's FP32 row
has the server's ort-fp32 mAP on the same images, `report optimize` and `report training` show the Jetson, and so
does the Compare page in chromium.

The fake engines' arithmetic runs in a helper process on the server's own interpreter and onnxruntime (not an
onnxruntime installed for 3.8, which would need a newer numpy than JetPack 5's): the same runtime and graph as the
server's reference, so equal mAP checks the Jetson side's data path (layout, normalization, batching, output order,
ids) and the server's decoding of raw outputs, not two runtimes' rounding.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core.config import REPO_ROOT
from tests.browser.conftest import screenshot, start_streamlit
from tests.history_helpers import markdown_rows, recorded_runs
from tests.jetson_envs import ENVIRONMENTS, FAKES
from tests.jetson_helpers import DEMO_LABELS, DEMO_WEIGHTS, run_program
from tests.polling import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def core(root: Path, *arguments: str) -> str:
    env = {**os.environ, "EDS_DATA_ROOT": str(root)}
    done = subprocess.run([sys.executable, "-m", "core", *arguments], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("jetson-round-trip")
    core(root, "dataset", "synth", str(root / "shapes"), "--images", "80", "--seed", "5")
    packed = json.loads(core(root, "jetson", "pack", "--weights", str(DEMO_WEIGHTS), "--labels", str(DEMO_LABELS),
                             "--data", str(root / "shapes"), "--output", str(root / "bundle"), "--batch-sizes", "1,4",
                             "--calib-images", "8", "--eval-images", "8", "--threads", "1", "--no-progress",
                             "--stream-host", "127.0.0.1"))
    (root / "onnx-store").mkdir()
    fake_ort = {"FAKE_TRT_ORT_PYTHON": sys.executable, "FAKE_TRT_ONNX_STORE": str(root / "onnx-store")}
    env = ENVIRONMENTS["jetpack-5.1"]
    out = root / "jetson-out"
    run_program(env, ["all", "--bundle", str(root / "bundle"), "--out", str(out), "--warmup", "1", "--repeats",
                      "5", "--iterations", "2"], work=root, cuda="pycuda", extra_env=fake_ort).check()
    (root / "jetson-data").mkdir()
    run_program(env, ["train-time", "--ssd-dir", str(FAKES / "ssd"), "--data", str(root / "jetson-data"),
                      "--epochs", "3", "--out", str(out)], work=root, cuda="pycuda").check()
    imported = json.loads(core(root, "jetson", "import", str(out)))
    return {"root": root, "packed": packed, "imported": imported}


def _optimize_runs(root: Path) -> dict[str, dict]:
    return {run.params["target"]: {"device": run.device, "metrics": {
                metric.name: metric.value for metric in run.metrics if metric.class_name is None}}
            for run in recorded_runs(f"sqlite:///{root / 'history.sqlite'}", kind="optimize")}


def test_the_jetson_fp32_row_has_the_servers_ort_fp32_map_on_the_same_images(round_trip: dict) -> None:
    assert round_trip["imported"]["added"] == 4  # three engines and the training timing
    runs = _optimize_runs(round_trip["root"])
    server, jetson = runs["ort-fp32"], runs["trt-fp32"]
    assert jetson["metrics"]["map50"] == server["metrics"]["map50"] == round_trip["packed"]["reference_map50"]
    assert jetson["metrics"]["coco_map"] == server["metrics"]["coco_map"]
    assert jetson["metrics"]["delta_map50"] == 0.0 and jetson["device"] != server["device"]
    assert {"latency_p50_ms", "throughput_b4", "eval_images"} <= set(jetson["metrics"])
    report = core(round_trip["root"], "report", "optimize")
    rows = {row["target"]: row for row in markdown_rows(report)}
    assert set(rows) == {"ort-fp32", "trt-fp32", "trt-fp16", "trt-int8"}
    assert rows["trt-fp32"]["device"] == jetson["device"] and rows["ort-fp32"]["device"] == server["device"]
    assert rows["trt-int8"]["base"].endswith(" trt-fp32")  # the Jetson's rows against the Jetson's FP32 engine
    training = core(round_trip["root"], "report", "training").splitlines()
    assert any(line.startswith(f"| {jetson['device']} |") and "| 4 | jetson-data |" in line for line in training)


def copied_markdown(page) -> str:
    """The page's "Copy as Markdown" text: the expander is clicked until its code block shows (a click made while
    a loaded machine still draws the page can be lost)."""
    code = page.locator('[data-testid="stCode"]').first
    expander = page.get_by_text("Copy as Markdown")
    expander.wait_for(timeout=90_000)
    for _ in range(3):
        if page.locator('[data-testid="stCode"]').count() == 0:
            expander.click()
        try:
            code.wait_for(state="attached", timeout=30_000)
            break
        except PlaywrightTimeout:
            continue
    # the text as the page holds it (inner text is empty while a click made under load has closed the expander again)
    wait_until(lambda: (code.text_content(timeout=30_000) or "").strip(), 30, "the Markdown block has its table")
    return code.text_content(timeout=30_000)


def test_the_compare_and_training_pages_show_the_jetson(round_trip: dict, browser) -> None:
    process, url = start_streamlit({"EDS_AUTH": "off"}, round_trip["root"])
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    try:
        page = context.new_page()
        page.goto(f"{url}/compare", wait_until="domcontentloaded")
        page.get_by_text("Side by side, against").wait_for(timeout=90_000)
        markdown = copied_markdown(page)
        runs = _optimize_runs(round_trip["root"])
        assert sorted((row["target"], row["device"]) for row in markdown_rows(markdown)) == sorted(
            (target, run["device"]) for target, run in runs.items())
        page.wait_for_timeout(1500)  # plotly finishes drawing after the elements exist
        screenshot(page, "compare_page_jetson")
        page.goto(f"{url}/training", wait_until="domcontentloaded")
        page.get_by_text("Training speed").wait_for(timeout=90_000)
        table = copied_markdown(page)
        assert f"| {runs['trt-fp32']['device']} |" in table and "| 4 | jetson-data |" in table
    finally:
        context.close()
        process.terminate()
        process.wait(timeout=20)
