"""PyTorch backend: the pytorch-ssd network in eval mode on CPU (FP32) or CUDA (FP32, FP16 or BF16, channels-last).

On the CPU, frames are resized with OpenCV and normalization + network run as one traced, frozen TorchScript graph
optimized for inference (BatchNorm folded into the convolutions, oneDNN convolutions fused with their ReLU): about
half the eager network's time on 2 cores (`benchmarks.cpu_torch_variants`), same outputs within 1e-6. On CUDA the whole path runs on the GPU:
frames are copied into pinned host memory by several threads, uploaded asynchronously, resized there with OpenCV's
own fixed-point bilinear arithmetic (`gpu_preprocess`), normalized and run through the network; decoding and NMS
follow on the same stream. Work is spread over a few *lanes* (a CUDA stream with its own staging buffer and CUDA
graphs): a large batch is cut into chunks that run on all lanes at once, so uploads, kernels and NMS of different
chunks overlap, and concurrent callers each take a free lane. By default on CUDA the resize + network step of each
(batch, height, width) is captured as one CUDA graph per lane and replayed, which removes the per-kernel launch cost
that dominates small batches; `DetectorSpec.compile` also fuses the kernels with `torch.compile` for the batch sizes
warmed up at load. Warm-up at load (`DetectorSpec.warmup_batch_sizes`, 640x480 frames) pays the one-time costs (lazy
kernel loading, cuDNN plans, compilation, captures) so a thread's first `detect` is as fast as its later ones.
A precision that cannot really run here is refused: half precisions on a CPU would be emulated (slower than FP32,
so never what was meant), and BF16 needs a GPU that supports it.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from core.detect.base import Detections, DetectorSpec
from core.detect.gpu_preprocess import COPY_THREADS, PinnedStaging, axis_taps, resize_with_taps
from core.detect.postprocess import postprocess
from core.detect.preprocess import check_frame
from core.detect.registry import GPU_CHUNK_FRAMES
from core.detect.staged import detect_in_stages
from core.detect.torch_device import bf16_supported, memory_format, resolve_torch_device, select_dtype
from core.errors import UserError
from core.model import SSDInference, load_model
from core.model.config import IMAGE_MEAN, IMAGE_SIZE, IMAGE_STD
from core.model.frozen import freeze_for_cpu

log = logging.getLogger(__name__)
WARMUP_CALLS = 3  # eager calls before a capture: cuDNN picks its kernels and the allocator settles
LANES = 4  # CUDA streams working at once: enough to overlap upload, network and NMS of successive chunks
CHUNK_FRAMES = GPU_CHUNK_FRAMES["torch"]
HOST_POSTPROCESS_MAX_BATCH = 4  # up to this, decode + NMS on the CPU (one small copy) beats many tiny GPU kernels
MAX_GRAPHS = 16  # input shapes captured per lane; further shapes run eagerly (each graph holds its own memory)
WARMUP_FRAME_SHAPE = (480, 640)  # the frame size warmed up at load (VGA, what cameras and the demo send)
_CAPTURE_LOCK = threading.Lock()  # captures and compilations are process-wide operations: one at a time

Outputs = tuple[torch.Tensor, torch.Tensor]


def use_cuda_graphs(requested: bool | None, device: str) -> bool:
    """CUDA graphs are the default on CUDA (`None`); asking for them elsewhere is a mistake."""
    if requested and device != "cuda":
        raise UserError("CUDA graphs need the cuda device")
    return device == "cuda" if requested is None else requested


def plan_chunks(frames: Sequence[np.ndarray], chunk_size: int) -> list[list[int]]:
    """Frame indices grouped by frame shape (one tensor each), cut into chunks of at most `chunk_size`."""
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, frame in enumerate(frames):
        by_shape.setdefault(frame.shape, []).append(index)
    return [indices[start:start + chunk_size] for indices in by_shape.values()
            for start in range(0, len(indices), chunk_size)]


class PixelsNetwork(torch.nn.Module):
    """(N,300,300,3) uint8 BGR on the model's device -> raw (scores, boxes): colour swap, (x-127)/128, network."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype, layout: torch.memory_format) -> None:
        super().__init__()
        self.model, self.dtype, self.layout = model, dtype, layout

    def forward(self, pixels: torch.Tensor) -> Outputs:
        images = pixels.flip(-1).permute(0, 3, 1, 2).to(self.dtype)
        images = (images - IMAGE_MEAN) / IMAGE_STD
        return self.model(images.contiguous(memory_format=self.layout))


