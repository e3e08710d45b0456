"""Image sizes read from PNG, JPEG, BMP and WebP headers, and the upload limit checked before any decoding."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from core.errors import UserError
from core.pictures.imageio import check_image_output, check_image_pixels, encode_image, image_header_size, write_image

LIMIT = 40_000_000


def png_header(width: int, height: int) -> bytes:
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(body)) + b"IHDR" + body
            + struct.pack(">I", zlib.crc32(b"IHDR" + body)))


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof2 = b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof2


def bmp_header(width: int, height: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHH", 40, width, height, 1, 24)


def webp_vp8x_header(width: int, height: int) -> bytes:
    chunk = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 22) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + chunk


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".webp"])
def test_header_size_of_real_files_matches_the_decoded_size(suffix) -> None:
    image = np.zeros((37, 53, 3), np.uint8)
    data = cv2.imencode(suffix, image)[1].tobytes()
    assert image_header_size(data) == (53, 37)
    assert check_image_pixels(data, LIMIT) == (53, 37)


@pytest.mark.parametrize("header", [png_header, jpeg_header, bmp_header, webp_vp8x_header])
def test_crafted_headers_declaring_huge_pictures_are_refused_before_decoding(header) -> None:
    width, height = (60_000, 60_000) if header is jpeg_header else (100_000, 100_000)
    data = header(width, height)
    assert image_header_size(data) == (width, height)
    with pytest.raises(UserError, match=rf"{width}x{height}.*limit is 40.0 MP"):
        check_image_pixels(data, LIMIT, "bomb.img")


def test_top_down_bmp_and_limits_at_the_edge() -> None:
    assert image_header_size(bmp_header(640, -480)) == (640, 480)
    assert check_image_pixels(png_header(8000, 5000), LIMIT) == (8000, 5000)  # exactly 40 MP is allowed
    with pytest.raises(UserError):
        check_image_pixels(png_header(8000, 5001), LIMIT)


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\x00" * 30, png_header(10, 10)[:20], b"\xff\xd8\xff\xe0\x00",
                                  png_header(0, 10)])
def test_unknown_truncated_or_empty_headers_are_refused(data) -> None:
    with pytest.raises(UserError):
        check_image_pixels(data, LIMIT)


def test_an_image_suffix_opencv_cannot_write_is_a_user_error(tmp_path) -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(UserError, match=r"cannot encode an image as '.txt'"):
        encode_image(image, ".txt")
    with pytest.raises(UserError, match=r"cannot write an image as '.txt'"):
        check_image_output(tmp_path / "boxes.txt")
    check_image_output(tmp_path / "boxes.PNG")
    with pytest.raises(UserError, match="is a folder"):
        write_image(image, tmp_path)
    assert not list(tmp_path.iterdir())
