"""The demo world's shapes: 7 classes (circle, square, triangle, star, cross, ring, heart), each with its base
colour and a function that fills its mask, and 5 distractors that resemble them (ellipse, hexagon, pentagon, diamond,
crescent).

Neutral ground shared by the synthetic dataset (`core.data.synthetic`) and the `demo:` stream (`core.stream.demo`),
so the demo detector sees in the live stream the shapes it was trained on, and the stream knows nothing of training
data.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

# fills a shape into a uint8 mask (255 inside) around a centre, with a radius; the generator picks its pose
ShapeDrawer = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], None]


def _regular_polygon(points: int, radius: float, angle: float, inner: float | None = None) -> np.ndarray:
    count = points * 2 if inner else points
    angles = angle + np.arange(count) * 2 * np.pi / count
    radii = np.where(np.arange(count) % 2, inner, 1.0) * radius if inner else np.full(count, radius)
    return np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)


def _fill(mask: np.ndarray, centre: np.ndarray, outline: np.ndarray) -> None:
    cv2.fillPoly(mask, [np.round(centre + outline).astype(np.int32)], 255, cv2.LINE_AA)


def _circle(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    cv2.circle(mask, tuple(int(v) for v in centre), int(radius), 255, -1, cv2.LINE_AA)


def _square(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(4, radius, np.pi / 4))


def _triangle(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(3, radius, -np.pi / 2 + rng.uniform(-0.3, 0.3)))


def _star(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(5, radius, rng.uniform(0, 2 * np.pi), inner=0.42))


def _cross(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    arm = radius * 0.33
    for width, height in ((radius, arm), (arm, radius)):
        corner1 = np.round(centre - (width, height)).astype(int)
        corner2 = np.round(centre + (width, height)).astype(int)
        cv2.rectangle(mask, tuple(int(v) for v in corner1), tuple(int(v) for v in corner2), 255, -1)


def _ring(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    cv2.circle(mask, tuple(int(v) for v in centre), int(radius * 0.78), 255, max(int(radius * 0.35), 2), cv2.LINE_AA)


def _heart(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    lobe = radius * 0.5
    for side in (-1, 1):
        cv2.circle(mask, (int(centre[0] + side * lobe), int(centre[1] - lobe * 0.6)), int(lobe), 255, -1, cv2.LINE_AA)
    _fill(mask, centre, np.array([[-2 * lobe, -lobe * 0.35], [2 * lobe, -lobe * 0.35], [0, radius]]))


def _ellipse(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    axes = (int(radius), int(radius * rng.uniform(0.45, 0.7)))
    cv2.ellipse(mask, tuple(int(v) for v in centre), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)


def _hexagon(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(6, radius, rng.uniform(0, np.pi)))


def _pentagon(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(5, radius, rng.uniform(0, 2 * np.pi)))


def _diamond(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    _fill(mask, centre, _regular_polygon(4, radius, 0.0) * (1.0, rng.uniform(0.55, 0.8)))


def _crescent(mask: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    cv2.circle(mask, tuple(int(v) for v in centre), int(radius), 255, -1, cv2.LINE_AA)
    angle = rng.uniform(0, 2 * np.pi)
    bite = centre + radius * 0.45 * np.array([np.cos(angle), np.sin(angle)])
    cv2.circle(mask, tuple(int(v) for v in bite), int(radius * 0.85), 0, -1, cv2.LINE_AA)


DISTRACTORS = (_ellipse, _hexagon, _pentagon, _diamond, _crescent)


@dataclass(frozen=True)
class ShapeClass:
    name: str
    colour: tuple[int, int, int]  # BGR base colour; each object is jittered around it
    draw: ShapeDrawer


SHAPE_CLASSES: tuple[ShapeClass, ...] = (
    ShapeClass("circle", (40, 40, 220), _circle),
    ShapeClass("square", (220, 120, 30), _square),
    ShapeClass("triangle", (40, 200, 60), _triangle),
    ShapeClass("star", (20, 210, 240), _star),
    ShapeClass("cross", (200, 40, 200), _cross),
    ShapeClass("ring", (230, 220, 40), _ring),
    ShapeClass("heart", (120, 80, 250), _heart),
)
