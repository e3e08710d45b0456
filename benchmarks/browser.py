"""The dashboard served for measuring in a browser: a real `streamlit run` of the app on 127.0.0.1 and Debian's
headless chromium. The browser tests use the same helpers."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from core.config import REPO_ROOT

CHROMIUM = os.environ.get("EDS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unverified_tls() -> ssl.SSLContext:
    """For the app's self-signed certificate: encrypted, not verified (the caller knows whom it talks to)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def wait_for_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=unverified_tls()) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start_streamlit(env_extra: dict[str, str], data_root: Path,
                    console: Path | None = None) -> tuple[subprocess.Popen, str]:
    """`streamlit run` of the app on 127.0.0.1: authentication off unless `env_extra` says EDS_AUTH=on; its
    console (stdout and stderr) goes to the file `console` when given."""
    port = free_port()
    env = {**os.environ, "EDS_DATA_ROOT": str(data_root), "EDS_AUTH": "off", **env_extra}
    with Path(console or os.devnull).open("wb") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
             "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true"],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", 60)
    except TimeoutError:
        process.kill()
        raise
    return process, url


def screenshot(page, path: Path) -> Path:
    """A full-page screenshot of `page` at `path` (its folder made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
