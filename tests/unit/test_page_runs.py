"""Pages end their runs normally, and every fragment sits in a slot of its own. Streamlit keeps a page's fragments
registered after a run stopped early (`st.stop()`) or switched away by the server (`st.switch_page()`), while the
browser drops what that run did not draw; a fragment refresh already on its way then runs against the old page and
the browser's page goes blank ("Bad delta path index"). So no page or component stops or switches: it draws nothing
more, or links (the only exception is the login check, which sends the browser away from the app).

Streamlit also drops a page run's unsent drawing of a fragment when that fragment's own run starts right after it,
while the page run still has the browser remove what it did not draw; `login.fragment` puts each fragment in a
plain container of the page run's, so what vanishes is the slot's content, never a place on the page."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
LEAVING = {DASHBOARD / "components" / "login.py"}  # ends a run whose login no longer holds: the browser leaves
ENDING_CALLS = {"stop", "switch_page"}


def _ending_calls(path: Path) -> list[str]:
    return [f"{path.relative_to(DASHBOARD.parent)}:{node.lineno} st.{node.func.attr}()"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ENDING_CALLS and isinstance(node.func.value, ast.Name) and node.func.value.id == "st"]


def test_no_page_stops_its_run_early_or_switches_pages_from_the_server() -> None:
    files = [path for path in sorted(DASHBOARD.rglob("*.py")) if path not in LEAVING]
    assert len(files) > 10
    assert [call for path in files for call in _ending_calls(path)] == []


def test_the_check_finds_a_stop() -> None:
    assert _ending_calls(DASHBOARD / "components" / "login.py") != []


def _page_with_a_fragment() -> None:
    import streamlit as st

    from dashboard.components import login

    @login.fragment(run_every=60)
    def panel() -> None:
        st.write("panel")

    st.write("before")
    panel()
    st.write("after")


@pytest.fixture
def without_login(monkeypatch) -> None:
    monkeypatch.setenv("EDS_AUTH", "off")
    st.cache_resource.clear()  # settings read with the login on by an earlier test


def test_a_fragment_is_drawn_inside_a_slot_of_the_page_run(without_login) -> None:
    app = AppTest.from_function(_page_with_a_fragment, default_timeout=30)
    app.run()
    assert not app.exception
    before, slot, after = app.main.children.values()
    assert (before.value, after.value) == ("before", "after")
    (fragment_block,) = slot.children.values()  # the slot holds the fragment's own block, and only it
    assert [element.value for element in fragment_block.children.values()] == ["panel"]