class CudaGraphs:
    """Runs `step` through one captured CUDA graph per input shape (up to `max_graphs` shapes, then eagerly): copy
    the input in, replay.

    The outputs returned are the graph's own buffers, overwritten by the next replay: a caller that keeps them
    clones them, or (as a lane does) finishes with them before anyone replays again.
    """

    def __init__(self, step: Callable[[torch.Tensor], Outputs], max_graphs: int = MAX_GRAPHS) -> None:
        self._step = step
        self._max_graphs = max_graphs
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, Outputs]] = {}
        self.captures = 0
        self.replays = 0
        self.eager_calls = 0

    def _capture(self, sample: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, Outputs]:
        static_input = sample.to("cuda", copy=True)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_CALLS):
                self._step(static_input)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: other threads may keep working on their own streams while this one captures
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_outputs = self._step(static_input)
        self.captures += 1
        log.debug("captured a CUDA graph for input %s", tuple(sample.shape))
        return graph, static_input, static_outputs

    def __call__(self, inputs: torch.Tensor) -> Outputs:
        """`inputs` on the GPU or in pinned host memory (then uploaded asynchronously on the current stream)."""
        key = tuple(inputs.shape)
        if key not in self._graphs and len(self._graphs) >= self._max_graphs:
            self.eager_calls += 1  # e.g. a dataset of many image sizes: one graph each would never be reused
            return self._step(inputs)
        if key not in self._graphs:
            with _CAPTURE_LOCK:
                self._graphs[key] = self._capture(inputs)
        graph, static_input, outputs = self._graphs[key]
        static_input.copy_(inputs, non_blocking=True)
        graph.replay()
        self.replays += 1
        return outputs


