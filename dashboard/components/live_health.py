"""The Live page's signal and health, each refreshed once a second.

Above the video, `signal_panel`: what is happening (starting the stream, switching the model and what runs
meanwhile, a model or source that failed), the state (live, waiting for a keyframe, no signal) and, for an RTP port
where nothing arrives, why (the Streams page's likely causes) with the Jetson's sender command one click away.
Below it, `health_panel`: arriving, decoded, processed and shown rates (only while there is a picture: "no
signal" otherwise), time to the first picture, stage and end-to-end latency, stream errors, the RTP senders refused
in the last minute (which address, why), how the video is shared, a sparkline of the last minutes and the detections
per class of the last minute (this viewer's filter).

A source or model that did not start (an inference server that is down, say) is asked for again every
RETRY_EVERY_S seconds while the page is open, and at once with "Retry now", so it starts when the server is back."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

import plotly.graph_objects as go
import streamlit as st

from core.detect import DetectorSpec, runs_spec
from core.gst.addresses import server_ipv4_addresses
from core.gst.jetson_sender import preset_options, sender_command
from core.live.monitor import PipelineMonitor
from core.live.pipeline import LivePipeline
from core.live.signal import SignalStatus, signal_status
from core.live.viewer import Viewer
from dashboard import resources
from dashboard.components import login
from dashboard.components.live_video import check_webrtc_connection
from dashboard.components.live_model import backend_label
from dashboard.components.stream_listen import nothing_arriving_warning
from dashboard.components.text import plain

HEALTH_PERIOD_S = 1.0
RETRY_EVERY_S = 5.0
REFUSED_SHOWN_FOR_S = 60.0
NETWORK_SCHEMES = ("rtp://", "rtsp://")  # sources whose first decode waits for the network (and a keyframe)
SENDER_PRESET = "jetpack5-usb-h265"  # the sender command offered where nothing arrives (a keyframe every second)


_ICONS = {"live": ":material/videocam:", "waiting": ":material/hourglass_empty:", "waiting_keyframe": ":material/key:",
          "no_signal": ":material/videocam_off:", "not_decoding": ":material/report:"}


def _state_banner(status: SignalStatus) -> None:
    show = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[status.level]
    show(plain(status.text), icon=_ICONS.get(status.state, ":material/stop_circle:"))


def _sender_command(port: int) -> None:
    """The Jetson's sender command for this server and `port`, behind one click."""
    with st.expander(f"Sender command for the Jetson (to udp/{port} of this server)", icon=":material/terminal:"):
        host = server_ipv4_addresses()[0].address
        st.code(sender_command(preset_options(SENDER_PRESET, host, port=port)), language="bash", wrap_lines=True)
        st.caption("Run it on the Jetson (JetPack 5 or later, USB camera, H.265, a keyframe every second). Every "
                   "setting (camera, JetPack 4, codec, size) is on the Streams page.")


def _model(spec: object) -> str:
    if not isinstance(spec, DetectorSpec):
        return "the model"
    return f"{spec.weights.name} ({backend_label(spec.backend)})"


def _running(pipeline: LivePipeline | None) -> str | None:
    detector = pipeline.detector if pipeline is not None else None
    return f"{detector.name} ({detector.backend})" if detector is not None else None


def _another_viewers_model(pipeline: LivePipeline | None, requested: object) -> bool:
    """Whether the stream runs another model than this page asked for (joined while another viewer's ran)."""
    detector = pipeline.detector if pipeline is not None else None
    return detector is not None and isinstance(requested, DetectorSpec) and not runs_spec(detector, requested)


def _request_failed(error: str | None, retry: Callable[[], None], running: str | None = None) -> None:
    """Show why the source or model did not start (and the model the stream goes on with, `running`, if any), and
    ask for it again when due (or when the user says so)."""
    if error is None:
        st.session_state.pop("live_retry_at", None)
        return
    due = st.session_state.setdefault("live_retry_at", time.monotonic() + RETRY_EVERY_S)
    meanwhile = f"; the stream goes on with {plain(running)} meanwhile" if running else ""
    st.error(f"{plain(error)} (trying again every {RETRY_EVERY_S:.0f} s{meanwhile})", icon=":material/error:")
    if st.button("Retry now", icon=":material/refresh:", key="live_retry") or time.monotonic() >= due:
        del st.session_state["live_retry_at"]
        retry()


