"""Pictures and downloads inlined as data URIs, so nothing a page shows is served by Streamlit's /media endpoint
(which answers anyone who has the URL, logged in or not)."""
from __future__ import annotations

import base64
import html

import numpy as np
import streamlit as st

from core.pictures.imageio import encode_image


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(data: bytes | np.ndarray, caption: str = "", *, mime: str = "image/png") -> None:
    """An <img> with a caption: `data` is encoded image bytes of type `mime`, or a BGR array (sent as JPEG)."""
    if isinstance(data, np.ndarray):
        data, mime = encode_image(data, ".jpg"), "image/jpeg"
    st.html(f'<figure class="eds-image" style="margin:0"><img src="{data_uri(data, mime)}" alt="{html.escape(caption)}"'
            f' style="width:100%"><figcaption style="font-size:0.85em;opacity:0.7">{html.escape(caption)}'
            "</figcaption></figure>")


def download_link(label: str, data: bytes, file_name: str, mime: str) -> None:
    """A link that saves `data` as `file_name` from the page itself."""
    st.markdown(f'<a class="eds-download" download="{html.escape(file_name)}" href="{data_uri(data, mime)}">'
                f"{html.escape(label)}</a>", unsafe_allow_html=True)
