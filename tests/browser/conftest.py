"""Browser-test fixtures: a real `streamlit run` of the app on 127.0.0.1 and headless Debian chromium."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import REPO_ROOT

CHROMIUM = os.environ.get("EDS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "tests" / "browser" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def start_streamlit(env_extra: dict[str, str], data_root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "EDS_DATA_ROOT": str(data_root), **env_extra}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", 60)
    except TimeoutError:
        process.kill()
        raise
    return process, url


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> Iterator[str]:
    process, url = start_streamlit({}, tmp_path_factory.mktemp("data"))
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory) -> Iterator[str]:
    """README command 1 (`bash scripts/demo.sh`) as a user runs it, bound to 127.0.0.1 on free ports."""
    port = free_port()
    env = {**os.environ, "EDS_DATA_ROOT": str(tmp_path_factory.mktemp("demo-data")), "EDS_PORT": str(port),
           "EDS_ADDRESS": "127.0.0.1", "EDS_DEMO_PORT": str(free_port())}
    process = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "demo.sh")], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", 240)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
