"""The live video of a viewer: WebRTC (receive-only, playing without a click where the browser allows muted
autoplay) with the boxes drawn in the browser by this viewer's own filter, as wide as the page and with a
fullscreen button; or the compatibility view (an image a fragment refreshes, drawn on the server), chosen by a
toggle or automatically when WebRTC does not connect in time. The wall shows the same video as tiles.

Signalling goes through the component: the browser's offer arrives as the component's state, the callback answers
it (`PeerServer`, in `core.live.webrtc`) before the script reruns, and the answer goes back in the component's data.
The browser sends its offer, and that its video plays, again until the data acknowledges them (the answer, `playing`):
under load a state change can be lost between the page's runs, and a lost offer (or "playing") left the video
unconnected until the compatibility view replaced it.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.errors import UserError
from core.live.broadcast import overlay_colours
from core.live.snapshot import jpeg_data_uri
from core.live.viewer import Cursor, Viewer, ViewFilter
from core.live.webrtc import PeerServer
from dashboard import resources
from dashboard.components import login

WEBRTC_KEY = "live_webrtc"
# The video connects as the page first loads (no START click), while a first visit also imports and loads the model:
# 7-9 s to a playing video on this 2-core machine, more under load, where 12 s fell back to the image view.
WEBRTC_CONNECT_TIMEOUT_S = 25.0
IMAGE_PERIOD_S = 0.1
MAX_OFFER_ID = 64
_FAILED = "live_webrtc_failed"
_SIGNALLING_SINCE = "live_webrtc_signalling_since"
_ANSWERS = "live_video_answers"
_SESSION_ID = "live_video_session"
_HERE = Path(__file__).parent


@st.cache_resource(show_spinner=False)
def _component() -> Callable:
    """The browser side (JavaScript and CSS beside this module), registered once per server."""
    return st.components.v2.component("eds_live_video", js=(_HERE / "live_video.js").read_text(),
                                      css=(_HERE / "live_video.css").read_text(), isolate_styles=False)


def session_viewer() -> Viewer:
    """This browser session's viewer of the Live page, made on first use."""
    if "live_viewer" not in st.session_state:
        st.session_state["live_viewer"] = resources.live().viewer()
    return st.session_state["live_viewer"]


def _answer_offer(peers: PeerServer, viewer: Viewer, key: str) -> None:
    """The component's callback: answer the browser's newest offer for `key` (once per offer)."""
    offer = (st.session_state.get(key) or {}).get("offer")
    answers = st.session_state.setdefault(_ANSWERS, {})
    if not isinstance(offer, dict):
        return
    offer_id = str(offer.get("id"))[:MAX_OFFER_ID]
    if answers.get(key, {}).get("id") == offer_id:
        return
    peer_key = f"{st.session_state.setdefault(_SESSION_ID, uuid.uuid4().hex)}/{key}"
    try:
        answers[key] = {"id": offer_id, "sdp": peers.answer(peer_key, offer.get("sdp"), viewer)}
    except UserError as error:
        answers[key] = {"id": offer_id, "error": str(error)}


def webrtc_video(viewer: Viewer, *, key: str, view: ViewFilter, names: list[str], mode: str = "page",
                 title: str = "", status: str = "", status_level: str = "info", link: str | None = None):
    """The WebRTC video of `viewer` (the component's result: `playing`). `view` and `names` decide the boxes
    drawn; a tile (`mode="tile"`) shows `title`, its fps and detections, and `status` (why there is no picture)
    over the video, and a click on it loads the page `link` (relative to this page)."""
    peers = resources.live().peers()
    answer = st.session_state.get(_ANSWERS, {}).get(key)
    playing = bool((st.session_state.get(key) or {}).get("playing"))  # acknowledged: the browser stops sending it
    data = {"mode": mode, "answer": answer, "playing": playing, "ice": peers.ice, "names": names,
            "colours": overlay_colours(len(names)), "min_score": view.min_score,
            "classes": sorted(view.classes) if view.classes is not None else None, "title": title,
            "status": status, "status_level": status_level, "fullscreen": mode == "page", "link": link}
    return _component()(key=key, data=data, on_offer_change=lambda: _answer_offer(peers, viewer, key),
                        on_playing_change=lambda: None, width="stretch")


def show_video(viewer: Viewer, names: list[str]) -> None:
    """The Live page's video with `names` for its boxes, and the compatibility view's switch below it."""
    failed = st.session_state.get(_FAILED, False)
    compatibility = st.session_state.get("live_compatibility", False)
    notice = st.container()  # in every run, so the video's place never moves (the page's fragments rely on it)
    if failed and not compatibility:
        left, right = notice.columns([4, 1])
        left.warning(f"WebRTC did not connect within {WEBRTC_CONNECT_TIMEOUT_S:.0f} s: showing the compatibility view.")
        if right.button("Retry WebRTC"):
            st.session_state.pop(_FAILED, None)
            st.session_state.pop(_ANSWERS, None)
            st.rerun()
    if compatibility or failed:
        _image_view(viewer)
    else:
        _page_video(viewer, names)
    st.toggle("Compatibility view (refreshed image instead of WebRTC)", key="live_compatibility",
              help="For networks or browsers where WebRTC cannot connect; uses more CPU.")


@login.fragment
def _page_video(viewer: Viewer, names: list[str]) -> None:
    """The Live page's WebRTC video in a fragment of its own: the browser's offer and its "playing" rerun only this,
    not the whole page (whole-page runs the browser asks for while the page is being drawn, beside the panels'
    refreshes, made the blank page of `login.fragment`'s docstring far more likely)."""
    webrtc_video(viewer, key=WEBRTC_KEY, view=viewer.filter, names=names)


def check_webrtc_connection(viewer: Viewer) -> None:
    """Switch this session to the compatibility view if WebRTC has been connecting for too long since the browser's
    offer was answered while the stream had pictures to send (called ~1/s). A model still loading or a source still
    opening is not a connection failure: the wait counts from the stream's first picture."""
    if st.session_state.get("live_compatibility") or st.session_state.get(_FAILED):
        return
    state = st.session_state.get(WEBRTC_KEY) or {}
    if state.get("playing") or WEBRTC_KEY not in st.session_state.get(_ANSWERS, {}) or not _has_pictures(viewer):
        st.session_state.pop(_SIGNALLING_SINCE, None)
        return
    since = st.session_state.setdefault(_SIGNALLING_SINCE, time.monotonic())
    if time.monotonic() - since > WEBRTC_CONNECT_TIMEOUT_S:
        st.session_state[_FAILED] = True
        st.rerun(scope="app")


def _has_pictures(viewer: Viewer) -> bool:
    """Whether the viewer's stream has a picture to send (its request carried out, a first result made)."""
    pipeline = viewer.pipeline
    return not viewer.starting and pipeline is not None and pipeline.latest() is not None


@login.fragment(run_every=IMAGE_PERIOD_S)
def _image_view(viewer: Viewer) -> None:
    viewer.touch()
    image, cursor = viewer.next_image(st.session_state.get("live_image_cursor", Cursor()), 0.0)
    if image is not None:
        st.session_state["live_image_cursor"] = cursor
        st.session_state["live_image_uri"] = jpeg_data_uri(image)
        viewer.note_shown()
    uri = st.session_state.get("live_image_uri")
    if uri is None:
        st.info("Waiting for the first frame...")
    else:
        st.html(f'<img class="live-image" alt="live view" src="{uri}" style="width:100%">')
