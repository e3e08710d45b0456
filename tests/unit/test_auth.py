"""The dashboard's password store, one-time login tokens, guess throttling, the auth CLI and the TLS certificate."""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import stat

import pytest

from core import auth
from core.auth import CredentialStore, Throttle, check_guess, hash_password, startup_notice, verify_password
from core.cli import main
from core.errors import UserError
from core.tls import ensure_certificate


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_password_hash_is_salted_scrypt_with_its_parameters() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first["scheme"] == "scrypt" and {"n", "r", "p", "salt", "hash"} <= first.keys()
    assert first["salt"] != second["salt"] and first["hash"] != second["hash"]
    assert verify_password(first, "s3cret") and verify_password(second, "s3cret")
    assert not verify_password(first, "s3cret ")


def test_first_start_generates_a_password_stored_only_as_a_hash(tmp_path) -> None:
    store = CredentialStore.in_data_root(tmp_path)
    notice = startup_notice(store, "https://host:8501", password_configured=False)
    password = re.search(r"kept in \S+: (\S+)", notice).group(1)
    token = re.search(r"https://host:8501/\?token=(\S+)", notice).group(1)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    text = store.path.read_text()
    assert password not in text and token not in text
    assert store.verify(password) and not store.verify("nope")
    again = startup_notice(store, "https://host:8501", password_configured=False)
    assert "token=" not in again and "reset-password" in again and store.verify(password)
    assert "EDS_PASSWORD" in startup_notice(store, "https://host:8501", password_configured=True)


def test_login_token_is_single_use_and_expires(tmp_path) -> None:
    clock = FakeClock()
    store = CredentialStore(tmp_path / "auth.json", clock=clock)
    _, first = store.new_password()
    second = store.issue_token()
    assert not store.consume_token("forged")
    assert store.consume_token(first)
    assert not store.consume_token(first)
    clock.now += auth.TOKEN_TTL_S + 1
    assert not store.consume_token(second)
    assert json.loads(store.path.read_text())["tokens"] == []


def test_tokens_alone_do_not_count_as_a_password(tmp_path) -> None:
    store = CredentialStore.in_data_root(tmp_path)
    store.issue_token()
    assert not store.has_password()
    assert "token=" in startup_notice(store, "http://h:1", password_configured=False)  # still generates one
    assert store.has_password()


def test_damaged_store_is_a_user_error(tmp_path) -> None:
    (tmp_path / "auth.json").write_text("{not json")
    with pytest.raises(UserError, match="delete it"):
        CredentialStore.in_data_root(tmp_path).verify("x")


def test_wrong_guesses_back_off_exponentially_per_address_and_are_not_checked_meanwhile(caplog) -> None:
    clock = FakeClock()
    throttle = Throttle(clock=clock)
    checked: list[str] = []

    def verify(guess: str) -> bool:
        checked.append(guess)
        return guess == "right"

    waits = []
    with caplog.at_level(logging.WARNING, logger="core.auth"):
        for _ in range(8):
            assert check_guess("10.0.0.7", "wrong", verify, throttle=throttle) == "Wrong password."
            waits.append(throttle.wait_s("10.0.0.7"))
            message = check_guess("10.0.0.7", "right", verify, throttle=throttle)  # refused unchecked
            assert message == f"Too many attempts, try again in {round(waits[-1])} s."
            clock.now += waits[-1]
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert checked == ["wrong"] * 8
    assert "10.0.0.7" in caplog.text
    assert check_guess("10.0.0.8", "right", verify, throttle=throttle) is None  # another address is not slowed
    assert check_guess("10.0.0.7", "right", verify, throttle=throttle) is None
    assert throttle.wait_s("10.0.0.7") == 0


def test_cli_reset_password_replaces_the_stored_one(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path))
    assert main(["auth", "startup", "--url", "http://h:1"]) == 0
    old = re.search(r"kept in \S+: (\S+)", capsys.readouterr().out).group(1)
    assert main(["auth", "reset-password", "--url", "http://h:1"]) == 0
    out = capsys.readouterr().out
    new = re.search(r"kept in \S+\): (\S+)", out).group(1)
    store = CredentialStore.in_data_root(tmp_path)
    assert store.verify(new) and not store.verify(old)
    assert store.consume_token(re.search(r"token=(\S+)", out).group(1))
    assert main(["auth", "login-url", "--url", "http://h:1"]) == 0
    assert store.consume_token(re.search(r"token=(\S+)", capsys.readouterr().out).group(1))


def test_certificate_names_localhost_and_loopback_and_its_key_is_private(tmp_path) -> None:
    from cryptography import x509

    cert_path, key_path = ensure_certificate(tmp_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    before = cert_path.read_bytes()
    assert ensure_certificate(tmp_path) == (cert_path, key_path) and cert_path.read_bytes() == before  # reused


def _failing_page() -> None:
    from dashboard.components.guard import run_guarded

    def body() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    run_guarded(body)


def test_unexpected_page_errors_show_one_line_and_log_the_trace(caplog) -> None:
    from streamlit.testing.v1 import AppTest

    with caplog.at_level(logging.ERROR, logger="dashboard.components.guard"):
        app = AppTest.from_function(_failing_page).run(timeout=30)
    assert not app.exception
    assert [error.value for error in app.error] == [
        "Something went wrong (RuntimeError); the details are in the server log."]
    assert "secret detail" in caplog.text and "Traceback" in caplog.text


def test_streamlit_config_hides_error_details() -> None:
    import tomllib

    from core.config import REPO_ROOT

    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
