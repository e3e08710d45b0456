"""`demo:` — synthetic frames of the demo dataset's shapes moving about, with a frame stamp.

`draw_demo_frame` is the one place that decides what the demo world looks like, so the demo dataset and detector
can reuse it; it returns the ground-truth boxes with the picture. The stamp in the bottom-left corner is the frame
counter as 16 black/white blocks (`COUNTER_BITS` blocks of `COUNTER_BLOCK` pixels, least significant bit first,
machine-readable after lossy encoding) followed by the counter and wall-clock time as text (human-readable).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np

from core.pictures.shapes import SHAPE_CLASSES
from core.stream.base import Clock, SourceLimits, ThreadedSource

DEMO_CLASSES: tuple[str, ...] = ("BACKGROUND", *(shape.name for shape in SHAPE_CLASSES))
COUNTER_BITS = 16
COUNTER_BLOCK = 8
_RADIUS_SHARE = 0.11  # object radius as a share of the shorter side, inside the demo dataset's range


@dataclass(frozen=True)
class DemoObject:
    class_name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels


def _centres(index: int, width: int, height: int, fps: float, radius: float) -> list[tuple[float, float]]:
    """Each class bounces around the frame on its own path; positions depend only on the time index/fps."""
    t = index / fps
    span_x, span_y = max(width - 2 * radius, 1.0), max(height - 2 * radius - 2 * COUNTER_BLOCK, 1.0)
    centres = []
    for number in range(len(SHAPE_CLASSES)):
        speed_x, speed_y = 0.07 + 0.025 * number, 0.05 + 0.02 * ((number * 3) % 7)
        phase = 0.137 * (number + 1)
        x = span_x * (1 - abs(1 - 2 * ((t * speed_x + phase) % 1.0)))
        y = span_y * (1 - abs(1 - 2 * ((t * speed_y + phase * 1.7) % 1.0)))
        centres.append((radius + x, radius + y))
    return centres


def _draw_objects(canvas: np.ndarray, index: int, fps: float) -> list[DemoObject]:
    """Draw every demo class with the demo dataset's own shapes and colours; boxes are the drawn pixels' bounds."""
    height, width = canvas.shape[:2]
    radius = max(min(width, height) * _RADIUS_SHARE, 6.0)
    objects = []
    for number, (shape, centre) in enumerate(zip(SHAPE_CLASSES, _centres(index, width, height, fps, radius))):
        mask = np.zeros((height, width), np.uint8)
        shape.draw(mask, np.array(centre), radius, np.random.default_rng(number))  # fixed pose per class
        x, y, w, h = cv2.boundingRect(mask)
        alpha = (mask[y:y + h, x:x + w].astype(np.float32) / 255.0)[..., None]
        patch = canvas[y:y + h, x:x + w].astype(np.float32)
        canvas[y:y + h, x:x + w] = (patch * (1 - alpha) + np.array(shape.colour) * alpha).astype(np.uint8)
        objects.append(DemoObject(shape.name, (float(x), float(y), float(x + w), float(y + h))))
    return objects


def _stamp(canvas: np.ndarray, index: int, wall_time: float) -> None:
    height = canvas.shape[0]
    top = height - 2 * COUNTER_BLOCK
    cv2.rectangle(canvas, (0, top - 4), (COUNTER_BITS * COUNTER_BLOCK + 4, height), (0, 0, 0), -1)
    for bit in range(COUNTER_BITS):
        if (index >> bit) & 1:
            left = 2 + bit * COUNTER_BLOCK
            canvas[top:top + COUNTER_BLOCK, left:left + COUNTER_BLOCK] = 255
    clock_text = datetime.fromtimestamp(wall_time).strftime("%H:%M:%S.%f")[:-3]
    cv2.putText(canvas, f"#{index} {clock_text}", (COUNTER_BITS * COUNTER_BLOCK + 10, height - 6),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)


def draw_demo_frame(index: int, width: int = 640, height: int = 480, *, fps: float = 30.0, stamp: bool = True,
                    wall_time: float | None = None) -> tuple[np.ndarray, list[DemoObject]]:
    """The demo picture at frame `index` (BGR uint8) and the boxes of the shapes in it."""
    rows = np.linspace(70, 110, height, dtype=np.float32)[:, None]
    columns = np.linspace(0, 30, width, dtype=np.float32)[None, :]
    grey = (rows + columns).astype(np.uint8)
    canvas = np.repeat(grey[:, :, None], 3, axis=2)
    objects = _draw_objects(canvas, index, fps)
    if stamp:
        _stamp(canvas, index, time.time() if wall_time is None else wall_time)
    return canvas, objects


class DemoSource(ThreadedSource):
    """Draws demo frames at `fps` on its own thread (like a camera), newest frame wins; a size or rate over
    `limits` is refused before anything is drawn."""

    def __init__(self, uri: str, *, width: int = 640, height: int = 480, fps: float = 30.0,
                 duration: float | None = None, limits: SourceLimits = SourceLimits(),
                 clock: Clock = time.monotonic) -> None:
        limits.check_size(width, height, "the demo scene")
        limits.check_rate(fps, "the demo scene")
        super().__init__(uri, limits=limits, clock=clock)
        self.width, self.height, self.fps, self.duration = width, height, fps, duration
        self._start()

    def _produce(self) -> None:
        started = self.clock()
        for index in itertools.count():
            due = started + index / self.fps
            if self.duration is not None and due - started >= self.duration:
                return
            if self._stopping.wait(max(due - self.clock(), 0.0)):
                return
            now = self.clock()
            image, _ = draw_demo_frame(index, self.width, self.height, fps=self.fps)
            self._note_data(now)
            self._note_frame_arrival(now)
            self.health.packets += 1
            self.health.bytes += image.nbytes
            self._publish(image, pts=index / self.fps, received=now,
                          timings={"receive": 0.0, "decode": (self.clock() - now) * 1000.0})
