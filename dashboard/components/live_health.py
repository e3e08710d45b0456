"""The Live page's health panel, refreshed once a second: state (also "waiting for a keyframe"), arriving and
decoded rates, time to the first picture, stage and end-to-end latency, stream errors, a sparkline of the last
minutes and the detections per class of the last minute (this viewer's filter).

A source or model that did not start (an inference server that is down, say) is asked for again every
RETRY_EVERY_S seconds while the page is open, and at once with "Retry now", so it starts when the server is back."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime

import plotly.graph_objects as go
import streamlit as st

from core.live import registry
from core.live.monitor import PipelineMonitor, monitor_for
from core.live.viewer import Viewer, janitor
from dashboard.components import login
from dashboard.components.live_video import check_webrtc_connection
from dashboard.components.text import plain

HEALTH_PERIOD_S = 1.0
RETRY_EVERY_S = 5.0


def _state_banner(source: dict) -> None:
    state, seconds = source["state"], source.get("seconds_since_data")
    if source.get("not_decoding"):
        st.warning(f"Packets arrive but nothing decodes: {plain(source['not_decoding'])}", icon=":material/report:")
    elif state == "live":
        st.success("Live", icon=":material/videocam:")
    elif state == "waiting":
        st.info("Waiting for the stream...", icon=":material/hourglass_empty:")
    elif state == "waiting_keyframe":
        st.info(f"Waiting for a keyframe: the stream arrives, {source['frames_skipped']} frames skipped so far "
                "(the sender's keyframe interval decides how long this takes)", icon=":material/key:")
    elif state == "no_signal":
        st.error(f"No signal: last frame {seconds or 0:.1f} s ago", icon=":material/videocam_off:")
    else:
        st.warning(f"Stream {plain(state)}", icon=":material/stop_circle:")


def _first_frame(source: dict) -> str:
    milliseconds = source.get("first_frame_ms")
    return "–" if milliseconds is None else f"{milliseconds / 1000:.1f} s"


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
def health_panel(viewer: Viewer, retry: Callable[[], None]) -> None:
    """The panel; `retry` asks for the page's source and model again."""
    check_webrtc_connection()
    viewer.touch()
    pipeline, error = viewer.pipeline, viewer.request_error
    detector = pipeline.detector if pipeline is not None else None
    _request_failed(error, retry, f"{detector.name} ({detector.backend})" if detector else None)
    if pipeline is None:
        if viewer.starting or error is None:
            st.info("Starting the stream..." if viewer.starting else "Choose a source.",
                    icon=":material/hourglass_empty:")
        return
    stats = pipeline.stats()
    source = stats["source"]
    _state_banner(source)
    if stats["failure"]:
        st.error(f"Pipeline failed: {plain(stats['failure'])}. Choose the source again to restart it.",
                 icon=":material/error:")
    newest = stats.get("detector_last_error")
    if newest and newest["age_s"] < 10:  # a recent one: "inference server unreachable at grpc://..." while it is down
        st.warning(f"Detector: {plain(newest['message'])} ({newest['age_s']:.0f} s ago; the stream goes on unannotated)",
                   icon=":material/cloud_off:")
    arriving, processing = st.columns(2), st.columns(2)  # two by two, so the labels fit beside the video
    arriving[0].metric("fps in", f"{source['fps_arrival']:.1f}", help="frames arriving, decodable or not")
    arriving[1].metric("fps decoded", f"{source['fps_decoded']:.1f}")
    processing[0].metric("fps processed", f"{stats['fps_processed']:.1f}", help="frames detected and drawn")
    processing[1].metric("fps shown", f"{viewer.fps_shown():.1f}", help="frames sent to this browser")
    latency = stats["latency_ms"]
    latencies = st.columns(3)
    latencies[0].metric("latency p50", _ms(latency, "p50"))
    latencies[1].metric("latency p95", _ms(latency, "p95"))
    latencies[2].metric("viewers", registry.viewers(viewer.uri or ""))
    stream = st.columns(2)
    stream[0].metric("resolution", f"{source['width']}×{source['height']}" if source["width"] else "–")
    stream[1].metric("first frame", _first_frame(source), help="from the first data received to the first picture")
    lost, received = source["packets_lost"], source["packets"]
    errors = st.columns(2)
    errors[0].metric("packet loss", f"{100.0 * lost / max(lost + received, 1):.2f} %", help=f"{lost} packets lost")
    errors[1].metric("decode errors", source["decode_errors"])
    codec = source.get("codec")
    st.caption(f"source {plain(stats['uri'])}" + (f" · codec {plain(codec)} (from the stream)" if codec else "")
               + (f" · model {plain(stats['detector']['name'])} ({plain(stats['detector']['backend'])})"
                  if stats["detector"] else "")
               + f" · skipped waiting for a keyframe {source['frames_skipped']}")
    st.caption(f"frames in {stats['frames_in']} · inferences {stats['frames_processed']} · "
               f"skipped {stats['frames_skipped']} · detector errors {stats['detector_errors']}")
    threads = [stats, monitor_for(pipeline).stats(), janitor.stats()]
    st.caption(f"thread errors {sum(t['thread_errors'] for t in threads)} · restarts "
               f"{sum(t['restarts'] for t in threads)} (pipeline, monitor, janitor; details in the server log)")
    stages = stats["stages_ms"]
    st.caption("stage p50 ms: " + " · ".join(f"{name} {value['p50']:.1f}" for name, value in stages.items()))
    monitor = monitor_for(pipeline)
    _sparkline(monitor)
    _detections_table(viewer, monitor)
    with st.expander("Raw stats (JSON)"):
        st.code(json.dumps(stats, indent=1, default=str), language="json")
