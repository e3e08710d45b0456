"""The dashboard's password: where it comes from, how it is stored and checked, and how guessing is slowed.

The password is, in order: the EDS_PASSWORD environment variable, `password` under `[auth]` in
`.streamlit/secrets.toml`, or one generated on first start whose salted scrypt hash (never the password) is kept in
DATA_ROOT/auth.json (mode 0600). The same file holds the hashes of one-time login tokens (a login URL printed on the
server console, as Jupyter does) and the password's epoch: a new password gets a new epoch, and a login made under
another epoch has ended (core.access.sessions checks it on every request and script run, so `reset-password`, run in
another process, ends every session).

Guesses are throttled per client address with exponential backoff: an attempt is recorded before its password is
checked, atomically with the check of the address's wait, so of guesses sent at once only the first is checked and
the others are refused unchecked; and only a few checks (16 MiB scrypt each) run at a time in the whole process.
Behind a reverse proxy the client is the one its X-Forwarded-For names, but only for proxies the operator
configured (EDS_TRUSTED_PROXIES); otherwise it is the peer address of the connection.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets as token_source
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import UserError
from core.files.private import write_private
from core.timing.retry import backoff_delay

log = logging.getLogger(__name__)

AUTH_FILE = "auth.json"
SCRYPT_PARAMS = {"n": 2**14, "r": 8, "p": 1}
PASSWORD_BYTES = 18  # token_urlsafe(18): 24 characters, 144 random bits
TOKEN_TTL_S = 24 * 3600
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
BACKOFF_FORGET_S = 3600.0  # an address that made no attempt for this long starts again at 1 s
TRACKED_ADDRESSES = 4096  # past this many addresses, the forgotten ones are dropped from the table
CONCURRENT_CHECKS = 2  # scrypt checks running at once in the whole process
RESET_HINT = "python -m core auth reset-password"
_STORE_LOCK = threading.Lock()  # one writer of auth.json at a time in this process (sessions run in threads)


def configured_password(settings: Settings, secrets: Mapping | None = None) -> str | None:
    """The password set by the operator (EDS_PASSWORD in the settings, then secrets.toml [auth] password), or None."""
    value = settings.password
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
    _epoch_cache: tuple[tuple[int, int, int], str] | None = field(default=None, repr=False)

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
        write_private(self.path, json.dumps(record, indent=1).encode("utf-8"))

    def epoch(self) -> str:
        """The current password's epoch ("" without a password file); re-read only when the file changed."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return ""
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        cached = self._epoch_cache
        if cached is None or cached[0] != signature:
            cached = (signature, str(self._read().get("epoch", "")))
            self._epoch_cache = cached
        return cached[1]

    def new_password(self) -> tuple[str, str]:
        """Generate and store a new password under a new epoch (ending every login made before, and dropping pending
        tokens); return it and a fresh one-time token."""
        password = token_source.token_urlsafe(PASSWORD_BYTES)
        token = token_source.token_urlsafe(32)
        with _STORE_LOCK:
            self._write({"password": hash_password(password), "epoch": token_source.token_hex(8),
                         "tokens": [self._token_entry(token)]})
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
    """Guesses per client address, process-wide: after k failures in a row an address waits 1, 2, 4 ... 60 s, and
    at most `concurrent_checks` passwords are checked at once whoever asks."""

    clock: Callable[[], float] = time.monotonic
    concurrent_checks: int = CONCURRENT_CHECKS
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # address -> (count, blocked until)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _checks: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._checks = threading.BoundedSemaphore(self.concurrent_checks)

    def wait_s(self, address: str) -> float:
        """Seconds `address` must still wait before its next guess is checked (0 when it may guess now)."""
        with self._lock:
            _, until = self._failures.get(address, (0, 0.0))
        return max(0.0, until - self.clock())

    def attempt(self, address: str) -> float:
        """Record a guess from `address` as failed until its check says otherwise, and return 0; or, while the
        address must wait, record nothing and return the seconds left. Check and record are one atomic step, so of
        guesses arriving together only the first gets 0."""
        with self._lock:
            now = self.clock()
            count, until = self._failures.get(address, (0, 0.0))
            if until > now:
                return until - now
            if now - until > BACKOFF_FORGET_S:
                count = 0
            self._forget_old(now)
            self._failures[address] = (count + 1, now + backoff_delay(count + 1, first_s=BACKOFF_FIRST_S,
                                                                        max_s=BACKOFF_MAX_S))
            return 0.0

    def _forget_old(self, now: float) -> None:
        if len(self._failures) >= TRACKED_ADDRESSES:
            for address in [a for a, (_, until) in self._failures.items() if now - until > BACKOFF_FORGET_S]:
                del self._failures[address]

    def check(self, verify: Callable[[str], bool], guess: str) -> bool:
        """Run `verify(guess)` once a check slot is free (the slots cap the scrypt work of the whole process)."""
        with self._checks:
            return verify(guess)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


