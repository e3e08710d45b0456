"""Streams page tools: the Jetson's sender command filled in for this server, explaining a gst-launch-1.0 line and
converting its display sink to NVIDIA's. Drawing only: every answer comes from core.gst."""
from __future__ import annotations

import streamlit as st

from core.config import Settings
from core.errors import UserError
from core.gst import examples
from core.gst.addresses import HostAddress, server_ipv4_addresses
from core.gst.convert import convert_for_display
from core.gst.explain import Explanation, explain_pipeline, explanation_text, properties_and_capabilities
from core.gst.jetson_sender import CODECS, CSI, PRESETS, SenderOptions, camera_kind, encoder_factory, sender_command
from dashboard.components.text import plain

ADDRESS_TTL_S = 60
CAMERAS = {"v4l2": "USB camera (v4l2src, /dev/videoN)", CSI: "CSI camera (nvarguscamerasrc)"}
JETPACK_LABELS = {4: "JetPack 4 (omx encoders)", 5: "JetPack 5 or later (nvv4l2 encoders)"}


@st.cache_data(ttl=ADDRESS_TTL_S, show_spinner=False)
def _addresses() -> list[HostAddress]:
    return server_ipv4_addresses()


def _camera(preset: SenderOptions, key: str) -> str:
    kind, number = camera_kind(preset.camera)
    kind_column, number_column = st.columns(2)
    chosen = kind_column.radio("Camera", list(CAMERAS), index=list(CAMERAS).index(kind), format_func=CAMERAS.get,
                               key=f"{key}_camera")
    label = "CSI sensor id" if chosen == CSI else "Device number (/dev/videoN)"
    number = number_column.number_input(label, min_value=0, max_value=999, value=number, key=f"{key}_camera_n")
    if chosen == CSI:
        return f"{CSI}:{number}" if number else CSI
    return f"/dev/video{number}"


def _sender_options(settings: Settings, preset: SenderOptions, key: str) -> SenderOptions:
    addresses = _addresses()
    first, second, third = st.columns(3)
    host = first.selectbox("This server's address (where the Jetson sends)", [a.address for a in addresses],
                           format_func={a.address: a.label for a in addresses}.get, key="streams_host")
    ports = list(settings.rtp_ports)
    port = second.selectbox("UDP port", ports, index=ports.index(preset.port) if preset.port in ports else 0,
                            help="the ports this server listens on (EDS_RTP_PORTS)", key="streams_port")
    codec = third.selectbox("Codec", CODECS, index=CODECS.index(preset.codec), format_func=str.upper,
                            key=f"{key}_codec")
    first, second, third = st.columns(3)
    width = first.number_input("Width", value=preset.width, step=2, key=f"{key}_width")
    height = second.number_input("Height", value=preset.height, step=2, key=f"{key}_height")
    fps = third.number_input("Frame rate (fps)", value=preset.fps, key=f"{key}_fps")
    first, second, third = st.columns(3)
    bitrate = first.number_input("Bitrate (Mbit/s, 0 = the encoder's default)",
                                 value=(preset.bitrate or 0) / 1e6, step=0.5, key=f"{key}_bitrate")
    keyframes = second.number_input("Keyframe interval (frames, 0 = the encoder's default)",
                                    value=preset.keyframe_interval or 0,
                                    help="a viewer who joins late waits up to this many frames for a picture",
                                    key=f"{key}_keyframes")
    jetpack = third.radio("JetPack release", list(JETPACK_LABELS), index=list(JETPACK_LABELS).index(preset.jetpack),
                          format_func=JETPACK_LABELS.get, key=f"{key}_jetpack")
    return SenderOptions(host=host, port=int(port), codec=codec, width=int(width), height=int(height), fps=int(fps),
                         bitrate=round(bitrate * 1e6) or None, keyframe_interval=int(keyframes) or None,
                         camera=_camera(preset, key), jetpack=jetpack)


def sender_command_section(settings: Settings) -> None:
    """A form for the sender's settings, starting from a preset, and the command to run on the Jetson."""
    st.subheader("Sender command for the Jetson")
    name = st.selectbox("Preset", list(PRESETS), format_func=lambda n: f"{n}: {PRESETS[n].description}",
                        key="streams_preset")
    try:
        options = _sender_options(settings, PRESETS[name].options, key=f"streams_{name}")
        command = sender_command(options)
    except UserError as error:
        st.error(plain(error))
        return
    st.code(command, language="bash", wrap_lines=True)
    st.caption(f"Run it on the Jetson ({encoder_factory(options.codec, options.jetpack)} is its hardware encoder); "
               f"this server receives it on UDP {options.port} as {options.codec.upper()}. The copy button is at "
               "the code's top right.")
    with st.expander("What each piece of this command does"):
        _explanation_tables(explain_pipeline(command))