@login.fragment(run_every=HEALTH_PERIOD_S)
def signal_panel(viewer: Viewer, retry: Callable[[], None]) -> None:
    """Above the video: what is starting or switching, the state, and why nothing arrives (see the module
    docstring); `retry` asks for the page's source and model again."""
    check_webrtc_connection(viewer)
    viewer.touch()
    pipeline, error = viewer.pipeline, viewer.request_error
    running = _running(pipeline)
    _request_failed(error, retry, running)
    if viewer.starting:
        if pipeline is None:
            st.info(f"Starting the stream with {plain(_model(viewer.requested_model))}...",
                    icon=":material/hourglass_empty:")
        else:
            st.info(f"Switching to {plain(_model(viewer.requested_model))}: loading it; the video goes on with "
                    f"{plain(running or 'no model')} meanwhile", icon=":material/sync:")
    elif pipeline is None and error is None:
        st.info("Choose a source.", icon=":material/hourglass_empty:")
    elif error is None and _another_viewers_model(pipeline, viewer.requested_model):
        st.info(f"This stream runs {plain(running)}, chosen by another viewer, not "
                f"{plain(_model(viewer.requested_model))}: everyone watching a source shares its model; choose "
                "another model or backend here to switch it for everyone.", icon=":material/group:")
    if pipeline is None:
        return
    status = signal_status(pipeline.source.uri, pipeline.source.health_snapshot())
    _state_banner(status)
    if pipeline.failure:
        st.error(f"Pipeline failed: {plain(pipeline.failure)}. Choose the source again to restart it.",
                 icon=":material/error:")
    if status.port is not None:  # an RTP port where nothing arrives: why, and what to run on the Jetson
        nothing_arriving_warning(status.port)
        _sender_command(status.port)


def refused_senders_text(source: dict) -> str | None:
    """The RTP senders refused in the last REFUSED_SHOWN_FOR_S seconds as Markdown list items (None when there are
    none): address and port, SSRC, packets refused and why, each value escaped."""
    lines = [f"- {plain(entry['sender'])}" + (f" (SSRC {plain(entry['ssrc'])})" if entry["ssrc"] else "")
             + f": {entry['packets']} packets refused, {plain(entry['reason'])} ({entry['seconds_ago']:.0f} s ago)"
             for entry in source.get("refused_senders") or () if entry["seconds_ago"] <= REFUSED_SHOWN_FOR_S]
    return "\n".join(lines) if lines else None


def _refused_senders(source: dict) -> None:
    refused = refused_senders_text(source)
    if refused:
        followed = plain(source["sender"]) if source.get("sender") else "none yet"
        st.warning(f"**Refused senders** (this stream follows {followed})\n{refused}", icon=":material/block:")


def _first_frame(source: dict) -> str:
    milliseconds = source.get("first_frame_ms")
    return "–" if milliseconds is None else f"{milliseconds / 1000:.1f} s"


def _first_picture(viewer: Viewer) -> str:
    seconds = viewer.first_picture_s()
    return "–" if seconds is None else f"{seconds:.1f} s"


def _ms(summary: dict | None, key: str) -> str:
    return "–" if not summary else f"{summary[key]:.0f} ms"


