"""The HTTP gate in front of Streamlit, driven as the ASGI server drives it: before login only the login page and
`/_stcore/health` answer; the password and the one-time URL start a session with a strict cookie; a live session
passes and its websocket is closed at its first message after the login ended; uploads need the login's own
Streamlit session and fit its allowance; metrics answer nobody; the server's start notice names the certificate's
fingerprint and makes the data root private."""
from __future__ import annotations

import stat
import urllib.parse
from dataclasses import dataclass, field

import pytest

from core.access.auth import CredentialStore
from core.access.sessions import COOKIE_NAME, session_table
from core.access.tls import ensure_certificate, fingerprint
from core.config import load_settings
from dashboard import gate
from tests.event_loops import run_alone

PASSWORD = "correct horse"


@dataclass
class Inner:
    """The application behind the gate (Streamlit): records what reaches it."""

    calls: list[str] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append(scope["path"])
        if scope["type"] == "websocket":
            while True:
                message = await receive()
                self.received.append(message)
                if message["type"] == "websocket.disconnect":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def http(app, path: str, *, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None,
         client: str = "192.0.2.10", scheme: str = "http") -> Answer:
    url = urllib.parse.urlsplit(path)
    scope = {"type": "http", "method": method, "path": url.path, "raw_path": url.path.encode(),
             "query_string": url.query.encode(), "scheme": scheme, "http_version": "1.1", "root_path": "",
             "server": ("testserver", 80), "client": (client, 40000),
             "headers": [(key.lower().encode(), value.encode())
                         for key, value in {"host": "testserver", **(headers or {})}.items()]}
    sent: list[dict] = []
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    run_alone(app(scope, receive, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    return Answer(start["status"], [(k.decode(), v.decode()) for k, v in start.get("headers", [])],
                  b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body"))


@pytest.fixture
def settings(tmp_path):
    return load_settings({"EDS_DATA_ROOT": str(tmp_path), "EDS_MAX_SESSION_UPLOAD_MB": "1", "EDS_PASSWORD": PASSWORD})


@pytest.fixture
def inner() -> Inner:
    return Inner()


@pytest.fixture
def app(settings, inner) -> gate.Gate:
    return gate.Gate(inner, settings)


def form(password: str, next_path: str = "/runs") -> dict:
    return {"method": "POST", "body": urllib.parse.urlencode({"password": password, "next": next_path}).encode(),
            "headers": {"content-type": "application/x-www-form-urlencoded", "origin": "http://testserver"}}


def log_in(app, client: str = "192.0.2.10") -> str:
    answer = http(app, "/login", client=client, **form(PASSWORD))
    assert answer.status == 303
    return answer.header("set-cookie")[0].split(";")[0]


def test_before_login_only_the_login_page_and_health_answer(app, inner) -> None:
    page = http(app, "/live")
    assert page.status == 200 and b'name="password"' in page.body and b'name="next" value="/live"' in page.body
    assert "frame-ancestors 'none'" in page.header("content-security-policy")[0]
    for path in ("/_stcore/host-config", "/static/js/main.js", "/media/a.png", "/component/x/index.html"):
        assert http(app, path).status == 401, path
    assert http(app, "/_stcore/upload_file/s/f", method="PUT", body=b"x" * 100).status == 401
    assert http(app, "/_stcore/health").body == b"inner"
    assert inner.calls == ["/_stcore/health"]


def test_metrics_answer_nobody(app, inner) -> None:
    cookie = log_in(app)
    assert http(app, "/_stcore/metrics", headers={"cookie": cookie}).status == 404
    assert http(app, "/_stcore/metrics/", headers={"cookie": cookie}).status == 404
    assert inner.calls == []


def test_the_password_starts_a_session_with_a_strict_cookie(app, inner, settings) -> None:
    wrong = http(app, "/login", client="192.0.2.11", **form("nope"))
    assert wrong.status == 401 and b"Wrong password." in wrong.body and not wrong.header("set-cookie")
    right = http(app, "/login", client="192.0.2.12", **form(PASSWORD, "/runs?page=2"))
    assert right.status == 303 and right.header("location") == ["/runs?page=2"]
    (cookie,) = right.header("set-cookie")
    assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert f"Max-Age={int(settings.session_max_s)}" in cookie and "Secure" not in cookie
    assert http(app, "/runs", headers={"cookie": cookie.split(";")[0]}).body == b"inner"
    secure = http(app, "/login", client="192.0.2.12", scheme="https", **form(PASSWORD))
    assert "Secure" in secure.header("set-cookie")[0]


@pytest.mark.parametrize("next_path", ["//evil.example/x", "https://evil.example/", "/\\evil.example", ""])
def test_a_login_never_sends_the_browser_to_another_host(app, next_path) -> None:
    assert http(app, "/login", client="192.0.2.13", **form(PASSWORD, next_path)).header("location") == ["/"]


def test_a_login_posted_from_another_site_is_refused_unchecked(app) -> None:
    request = form(PASSWORD)
    request["headers"]["origin"] = "http://evil.example"
    answer = http(app, "/login", client="192.0.2.14", **request)
    assert answer.status == 403 and not answer.header("set-cookie")


def test_guesses_are_throttled_per_client_address(app) -> None:
    assert http(app, "/login", client="192.0.2.15", **form("nope")).status == 401
    throttled = http(app, "/login", client="192.0.2.15", **form(PASSWORD))
    assert throttled.status == 401 and b"Too many attempts" in throttled.body
    assert http(app, "/login", client="192.0.2.16", **form(PASSWORD)).status == 303


def test_the_one_time_url_logs_in_once_and_leaves_the_address_bar(app, settings) -> None:
    token = CredentialStore.in_data_root(settings.data_root).issue_token()
    first = http(app, f"/dataset?token={token}&split=test", client="192.0.2.17")
    assert first.status == 303 and first.header("location") == ["/dataset?split=test"]
    assert first.header("set-cookie")[0].startswith(f"{COOKIE_NAME}=")
    again = http(app, f"/dataset?token={token}", client="192.0.2.18")
    assert again.status == 401 and b"This login link was already used or has expired." in again.body


def test_logout_ends_the_session_and_deletes_the_cookie(app, settings) -> None:
    cookie = log_in(app, "192.0.2.19")
    answer = http(app, "/auth/logout", headers={"cookie": cookie})
    assert answer.status == 303 and answer.header("location") == ["/"]
    assert answer.header("set-cookie")[0].startswith(f'{COOKIE_NAME}=""') and "Max-Age=0" in answer.header(
        "set-cookie")[0]
    assert b'name="password"' in http(app, "/", headers={"cookie": cookie}).body


def test_uploads_need_the_logins_own_streamlit_session_and_fit_its_allowance(app, inner, settings) -> None:
    cookie = log_in(app, "192.0.2.20")
    logins = session_table(settings)
    login = logins.find(cookie.split("=", 1)[1])
    logins.bind(login, "own")

    def put(session: str, size: int | None) -> int:
        headers = {"cookie": cookie} | ({"content-length": str(size)} if size is not None else {})
        return http(app, f"/_stcore/upload_file/{session}/file", method="PUT", body=b"x" * (size or 10),
                    headers=headers).status

    assert put("someone-else", 10) == 403
    assert put("own", None) == 411
    assert put("own", 2 * 1024 * 1024) == 413  # the allowance is 1 MB here
    assert put("own", 1000) == 200 and inner.calls == ["/_stcore/upload_file/own/file"]
    assert login.uploading == 0  # nothing stays reserved once the upload is answered


def websocket(app, cookie: str | None, messages: list[dict], between=None) -> list[dict]:
    """Open a websocket through `app`, send `messages` (calling `between()` after the first), return what the
    client was sent."""
    scope = {"type": "websocket", "path": "/_stcore/stream", "raw_path": b"/_stcore/stream", "query_string": b"",
             "scheme": "ws", "http_version": "1.1", "root_path": "", "server": ("testserver", 80),
             "client": ("192.0.2.30", 40000), "subprotocols": ["streamlit"],
             "headers": [(b"host", b"testserver")] + ([(b"cookie", cookie.encode())] if cookie else [])}
    incoming = [{"type": "websocket.connect"}, *messages, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict] = []

    async def receive() -> dict:
        message = incoming.pop(0)
        if message.get("bytes") == b"second" and between:
            between()
        return message

    async def send(message: dict) -> None:
        sent.append(message)

    run_alone(app(scope, receive, send))
    return sent


def test_a_websocket_opens_only_with_a_live_session(app, inner) -> None:
    assert websocket(app, None, []) == [{"type": "websocket.close", "code": 1008}]
    assert websocket(app, f"{COOKIE_NAME}=forged.value", []) == [{"type": "websocket.close", "code": 1008}]
    assert inner.calls == []


def test_an_open_websocket_passes_nothing_once_its_login_ended(app, inner, settings) -> None:
    cookie = log_in(app, "192.0.2.21")
    logins = session_table(settings)
    messages = [{"type": "websocket.receive", "bytes": b"first"}, {"type": "websocket.receive", "bytes": b"second"}]
    sent = websocket(app, cookie, messages, between=lambda: logins.end(logins.find(cookie.split("=", 1)[1])))
    kinds = [message["type"] for message in inner.received]
    assert kinds == ["websocket.connect", "websocket.receive", "websocket.disconnect"]  # "second" never arrives
    assert inner.received[1]["bytes"] == b"first"
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    redirect = ForwardMsg()
    redirect.ParseFromString(sent[0]["bytes"])
    assert redirect.auth_redirect.url == "/auth/logout" and sent[1] == {"type": "websocket.close", "code": 1008}


def test_with_authentication_off_everything_but_metrics_passes(tmp_path, inner) -> None:
    app = gate.Gate(inner, load_settings({"EDS_DATA_ROOT": str(tmp_path), "EDS_AUTH": "off"}))
    assert http(app, "/live").body == b"inner"
    assert http(app, "/_stcore/metrics").status == 404


def test_the_start_notice_names_the_certificate_and_makes_the_data_root_private(tmp_path, monkeypatch,
                                                                                  capsys) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o755)
    root.chmod(0o755)  # as an earlier version left it
    cert, key = ensure_certificate(tmp_path / "elsewhere")
    options = {"server.sslCertFile": str(cert), "server.address": "127.0.0.1", "server.port": 8501,
               "server.baseUrlPath": ""}
    original = gate.streamlit_config.get_option
    monkeypatch.setattr(gate.streamlit_config, "get_option", lambda key: options.get(key, original(key)))
    monkeypatch.delenv("EDS_PASSWORD", raising=False)
    gate.announce(load_settings({"EDS_DATA_ROOT": str(root)}))
    out = capsys.readouterr().out
    assert "Dashboard: https://127.0.0.1:8501" in out
    assert f"TLS certificate SHA-256 fingerprint: {fingerprint(cert)}" in out
    assert "https://127.0.0.1:8501/?token=" in out  # a first start: the generated password's one-time URL
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def _back_message(auto: bool) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    message.rerun_script.fragment_id = "fragment"
    message.rerun_script.is_auto_rerun = auto
    return message.SerializeToString()


def test_only_what_the_user_does_keeps_a_session_from_idling(app, settings) -> None:
    cookie = log_in(app, "192.0.2.22")
    login = session_table(settings).find(cookie.split("=", 1)[1])
    earlier = login.last_used = login.last_used - 60.0  # a minute ago: well inside the idle limit
    websocket(app, cookie, [{"type": "websocket.receive", "bytes": _back_message(auto=True)},
                            {"type": "websocket.receive", "bytes": b"not a message"}])
    assert login.last_used == earlier  # a fragment refreshing itself is no use
    websocket(app, cookie, [{"type": "websocket.receive", "bytes": _back_message(auto=False)}])
    assert login.last_used > earlier
