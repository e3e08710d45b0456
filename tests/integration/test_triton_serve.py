"""`core serve --input tensors` (a real tritonserver running the network alone, as NVIDIA's
container serves the export-triton repository) with `--backend triton` clients on 127.0.0.1.

Four pipelines' worth of threads send frames at once; their detections equal the local torch detector's, and
Triton's own metrics show batches of more than one request. Then a live pipeline loses its server: its stats say
"inference server unreachable" within 2 s, and it detects again by itself once the server is back on the same port.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from core.detect import DetectorSpec, load_detector
from core.live import LivePipeline
from core.serve.process import ServeProcess
from core.stream import open_source
from core.stream.demo import draw_demo_frame
from tests.integration.triton_helpers import LABELS, WEIGHTS, detect_concurrently, server_options
from tests.polling import seconds_until, wait_for

pytestmark = pytest.mark.timeout(360)  # a server start loads the model in `core serve` and in each instance

SERVER_OPTIONS = server_options("tensors")
PIPELINES = 4
FRAMES_EACH = 6


@pytest.fixture(scope="module")
def server():
    with ServeProcess(WEIGHTS, LABELS, options=SERVER_OPTIONS) as serve:
        yield serve


def test_four_pipelines_at_once_match_the_local_detector_and_get_batched(server):
    local = load_detector(DetectorSpec(WEIGHTS, LABELS, backend="torch", device="cpu"))
    frames = [[draw_demo_frame(index * 7 + pipeline, stamp=False)[0] for index in range(FRAMES_EACH)]
              for pipeline in range(PIPELINES)]
    expected = [local.detect(batch) for batch in frames]

    def pipeline_detector():
        detector = load_detector(DetectorSpec(WEIGHTS, LABELS, backend="triton", triton_url=server.url))
        detector.timeout_s = 30.0  # parity here, not latency: a loaded 2-core machine may be slow
        return detector

    detectors, remote, requests, executions = detect_concurrently(server, pipeline_detector, frames)
    assert all(detector.input == "input_0" for detector in detectors)  # the client decodes and runs NMS itself

    assert sum(len(results) for results in remote) == PIPELINES * FRAMES_EACH
    found = 0
    for mine, theirs in zip(remote, expected):
        for a, b in zip(mine, theirs):
            assert a.labels.tolist() == b.labels.tolist()
            np.testing.assert_allclose(a.scores, b.scores, atol=2e-5)
            np.testing.assert_allclose(a.boxes, b.boxes, atol=0.05)
            found += len(a)
    assert found > 0  # the demo model finds the demo scene's shapes
    print(f"{requests:g} requests in {executions:g} executions (dynamic batching)")
    assert requests == PIPELINES * FRAMES_EACH
    assert executions < requests  # at least one execution ran a batch of two or more requests


def test_live_pipeline_reports_a_lost_server_and_recovers_after_a_restart(server):
    detector = load_detector(DetectorSpec(WEIGHTS, LABELS, backend="triton", triton_url=server.url))
    with LivePipeline(open_source("demo:?width=320&height=240&fps=10"), detector) as pipeline:
        assert wait_for(lambda: (pipeline.latest() is not None and pipeline.latest().detections is not None), 30)
        errors_before = pipeline.stats()["detector_errors"]
        assert pipeline.stats()["detector_last_error"] is None
        killed_at = time.monotonic()
        server.kill()

        def reported() -> bool:
            newest = pipeline.stats()["detector_last_error"]
            return bool(newest and f"inference server unreachable at {server.url}" in newest["message"])

        assert seconds_until(reported, 2.0 - (time.monotonic() - killed_at)) is not None, pipeline.stats()
        seconds = time.monotonic() - killed_at
        assert pipeline.stats()["detector_errors"] > errors_before and pipeline.running  # the stream goes on

        server.start()
        errors_at_restart = pipeline.stats()["detector_errors"]
        last = pipeline.latest().sequence

        def detecting_again() -> bool:
            result = pipeline.latest()
            return result.sequence > last and result.detections is not None

        assert seconds_until(detecting_again, 30) is not None
        print(f"unreachable reported {seconds:.2f} s after the kill; {errors_at_restart} errors before the restart")
