"""The dashboard's password store and its epoch, one-time login tokens, guess throttling (in parallel too, and
behind proxies), the auth CLI and the TLS certificate with its fingerprint."""
from __future__ import annotations

import ipaddress
import json
import logging
import re
import stat
import threading

import pytest

from core.access import auth
from core.access.auth import (
    CredentialStore,
    Throttle,
    address_notice,
    check_guess,
    client_address,
    configured_password,
    hash_password,
    password_matches,
    startup_notice,
    verify_password,
)
from core.access.tls import ensure_certificate, fingerprint
from core.cli import main
from core.config import load_settings, parse_networks
from core.errors import UserError
from tests.polling import wait_for


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
    with caplog.at_level(logging.WARNING, logger="core.access.auth"):
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


def test_eight_parallel_guesses_from_one_address_are_answered_one_at_a_time() -> None:
    """The attempt is recorded before its password is checked: while the first guess is being checked, the seven
    sent with it are refused unchecked, and the address waits 1 s, not the 60 s of eight failures."""
    throttle = Throttle(clock=FakeClock())
    checked: list[str] = []
    answers: list[str | None] = []
    start = threading.Barrier(8)

    def verify(guess: str) -> bool:
        checked.append(guess)
        assert wait_for(lambda: len(answers) == 7, timeout=60)  # the others are answered during this check
        return False

    def guess(number: int) -> None:
        start.wait()
        answers.append(check_guess("10.0.0.9", f"guess {number}", verify, throttle=throttle))

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(checked) == 1
    assert sorted(answers, key=str) == ["Too many attempts, try again in 1 s."] * 7 + ["Wrong password."]
    assert throttle.wait_s("10.0.0.9") == 1


def test_at_most_two_passwords_are_checked_at_once_whoever_asks() -> None:
    throttle = Throttle(clock=FakeClock())
    lock = threading.Lock()
    active, peak, checked = [0], [0], []

    def verify(guess: str) -> bool:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            checked.append(guess)
        assert wait_for(lambda: peak[0] >= auth.CONCURRENT_CHECKS, timeout=60)  # a second check runs beside it
        with lock:
            active[0] -= 1
        return guess == "right"

    threads = [threading.Thread(target=check_guess, args=(f"10.0.1.{n}", "right", verify), kwargs={
        "throttle": throttle}) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(checked) == 6 and peak[0] == auth.CONCURRENT_CHECKS == 2


LOCAL_PROXY = parse_networks("127.0.0.1", "EDS_TRUSTED_PROXIES")
LAN_PROXY = parse_networks("10.0.0.2, 10.0.0.3", "EDS_TRUSTED_PROXIES")


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "counted"), [
    ("127.0.0.1", [], (), "loopback"),
    ("::1", [], (), "loopback"),
    ("192.168.1.7", [], (), "192.168.1.7"),
    ("192.168.1.7", ["203.0.113.5"], (), "192.168.1.7"),  # a made-up header from a direct client: its own address
    ("203.0.113.5", ["203.0.113.5"], (), "loopback"),  # uvicorn put the header's address in a loopback peer's place
    ("203.0.113.6", ["203.0.113.6"], (), "loopback"),  # ... so a local client cannot pick a fresh counter
    ("203.0.113.5", ["203.0.113.5"], LOCAL_PROXY, "203.0.113.5"),  # a configured local proxy: its client counts
    ("10.0.0.2", ["198.51.100.1, 203.0.113.5"], LAN_PROXY, "203.0.113.5"),  # the rightmost address not a proxy
    ("10.0.0.2", ["203.0.113.5", "10.0.0.3"], LAN_PROXY, "203.0.113.5"),  # through two configured proxies
    ("10.0.0.9", ["203.0.113.5"], LAN_PROXY, "10.0.0.9"),  # not a configured proxy: its own address
    ("10.0.0.2", ["not an address"], LAN_PROXY, "unknown"),
])
def test_the_throttle_counts_the_peer_unless_a_configured_proxy_names_the_client(peer, forwarded, trusted,
                                                                                  counted) -> None:
    assert client_address(peer, forwarded, trusted) == counted


def test_a_new_password_has_a_new_epoch_read_again_only_when_the_file_changes(tmp_path) -> None:
    store = CredentialStore.in_data_root(tmp_path)
    assert store.epoch() == ""  # no password file: the epoch of an operator's EDS_PASSWORD
    store.new_password()
    first = store.epoch()
    store.issue_token()  # the file changes, the password does not
    assert first and store.epoch() == first
    CredentialStore.in_data_root(tmp_path).new_password()  # as `reset-password` does, from another process
    assert store.epoch() not in ("", first)


def test_cli_login_urls_come_with_the_certificate_fingerprint(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path))
    cert_path, _ = ensure_certificate(tmp_path)
    assert main(["auth", "reset-password", "--url", "https://h:8501"]) == 0
    out = capsys.readouterr().out
    assert "Every dashboard login made before has ended." in out
    assert f"TLS certificate SHA-256 fingerprint: {fingerprint(cert_path)}" in out
    assert main(["auth", "login-url", "--url", "http://h:8501"]) == 0
    assert "fingerprint" not in capsys.readouterr().out  # plain HTTP has no certificate to check


def test_fingerprint_is_the_certificates_sha256_as_browsers_show_it(tmp_path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert_path, _ = ensure_certificate(tmp_path)
    expected = x509.load_pem_x509_certificate(cert_path.read_bytes()).fingerprint(hashes.SHA256())
    assert fingerprint(cert_path) == ":".join(f"{byte:02X}" for byte in expected)
    assert "fingerprint: " + fingerprint(cert_path) in address_notice("https://h:8501", fingerprint(cert_path))
    with pytest.raises(UserError, match="cannot read the TLS certificate"):
        fingerprint(tmp_path / "missing.pem")


def test_a_plain_streamlit_run_serves_this_host_only_with_xsrf_protection() -> None:
    import tomllib

    from core.config import REPO_ROOT

    server = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1" and server["enableXsrfProtection"] is True
    assert "--server.address" in (REPO_ROOT / "scripts" / "demo.sh").read_text()  # the demo serves the LAN itself


def test_password_settings_and_check() -> None:
    assert configured_password(load_settings({}), {}) is None
    assert configured_password(load_settings({"EDS_PASSWORD": "s3cret"}), {"auth": {"password": "other"}}) == "s3cret"
    assert configured_password(load_settings({}), {"auth": {"password": "other"}}) == "other"
    assert password_matches("s3cret", "s3cret")
    assert not password_matches("guess", "s3cret")
