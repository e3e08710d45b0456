"""Logins held by the server: the signed cookie, the table's idle and absolute expiry, the end of every login at a
new password (reset in another process too), logout, Streamlit sessions tied to their login, the upload allowance,
and the check every script run and fragment run makes."""
from __future__ import annotations

import re
import stat

import pytest
from streamlit.testing.v1 import AppTest

from core.access.auth import CredentialStore
from core.access.sessions import SECRET_FILE, SessionTable, server_secret, session_table, sign, unsign
from core.cli import main
from core.config import REPO_ROOT, load_settings


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def table(tmp_path, clock: FakeClock, *, idle_s: float = 100.0, max_s: float = 1000.0) -> SessionTable:
    return SessionTable(CredentialStore.in_data_root(tmp_path), b"k" * 32, idle_s, max_s, clock=clock)


def test_cookie_values_hold_only_with_the_servers_signature() -> None:
    secret = b"s" * 32
    value = sign(secret, "token")
    assert unsign(secret, value) == "token"
    token, mac = value.split(".")
    for forged in (f"other.{mac}", f"{token}.{mac[:-1]}A", token, "", f"{token}.", None, 42):
        assert unsign(secret, forged) is None
    assert unsign(b"t" * 32, value) is None  # another server's secret


def test_the_secret_is_made_once_private_in_a_private_data_root(tmp_path) -> None:
    root = tmp_path / "data"
    secret = server_secret(root)
    assert len(secret) == 32 and server_secret(root) == secret
    assert stat.S_IMODE((root / SECRET_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700


def test_a_login_ends_after_its_idle_time_without_use(tmp_path) -> None:
    clock = FakeClock()
    logins = table(tmp_path, clock)
    cookie = logins.create("loopback")
    login = logins.find(cookie)
    assert login is not None and login.address == "loopback"
    clock.now += 90
    logins.touch(login)  # used: the idle time starts again
    clock.now += 90
    assert logins.find(cookie) is login
    clock.now += 101
    assert logins.find(cookie) is None
    clock.now -= 101
    assert logins.find(cookie) is None  # dropped from the table, not only hidden


def test_a_login_ends_at_its_absolute_age_however_much_it_is_used(tmp_path) -> None:
    clock = FakeClock()
    logins = table(tmp_path, clock)
    cookie = logins.create("loopback")
    for _ in range(10):
        clock.now += 99
        logins.touch(logins.find(cookie))
    clock.now += 20  # 1010 s after the login, 20 s after its last use
    assert logins.find(cookie) is None


def test_a_new_password_ends_every_login_even_from_another_process(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EDS_DATA_ROOT", str(tmp_path))
    CredentialStore.in_data_root(tmp_path).new_password()
    logins = table(tmp_path, FakeClock())
    first, second = logins.create("loopback"), logins.create("192.0.2.7")
    assert logins.find(first) and logins.find(second)
    assert main(["auth", "reset-password", "--url", "http://h:1"]) == 0  # the CLI, as an operator runs it
    assert logins.find(first) is None and logins.find(second) is None
    assert logins.find(logins.create("loopback")) is not None  # a login under the new password holds


def test_an_unreadable_password_file_ends_every_login(tmp_path) -> None:
    logins = table(tmp_path, FakeClock())
    cookie = logins.create("loopback")
    (tmp_path / "auth.json").write_text("{broken")
    assert logins.find(cookie) is None


def test_logout_ends_the_login_in_every_tab_and_frees_its_streamlit_sessions(tmp_path) -> None:
    logins = table(tmp_path, FakeClock())
    cookie, other = logins.create("loopback"), logins.create("loopback")
    login = logins.find(cookie)
    assert logins.bind(login, "tab-1") and logins.bind(login, "tab-1") and logins.bind(login, "tab-2")
    assert not logins.bind(logins.find(other), "tab-1")  # another login cannot take a tab over
    assert logins.owns(login, "tab-2") and not logins.owns(logins.find(other), "tab-2")
    logins.end(login)
    assert logins.find(cookie) is None and logins.find(other) is not None
    assert logins.bind(logins.find(other), "tab-1")  # a tab id of an ended login is free again


def test_uploads_in_flight_count_against_the_logins_allowance(tmp_path) -> None:
    logins = table(tmp_path, FakeClock())
    login = logins.find(logins.create("loopback"))
    assert logins.reserve_upload(login, 60, held=30, limit=100)
    assert not logins.reserve_upload(login, 20, held=30, limit=100)  # 30 held + 60 in flight + 20 > 100
    logins.release_upload(login, 60)
    assert logins.reserve_upload(login, 20, held=30, limit=100)


def test_the_gate_and_the_scripts_share_one_table_per_data_root(tmp_path) -> None:
    settings = load_settings({"EDS_DATA_ROOT": str(tmp_path), "EDS_SESSION_IDLE_HOURS": "0.5"})
    assert session_table(settings) is session_table(settings)
    assert session_table(settings).idle_s == 1800
    assert session_table(load_settings({"EDS_DATA_ROOT": str(tmp_path / "other")})) is not session_table(settings)


def _guarded_page() -> None:
    import streamlit as st

    from dashboard import resources
    from dashboard.components import login

    resources.settings.clear()

    @login.fragment
    def table() -> None:
        st.write("the run table")

    st.write("before the check")
    login.require_session(resources.settings())
    st.write("the page")
    table()


def _guarded_fragment() -> None:
    import streamlit as st

    from dashboard import resources
    from dashboard.components import login

    resources.settings.clear()

    @login.fragment(run_every=None)
    def table() -> None:
        st.write("the run table")

    table()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("script", [_guarded_page, _guarded_fragment])
def test_a_run_without_a_live_login_draws_nothing(script, monkeypatch) -> None:
    monkeypatch.setenv("EDS_AUTH", "on")
    app = AppTest.from_function(script, default_timeout=30).run()
    assert not app.exception
    shown = [item.value for item in app.markdown]
    assert "the page" not in shown and "the run table" not in shown
    monkeypatch.setenv("EDS_AUTH", "off")
    app = AppTest.from_function(script, default_timeout=30).run()
    assert "the run table" in [item.value for item in app.markdown]


def test_every_fragment_of_the_dashboard_checks_the_login() -> None:
    """Fragments rerun without the app's top, so each one goes through login.fragment, never st.fragment."""
    uses = [f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
            for path in sorted((REPO_ROOT / "dashboard").rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"\bst\.(experimental_)?fragment\b", line) and path.name != "login.py"]
    assert uses == []
