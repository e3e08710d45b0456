"""No page serves anything through Streamlit's /media endpoint, which answers anyone holding the URL, logged in or
not: pictures and downloads are inlined into the (authenticated) page instead (dashboard.components.inline)."""
from __future__ import annotations

import re

from core.config import REPO_ROOT

MEDIA_ELEMENTS = re.compile(r"\.(image|download_button|video|audio|pdf)\(")


def test_no_dashboard_code_uses_an_element_served_from_media() -> None:
    offenders = [f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
                 for path in sorted((REPO_ROOT / "dashboard").rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if MEDIA_ELEMENTS.search(line) and "inline." not in line]
    assert offenders == []