THROTTLE = Throttle()


def check_guess(address: str, guess: str, verify: Callable[[str], bool], *, throttle: Throttle = THROTTLE,
                wrong_message: str = "Wrong password.") -> str | None:
    """None when `guess` is right; otherwise the one-line reason to show. A throttled address is not checked."""
    wait = throttle.attempt(address)
    if wait > 0:
        log.warning("dashboard password guess from %s refused: throttled for %.0f s more", address, wait)
        return f"Too many attempts, try again in {max(1, round(wait))} s."
    if throttle.check(verify, guess):
        throttle.succeeded(address)
        return None
    log.warning("wrong dashboard password from %s (next guess checked in %.0f s)", address, throttle.wait_s(address))
    return wrong_message


Network = IPv4Network | IPv6Network
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


def _within(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Sequence[Network]) -> bool:
    return ip is not None and any(ip.version == network.version and ip in network for network in networks)


def _forwarded_host(entry: str) -> str:
    """The host of one X-Forwarded-For entry ("10.0.0.7", "10.0.0.7:5123", "[::1]:5123")."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    return entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry


def _counted_as(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
    if ip is None:
        return "unknown"
    return "loopback" if _within(ip, LOOPBACK) else str(ip)  # 127.0.0.1 and ::1 are the same clients


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted_proxies: Sequence[Network]) -> str:
    """The address the login throttle counts a request against ("loopback" for every client of this host).

    `peer` is the connection's address as the ASGI server reports it and `forwarded_for` the request's
    X-Forwarded-For headers. A request from a configured proxy is counted against the rightmost address its
    X-Forwarded-For names that is not itself a configured proxy. Uvicorn (under Streamlit) has already replaced the
    peer of a loopback connection by the last X-Forwarded-For address that is not loopback, so such a peer is taken
    back to loopback unless loopback is a configured proxy: without configuration a client cannot pick a fresh
    counter by sending a made-up header.
    """
    entries = [_forwarded_host(entry) for header in forwarded_for for entry in header.split(",") if entry.strip()]
    peer_ip = _ip(peer or "")
    if not entries:
        return _counted_as(peer_ip)
    untrusted = [entry for entry in entries if not _within(_ip(entry), trusted_proxies)]
    forwarded_client = _ip(untrusted[-1]) if untrusted else None
    if _within(peer_ip, trusted_proxies):
        return _counted_as(forwarded_client)
    not_loopback = [entry for entry in entries if not _within(_ip(entry), LOOPBACK)]
    replaced_by_uvicorn = bool(not_loopback) and peer_ip is not None and _ip(not_loopback[-1]) == peer_ip
    if not replaced_by_uvicorn:
        return _counted_as(peer_ip)
    if any(_within(loopback, trusted_proxies) for loopback in (ipaddress.ip_address("127.0.0.1"),
                                                               ipaddress.ip_address("::1"))):
        return _counted_as(forwarded_client)
    return "loopback"


def login_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/?token={token}"


def address_notice(base_url: str, certificate_fingerprint: str | None) -> str:
    """The dashboard's address, and over TLS the certificate's fingerprint to compare with the browser's."""
    if certificate_fingerprint is None:
        return f"Dashboard: {base_url}"
    return (f"Dashboard: {base_url}\nTLS certificate SHA-256 fingerprint: {certificate_fingerprint}\n"
            "(self-signed: accept it in the browser only if the fingerprint it shows is this one)")


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
