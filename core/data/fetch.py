"""HTTP GET with retries and exponential backoff, atomic file downloads and a completeness check for images."""
from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tqdm import tqdm

from core.errors import UserError
from core.files.atomic import atomic_path
from core.pictures.imageio import decode_image
from core.timing.retry import backoff_delay, call_with_retries

_T = TypeVar("_T")
logger = logging.getLogger(__name__)

PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 410})
_CHUNK = 1 << 20
PARTIAL_SUFFIX = ".part"  # a file being written; the downloader removes leftovers


class FetchError(Exception):
    """A URL that could not be fetched; `permanent` ones (404, ...) are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float
    retries: int  # attempts after the first
    backoff_s: float  # wait before retry k (from 1) is backoff_s * 2**(k - 1)

    def call(self, operation: Callable[[], _T], *, url: str) -> _T:
        """`operation()`, retried with exponential backoff while it raises a FetchError that is not permanent."""
        return call_with_retries(operation, retries=self.retries,
                                 retryable=lambda error: isinstance(error, FetchError) and not error.permanent,
                                 wait_s=lambda failures: backoff_delay(failures, first_s=self.backoff_s),
                                 on_retry=lambda error: logger.info("retrying %s after %s", url, error))


def image_problem(data: bytes) -> str | None:
    """Why `data` is not a complete image (None if it is): JPEGs must end with their end-of-image marker."""
    if not data:
        return "empty response"
    if data.startswith(b"\xff\xd8"):
        return None if data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9") else f"truncated image ({len(data)} bytes)"
    try:
        decode_image(data)
    except UserError:
        return f"not a readable image ({len(data)} bytes)"
    return None


def _read_once(url: str, timeout_s: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise FetchError(f"HTTP {error.code} {error.reason}", permanent=error.code in PERMANENT_STATUSES) from None
    except http.client.IncompleteRead as error:
        raise FetchError(f"connection closed after {len(error.partial)} bytes") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise FetchError(f"{type(error).__name__}: {reason}") from None


def fetch_bytes(url: str, policy: RetryPolicy, *, check_image: bool = False) -> bytes:
    """The body of `url`, retried with exponential backoff on transient errors (and incomplete images)."""
    def read() -> bytes:
        data = _read_once(url, policy.timeout_s)
        problem = image_problem(data) if check_image else None
        if problem is not None:
            raise FetchError(problem)
        return data

    return policy.call(read, url=url)


def _stream_into(url: str, temporary: Path, timeout_s: float, *, label: str, progress: bool) -> None:
    with urllib.request.urlopen(url, timeout=timeout_s) as response, temporary.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress, leave=False) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and out.tell() != total:
            raise FetchError(f"connection closed after {out.tell()} of {total} bytes")


def _download_once(url: str, destination: Path, timeout_s: float, *, progress: bool) -> Path:
    try:
        with atomic_path(destination, suffix=PARTIAL_SUFFIX) as temporary:
            _stream_into(url, temporary, timeout_s, label=destination.name, progress=progress)
        return destination
    except urllib.error.HTTPError as error:
        raise FetchError(f"HTTP {error.code} {error.reason}", permanent=error.code in PERMANENT_STATUSES) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise FetchError(f"{type(error).__name__}: {error}") from None


def download_file(url: str, destination: Path, policy: RetryPolicy, *, progress: bool = False) -> Path:
    """Stream `url` into `destination` through a temporary file renamed at the end; retried like fetch_bytes."""
    try:
        return policy.call(lambda: _download_once(url, destination, policy.timeout_s, progress=progress), url=url)
    except FetchError as failure:
        raise UserError(f"cannot download {url}: {failure}") from None
