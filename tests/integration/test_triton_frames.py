"""`core serve --input frames` (a real tritonserver running our whole detector in several model instances) with
`--backend triton` clients on 127.0.0.1.

Four threads send uint8 frames at once, one frame per request; their detections equal the local torch
detector's, and Triton's own counters show batches of more than one request. Three client processes do the same and
their requests run in shared batches. One call with frames of mixed sizes answers in order, the client's higher score
threshold filters on top of the server's, a live pipeline detects through it, a frame above the server's pixel cap is
refused in one line, and the serve run records its input mode.
"""
from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from core.config import load_settings
from core.detect import DetectorSpec, load_detector
from core.errors import UserError
from core.live import LivePipeline
from core.serve.process import ServeProcess
from core.stream import open_source
from core.stream.demo import draw_demo_frame
from tests.history_helpers import recorded_runs
from tests.integration.triton_helpers import (LABELS, THREAD_TIMEOUT_S, WEIGHTS, client_process,
                                              detect_concurrently, server_options)
from tests.polling import wait_for

pytestmark = pytest.mark.timeout(360)  # a server start loads the model in `core serve` and in each instance

SERVER_OPTIONS = server_options("frames")
SIZES = ((640, 480), (320, 240))
MAX_PIXELS = 640 * 480  # the server's EDS_MAX_DECODED_PIXELS here
THREADS = 4
PROCESSES = 3
FRAMES_EACH = 6


