"""The dashboard's password: where it comes from, how it is stored and checked, and how guessing is slowed.

The password is, in order: the EDS_PASSWORD environment variable, `password` under `[auth]` in
`.streamlit/secrets.toml`, or one generated on first start whose salted scrypt hash (never the password) is kept in
DATA_ROOT/auth.json (mode 0600). The same file holds the hashes of one-time login tokens (a login URL printed on the
server console, as Jupyter does). Wrong guesses are throttled per client address across every session of the
process, with exponential backoff; while an address is throttled its guesses are refused without being checked.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets as token_source
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import atomic_path
from core.errors import UserError

log = logging.getLogger(__name__)

AUTH_FILE = "auth.json"
SCRYPT_PARAMS = {"n": 2**14, "r": 8, "p": 1}
PASSWORD_BYTES = 18  # token_urlsafe(18): 24 characters, 144 random bits
TOKEN_TTL_S = 24 * 3600
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
RESET_HINT = "python -m core auth reset-password"
_STORE_LOCK = threading.Lock()  # one writer of auth.json at a time in this process (sessions run in threads)


def configured_password(environ: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> str | None:
    """The password set by the operator (EDS_PASSWORD, then secrets.toml [auth] password), or None."""
    value = (os.environ if environ is None else environ).get("EDS_PASSWORD", "")
    if not value and secrets is not None:
        section = secrets.get("auth") or {}
        value = str(section.get("password", "")) if isinstance(section, Mapping) else ""
    return value or None


def password_matches(guess: str, password: str) -> bool:
    """Constant-time comparison of a guess with a plain-text password (one set by the operator)."""
    return hmac.compare_digest(guess.encode("utf-8"), password.encode("utf-8"))


def _scrypt(secret: str, salt: bytes, params: Mapping[str, int]) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=params["n"], r=params["r"], p=params["p"],
                          maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> dict[str, Any]:
    """A salted scrypt record of `password`, with the parameters needed to check a guess later."""
    salt = token_source.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_PARAMS)
    return {"scheme": "scrypt", **SCRYPT_PARAMS, "salt": salt.hex(), "hash": digest.hex()}


def verify_password(record: Mapping[str, Any], guess: str) -> bool:
    """Whether `guess` is the password hashed in `record` (constant-time comparison of the hashes)."""
    expected = bytes.fromhex(record["hash"])
    return hmac.compare_digest(_scrypt(guess, bytes.fromhex(record["salt"]), record), expected)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class CredentialStore:
    """DATA_ROOT/auth.json: the generated password's hash and the pending one-time login tokens (hashed)."""

    path: Path
    clock: Callable[[], float] = time.time

    @classmethod
    def in_data_root(cls, data_root: Path) -> CredentialStore:
        return cls(Path(data_root) / AUTH_FILE)

    def has_password(self) -> bool:
        return self.path.is_file() and "password" in self._read()

    def _read(self) -> dict[str, Any]:
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise UserError(f"cannot read {self.path} ({error}); delete it to generate a new password") from None
        if not isinstance(record, dict):
            raise UserError(f"{self.path} is not a password file; delete it to generate a new password")
        return record

    def _write(self, record: Mapping[str, Any]) -> None:
        with atomic_path(self.path) as temporary:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=1)

    def new_password(self) -> tuple[str, str]:
        """Generate and store a new password (dropping pending tokens); return it and a fresh one-time token."""
        password = token_source.token_urlsafe(PASSWORD_BYTES)
        token = token_source.token_urlsafe(32)
        with _STORE_LOCK:
            self._write({"password": hash_password(password), "tokens": [self._token_entry(token)]})
        log.info("new dashboard password stored in %s", self.path)
        return password, token

    def _token_entry(self, token: str) -> dict[str, Any]:
        return {"sha256": _token_digest(token), "expires": self.clock() + TOKEN_TTL_S}

    def issue_token(self) -> str:
        """A new one-time login token, valid for TOKEN_TTL_S seconds."""
        token = token_source.token_urlsafe(32)
        with _STORE_LOCK:
            record = self._read()
            record["tokens"] = [*self._live_tokens(record), self._token_entry(token)]
            self._write(record)
        return token

    def _live_tokens(self, record: Mapping[str, Any]) -> list[dict[str, Any]]:
        now = self.clock()
        return [entry for entry in record.get("tokens", []) if entry.get("expires", 0) > now]

    def consume_token(self, token: str) -> bool:
        """True for a token issued here and not expired, which is then removed: each token logs in once."""
        digest = _token_digest(token)
        with _STORE_LOCK:
            record = self._read()
            live = self._live_tokens(record)
            remaining = [entry for entry in live if not hmac.compare_digest(entry["sha256"], digest)]
            if len(remaining) != len(live) or len(live) != len(record.get("tokens", [])):
                record["tokens"] = remaining
                self._write(record)
        return len(remaining) != len(live)

    def verify(self, guess: str) -> bool:
        record = self._read().get("password")
        return bool(record) and verify_password(record, guess)


@dataclass
class Throttle:
    """Failed guesses per client address, process-wide: after k failures an address waits 1, 2, 4 ... 60 s."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # address -> (count, blocked until)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait_s(self, address: str) -> float:
        """Seconds `address` must still wait before its next guess is checked (0 when it may guess now)."""
        with _STORE_LOCK:
            _, until = self._failures.get(address, (0, 0.0))
        return max(0.0, until - self.clock())

    def failed(self, address: str) -> None:
        with _STORE_LOCK:
            count = self._failures.get(address, (0, 0.0))[0] + 1
            delay = min(BACKOFF_FIRST_S * 2 ** (count - 1), BACKOFF_MAX_S)
            self._failures[address] = (count, self.clock() + delay)
        log.warning("wrong dashboard password from %s (%d in a row; next guess checked in %.0f s)",
                    address, count, delay)

    def succeeded(self, address: str) -> None:
        with _STORE_LOCK:
            self._failures.pop(address, None)


THROTTLE = Throttle()


def check_guess(address: str, guess: str, verify: Callable[[str], bool], *, throttle: Throttle = THROTTLE,
                wrong_message: str = "Wrong password.") -> str | None:
    """None when `guess` is right; otherwise the one-line reason to show. A throttled address is not checked."""
    wait = throttle.wait_s(address)
    if wait > 0:
        log.warning("dashboard password guess from %s refused: throttled for %.0f s more", address, wait)
        return f"Too many attempts, try again in {max(1, round(wait))} s."
    if verify(guess):
        throttle.succeeded(address)
        return None
    throttle.failed(address)
    return wrong_message


def login_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/?token={token}"


def startup_notice(store: CredentialStore, base_url: str, *, password_configured: bool) -> str:
    """What the server prints when it starts: on the first start the generated password and a one-time login URL;
    later only that a password is set and how to reset it (nothing secret)."""
    if password_configured:
        return "Dashboard password: set by EDS_PASSWORD or .streamlit/secrets.toml [auth]."
    if store.has_password():
        return (f"Dashboard password: set (hash in {store.path}). Forgot it? `{RESET_HINT}` prints a new one "
                "and a one-time login URL, or delete that file and restart.")
    password, token = store.new_password()
    return (f"Dashboard password (shown once, only its hash is kept in {store.path}): {password}\n"
            f"Or log in once with: {login_url(base_url, token)}  (valid {TOKEN_TTL_S // 3600} h, single use)")
