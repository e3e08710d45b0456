"""`python -m core auth ...`: the dashboard's password, one-time login URLs and TLS certificate."""
from __future__ import annotations

import argparse

from core.access.auth import CredentialStore, configured_password, login_url, startup_notice
from core.access.tls import CERT_FILE, TLS_DIR, ensure_certificate, fingerprint
from core.config import Settings, load_settings

DEFAULT_URL = "https://localhost:8501"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("auth", help="dashboard password, one-time login URL, TLS certificate",
                                   description="The generated password's hash and pending login tokens live in "
                                   "EDS_DATA_ROOT/auth.json; EDS_PASSWORD overrides it.")
    actions = parser.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    for name, func, text in (
        ("startup", run_startup, "on first start generate a password and print it with a one-time login URL; "
         "later say that one is set"),
        ("reset-password", run_reset, "generate a new password and end every dashboard login; print it and a "
         "one-time login URL"),
        ("login-url", run_login_url, "print a new one-time login URL (single use, valid 24 h)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--url", default=DEFAULT_URL, help=f"the dashboard's address (default {DEFAULT_URL})")
        action.set_defaults(func=func)
    certificate = actions.add_parser("certificate", help="make the self-signed TLS certificate if missing; print "
                                     "the certificate and key paths")
    certificate.set_defaults(func=run_certificate)


def _print_with_fingerprint(text: str, url: str, settings: Settings) -> None:
    """`text` (it names a login URL), and for an https URL the fingerprint of the data root's certificate."""
    print(text)
    certificate = settings.data_root / TLS_DIR / CERT_FILE
    if url.startswith("https://") and certificate.is_file():
        print(f"TLS certificate SHA-256 fingerprint: {fingerprint(certificate)}")


def run_startup(args: argparse.Namespace) -> int:
    settings = load_settings()
    notice = startup_notice(CredentialStore.in_data_root(settings.data_root), args.url,
                            password_configured=configured_password(settings) is not None)
    _print_with_fingerprint(notice, args.url, settings)
    return 0


def run_reset(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = CredentialStore.in_data_root(settings.data_root)
    password, token = store.new_password()
    print(f"New dashboard password (only its hash is kept in {store.path}): {password}")
    print("Every dashboard login made before has ended.")
    if configured_password(settings) is not None:
        print("EDS_PASSWORD is set in this environment: where it is set for the dashboard, it stays the password.")
    _print_with_fingerprint(f"Or log in once with: {login_url(args.url, token)}", args.url, settings)
    return 0


def run_login_url(args: argparse.Namespace) -> int:
    settings = load_settings()
    token = CredentialStore.in_data_root(settings.data_root).issue_token()
    _print_with_fingerprint(login_url(args.url, token), args.url, settings)
    return 0


def run_certificate(args: argparse.Namespace) -> int:
    cert, key = ensure_certificate(load_settings().data_root)
    print(cert, key)
    return 0
