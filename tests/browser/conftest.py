"""Browser-test fixtures: a real `streamlit run` of the app on 127.0.0.1 and headless Debian chromium (the serving
and browser helpers are `benchmarks.browser`'s, shared with the benchmarks that measure pages)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, free_port, start_streamlit, wait_for_http
from benchmarks.browser import screenshot as save_screenshot
from core.config import REPO_ROOT
from tests.polling import first_value

SCREENSHOTS = REPO_ROOT / "tests" / "browser" / "screenshots"

LOGIN_URL = re.compile(r"https?://\S+/\?token=[\w-]+")


def wait_for_login_url(console: Path, timeout: float) -> str:
    """The one-time login URL a server printed on its console (captured in the file `console`)."""
    match = first_value(lambda: LOGIN_URL.search(console.read_text(errors="replace")) if console.exists() else None,
                        timeout, interval=0.3)
    if match is None:
        raise TimeoutError(f"no login URL in {console} within {timeout} s")
    return match.group(0)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> Iterator[str]:
    process, url = start_streamlit({}, tmp_path_factory.mktemp("data"))
    yield url
    process.terminate()
    process.wait(timeout=20)


@dataclass(frozen=True)
class DemoServer:
    url: str  # https://127.0.0.1:PORT
    login_url: str  # the one-time login URL the command printed (single use)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory) -> Iterator[DemoServer]:
    """README command 1 (`bash scripts/demo.sh`) as a user runs it (TLS and password on by default), bound to
    127.0.0.1 on free ports."""
    port = free_port()
    data_root = tmp_path_factory.mktemp("demo-data")
    console = data_root / "console.log"
    env = {**os.environ, "EDS_DATA_ROOT": str(data_root), "EDS_PORT": str(port), "EDS_ADDRESS": "127.0.0.1"}
    for name in ("EDS_AUTH", "EDS_TLS", "EDS_PASSWORD"):
        env.pop(name, None)
    with console.open("wb") as output:
        process = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "demo.sh")], cwd=REPO_ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", 240)
        yield DemoServer(url, wait_for_login_url(console, 10))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}: the README's test command installs it "
                    "(scripts/setup.sh --dev)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def close_pages(instance) -> None:
    """Close every page `instance` (a chromium) still holds: a test's pages end with the test, passed or failed, so
    no video it started keeps playing on the cores the next test needs."""
    for context in list(instance.contexts):
        context.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, ignore_https_errors=True)
    yield context.new_page()
    context.close()


def screenshot(page, name: str) -> Path:
    """A full-page screenshot named `name` among the browser tests' screenshots."""
    return save_screenshot(page, SCREENSHOTS / f"{name}.png")
