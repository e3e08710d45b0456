"""edge detector studio: Streamlit entry point (`streamlit run dashboard/app.py`)."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # so pages import core/db when run by streamlit

from dashboard import resources  # noqa: E402  (needs the path above)

PAGES_DIR = Path(__file__).parent / "pages"

st.set_page_config(page_title="edge detector studio", page_icon=":material/center_focus_strong:", layout="wide")
resources.ledger_url()  # upgrade the run history's schema and mark runs of dead processes, once per server
navigation = st.navigation(
    [
        st.Page(PAGES_DIR / "detect.py", title="Detect", icon=":material/image_search:", default=True),
        st.Page(PAGES_DIR / "dataset.py", title="Dataset", icon=":material/dataset:"),
    ]
)
navigation.run()