class Lane:
    """One CUDA stream with its own pinned staging buffers and CUDA graphs; used by one chunk at a time."""

    def __init__(self, run: Callable[[torch.Tensor], Outputs], copy_pool: ThreadPoolExecutor) -> None:
        self.stream = torch.cuda.Stream()
        self.run = run
        self._copy_pool = copy_pool
        self._staging: dict[tuple[int, int], PinnedStaging] = {}

    def stage(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """The frames (all of one shape) in this lane's pinned buffer, grown when a larger batch comes."""
        height, width = frames[0].shape[:2]
        staging = self._staging.get((height, width))
        if staging is None or staging.buffer.shape[0] < len(frames):
            staging = self._staging[(height, width)] = PinnedStaging(len(frames), height, width, self._copy_pool)
        return staging.fill(frames)


class TorchDetector:
    backend = "torch"

    def __init__(self, spec: DetectorSpec) -> None:
        if spec.weights.suffix.lower() not in (".pth", ".pt"):
            raise UserError(f"the torch backend loads pytorch-ssd .pth checkpoints, not {spec.weights.name}")
        self.device = resolve_torch_device(spec.device)
        precision = "fp32" if spec.precision == "auto" else spec.precision
        self._dtype = select_dtype(precision, self.device, bf16_supported=bf16_supported(self.device))
        graphs = use_cuda_graphs(spec.cuda_graph, self.device)
        if spec.compile and self.device != "cuda":
            raise UserError("compiling the network (--compile) needs the cuda device")
        if spec.threads:
            torch.set_num_threads(spec.threads)
        loaded = load_model(spec.weights, spec.labels)
        self.class_names = loaded.class_names
        self.precision = precision
        self.score_threshold = spec.score_threshold
        self.name = spec.weights.stem
        self._format = memory_format(self.device)
        self._model = SSDInference(loaded.network).to(self.device, self._dtype).eval()
        self._model = self._model.to(memory_format=self._format)
        self._network_step = PixelsNetwork(self._model, self._dtype, self._format)
        self._compiled_network = self._network_step
        self._resize = resize_with_taps
        self._compiled_batches: set[int] = set()
        if spec.compile:
            # Throughput mode: let cuDNN time its algorithms once per shape (during warm-up, before any capture).
            torch.backends.cudnn.benchmark = True
            self._compiled_network = torch.compile(self._network_step, dynamic=False)
            self._resize = torch.compile(resize_with_taps, dynamic=True)
            self._compiled_batches = set(spec.warmup_batch_sizes)
        if self.device == "cpu":
            self._run = freeze_for_cpu(self._network_step, torch.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=torch.uint8))
        else:
            self._run = CudaGraphs(self._network_step) if graphs else self._network_step
        self._lanes: queue.SimpleQueue[Lane] = queue.SimpleQueue()
        if self.device == "cuda":
            self._copy_pool = ThreadPoolExecutor(COPY_THREADS, thread_name_prefix="stage")
            self._chunk_pool = ThreadPoolExecutor(LANES, thread_name_prefix="lane")
            for _ in range(LANES):
                self._lanes.put(Lane(CudaGraphs(self._frames_step) if graphs else self._frames_step,
                                     self._copy_pool))
            self._warm_up(spec.warmup_batch_sizes)

    def _frames_step(self, frames: torch.Tensor) -> Outputs:
        """(N,H,W,3) uint8 BGR frames on the device -> raw (scores, boxes), resizing there as OpenCV does."""
        height, width = frames.shape[1:3]
        resized = self._resize(frames, axis_taps(height, IMAGE_SIZE, frames.device),
                               axis_taps(width, IMAGE_SIZE, frames.device))
        network = self._compiled_network if len(frames) in self._compiled_batches else self._network_step
        return network(resized)

    def _warm_up(self, batch_sizes: Sequence[int]) -> None:
        """Run every lane once per batch size on 640x480 frames, so none of the one-time costs is left for later."""
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 256, (*WARMUP_FRAME_SHAPE, 3), dtype=np.uint8)
        lanes = [self._lanes.get() for _ in range(LANES)]
        try:
            for batch_size in batch_sizes:
                for lane in lanes:
                    self._run_on_lane(lane, [frame] * batch_size)
            torch.cuda.synchronize()
        finally:
            for lane in lanes:
                self._lanes.put(lane)
        log.info("warmed up batch sizes %s on %d lanes", list(batch_sizes), LANES)

    @torch.inference_mode()
    def _run_on_lane(self, lane: Lane, frames: Sequence[np.ndarray],
                     timings: dict[str, float] | None = None) -> list[Detections]:
        """Detections for frames of one shape on `lane`; with `timings`, each stage is synchronized and timed (ms)."""
        marks = [time.perf_counter()]

        def mark() -> None:
            if timings is not None:
                lane.stream.synchronize()
                marks.append(time.perf_counter())

        pinned = lane.stage(frames)
        mark()
        height, width = frames[0].shape[:2]
        sizes = np.tile(np.array([[width, height]], np.float32), (len(frames), 1))
        with torch.cuda.stream(lane.stream):
            inputs = pinned.to("cuda", non_blocking=True)
            mark()
            scores, boxes = lane.run(inputs)
            mark()
            if len(frames) <= HOST_POSTPROCESS_MAX_BATCH:
                scores, boxes = scores.float().cpu(), boxes.float().cpu()
            detections = postprocess(scores, boxes, sizes, self.score_threshold)
        if timings is not None:
            marks.append(time.perf_counter())
            stages = ("stage", "upload", "network", "postprocess")
            timings.update({name: (end - begin) * 1000.0 for name, begin, end in zip(stages, marks, marks[1:])})
        return detections

    def stage_timings(self, frames: Sequence[np.ndarray]) -> dict[str, float]:
        """Milliseconds of each stage for frames of one shape (pinned staging, upload, resize + network, decode +
        NMS), synchronizing between stages: a profile, slower than `detect`."""
        if self.device != "cuda":
            raise UserError("stage timings of the GPU path need the cuda device")
        timings: dict[str, float] = {}
        lane = self._lanes.get()
        try:
            self._run_on_lane(lane, frames, timings)
        finally:
            self._lanes.put(lane)
        return timings

    def _detect_chunk(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        lane = self._lanes.get()
        try:
            return self._run_on_lane(lane, frames)
        finally:
            self._lanes.put(lane)

    @torch.inference_mode()
    def infer(self, resized: np.ndarray) -> Outputs:
        """Raw (scores, boxes) for a resized (N,300,300,3) uint8 BGR batch; normalization runs on the device."""
        scores, boxes = self._run(torch.from_numpy(resized).to(self.device, non_blocking=True))
        return (scores.clone(), boxes.clone()) if isinstance(self._run, CudaGraphs) else (scores, boxes)

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if self.device != "cuda":
            return detect_in_stages(self.infer, frames, self.score_threshold)
        for frame in frames:
            check_frame(frame)
        chunks = plan_chunks(frames, CHUNK_FRAMES)
        if len(chunks) <= 1:
            return self._detect_chunk(frames) if chunks else []
        results: list[Detections] = [Detections.empty()] * len(frames)
        parts = self._chunk_pool.map(lambda indices: self._detect_chunk([frames[i] for i in indices]), chunks)
        for indices, detections in zip(chunks, parts):
            for index, found in zip(indices, detections):
                results[index] = found
        return results

    def close(self) -> None:
        self._model = self._run = self._compiled_network = self._network_step = None  # type: ignore[assignment]
        if self.device == "cuda":
            self._chunk_pool.shutdown()
            self._copy_pool.shutdown()
            self._lanes = queue.SimpleQueue()
            torch.cuda.empty_cache()
