"""The Live page's video: WebRTC (receive-only, fed by this session's viewer track, playing without a click where
the browser allows muted autoplay), or the compatibility view (an image a fragment refreshes), chosen by a toggle
or automatically when WebRTC does not connect in time."""
from __future__ import annotations

import time

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from core.live.snapshot import jpeg_data_uri
from core.live.viewer import Cursor, Viewer
from core.live.webrtc import ViewerVideoTrack, pin_host_addresses, rtc_configuration
from dashboard import resources
from dashboard.components import login

WEBRTC_KEY = "live_webrtc"
# The video connects as the page first loads (no START click), while a first visit also imports and loads the model:
# 7-9 s to a playing video on this 2-core machine, more under load, where 12 s fell back to the image view.
WEBRTC_CONNECT_TIMEOUT_S = 25.0
IMAGE_PERIOD_S = 0.1
_FAILED = "live_webrtc_failed"
_SIGNALLING_SINCE = "live_webrtc_signalling_since"


@st.cache_resource
def _host_addresses() -> list[str]:
    return pin_host_addresses(resources.settings().webrtc_host_addresses)


def session_viewer() -> Viewer:
    """This browser session's viewer (and its WebRTC track), made on first use."""
    if "live_viewer" not in st.session_state:
        viewer = Viewer()
        st.session_state["live_viewer"] = viewer
        st.session_state["live_track"] = ViewerVideoTrack(viewer)
    return st.session_state["live_viewer"]


def show_video(viewer: Viewer) -> None:
    failed = st.session_state.get(_FAILED, False)
    compatibility = st.toggle("Compatibility view (refreshed image instead of WebRTC)", key="live_compatibility",
                              help="For networks or browsers where WebRTC cannot connect; uses more CPU.")
    if failed and not compatibility:
        left, right = st.columns([4, 1])
        left.warning(f"WebRTC did not connect within {WEBRTC_CONNECT_TIMEOUT_S:.0f} s: showing the compatibility view.")
        if right.button("Retry WebRTC"):
            st.session_state.pop(_FAILED, None)
            st.rerun()
    if compatibility or failed:
        _image_view(viewer)
    else:
        _webrtc_view()


def _webrtc_view() -> None:
    _host_addresses()
    webrtc_streamer(
        key=WEBRTC_KEY, mode=WebRtcMode.RECVONLY, source_video_track=st.session_state["live_track"],
        desired_playing_state=True,  # connects on its own (no START button); the video is muted, so it autoplays
        rtc_configuration=rtc_configuration(resources.settings().ice_servers), sendback_audio=False,
        media_stream_constraints={"video": True, "audio": False},
        video_html_attrs={"autoPlay": True, "muted": True, "playsInline": True, "controls": False,
                          "style": {"width": "100%"}},
    )


def check_webrtc_connection() -> None:
    """Switch this session to the compatibility view if WebRTC has been connecting for too long (called ~1/s)."""
    context = st.session_state.get(WEBRTC_KEY)
    state = getattr(context, "state", None)
    if state is None or not state.signalling or state.playing:
        st.session_state.pop(_SIGNALLING_SINCE, None)
        return
    since = st.session_state.setdefault(_SIGNALLING_SINCE, time.monotonic())
    if time.monotonic() - since > WEBRTC_CONNECT_TIMEOUT_S and not st.session_state.get(_FAILED):
        st.session_state[_FAILED] = True
        st.rerun(scope="app")


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
