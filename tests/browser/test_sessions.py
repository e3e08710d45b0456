"""Sessions held by the server, in headless chromium and through a hand-built websocket client: a reload or a new tab
stays logged in, a logout ends every tab of the login, `core auth reset-password` ends every login, a fragment
re-run over an open websocket after logout gets nothing, another login cannot take a Streamlit session over, nothing
of Streamlit answers before login, and text from the run history is shown as text."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus

from core.access.sessions import COOKIE_NAME
from core.config import REPO_ROOT
from dashboard.components.text import WORD_JOINER
from tests.browser.conftest import screenshot, start_streamlit

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
PASSWORD = "correct horse battery"
EVIL = "http://evil.invalid"
HOSTILE = {"kind": f"![kind]({EVIL}/kind.png)", "host": f"[host]({EVIL}/host)", "device": ":red[device] $x$",
           "error": f"![error]({EVIL}/error.png) <b>bold</b> **strong**"}


@dataclass(frozen=True)
class Server:
    url: str
    data_root: Path
    console: Path


def _hostile_run() -> dict:
    return {"uuid": "00000000-0000-0000-0000-00000000beef", "kind": HOSTILE["kind"], "status": "failed",
            "started_at": "2026-02-01T00:00:00+00:00", "finished_at": "2026-02-01T00:00:30+00:00",
            "params": {}, "device": HOSTILE["device"], "host": HOSTILE["host"],
            "pid": 1, "environment": {}, "parent_uuid": None, "error": HOSTILE["error"], "metrics": [],
            "artifacts": []}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """The app with an operator's password and a run history holding one run of hostile text."""
    data_root = tmp_path_factory.mktemp("data")
    history = data_root / "hostile-runs.jsonl"
    history.write_text(json.dumps(_hostile_run()) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "core", "runs", "import", str(history)], cwd=REPO_ROOT, check=True,
                   env={**os.environ, "EDS_DATA_ROOT": str(data_root)}, stdout=subprocess.DEVNULL)
    console = data_root / "console.log"
    process, url = start_streamlit({"EDS_AUTH": "on", "EDS_PASSWORD": PASSWORD}, data_root, console=console)
    yield Server(url, data_root, console)
    process.terminate()
    process.wait(timeout=20)


# --- in chromium ------------------------------------------------------------------------------------------------

def _login_page_only(page) -> None:
    page.get_by_label("Password", exact=True).wait_for(timeout=60_000)
    assert page.get_by_role("heading", name="edge detector studio").count() == 1
    for title in ("Detect", "Runs", "Compare"):
        assert page.get_by_role("heading", name=title, exact=True).count() == 0


def _log_in(page, url: str, path: str = "/runs") -> None:
    page.goto(url + path, wait_until="domcontentloaded")
    _login_page_only(page)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for(timeout=60_000)


def _on_runs_page(page) -> None:
    page.get_by_role("heading", name="Runs", exact=True).wait_for(timeout=60_000)
    page.get_by_text("1 runs match").wait_for(timeout=60_000)


