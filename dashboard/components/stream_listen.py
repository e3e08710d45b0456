"""The Streams page's "Listening" section and the editor of the configured streams.

Listening shows, once a second, what arrives on each configured RTP port. It holds each port's shared pipeline
(without a detector; a Live viewer of the same stream shares the one socket) through a `Viewer` of this session, so
the janitor releases the ports when the page stops asking: nothing is bound while nobody looks.
"""
from __future__ import annotations

import streamlit as st

from core.errors import UserError
from core.live.viewer import Viewer
from core.stream.configured import (InvalidStreams, StreamEntry, default_streams, entries_from_rows, load_streams,
                                    read_stream_entries, rtp_port, save_streams, shown_entries, stream_problems,
                                    streams_file, with_hidden_credentials)
from core.stream.listen_report import ArrivalRow, arrival_row, failed_row, nothing_arriving_causes, rtp_entries
from core.stream.shown_uri import display_uri
from dashboard import resources
from dashboard.components import login
from dashboard.components.text import plain

LISTEN_PERIOD_S = 1.0
LISTEN_IDLE_RELEASE_S = 10.0  # the page stopped refreshing this long ago: its ports are released
_LISTENERS = "streams_listeners"
_EDITOR_VERSION = "streams_editor_version"
_SAVED_MESSAGE = "streams_saved_message"
URI_HELP = ("rtp://0.0.0.0:PORT?codec=auto (a Jetson's stream; PORT from EDS_RTP_PORTS; on a Jetson, "
            "?codec=h265&decoder=jetson decodes it in hardware), rtsp://[USER:PASS@]HOST[:PORT]/PATH"
            "[?transport=tcp|udp], /dev/videoN, demo:, a video file under the data root, or gst:NAME for a receive "
            "pipeline the operator configured on the server (a pipeline's text is never accepted here). A password "
            "shows as ***: leave it so to keep it.")


def _listeners() -> dict[str, Viewer]:
    """This session's viewers, one per configured RTP stream URI."""
    if _LISTENERS not in st.session_state:
        st.session_state[_LISTENERS] = {}
    return st.session_state[_LISTENERS]


def _arrivals(streams: list[tuple[StreamEntry, int]]) -> list[ArrivalRow]:
    """Hold (or keep holding) each stream's pipeline and read its row; streams no longer configured are let go."""
    listeners = _listeners()
    wanted = {entry.uri for entry, _ in streams}
    for uri in [uri for uri in listeners if uri not in wanted]:
        listeners.pop(uri).close()
    rows = []
    for entry, port in streams:
        if entry.uri not in listeners:
            listeners[entry.uri] = resources.live().viewer(idle_release=LISTEN_IDLE_RELEASE_S)
        try:
            pipeline = listeners[entry.uri].watch(entry.uri)
        except UserError as error:
            rows.append(failed_row(entry.name, port, str(error)))
            continue
        rows.append(arrival_row(entry.name, port, pipeline.source.health_snapshot()))
    return rows


def _cell(value: object) -> str:
    return "–" if value is None else str(value)


def _table(rows: list[ArrivalRow]) -> None:
    st.table([{"Stream": row.name, "Port": f"udp/{row.port}", "Status": row.status, "Sender": _cell(row.sender),
               "SSRC": _cell(row.ssrc), "Payload type": _cell(row.payload_type), "Codec": _cell(row.codec),
               "Resolution": _cell(row.resolution),
               "Packets/s": "–" if row.packets_per_s is None else f"{row.packets_per_s:.0f}",
               "Loss": row.loss, "Last packet": row.last_packet} for row in rows], hide_index=True)
    for row in rows:
        if not row.listening:
            st.error(f"udp/{row.port}: {plain(row.status)}")
        elif not row.arriving:
            nothing_arriving_warning(row.port)


def nothing_arriving_warning(port: int) -> None:
    """The "Nothing arriving on udp/PORT" warning with the likely causes (here and on the Live page)."""
    causes = "\n".join(f"- {cause}" for cause in nothing_arriving_causes(port))
    st.warning(f"**Nothing arriving on udp/{port}**. Likely causes:\n{causes}", icon=":material/portable_wifi_off:")


@login.fragment(run_every=LISTEN_PERIOD_S)
def _listening() -> None:
    try:
        entries = load_streams(resources.settings())
    except UserError as error:
        st.error(plain(error))
        return
    streams = rtp_entries(entries)
    if streams:
        _table(_arrivals(streams))
    else:
        _arrivals([])
        st.info("No RTP stream is configured: add one below (rtp://0.0.0.0:PORT?codec=auto).")
    others = [entry for entry in entries if rtp_port(entry.uri) is None]
    if others:
        st.caption("Also configured, opened when watched on the Live page: "
                   + "; ".join(f"{plain(entry.name)} ({plain(display_uri(entry.uri))})" for entry in others))


def listening_section() -> None:
    """What arrives on each configured RTP port right now (sender, SSRC, payload type, codec, resolution,
    packets/s, loss, last packet age), refreshed every second, with the likely causes when nothing does."""
    st.subheader("Listening")
    _listening()


def _saved_entries() -> list[StreamEntry]:
    """The entries as the file holds them (the defaults without a file); a corrupt file is reported and the editor
    starts empty (saving replaces the file)."""
    settings = resources.settings()
    path = streams_file(settings)
    if not path.exists():
        st.caption(f"No streams file yet: these are the defaults. Saving writes {plain(path)}.")
        return default_streams(settings)
    try:
        entries = read_stream_entries(path)
    except UserError as error:
        st.error(f"{plain(error)} Saving replaces the file with the table below.")
        return []
    for problem in stream_problems(settings, entries):
        st.warning(f"{plain(path.name)}: {plain(problem)}")
    return entries


def streams_editor_section() -> None:
    """The configured streams as an editable table; Save checks every row (one error line per problem, nothing
    saved on error) and writes DATA_ROOT/streams.toml."""
    st.subheader("Configured streams")
    if _SAVED_MESSAGE in st.session_state:
        st.success(st.session_state.pop(_SAVED_MESSAGE), icon=":material/check:")
    saved = _saved_entries()
    version = st.session_state.get(_EDITOR_VERSION, 0)
    edited = st.data_editor(
        [{"name": entry.name, "uri": entry.uri} for entry in shown_entries(saved)],
        num_rows="dynamic", hide_index=True, key=f"streams_editor_{version}",
        column_config={"name": st.column_config.TextColumn("Name", max_chars=80, required=True),
                       "uri": st.column_config.TextColumn("Source URI", required=True, help=URI_HELP)})
    if not st.button("Save", type="primary", icon=":material/save:", key="streams_save"):
        return
    entries = with_hidden_credentials(entries_from_rows(edited), saved)
    try:
        save_streams(resources.settings(), entries)
    except InvalidStreams as error:
        for problem in error.problems:
            st.error(plain(problem))
        return
    st.session_state[_EDITOR_VERSION] = version + 1  # a fresh editor shows the file as saved
    st.session_state[_SAVED_MESSAGE] = f"Saved {len(entries)} streams."
    st.rerun()
