"""Optional shared password for the dashboard: where it is configured and how a guess is checked.

The password comes from the EDS_PASSWORD environment variable or, failing that, `password` under `[auth]` in
`.streamlit/secrets.toml`; with neither set the dashboard is open (a trusted LAN). Guesses are compared in
constant time, and each wrong guess costs the guesser a short delay.
"""
from __future__ import annotations

import hmac
import os
import time
from collections.abc import Mapping

WRONG_GUESS_DELAY_S = 1.0


def configured_password(environ: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> str | None:
    """The password to require, or None when the dashboard is open."""
    value = (os.environ if environ is None else environ).get("EDS_PASSWORD", "")
    if not value and secrets is not None:
        section = secrets.get("auth") or {}
        value = str(section.get("password", "")) if isinstance(section, Mapping) else ""
    return value or None


def password_matches(guess: str, password: str, *, delay: float = WRONG_GUESS_DELAY_S) -> bool:
    """Constant-time comparison; a wrong guess sleeps `delay` seconds before answering."""
    ok = hmac.compare_digest(guess.encode("utf-8"), password.encode("utf-8"))
    if not ok and delay > 0:
        time.sleep(delay)
    return ok