def test_reload_and_new_tab_stay_logged_in_and_logout_ends_every_tab(server, browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        first = context.new_page()
        _log_in(first, server.url)
        _on_runs_page(first)
        (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE_NAME]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain HTTP here
        assert first.evaluate("document.cookie").find(COOKIE_NAME) == -1  # no script can read it
        first.reload(wait_until="domcontentloaded")
        _on_runs_page(first)
        assert first.get_by_label("Password", exact=True).count() == 0
        screenshot(first, "sessions_after_reload")

        second = context.new_page()
        second.goto(server.url + "/compare", wait_until="domcontentloaded")
        second.get_by_role("heading", name="Compare", exact=True).wait_for(timeout=60_000)
        second.get_by_role("button", name="Log out").click()
        _login_page_only(second)

        first.get_by_role("link", name="Training").click()  # the other tab's next step finds its login ended
        _login_page_only(first)
        first.goto(server.url + "/runs", wait_until="domcontentloaded")
        _login_page_only(first)
        screenshot(first, "sessions_logged_out")
    finally:
        context.close()


def test_reset_password_ends_every_other_login(server, browser) -> None:
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:
            _log_in(page, server.url)
            _on_runs_page(page)
        reset = subprocess.run([sys.executable, "-m", "core", "auth", "reset-password", "--url", server.url],
                               cwd=REPO_ROOT, env={**os.environ, "EDS_DATA_ROOT": str(server.data_root)},
                               capture_output=True, text=True, check=True)
        assert "Every dashboard login made before has ended." in reset.stdout
        pages[0].get_by_role("link", name="Compare").click()
        _login_page_only(pages[0])
        pages[1].reload(wait_until="domcontentloaded")
        _login_page_only(pages[1])
        _log_in(pages[1], server.url)  # EDS_PASSWORD still decides the password; a new login holds
        _on_runs_page(pages[1])
    finally:
        for context in contexts:
            context.close()


def test_text_from_the_history_is_shown_as_text(server, browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        _log_in(page, server.url)
        _on_runs_page(page)
        page.get_by_label("Run detail").click()
        page.get_by_role("option", name="#1").click()
        values = [HOSTILE[name] for name in ("kind", "host", "device", "error")]
        page.wait_for_function("([values, joiner]) => values.every(value => "
                               "document.querySelector('main').innerText.replaceAll(joiner, '').includes(value))",
                               arg=[values, WORD_JOINER], timeout=60_000)  # each shown as it was recorded
        assert page.locator(f'main img[src^="{EVIL}"], main a[href^="{EVIL}"], main b').count() == 0
        assert not [url for url in requested if url.startswith(EVIL)]
        screenshot(page, "sessions_hostile_text")
    finally:
        context.close()


# --- over HTTP and a hand-built websocket client ----------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003  (urllib's signature)
        return None


def _request(url: str, *, data: bytes | None = None, method: str = "GET",
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, list[str]], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=30) as response:
            status, head, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, head, body = error.code, error.headers, error.read()
    return status, {name.lower(): head.get_all(name) for name in head.keys()}, body


def _session_cookie(url: str) -> str:
    form = urllib.parse.urlencode({"password": PASSWORD, "next": "/runs"}).encode()
    status, headers, _ = _request(url + "/login", data=form, method="POST",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303 and headers["location"] == ["/runs"]
    (cookie,) = [c for c in headers["set-cookie"] if c.startswith(f"{COOKIE_NAME}=")]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    return cookie.split(";")[0]


def test_nothing_of_streamlit_answers_before_login(server) -> None:
    assert _request(server.url + "/_stcore/health")[0] == 200
    assert _request(server.url + "/_stcore/metrics")[0] == 404
    status, headers, body = _request(server.url + "/runs")
    assert status == 200 and b'name="password"' in body and b"streamlit" not in body.lower()
    assert str(REPO_ROOT).encode() not in body and sys.version.split()[0].encode() not in body
    for path in ("/_stcore/host-config", "/_stcore/stream", "/static/js/index.js", "/media/x.png"):
        assert _request(server.url + path)[0] == 401, path
    upload = _request(server.url + "/_stcore/upload_file/some-session/some-file", data=b"x" * 1000, method="PUT")
    assert upload[0] == 401
    with pytest.raises(InvalidStatus, match="403"), _StreamlitClient.open(server.url, cookie=None):
        pass
    assert _request(server.url + "/_stcore/metrics", headers={"Cookie": _session_cookie(server.url)})[0] == 404


@dataclass
class _StreamlitClient:
    """A Streamlit websocket client made by hand: it sends the BackMsgs a browser sends and reads ForwardMsgs."""

    socket: object
    pages: dict[str, str] = field(default_factory=dict)  # page name -> script hash
    session_id: str = ""

    @classmethod
    @contextmanager
    def open(cls, url: str, cookie: str | None, session_id: str | None = None) -> Iterator[_StreamlitClient]:
        """A client on a websocket of its own; `session_id` asks to take that Streamlit session over, as a
        reconnecting browser does."""
        from websockets.sync.client import connect

        protocols = ["streamlit", "xsrf", session_id] if session_id else ["streamlit"]
        with connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=protocols,
                     additional_headers={"Cookie": cookie} if cookie else {}, open_timeout=30) as socket:
            yield cls(socket)

    def run(self, *, page: str = "", fragment: str = "", widgets: tuple = ()) -> list:
        """Ask for a script run (of a page, or only of a fragment) and return the ForwardMsgs until it finishes or
        the server closes the socket (then the last item is the ConnectionClosed)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from websockets.exceptions import ConnectionClosed

        message = BackMsg()
        state = message.rerun_script
        if fragment:
            state.page_script_hash, state.fragment_id = self.pages["Runs"], fragment
        else:
            state.page_name = page
        for widget_id, trigger in widgets:
            state.widget_states.widgets.add(id=widget_id, trigger_value=trigger)
        self.socket.send(message.SerializeToString())
        received = []
        try:
            while True:
                forward = _forward(self.socket.recv(timeout=60))
                received.append(forward)
                kind = forward.WhichOneof("type")
                if kind == "navigation":
                    self.pages = {item.page_name: item.page_script_hash for item in forward.navigation.app_pages}
                elif kind == "new_session":
                    self.session_id = forward.new_session.initialize.session_id
                elif kind == "script_finished":
                    return received
        except ConnectionClosed as closed:
            received.append(closed)
            return received


def _forward(data: bytes):
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    message = ForwardMsg()
    message.ParseFromString(data)
    return message


def _elements(messages: list) -> list:
    return [message.delta.new_element for message in messages
            if not isinstance(message, Exception) and message.WhichOneof("type") == "delta"]


def _texts(messages: list) -> list[str]:
    return [element.markdown.body for element in _elements(messages) if element.WhichOneof("type") == "markdown"]


def _redirects(messages: list) -> list[str]:
    return [message.auth_redirect.url for message in messages
            if not isinstance(message, Exception) and message.WhichOneof("type") == "auth_redirect"]


def test_a_fragment_rerun_after_logout_gets_nothing(server) -> None:
    with _StreamlitClient.open(server.url, _session_cookie(server.url)) as client:
        page = client.run(page="runs")
        assert "1 runs match; showing 1-1" in _texts(page)
        (fragment,) = {message.delta.fragment_id for message in page
                       if message.WhichOneof("type") == "delta" and message.delta.fragment_id}
        (logout,) = [element.button.id for element in _elements(page)
                     if element.WhichOneof("type") == "button" and element.button.label == "Log out"]
        again = client.run(fragment=fragment)  # the review's replay, while logged in: the table comes back
        assert "1 runs match; showing 1-1" in _texts(again)

        out = client.run(page="runs", widgets=((logout, True),))  # the Log out button, clicked over the websocket
        assert _redirects(out) == ["/auth/logout"] and not _texts(out)
        replay = client.run(fragment=fragment)
        assert _elements(replay) == [] and _redirects(replay) == ["/auth/logout"]
        assert replay[-1].rcvd.code == 1008  # the server closed the socket: nothing of this session runs again


def test_another_login_cannot_take_over_a_streamlit_session(server) -> None:
    with _StreamlitClient.open(server.url, _session_cookie(server.url)) as owner:
        assert "1 runs match; showing 1-1" in _texts(owner.run(page="runs"))
        with _StreamlitClient.open(server.url, _session_cookie(server.url), owner.session_id) as intruder:
            taken = intruder.run(page="runs")
    assert not _texts(taken) and _redirects(taken) == ["/auth/logout"]