def assert_same(mine, theirs) -> None:
    """Detections equal to the local detector's, within the tolerances of the tensors-mode test."""
    assert mine.labels.tolist() == theirs.labels.tolist()
    np.testing.assert_allclose(mine.scores, theirs.scores, atol=2e-5)
    np.testing.assert_allclose(mine.boxes, theirs.boxes, atol=0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("serve-data-root")
    with pytest.MonkeyPatch.context() as patch:  # the server process inherits these at its start
        patch.setenv("EDS_DATA_ROOT", str(data_root))
        patch.setenv("EDS_MAX_DECODED_PIXELS", str(MAX_PIXELS))
        serve = ServeProcess(WEIGHTS, LABELS, options=SERVER_OPTIONS).start()
    try:
        yield serve, data_root
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def local():
    return load_detector(DetectorSpec(WEIGHTS, LABELS, backend="torch", device="cpu"))


def remote_detector(url: str, **options):
    detector = load_detector(DetectorSpec(WEIGHTS, LABELS, backend="triton", triton_url=url, **options))
    detector.timeout_s = 30.0  # parity here, not latency: a loaded 2-core machine may be slow
    return detector


def test_threads_at_once_match_the_local_detector_and_get_batched(server, local):
    """All threads send frames of one size: Triton's dynamic batcher takes queued requests in order and ends a batch
    at the first request of another shape, so interleaved sizes may never batch (sizes: the mixed-sizes test)."""
    serve, _ = server
    frames = [[draw_demo_frame(index * 7 + thread, *SIZES[0], stamp=False)[0] for index in range(FRAMES_EACH)]
              for thread in range(THREADS)]
    expected = [local.detect(batch) for batch in frames]
    detectors, remote, requests, executions = detect_concurrently(serve, lambda: remote_detector(serve.url), frames)
    assert all(detector.input == "frames" for detector in detectors)

    assert [len(results) for results in remote] == [FRAMES_EACH] * THREADS
    found = 0
    for mine, theirs in zip(remote, expected):
        for a, b in zip(mine, theirs):
            assert_same(a, b)
            found += len(a)
    assert found > 0  # the demo model finds the demo scene's shapes
    print(f"{requests:g} requests in {executions:g} executions (dynamic batching)")
    assert requests == THREADS * FRAMES_EACH
    assert executions < requests  # at least one execution ran a batch of two or more requests


def test_requests_from_several_client_processes_are_batched_together(server, local):
    """Each client is a process of its own (as the benchmark's receivers are); Triton's own statistics count fewer
    executions than requests, so requests of different processes ran in one batch."""
    serve, _ = server
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(PROCESSES), context.Queue()
    indices = [[index * PROCESSES + number for index in range(FRAMES_EACH)] for number in range(PROCESSES)]
    before = serve.statistics()
    clients = [context.Process(target=client_process, args=(serve.url, indices[number], barrier, answers))
               for number in range(PROCESSES)]
    for client in clients:
        client.start()
    found = dict(answers.get(timeout=THREAD_TIMEOUT_S) for _ in clients)
    for client in clients:
        client.join(timeout=THREAD_TIMEOUT_S)
    after = serve.statistics()
    requests = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    print(f"{requests} requests from {PROCESSES} processes in {executions} executions")
    assert sorted(found) == sorted(client.pid for client in clients)
    expected = [[len(local.detect([draw_demo_frame(index, stamp=False)[0]])[0]) for index in part] for part in indices]
    assert sorted(found.values()) == sorted(expected)
    assert requests == PROCESSES * FRAMES_EACH
    assert executions < requests  # at least one execution ran requests of two or more processes


def test_one_call_with_mixed_sizes_answers_in_order_and_the_client_threshold_applies(server, local):
    serve, _ = server
    frames = [draw_demo_frame(3, *SIZES[0], stamp=False)[0], draw_demo_frame(4, *SIZES[1], stamp=False)[0],
              np.full((50, 80, 3), 90, np.uint8), draw_demo_frame(5, *SIZES[0], stamp=False)[0]]
    results = remote_detector(serve.url).detect(frames)
    expected = local.detect(frames)
    assert [len(found) for found in results] == [len(found) for found in expected] and len(results[2]) == 0
    for mine, theirs in zip(results, expected):
        assert_same(mine, theirs)

    best = float(results[0].scores.max())  # a client threshold above the server's 0.4 keeps only the best box
    stricter = remote_detector(serve.url, score_threshold=best).detect(frames[:1])[0]
    assert len(results[0]) > 1 and len(stricter) == 1
    assert_same(stricter, expected[0].filtered(min_score=best))


def test_a_live_pipeline_detects_through_a_frames_server(server):
    serve, _ = server
    detector = remote_detector(serve.url)
    assert not hasattr(detector, "infer")  # no stages to time here: the server runs them all
    with LivePipeline(open_source("demo:?width=320&height=240&fps=10"), detector) as pipeline:
        wait_for(lambda: pipeline.latest() is not None and bool(pipeline.latest().detections), 30)
        latest, stats = pipeline.latest(), pipeline.stats()
    assert latest is not None and len(latest.detections) > 0, stats
    assert stats["detector_last_error"] is None


def test_a_frame_above_the_servers_pixel_cap_is_refused_in_one_line(server):
    serve, _ = server
    with pytest.raises(UserError, match=r"failed: frame of 800x600 = 0\.5 MP is above this server's limit") as raised:
        remote_detector(serve.url).detect([np.zeros((600, 800, 3), np.uint8)])
    assert "\n" not in str(raised.value) and "EDS_MAX_DECODED_PIXELS" in str(raised.value)


def test_the_serve_run_records_its_input_mode(server):
    _, data_root = server
    (run,) = recorded_runs(load_settings({"EDS_DATA_ROOT": str(data_root)}).database_url, kind="serve")
    params = run.params
    assert params["input"] == "frames" and params["backend"] == "torch" and params["device"] == "cpu"
    assert params["score_threshold"] == 0.4 and params["precision"] == "fp32"


def test_answering_writes_no_traceback_to_the_servers_stderr(server):
    serve, _ = server
    frames = [draw_demo_frame(index, 640, 480)[0] for index in range(4)]
    assert any(remote_detector(serve.url).detect(frames))  # outputs of every type (boxes, scores, labels, count)
    printed = [line for line in serve.stderr_lines if "Traceback" in line or "PyCapsule" in line]
    assert printed == [], printed[:5]  # it was a ValueError of the DLPack hand-over, 4 tracebacks a request
