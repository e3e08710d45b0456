"""Image files in and out with clear errors and atomic writes."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.atomic import write_bytes_atomic
from core.errors import UserError


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 image from disk; a missing or undecodable file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    return decode_image(path.read_bytes(), str(path))


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise UserError(f"{name} is not a readable image (corrupt or unsupported format)")
    return image


def encode_image(image: np.ndarray, suffix: str = ".jpg") -> bytes:
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:
        raise UserError(f"cannot encode image as {suffix}")
    return encoded.tobytes()


def write_image(image: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    return write_bytes_atomic(path, encode_image(image, path.suffix.lower() or ".jpg"))
