"""Pages end their runs normally. Streamlit keeps a page's fragments registered after a run stopped early
(`st.stop()`) or switched away by the server (`st.switch_page()`), while the browser drops what that run did not
draw; a fragment refresh already on its way then runs against the old page and the browser's page goes blank
("Bad delta path index"). So no page or component stops or switches: it draws nothing more, or links (the only
exception is the login check, which sends the browser away from the app)."""
from __future__ import annotations

import ast
from pathlib import Path

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
