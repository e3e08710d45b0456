"""The script every browser session runs: page setup, the session check, then the chosen page.

Served by dashboard/app.py (behind the login gate); every run, and every fragment run (dashboard.components.login),
first checks that this browser's login still holds.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import resources
from dashboard.components import login
from dashboard.components.guard import run_guarded

PAGES_DIR = Path(__file__).parent / "views"  # not "pages": Streamlit would also list that folder on its own

# An emoji icon becomes an inline picture; a ":material/...:" page icon is fetched from a font server on the internet.
st.set_page_config(page_title="edge detector studio", page_icon="🎯", layout="wide")
login.require_session(resources.settings())  # nothing below runs without a live login (unless EDS_AUTH=off)
resources.history()  # open the run history: schema upgraded, runs of dead processes marked, once per server
navigation = st.navigation(
    [
        st.Page(PAGES_DIR / "detect.py", title="Detect", icon=":material/image_search:", default=True),
        st.Page(PAGES_DIR / "dataset.py", title="Dataset", icon=":material/dataset:"),
        st.Page(PAGES_DIR / "live.py", title="Live", icon=":material/videocam:"),
        st.Page(PAGES_DIR / "wall.py", title="Wall", icon=":material/grid_view:"),
        st.Page(PAGES_DIR / "streams.py", title="Streams", icon=":material/settings_input_antenna:"),
        st.Page(PAGES_DIR / "runs.py", title="Runs", icon=":material/history:"),
        st.Page(PAGES_DIR / "compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page(PAGES_DIR / "training.py", title="Training", icon=":material/show_chart:"),
    ]
)
run_guarded(navigation.run)  # an unexpected error shows one line; its traceback goes to the server log
