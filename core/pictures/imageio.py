"""Image files in and out with clear errors and atomic writes, and image sizes read from headers before decoding."""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from core.errors import UserError
from core.files.atomic import write_bytes_atomic


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 image from disk; a missing or undecodable file is a one-line UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    return decode_image(path.read_bytes(), str(path))


JPEG_SIZE_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the marker segments to the first start-of-frame (SOFn) and read its width and height."""
    if data[:2] != b"\xff\xd8":
        return None
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2:offset + 4])
        if marker in JPEG_SIZE_MARKERS:
            if offset + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[offset + 5:offset + 9])
            return width, height
        offset += 2 + length
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"BM" or len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height means top-down rows


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def image_header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a PNG, JPEG, BMP or WebP header, without decoding; None for anything else."""
    for reader in (_png_size, _jpeg_size, _bmp_size, _webp_size):
        try:
            size = reader(data)
        except struct.error:  # a header cut short
            return None
        if size is not None:
            return size
    return None


def check_image_pixels(data: bytes, max_pixels: int, name: str = "image") -> tuple[int, int]:
    """The declared (width, height) of an uploaded image; a UserError if its header is unreadable, declares an
    empty picture, or more than `max_pixels` pixels (checked before any decoding, so a small file cannot expand
    to gigabytes)."""
    size = image_header_size(data)
    if size is None:
        raise UserError(f"{name} is not a PNG, JPEG, BMP or WebP image (or its header is damaged)")
    width, height = size
    if width * height == 0:
        raise UserError(f"{name} declares an empty picture ({width}x{height})")
    if width * height > max_pixels:
        raise UserError(f"{name} is {width}x{height} = {width * height / 1e6:.1f} MP; the limit is "
                        f"{max_pixels / 1e6:.1f} MP (EDS_MAX_UPLOAD_PIXELS)")
    return size


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise UserError(f"{name} is not a readable image (corrupt or unsupported format)")
    return image


def encode_image(image: np.ndarray, suffix: str = ".jpg", *, quality: int | None = None) -> bytes:
    """`image` encoded as `suffix` says; `quality` (1-100) sets JPEG quality (OpenCV's default 95 otherwise)."""
    parameters = [cv2.IMWRITE_JPEG_QUALITY, quality] if quality is not None else []
    try:
        ok, encoded = cv2.imencode(suffix, image, parameters)
    except cv2.error:  # OpenCV raises, rather than returning False, for a suffix it has no encoder for
        ok = False
    if not ok:
        raise UserError(f"cannot encode an image as {suffix!r} (use .jpg or .png)")
    return encoded.tobytes()


def _image_suffix(path: Path) -> str:
    return path.suffix.lower() or ".jpg"


def check_image_output(path: str | Path) -> None:
    """A UserError unless OpenCV can write an image named `path` (checked before any work that ends in writing it)."""
    suffix = _image_suffix(Path(path))
    if not cv2.haveImageWriter(f"image{suffix}"):
        raise UserError(f"cannot write an image as {suffix!r} ({path}); use .jpg or .png")


def write_image(image: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    return write_bytes_atomic(path, encode_image(image, _image_suffix(path)))
