"""The dashboard is locked by default: a generated password printed with a one-time login URL, logout, throttled
guessing, an operator's EDS_PASSWORD, nothing a page shows reachable without a session (no /media), and an upload
declaring too many pixels refused from its header."""
from __future__ import annotations

import base64
import re
import stat
import urllib.error
import urllib.parse
import urllib.request

import pytest

from core.access.auth import AUTH_FILE
from tests.browser.conftest import screenshot, start_streamlit, wait_for_login_url
from tests.unit.test_imageio import png_header

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]
PASSWORD = "correct horse"
PUBLIC_PREFIXES = ("/_stcore/health",)  # "ok": nothing else of the server answers without a session


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("data")
    console = data_root / "console.log"
    process, url = start_streamlit({"EDS_AUTH": "on"}, data_root, console=console)
    yield url, data_root, console
    process.terminate()
    process.wait(timeout=20)


def _login_form_only(page) -> None:
    page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
    page.wait_for_timeout(1000)  # give any page content time to appear
    for title in ("Detect", "Dataset", "Live"):
        assert page.get_by_role("heading", name=title, exact=True).count() == 0
    assert page.locator("main img, main video, iframe").count() == 0


def _submit(page, guess: str) -> None:
    page.get_by_label("Password", exact=True).fill(guess)
    page.get_by_role("button", name="Log in").click()


def _fetch_without_session(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, "", b""


def _assert_nothing_served_without_session(base: str, urls: list[str], shown: bytes) -> None:
    """Every same-origin URL the page loaded, fetched with no session, gives away none of what the page showed."""
    checked = 0
    for url in sorted(set(urls)):
        parts = urllib.parse.urlsplit(url)
        if not url.startswith(base) or parts.path.startswith(PUBLIC_PREFIXES):
            continue
        status, content_type, body = _fetch_without_session(url)
        checked += 1
        assert status == 401 or (status == 200 and b'name="password"' in body), url  # refused, or the login page
        assert not (status == 200 and content_type.startswith("image/")), url
        assert shown[:64] not in body, url
    assert checked >= 1  # at least the app's own page was fetched


def test_generated_password_login_url_logout_and_throttle(generated, page) -> None:
    url, data_root, console = generated
    page.goto(url, wait_until="domcontentloaded")
    _login_form_only(page)
    login_url = wait_for_login_url(console, 30)
    password = re.search(r"kept in \S+: (\S+)", console.read_text()).group(1)
    stored = data_root / AUTH_FILE
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and password not in stored.read_text()
    screenshot(page, "auth_login")

    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    page.goto(login_url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Detect", exact=True).wait_for(timeout=60_000)
    page.wait_for_function("() => !location.search.includes('token')", timeout=10_000)
    image = page.locator(".eds-image img").first
    image.wait_for(state="visible", timeout=120_000)
    page.get_by_text("Download the annotated image (PNG)").wait_for(timeout=10_000)
    source = image.get_attribute("src")
    assert source.startswith("data:image/png;base64,")
    assert not [u for u in loaded if urllib.parse.urlsplit(u).path.startswith("/media/")]
    screenshot(page, "auth_logged_in")
    _assert_nothing_served_without_session(url, loaded, base64.b64decode(source.split(",", 1)[1]))

    page.get_by_role("button", name="Log out").click()
    _login_form_only(page)
    page.goto(url + "/dataset", wait_until="domcontentloaded")
    _login_form_only(page)
    screenshot(page, "auth_logged_out")

    page.goto(login_url, wait_until="domcontentloaded")  # single use
    page.get_by_text("This login link was already used or has expired.").wait_for(timeout=60_000)
    _login_form_only(page)
    page.wait_for_timeout(1500)  # let that failure's 1 s backoff pass
    _submit(page, "wrong")
    page.get_by_text("Wrong password.").wait_for(timeout=15_000)
    _submit(page, password)  # right, but within the backoff: refused unchecked
    page.get_by_text(re.compile(r"Too many attempts, try again in \d+ s")).wait_for(timeout=15_000)
    screenshot(page, "auth_throttled")
    _login_form_only(page)
    assert "wrong dashboard password from loopback" in console.read_text()


@pytest.fixture(scope="module")
def operator_password(tmp_path_factory):
    data_root = tmp_path_factory.mktemp("data")
    process, url = start_streamlit({"EDS_AUTH": "on", "EDS_PASSWORD": PASSWORD}, data_root)
    yield url, data_root
    process.terminate()
    process.wait(timeout=20)


def test_operator_password_locks_every_page_until_login(operator_password, page) -> None:
    url, data_root = operator_password
    for path in ("/", "/live", "/dataset"):
        page.goto(url + path, wait_until="domcontentloaded")
        _login_form_only(page)
    assert not (data_root / AUTH_FILE).exists()  # nothing generated when the operator set one
    _submit(page, PASSWORD)
    page.get_by_role("heading", name="Dataset", exact=True).wait_for(timeout=60_000)  # the page asked for last
    page.get_by_role("button", name="Log out").wait_for(timeout=10_000)

    page.get_by_role("link", name="Detect").click()  # in-app navigation keeps this session (a reload would not)
    page.get_by_role("heading", name="Detect", exact=True).wait_for(timeout=60_000)
    page.locator('[data-testid="stRadio"]').get_by_text("Upload", exact=True).click()
    bomb = {"name": "bomb.png", "mimeType": "image/png", "buffer": png_header(100_000, 100_000)}
    page.locator('input[type="file"]').set_input_files(files=[bomb])
    page.get_by_text(re.compile(r"bomb.png is 100000x100000 .* the limit is 40.0 MP")).wait_for(timeout=60_000)
    screenshot(page, "auth_upload_refused")
