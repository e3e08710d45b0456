"""Dashboard logins held by the server: a signed session cookie and the table of live sessions behind it.

A login creates a random session token; the browser keeps it in an HttpOnly, SameSite=Strict cookie (Secure over
TLS) signed with HMAC-SHA256 under the server's secret (DATA_ROOT/session-secret, mode 0600), so a reload or a new
tab stays logged in. The server keeps, per session, when it began, when it was last used and the password epoch it
was made under (core.access.auth): a session ends after `idle_s` without use, `max_s` after it began, when its user logs
out, or when the password changes (`python -m core auth reset-password`, in any process). The table lives in the
server's memory: a restart ends every session.

Each Streamlit session (a browser tab's websocket) is bound to the login that first ran it, so another login that
presents the same Streamlit session id does not take it over, and uploads are counted per login.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets as token_source
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.access.auth import CredentialStore
from core.config import Settings
from core.errors import UserError
from core.files.private import write_private

log = logging.getLogger(__name__)

COOKIE_NAME = "eds_session"
SECRET_FILE = "session-secret"
SECRET_BYTES = 32
TOKEN_BYTES = 32


def server_secret(data_root: Path) -> bytes:
    """The key that signs session cookies: DATA_ROOT/session-secret, made on first use (mode 0600)."""
    path = Path(data_root) / SECRET_FILE
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        secret = b""
    if len(secret) < SECRET_BYTES:
        secret = token_source.token_bytes(SECRET_BYTES)
        write_private(path, secret)
    return secret


def _mac(secret: bytes, token: str) -> str:
    digest = hmac.new(secret, token.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(secret: bytes, token: str) -> str:
    """The cookie value for `token`: the token and its HMAC-SHA256 under `secret`."""
    return f"{token}.{_mac(secret, token)}"


def unsign(secret: bytes, value: object) -> str | None:
    """The token in a cookie value whose signature holds, else None (for anything but such a string)."""
    if not isinstance(value, str):
        return None
    token, _, mac = value.partition(".")
    if not token or not mac or not token.isascii() or not hmac.compare_digest(mac, _mac(secret, token)):
        return None
    return token


@dataclass
class Login:
    """One logged-in browser (all its tabs share the cookie)."""

    key: str  # sha256 of the token: the table keeps no usable token
    address: str
    epoch: str
    started: float
    last_used: float
    streamlit_sessions: set[str] = field(default_factory=set)
    uploading: int = 0  # bytes of uploads in flight

    @property
    def label(self) -> str:
        """A short name for logs that gives nothing away."""
        return self.key[:8]


@dataclass
class SessionTable:
    """The server's live logins, safe to use from the event loop and from script threads at once."""

    store: CredentialStore
    secret: bytes
    idle_s: float
    max_s: float
    clock: Callable[[], float] = time.monotonic
    _logins: dict[str, Login] = field(default_factory=dict)
    _owners: dict[str, str] = field(default_factory=dict)  # Streamlit session id -> login key
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def create(self, address: str) -> str:
        """A new login for a client at `address`; returns the signed cookie value."""
        token = token_source.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        login = Login(_key(token), address, self.store.epoch(), now, now)
        with self._lock:
            self._expire(now)
            self._logins[login.key] = login
        log.info("dashboard login %s from %s", login.label, address)
        return sign(self.secret, token)

    def find(self, cookie_value: object) -> Login | None:
        """The live login a cookie value stands for, or None (forged, unknown, expired, ended or made under an
        earlier password; an unreadable password file ends every login until it is fixed)."""
        token = unsign(self.secret, cookie_value)
        if token is None:
            return None
        try:
            epoch = self.store.epoch()
        except UserError as error:
            log.error("no dashboard login holds: %s", error)
            return None
        now = self.clock()
        with self._lock:
            login = self._logins.get(_key(token))
            if login is None:
                return None
            reason = self._ended(login, now, epoch)
            if reason:
                self._drop(login)
        if reason:
            log.info("dashboard login %s ended: %s", login.label, reason)
            return None
        return login

    def _ended(self, login: Login, now: float, epoch: str) -> str | None:
        if login.epoch != epoch:
            return "the password changed"
        if now - login.last_used > self.idle_s:
            return f"unused for {self.idle_s / 3600:g} h"
        if now - login.started > self.max_s:
            return f"older than {self.max_s / 3600:g} h"
        return None

    def touch(self, login: Login) -> None:
        """Mark `login` as used now (a page load, a request, a script run started by its user)."""
        login.last_used = self.clock()

    def end(self, login: Login) -> None:
        """Log out: the cookie of `login` no longer opens anything, in any tab."""
        with self._lock:
            self._drop(login)
        log.info("dashboard login %s logged out", login.label)

    def bind(self, login: Login, streamlit_session: str) -> bool:
        """Tie a Streamlit session to `login` on its first run; False if another login already holds it."""
        with self._lock:
            owner = self._owners.setdefault(streamlit_session, login.key)
            if owner == login.key:
                login.streamlit_sessions.add(streamlit_session)
        return owner == login.key

    def owns(self, login: Login, streamlit_session: str) -> bool:
        with self._lock:
            return self._owners.get(streamlit_session) == login.key

    def reserve_upload(self, login: Login, size: int, held: int, limit: int) -> bool:
        """Count an upload of `size` bytes against `login` if it fits `limit` with the `held` bytes and the
        uploads still in flight; False (nothing counted) if it does not."""
        with self._lock:
            if held + login.uploading + size > limit:
                return False
            login.uploading += size
            return True

    def release_upload(self, login: Login, size: int) -> None:
        with self._lock:
            login.uploading -= size

    def _drop(self, login: Login) -> None:
        self._logins.pop(login.key, None)
        for session in login.streamlit_sessions:
            self._owners.pop(session, None)

    def _expire(self, now: float) -> None:
        for login in [login for login in self._logins.values()
                      if now - login.last_used > self.idle_s or now - login.started > self.max_s]:
            self._drop(login)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


_TABLES: dict[Path, SessionTable] = {}
_TABLES_LOCK = threading.Lock()


def session_table(settings: Settings) -> SessionTable:
    """The process's one table for this data root, shared by the HTTP gate and every script run."""
    with _TABLES_LOCK:
        table = _TABLES.get(settings.data_root)
        if table is None:
            table = SessionTable(CredentialStore.in_data_root(settings.data_root),
                                 server_secret(settings.data_root), settings.session_idle_s, settings.session_max_s)
            _TABLES[settings.data_root] = table
        return table
