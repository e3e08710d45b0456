"""With EDS_PASSWORD set, no page (nor any picture) is served before this browser session logs in."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.browser.conftest import screenshot, start_streamlit

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def locked_url(tmp_path_factory):
    process, url = start_streamlit({"EDS_PASSWORD": PASSWORD}, tmp_path_factory.mktemp("data"))
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_pages_and_media_need_the_password(locked_url, page) -> None:
    for path in ("/", "/live", "/dataset"):
        page.goto(locked_url + path, wait_until="domcontentloaded")
        page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # give any page content time to appear
        assert page.get_by_role("heading", name="Live", exact=True).count() == 0
        assert page.get_by_role("heading", name="Detect", exact=True).count() == 0
        assert page.locator("main img, main video, iframe").count() == 0
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{locked_url}/media/0123456789abcdef0123456789abcdef.png", timeout=5)
    assert error.value.code == 404
    screenshot(page, "live_login")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Wrong password.").wait_for(timeout=15_000)
    assert page.get_by_role("heading", name="Live", exact=True).count() == 0
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dataset", exact=True).wait_for(timeout=60_000)  # the page asked for last
