"""The dashboard's HTTP gate: an ASGI middleware in front of everything Streamlit serves.

Before login, a browser gets this module's own login page and nothing of Streamlit: no script, no websocket (so no
first message naming versions or paths, no upload URLs), no upload, no media; `/_stcore/health` answers "ok" and
`/_stcore/metrics` does not exist for anyone. The password (or a one-time login URL) is checked here, throttled per
client address (core.access.auth); a right one starts a server-held session (core.access.sessions) whose signed
cookie is HttpOnly, SameSite=Strict and Secure over TLS. With a live session, every request passes and marks the
session used; every message a websocket sends is let through only while its session lives, so a logout or a new password (in
another tab or process) ends an open websocket at its next message, before any callback or fragment runs; the
messages its user sends (not a fragment refreshing itself) mark the session used. An upload must come from a
Streamlit session of the same login and fit the login's upload allowance.

`st.logout()` sends a browser to /auth/logout, which this gate answers: it ends the session, deletes the cookie and
shows the login page.
"""
from __future__ import annotations

import html
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from streamlit import config as streamlit_config
from streamlit.errors import StreamlitSecretNotFoundError

from core.access.auth import (
    CredentialStore,
    address_notice,
    check_guess,
    client_address,
    configured_password,
    password_matches,
    startup_notice,
)
from core.access.sessions import COOKIE_NAME, Login, SessionTable, session_table
from core.access.tls import fingerprint, primary_address
from core.config import Settings, load_settings
from core.errors import UserError
from core.files.private import make_private_directory, tighten

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LOGIN_PATH = "/login"
LOGOUT_PATH = "/auth/logout"  # where st.logout() sends the browser
PUBLIC_PATHS = frozenset({"/_stcore/health"})
ABSENT_PATHS = frozenset({"/_stcore/metrics"})
UPLOAD_PREFIX = "/_stcore/upload_file/"
ASSET_PREFIXES = ("/_stcore/", "/static/", "/media/", "/component/", "/app/static/")
FORM_BYTES = 4096  # a login form is a password and a path
MB = 1024 * 1024
ANY_ADDRESS = ("", "0.0.0.0", "::")
WEBSOCKET_POLICY_VIOLATION = 1008
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge detector studio: log in</title><link rel="icon" href="data:,">
<style>
body {{ margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
       background: #171614; color: #e8e6e3; font-family: "Source Sans Pro", system-ui, sans-serif; }}
main {{ width: min(22rem, 90vw); }}
h1 {{ font-size: 1.6rem; font-weight: 700; margin: 0 0 1.5rem; }}
label {{ display: block; font-size: 0.9rem; margin-bottom: 0.4rem; }}
input {{ box-sizing: border-box; width: 100%; padding: 0.6rem 0.7rem; font-size: 1rem; color: #e8e6e3;
        background: #2d2b27; border: 1px solid #5c5a57; border-radius: 0.5rem; }}
input:focus {{ outline: none; border-color: #3fb950; }}
button {{ margin-top: 1rem; padding: 0.5rem 1.1rem; font-size: 1rem; color: #e8e6e3; background: transparent;
         border: 1px solid #5c5a57; border-radius: 0.5rem; cursor: pointer; }}
button:hover {{ border-color: #3fb950; color: #3fb950; }}
p.problem {{ margin: 1rem 0 0; padding: 0.75rem 1rem; border-radius: 0.5rem; background: #412023;
            color: #f2919a; }}
</style></head>
<body><main>
<h1>edge detector studio</h1>
<form method="post" action="{action}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form>
{problem}
</main></body></html>
"""


def _secrets() -> dict:
    import streamlit as st

    try:
        return st.secrets.to_dict()
    except (FileNotFoundError, StreamlitSecretNotFoundError):
        return {}


def base_path() -> str:
    """Streamlit's server.baseUrlPath as a path prefix ("" or "/prefix")."""
    base = str(streamlit_config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def base_url() -> str:
    """The address a browser on the LAN opens (this host's LAN address when the server listens on all of them)."""
    scheme = "https" if streamlit_config.get_option("server.sslCertFile") else "http"
    address = str(streamlit_config.get_option("server.address") or "")
    host = (primary_address() or "localhost") if address in ANY_ADDRESS else address
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{streamlit_config.get_option('server.port')}{base_path()}"


def announce(settings: Settings | None = None) -> None:
    """At server start: make the data root private, and print the dashboard's address with its certificate's
    fingerprint and (authentication on) the password notice: on a first start the generated password and a
    one-time login URL."""
    settings = settings or load_settings()
    make_private_directory(settings.data_root)
    tighten(settings.data_root)
    certificate = streamlit_config.get_option("server.sslCertFile")
    lines = [address_notice(base_url(), fingerprint(certificate) if certificate else None)]
    if settings.auth_enabled:
        lines.append(startup_notice(CredentialStore.in_data_root(settings.data_root), base_url(),
                                    password_configured=configured_password(settings, _secrets()) is not None))
    print("\n".join(lines), flush=True)


def local_path(text: str | None) -> str:
    """`text` if it is a path on this server (a login's "next"), else the root; never another host."""
    if not text or not text.startswith("/") or text.startswith("//") or "\\" in text or not text.isprintable():
        return "/"
    return text


def without_token(path: str, query: str) -> str:
    """The request's path and query without the one-time `token` parameter."""
    kept = [(name, value) for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True)
            if name != "token"]
    return path + (f"?{urllib.parse.urlencode(kept)}" if kept else "")


class Gate:
    """ASGI middleware: see the module's docstring. `settings` default to the environment's (core.config)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or load_settings()
        self.base = base_path()
        self._table: SessionTable | None = None

    @property
    def table(self) -> SessionTable:
        if self._table is None:
            self._table = session_table(self.settings)
        return self._table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"][len(self.base):] if scope["path"].startswith(self.base) else scope["path"]
        if scope["type"] == "http" and path.rstrip("/") in ABSENT_PATHS:
            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
        elif not self.settings.auth_enabled or path in PUBLIC_PATHS:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self._http(Request(scope, receive), path, send)

    async def _http(self, request: Request, path: str, send: Send) -> None:
        scope, receive = request.scope, request.receive
        if path == LOGIN_PATH and request.method == "POST":
            response = await self._login(request)
        elif path == LOGOUT_PATH:
            response = self._logout(request)
        else:
            login = self.table.find(request.cookies.get(COOKIE_NAME))
            if login is not None:
                self.table.touch(login)
                if path.startswith(UPLOAD_PREFIX) and request.method == "PUT":
                    await self._upload(login, path, request, send)
                else:
                    await self.app(scope, receive, send)
                return
            response = await self._locked_out(request, path)
        await response(scope, receive, send)

    # --- logging in and out -------------------------------------------------------------------------------------

    def _address(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.getlist("x-forwarded-for"), self.settings.trusted_proxies)

    def _verifier(self) -> tuple[CredentialStore, Callable[[str], bool]]:
        store = self.table.store
        password = configured_password(self.settings, _secrets())
        if password is not None:
            return store, lambda guess: password_matches(guess, password)
        return store, store.verify

    async def _check(self, request: Request, guess: str, *, token: bool) -> str | None:
        """None when `guess` (a password, or a one-time token) is right; else the one line to show."""
        store, verify = self._verifier()
        try:
            if token:
                return await run_in_threadpool(check_guess, self._address(request), guess, store.consume_token,
                                               wrong_message="This login link was already used or has expired.")
            return await run_in_threadpool(check_guess, self._address(request), guess, verify)
        except UserError as error:
            return str(error)

    async def _login(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin and urllib.parse.urlsplit(origin).netloc != request.headers.get("host"):
            log.warning("dashboard login posted from another site (%s) refused", origin)
            return PlainTextResponse("A login must come from this dashboard's own page.", status_code=403)
        fields = await self._form(request)
        destination = local_path(fields.get("next"))
        if fields.get("password") is None:
            return self.login_page("The login form was incomplete; try again.", destination, 400)
        problem = await self._check(request, fields["password"], token=False)
        if problem is not None:
            return self.login_page(problem, destination, 401)
        return self._start_session(request, destination)

    async def _form(self, request: Request) -> dict[str, str]:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_BYTES:
                return {}
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return {}
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=4)
        except (UnicodeDecodeError, ValueError):
            return {}
        return dict(pairs)

    def _start_session(self, request: Request, destination: str) -> Response:
        response = RedirectResponse(self.base + destination, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE_NAME, self.table.create(self._address(request)),
                            max_age=int(self.settings.session_max_s), path=self.base or "/",
                            secure=request.url.scheme == "https", httponly=True, samesite="strict")
        return response

    def _logout(self, request: Request) -> Response:
        login = self.table.find(request.cookies.get(COOKIE_NAME))
        if login is not None:
            self.table.end(login)
        response = RedirectResponse(self.base + "/", status_code=303, headers=SECURITY_HEADERS)
        self._forget_cookie(request, response)
        return response

    def _forget_cookie(self, request: Request, response: Response) -> None:
        if COOKIE_NAME in request.cookies:
            response.delete_cookie(COOKIE_NAME, path=self.base or "/", secure=request.url.scheme == "https",
                                   httponly=True, samesite="strict")

    async def _locked_out(self, request: Request, path: str) -> Response:
        """What a request without a live session gets: the login page for a page, 401 for anything else."""
        if request.method not in ("GET", "HEAD") or path.startswith(ASSET_PREFIXES):
            return PlainTextResponse("Log in first.", status_code=401, headers=SECURITY_HEADERS)
        destination = without_token(path, request.url.query)
        token = request.query_params.get("token")
        if token is not None:
            problem = await self._check(request, token, token=True)
            if problem is None:
                return self._start_session(request, destination)
            response = self.login_page(problem, destination, 401)
        else:
            response = self.login_page(None, destination, 200)
        self._forget_cookie(request, response)
        return response

    def login_page(self, problem: str | None, destination: str, status: int) -> HTMLResponse:
        shown = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
        page = LOGIN_PAGE.format(action=html.escape(self.base + LOGIN_PATH), next=html.escape(destination),
                                 problem=shown)
        return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)

    # --- a live session's websocket and uploads -----------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        cookie = HTTPConnection(scope).cookies.get(COOKIE_NAME)
        if self.table.find(cookie) is None:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})  # answered 403
            return
        closed = False

        async def send_while_open(message: Message) -> None:
            if not closed:
                await send(message)

        async def receive_while_logged_in() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive" and not closed:
                login = self.table.find(cookie)
                if login is None:
                    await send({"type": "websocket.send", "bytes": self._leave_message()})
                    await send({"type": "websocket.close", "code": WEBSOCKET_POLICY_VIOLATION})
                    closed = True
                elif is_user_action(message.get("bytes")):
                    self.table.touch(login)
            if closed:
                return {"type": "websocket.disconnect", "code": WEBSOCKET_POLICY_VIOLATION}
            return message

        await self.app(scope, receive_while_logged_in, send_while_open)

    def _leave_message(self) -> bytes:
        """The message st.logout() sends: the browser goes to LOGOUT_PATH and so to the login page."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = ForwardMsg()
        message.auth_redirect.url = self.base + LOGOUT_PATH
        return message.SerializeToString()

    async def _upload(self, login: Login, path: str, request: Request, send: Send) -> None:
        session = path[len(UPLOAD_PREFIX):].split("/", 1)[0]
        declared = request.headers.get("content-length", "")
        limit = self.settings.max_session_upload_bytes
        if not self.table.owns(login, session):
            response = PlainTextResponse("This upload belongs to another session.", status_code=403)
        elif not declared.isdigit():
            response = PlainTextResponse("An upload must declare its Content-Length.", status_code=411)
        elif not self.table.reserve_upload(login, int(declared), held_upload_bytes(login), limit):
            response = PlainTextResponse(f"This login already holds uploads near its limit of {limit // MB} MB "
                                         "(EDS_MAX_SESSION_UPLOAD_MB); remove some first.", status_code=413)
        else:
            try:
                await self.app(request.scope, request.receive, send)
            finally:
                self.table.release_upload(login, int(declared))
            return
        await response(request.scope, request.receive, send)


def is_user_action(data: bytes | None) -> bool:
    """Whether a websocket message from the browser is its user's doing (a click, an entry, a page, an upload), as
    opposed to a fragment refreshing itself: only those keep a session from idling out."""
    from google.protobuf.message import DecodeError
    from streamlit.proto.BackMsg_pb2 import BackMsg

    message = BackMsg()
    try:
        message.ParseFromString(data or b"")
    except DecodeError:
        return False
    kind = message.WhichOneof("type")
    return kind == "file_urls_request" or (kind == "rerun_script" and not message.rerun_script.is_auto_rerun)


def held_upload_bytes(login: Login) -> int:
    """Bytes of uploaded files Streamlit holds for the Streamlit sessions of `login`."""
    from streamlit import runtime

    if not runtime.exists():
        return 0
    manager = runtime.get_instance().uploaded_file_mgr
    storage = getattr(manager, "file_storage", {})
    return sum(len(record.data) for session in list(login.streamlit_sessions)
               for record in manager.get_files(session, list(storage.get(session, {}))))