def _pipeline_text(key: str, default: str) -> str:
    """A text area for a gst-launch-1.0 line, starting at `default`; picking an example replaces its text."""
    text_key = f"{key}_text"

    def load_example() -> None:
        chosen = st.session_state[f"{key}_example"]
        if chosen is not None:
            st.session_state[text_key] = examples.EXAMPLES[chosen]

    st.selectbox("Load an example", list(examples.EXAMPLES), index=None,
                 placeholder="GStreamer basics and the Jetson's pipelines", key=f"{key}_example",
                 on_change=load_example)
    st.session_state.setdefault(text_key, default)
    return st.text_area("gst-launch-1.0 line", height=90, key=text_key)


def _explanation_tables(explanation: Explanation) -> None:
    for option in explanation.options:
        st.markdown(f"- option `{option.flag}`: {option.meaning}")
    st.markdown("**Elements** (in order; a caps filter is a capsfilter element gst-launch-1.0 adds for you)")
    st.dataframe([{"#": row.index, "kind": row.kind, "factory": row.factory, "class": row.klass,
                   "source": row.source, "as written": row.text, "description": row.description}
                  for row in explanation.elements], hide_index=True)
    if explanation.properties:
        st.markdown("**Properties** (`name=value` settings of one element)")
        st.dataframe([{"#": row.index, "element": row.element, "property": row.name, "value": row.value,
                       "type": row.type, "default": row.default, "status": row.status, "problem": row.problem,
                       "description": row.description} for row in explanation.properties],
                     hide_index=True)
    if explanation.caps:
        st.markdown("**Capabilities** (formats allowed over a link, or a caps-valued property)")
        st.dataframe([{"#": row.index, "where": row.origin, "media type": row.media_type,
                       "features": ", ".join(row.features), "field": name, "value": value, "type": kind}
                      for row in explanation.caps for name, value, kind in (row.fields or (("", "", ""),))],
                     hide_index=True)


def _conversion(text: str, jetpack: int) -> None:
    """The line with its display sink replaced by NVIDIA's for `jetpack`, and what changed and why."""
    try:
        conversion = convert_for_display(text, jetpack)
    except UserError as error:
        st.error(plain(error))
        return
    st.code(conversion.converted, language="bash", wrap_lines=True)
    st.code("\n\n".join(f"{change.before or '(nothing)'} → {change.after or '(removed)'}: {change.why}"
                      for change in conversion.changes), language=None, wrap_lines=True)


def _answer(example: examples.Example, explanation: Explanation) -> None:
    """The answer to an example's question, computed from the line as it stands."""
    st.markdown(f"**Answer: {example.answer}**")
    if example.answer == examples.ANSWER_CONVERSION:
        for jetpack, label in JETPACK_LABELS.items():
            st.caption(label)
            _conversion(example.pipeline, jetpack)
    elif example.answer == examples.ANSWER_PROPERTIES:  # text, not Markdown: the line is whatever was pasted
        lines = [f"{setting.text}: a {setting.kind} {'on' if setting.kind == 'capability' else 'of'} {setting.where}: "
                 f"{setting.meaning}" for setting in properties_and_capabilities(explanation)]
        st.code("\n".join(lines), language=None, wrap_lines=True)
    else:
        st.code(explanation_text(explanation), language=None, wrap_lines=True)


def explain_section() -> None:
    """Paste a gst-launch-1.0 line; see each element, property and capability explained. A GStreamer basics
    example's question is answered while its line is unchanged."""
    st.subheader("Explain a pipeline")
    text = _pipeline_text("streams_explain", examples.SENDER)
    if not text.strip():
        return
    try:
        explanation = explain_pipeline(text)
    except UserError as error:
        st.error(plain(error))
        return
    example = examples.question_for(text)
    if example is not None:
        st.markdown(f"**Question:** {example.question}")
        _answer(example, explanation)
        st.markdown("**Every piece, in tables**")
    _explanation_tables(explanation)


def convert_section() -> None:
    """Turn a pipeline's X11 display sink into NVIDIA's, with what changed and why."""
    st.subheader("Convert for display on the Jetson")
    text = _pipeline_text("streams_convert", examples.RECEIVER)
    jetpack = st.radio("JetPack release", list(JETPACK_LABELS), format_func=JETPACK_LABELS.get, horizontal=True,
                       key="streams_convert_jetpack")
    if text.strip():
        _conversion(text, jetpack)
