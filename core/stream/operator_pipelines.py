"""The operator's own GStreamer receive pipelines: `DATA_ROOT/gst-pipelines.toml`, written by hand by whoever runs the
server, never by the app.

    [[pipeline]]
    name = "yard-nvdec"
    pipeline = '''udpsrc port=5002 caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=H265,payload=96"
        ! rtpjitterbuffer latency=100 ! rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx
        ! videoconvert ! video/x-raw,format=BGR ! appsink name=sink max-buffers=2 drop=true sync=false'''

A stream entry (the Streams page, `streams.toml`) chooses one by name, `gst:yard-nvdec`: what a page saves is a
name, never a pipeline. Each pipeline is checked as `core.gst.receive` says (receive-chain elements only, one
udpsrc on a port of EDS_RTP_PORTS, one appsink) when a stream names it and again when it opens. The file must be
writable by its owner only (a file others may write is not the operator's word).
"""
from __future__ import annotations

import stat
import tomllib
from collections.abc import Collection
from pathlib import Path

from core.config import Settings
from core.errors import UserError
from core.gst.receive import ReceivePlan, check_receive_pipeline

PIPELINES_FILE_NAME = "gst-pipelines.toml"
_ENTRY_KEYS = {"name", "pipeline"}


def pipelines_file(settings: Settings) -> Path:
    return settings.data_root / PIPELINES_FILE_NAME


def read_operator_pipelines(path: Path | None) -> dict[str, str]:
    """Name -> pipeline text of the operator's file (empty when there is none); a file that others may write, that
    is not valid TOML or not of the form above is a one-line UserError."""
    if path is None or not path.exists():
        return {}
    try:
        if path.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UserError(f"{path} may be written by others than its owner: chmod go-w it (only the operator "
                            "writes the server's pipelines)")
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    tables = document.get("pipeline", [])
    if set(document) - {"pipeline"} or not isinstance(tables, list):
        raise UserError(f"{path}: expected only [[pipeline]] tables with name and pipeline")
    pipelines: dict[str, str] = {}
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict) or set(table) != _ENTRY_KEYS \
                or not all(isinstance(value, str) for value in table.values()):
            raise UserError(f"{path}: pipeline {number} must have exactly a name and a pipeline, both strings")
        pipelines[table["name"].strip()] = table["pipeline"]
    return pipelines


def operator_pipeline(path: Path | None, name: str, udp_ports: Collection[int]) -> ReceivePlan:
    """The checked plan of the operator's pipeline `name`; UserError when there is none of that name or it holds
    what a receive pipeline may not."""
    pipelines = read_operator_pipelines(path)
    if name not in pipelines:
        known = ", ".join(sorted(pipelines)) or "none"
        where = path if path is not None else PIPELINES_FILE_NAME
        raise UserError(f"no receive pipeline named {name!r} in {where} (configured: {known})")
    try:
        return check_receive_pipeline(pipelines[name], udp_ports=udp_ports)
    except UserError as error:
        raise UserError(f"pipeline {name!r} of {path}: {error}") from None