def _sparkline(monitor: PipelineMonitor) -> None:
    history = monitor.history()
    if len(history) < 2:
        return
    times = [datetime.fromtimestamp(sample.time) for sample in history]
    figure = go.Figure()
    figure.add_scatter(x=times, y=[s.fps_processed for s in history], name="fps", line={"width": 1.5})
    figure.add_scatter(x=times, y=[s.latency_p50_ms for s in history], name="latency ms", yaxis="y2",
                       line={"width": 1.5, "dash": "dot"})
    figure.update_layout(height=150, margin={"l": 0, "r": 0, "t": 4, "b": 0}, showlegend=True,
                         legend={"orientation": "h", "y": 1.15, "x": 0}, xaxis={"showgrid": False},
                         yaxis={"title": None, "rangemode": "tozero"},
                         yaxis2={"overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False})
    st.plotly_chart(figure, config={"displayModeBar": False, "staticPlot": True}, key="live_sparkline")


def _detections_table(viewer: Viewer, monitor: PipelineMonitor) -> None:
    names = viewer.class_names()
    counts = monitor.class_counts(min_score=viewer.filter.min_score, classes=viewer.filter.classes)
    rows = [{"class": names[label] if label < len(names) else str(label), "detections": row["detections"],
             "frames": row["frames"], "best score": round(row["best_score"], 2)}
            for label, row in sorted(counts.items(), key=lambda item: -item[1]["detections"])]
    st.markdown("**Detections, last minute**")
    if rows:
        st.table(rows)
    else:
        st.caption("No detections in the last minute (with this view's filter).")


def _video_sharing(video: dict | None) -> str:
    """How the video is sent (`VideoBroadcast.stats()`, None without a WebRTC viewer): one encoding for all."""
    if video is None:
        return "video: no WebRTC viewer"
    encode = video["encode_ms"]
    return (f"video: one VP8 encoding for {video['subscribers']} WebRTC viewer(s) · frames encoded "
            f"{video['results_encoded']} · sent {video['frames_sent']} · keyframes {video['keyframes']} "
            f"(asked {video['keyframe_requests']})" + (f" · encode p50 {encode['p50']:.1f} ms" if encode else ""))


@login.fragment(run_every=HEALTH_PERIOD_S)
def health_panel(viewer: Viewer) -> None:
    """Below the video: rates, latency, stream errors, video sharing, sparkline and detections."""
    pipeline = viewer.pipeline
    if pipeline is None:
        return
    service = resources.live()
    stats = pipeline.stats()
    source = stats["source"]
    newest = stats.get("detector_last_error")
    if newest and newest["age_s"] < 10:  # a recent one: "inference server unreachable at grpc://..." while it is down
        st.warning(f"Detector: {plain(newest['message'])} ({newest['age_s']:.0f} s ago; the stream goes on "
                   "unannotated)", icon=":material/cloud_off:")
    live = source["state"] == "live"
    rate = (lambda value: f"{value:.1f}") if live else (lambda value: "no signal")
    columns = st.columns(6)
    columns[0].metric("fps in", rate(source["fps_arrival"]), help="frames arriving, decodable or not")
    columns[1].metric("fps decoded", rate(source["fps_decoded"]))
    columns[2].metric("fps processed", rate(stats["fps_processed"]), help="frames detected")
    columns[3].metric("fps shown", rate(viewer.fps_shown()), help="frames this browser showed (its own count)")
    columns[4].metric("latency p50", _ms(latency := stats["latency_ms"], "p50"))
    columns[5].metric("latency p95", _ms(latency, "p95"))
    columns = st.columns(6)
    columns[0].metric("viewers", service.registry.viewers(viewer.uri or ""))
    columns[1].metric("resolution", f"{source['width']}×{source['height']}" if source["width"] else "–")
    columns[2].metric("first picture", _first_picture(viewer),
                      help="from choosing this source to its first picture sent to this browser")
    lost, received = source["packets_lost"], source["packets"]
    columns[3].metric("packet loss", f"{100.0 * lost / max(lost + received, 1):.2f} %", help=f"{lost} packets lost")
    columns[4].metric("decode errors", source["decode_errors"])
    columns[5].metric("first decode", _first_frame(source) if stats["uri"].startswith(NETWORK_SCHEMES) else "–",
                      help="network streams: from the first packet received to the first decoded picture")
    _refused_senders(source)
    codec = source.get("codec")
    st.caption(f"source {plain(stats['uri'])}" + (f" · codec {plain(codec)} (from the stream)" if codec else "")
               + (f" · model {plain(stats['detector']['name'])} ({plain(stats['detector']['backend'])})"
                  if stats["detector"] else "")
               + f" · skipped waiting for a keyframe {source['frames_skipped']}")
    st.caption(f"frames in {stats['frames_in']} · inferences {stats['frames_processed']} · "
               f"skipped {stats['frames_skipped']} · detector errors {stats['detector_errors']}")
    broadcast = service.peers().broadcasts.get(pipeline)
    video = broadcast.stats() if broadcast is not None else None
    st.caption(_video_sharing(video))
    monitor = service.monitor(pipeline)
    threads = [stats, monitor.stats(), service.janitor.stats(), *([video] if video is not None else [])]
    st.caption(f"thread errors {sum(t['thread_errors'] for t in threads)} · restarts "
               f"{sum(t['restarts'] for t in threads)} (pipeline, monitor, janitor, video encoder; details in the "
               "server log)")
    stages = stats["stages_ms"]
    st.caption("stage p50 ms: " + " · ".join(f"{name} {value['p50']:.1f}" for name, value in stages.items()))
    chart, table = st.columns([3, 2])
    with chart:
        _sparkline(monitor)
    with table:
        _detections_table(viewer, monitor)
    with st.expander("Raw stats (JSON)"):
        st.code(json.dumps(stats, indent=1, default=str), language="json")
