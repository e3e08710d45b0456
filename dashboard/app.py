"""edge detector studio: the dashboard server (`streamlit run dashboard/app.py`).

`streamlit run` finds `app` below and serves it: every HTTP request and websocket passes the login gate
(dashboard.gate) first, and each browser session runs dashboard/main.py (the pages).
"""
from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # so the gate and the pages import core and db

from dashboard import gate  # noqa: E402  (needs the path above)


@asynccontextmanager
async def _serving(_app: st.App) -> AsyncIterator[None]:
    gate.announce()  # the address, the certificate's fingerprint and, on a first start, the password
    yield


app = st.App(Path(__file__).with_name("main.py"), middleware=[Middleware(gate.Gate)], lifespan=_serving)
