"""The GPU detection path: OpenCV-exact resize in torch, chunk planning, staging, and (on a GPU) the whole path
against the CPU path, concurrent callers, and warm-up at load."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
import cv2
import numpy as np
import pytest
import torch

from core.detect import DetectorSpec, load_detector
from core.detect.gpu_preprocess import PinnedStaging, axis_taps, resize_with_taps
from core.detect.postprocess import postprocess
from core.detect.torch_backend import CHUNK_FRAMES, LANES, CudaGraphs, plan_chunks, use_cuda_graphs
from core.errors import UserError

pytestmark = pytest.mark.timeout(300)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch here")
SCORE_ATOL = 0.01  # GPU against CPU: the FP16-against-FP32 tolerance of test_torch_precision
BOX_ATOL_PX = 0.5  # the torch-against-onnxruntime box tolerance of test_backends


def resize_like_cv2(frames: torch.Tensor) -> torch.Tensor:
    """(N,H,W,3) uint8 frames -> (N,300,300,3) with the taps and fixed-point resize the GPU path runs."""
    height, width = frames.shape[1:3]
    return resize_with_taps(frames, axis_taps(height, 300, frames.device), axis_taps(width, 300, frames.device))


def _random_frame(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(("height", "width"), [(480, 640), (720, 1280), (1080, 1920), (300, 300), (600, 301)])
def test_shrinking_on_torch_is_bit_exact_with_opencv(height: int, width: int) -> None:
    frame = _random_frame(np.random.default_rng(height + width), height, width)
    expected = cv2.resize(frame, (300, 300), interpolation=cv2.INTER_LINEAR)
    resized = resize_like_cv2(torch.from_numpy(frame)[None])[0].numpy()
    np.testing.assert_array_equal(resized, expected)


@pytest.mark.parametrize(("height", "width"), [(240, 320), (123, 457), (17, 31)])
def test_enlarging_on_torch_is_within_one_level_of_opencv(height: int, width: int) -> None:
    frame = _random_frame(np.random.default_rng(1), height, width)
    expected = cv2.resize(frame, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    difference = np.abs(resize_like_cv2(torch.from_numpy(frame)[None])[0].numpy().astype(np.int16) - expected)
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_torch_resize_gives_the_same_detections_as_the_opencv_path(random_model, frames) -> None:
    detector = load_detector(DetectorSpec(*random_model, backend="torch", device="cpu", score_threshold=0.05))
    vga = [frame for frame in frames if frame.shape == (480, 640, 3)]
    resized = resize_like_cv2(torch.from_numpy(np.stack(vga))).numpy()
    sizes = np.tile(np.array([[640, 480]], np.float32), (len(vga), 1))
    on_torch = postprocess(*detector.infer(resized), sizes, detector.score_threshold)
    on_opencv = detector.detect(vga)
    assert sum(len(found) for found in on_opencv) > 0
    for ours, theirs in zip(on_torch, on_opencv):
        assert ours.labels.tolist() == theirs.labels.tolist()
        np.testing.assert_array_equal(ours.scores, theirs.scores)
        np.testing.assert_array_equal(ours.boxes, theirs.boxes)


def test_chunks_group_frames_by_shape_and_keep_every_index_once() -> None:
    shapes = [(480, 640, 3)] * 5 + [(720, 1280, 3)] * 2 + [(480, 640, 3)] * 3
    frames = [np.empty(shape, np.uint8) for shape in shapes]
    chunks = plan_chunks(frames, 4)
    assert chunks == [[0, 1, 2, 3], [4, 7, 8, 9], [5, 6]]
    assert plan_chunks([], 4) == []


def test_cuda_graphs_default_on_cuda_only_and_are_refused_on_the_cpu() -> None:
    assert use_cuda_graphs(None, "cuda") and not use_cuda_graphs(None, "cpu")
    assert not use_cuda_graphs(False, "cuda")
    with pytest.raises(UserError, match="CUDA graphs need the cuda device"):
        use_cuda_graphs(True, "cpu")


def test_shapes_past_the_graph_limit_run_eagerly() -> None:
    graphs = CudaGraphs(lambda pixels: (pixels * 2, pixels + 1), max_graphs=0)
    doubled, shifted = graphs(torch.ones(2, 3))
    assert doubled.tolist() == [[2.0] * 3] * 2 and shifted.tolist() == [[2.0] * 3] * 2
    assert (graphs.captures, graphs.replays, graphs.eager_calls) == (0, 0, 1)


def test_compiling_is_refused_on_the_cpu(random_model) -> None:
    with pytest.raises(UserError, match="needs the cuda device"):
        load_detector(DetectorSpec(*random_model, backend="torch", device="cpu", compile=True))


def test_staging_copies_every_frame_with_several_threads() -> None:
    rng = np.random.default_rng(2)
    frames = [_random_frame(rng, 48, 64) for _ in range(70)]
    with ThreadPoolExecutor(4) as pool:
        staging = PinnedStaging(80, 48, 64, pool)
        staged = staging.fill(frames)
        np.testing.assert_array_equal(staged.numpy(), np.stack(frames))
        assert staging.fill(frames[:3]).shape == (3, 48, 64, 3)


def _assert_same_detections(ours, theirs, score_atol: float = SCORE_ATOL) -> None:
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        assert mine.labels.tolist() == reference.labels.tolist()
        np.testing.assert_allclose(mine.scores, reference.scores, atol=score_atol)
        np.testing.assert_allclose(mine.boxes, reference.boxes, atol=BOX_ATOL_PX)


@pytest.fixture(scope="module")
def cuda_detector(random_model):
    detector = load_detector(DetectorSpec(*random_model, backend="torch", device="cuda", score_threshold=0.05))
    yield detector
    detector.close()


@pytest.mark.gpu
@needs_cuda
def test_the_gpu_path_gives_the_cpu_paths_detections(random_model, frames, cuda_detector) -> None:
    cpu = load_detector(DetectorSpec(*random_model, backend="torch", device="cpu", score_threshold=0.05))
    expected = cpu.detect(frames)
    assert sum(len(found) for found in expected) > 0
    _assert_same_detections(cuda_detector.detect(frames), expected)
    _assert_same_detections([cuda_detector.detect([frame])[0] for frame in frames], expected)


@pytest.mark.gpu
@needs_cuda
def test_a_batch_larger_than_a_chunk_keeps_frame_order(frames, cuda_detector) -> None:
    batch = [frames[index % len(frames)] for index in range(CHUNK_FRAMES + 37)]
    alone = {index: cuda_detector.detect([frame])[0] for index, frame in enumerate(frames)}
    for index, found in enumerate(cuda_detector.detect(batch)):
        _assert_same_detections([found], [alone[index % len(frames)]], score_atol=1e-3)


@pytest.mark.gpu
@needs_cuda
def test_concurrent_callers_get_their_own_results(frames, cuda_detector) -> None:
    expected = [cuda_detector.detect([frame])[0] for frame in frames]
    results: dict[int, list] = {}
    barrier = threading.Barrier(2 * LANES)

    def call(worker: int) -> None:
        barrier.wait()
        results[worker] = [cuda_detector.detect([frames[(worker + k) % len(frames)]])[0] for k in range(20)]

    workers = [threading.Thread(target=call, args=(worker,)) for worker in range(2 * LANES)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for worker, found in results.items():
        _assert_same_detections(found, [expected[(worker + k) % len(frames)] for k in range(20)], score_atol=1e-3)


@pytest.mark.gpu
@needs_cuda
def test_warm_up_at_load_captures_every_lane_so_first_calls_replay(random_model, frames) -> None:
    detector = load_detector(DetectorSpec(*random_model, backend="torch", device="cuda", precision="fp16",
                                          warmup_batch_sizes=(1, 4)))
    lanes = [detector._lanes.get() for _ in range(LANES)]
    assert all(lane.run.captures == 2 for lane in lanes)
    for lane in lanes:
        detector._lanes.put(lane)
    vga = [frame for frame in frames if frame.shape == (480, 640, 3)]
    with ThreadPoolExecutor(LANES) as pool:
        list(pool.map(lambda frame: detector.detect([frame]), vga))
    lanes = [detector._lanes.get() for _ in range(LANES)]
    assert sum(lane.run.captures for lane in lanes) == 2 * LANES  # nothing new was captured after load
    detector.close()


@pytest.mark.gpu
@needs_cuda
def test_compiled_network_matches_the_eager_one(random_model, frames, cuda_detector) -> None:
    compiled = load_detector(DetectorSpec(*random_model, backend="torch", device="cuda", compile=True,
                                          score_threshold=0.05, warmup_batch_sizes=(1,)))
    for frame in frames:
        _assert_same_detections(compiled.detect([frame]), cuda_detector.detect([frame]), score_atol=1e-3)
    compiled.close()
