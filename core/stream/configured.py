"""The configured streams: a small TOML file under the data root naming each camera and its source URI.

    [[stream]]
    name = "Jetson (udp/5000)"
    uri = "rtp://0.0.0.0:5000?codec=auto"

It is the one place that decides which UDP ports the server binds: the Live and Streams pages offer these streams
(and video files), and an RTP stream may only use a port of EDS_RTP_PORTS, once. Without the file, `default_streams`
are configured. Saving checks every entry first and writes the whole file atomically, or nothing.

An entry is data, never a program: a URI that `parse_source_uri` accepts, within the caps of the settings (a demo
scene or webcam over EDS_MAX_DECODED_PIXELS or EDS_MAX_FPS is refused), a file under the data roots, and for
GStreamer either `rtp://...?codec=h265&decoder=jetson` (the program's own receive pipeline) or `gst:NAME`, the name
of a pipeline the operator wrote in the server's own configuration (`core.stream.operator_pipelines`). A
pipeline's text is refused here, whatever it holds, and so on every load of the file (`streams list`, `listen`, the
Live page).
"""
from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.errors import UserError
from core.files.atomic import write_text_atomic
from core.stream.base import SourceLimits
from core.stream.operator_pipelines import operator_pipeline, pipelines_file
from core.stream.shown_uri import display_uri
from core.stream.sources import SourceSpec, as_source_spec, check_limits, parse_source_uri

STREAMS_FILE_NAME = "streams.toml"
MAX_NAME_LENGTH = 80
MAX_STREAMS = 32
_ENTRY_KEYS = {"name", "uri"}


@dataclass(frozen=True)
class StreamEntry:
    """One configured stream: `name` (unique, shown on pages) and `uri` (any URI `open_source` accepts)."""

    name: str
    uri: str


def default_streams(settings: Settings) -> list[StreamEntry]:
    """What is configured before the file exists: the demo scene and a Jetson's stream on the first allowed UDP
    port (udp/5000 unless EDS_RTP_PORTS says otherwise)."""
    port = settings.rtp_ports[0]
    return [StreamEntry("Demo stream", "demo:"),
            StreamEntry(f"Jetson (udp/{port})", f"rtp://0.0.0.0:{port}?codec=auto")]


class InvalidStreams(UserError):
    """Entries that cannot be saved; `problems` holds one line per mistake (the message joins them)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def streams_file(settings: Settings) -> Path:
    return settings.data_root / STREAMS_FILE_NAME


def rtp_port(source: str | SourceSpec) -> int | None:
    """The UDP port an rtp:// URI binds (None for any other kind of source; the URI must parse)."""
    return as_source_spec(source).port


def _has_control_characters(text: str) -> bool:
    return any(ord(character) < 32 or ord(character) == 127 for character in text)


def stream_port(settings: Settings, uri: str) -> int | None:
    """The UDP port the stream of `uri` binds: an rtp:// URI's, or the udpsrc port of the operator's pipeline a
    gst:NAME names (None for other sources; the URI must parse, the pipeline must pass its checks)."""
    spec = parse_source_uri(uri)
    if spec.kind == "gst":
        return operator_pipeline(pipelines_file(settings), spec.target, settings.rtp_ports).port
    return rtp_port(uri)


def _entry_problems(settings: Settings, entry: StreamEntry) -> list[str]:
    """What is wrong with one entry on its own (its name and URI), one line each."""
    label = repr(entry.name) if entry.name.strip() else "a stream without a name"
    problems = []
    if not entry.name.strip():
        problems.append("every stream needs a name")
    elif len(entry.name) > MAX_NAME_LENGTH or _has_control_characters(entry.name):
        problems.append(f"stream name {label} must be one line of at most {MAX_NAME_LENGTH} characters")
    if _has_control_characters(entry.uri):
        return [*problems, f"{label}: the URI contains control characters"]
    try:
        spec = parse_source_uri(entry.uri)
        check_limits(spec, SourceLimits.from_settings(settings))
        if spec.kind == "file":
            settings.confine(spec.target)
        port = stream_port(settings, entry.uri)
    except UserError as error:
        return [*problems, f"{label}: {error}"]
    if port is not None and port not in settings.rtp_ports:
        ranges = f"{min(settings.rtp_ports)}-{max(settings.rtp_ports)}"
        problems.append(f"{label}: UDP port {port} is not one this server may bind ({ranges}; set EDS_RTP_PORTS)")
    return problems


def stream_problems(settings: Settings, entries: Sequence[StreamEntry]) -> list[str]:
    """Every reason `entries` cannot be saved, one line each (empty when they can): names unique and non-empty,
    URIs that parse (never a pipeline's text) within the caps, UDP ports of EDS_RTP_PORTS and not repeated, files
    under the data roots, operator pipelines that exist and pass their checks."""
    problems: list[str] = []
    if len(entries) > MAX_STREAMS:
        problems.append(f"at most {MAX_STREAMS} streams, not {len(entries)}")
    names: set[str] = set()
    ports: dict[int, str] = {}
    for entry in entries:
        problems += _entry_problems(settings, entry)
        name = entry.name.strip()
        if name and name in names:
            problems.append(f"the name {name!r} is used twice")
        names.add(name)
        try:
            port = stream_port(settings, entry.uri)
        except UserError:
            continue  # reported above
        if port is not None and port in ports:
            problems.append(f"{name!r} and {ports[port]!r} both use UDP port {port}")
        elif port is not None:
            ports[port] = name
    return problems


def read_stream_entries(path: Path) -> list[StreamEntry]:
    """The entries of a streams file as written (not checked against the settings); a file that is not valid TOML
    or not of the form above is a UserError."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    unknown = set(document) - {"stream"}
    tables = document.get("stream", [])
    if unknown or not isinstance(tables, list):
        raise UserError(f"{path}: expected only [[stream]] tables with name and uri")
    entries = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict) or set(table) != _ENTRY_KEYS \
                or not all(isinstance(value, str) for value in table.values()):
            raise UserError(f"{path}: stream {number} must have exactly a name and a uri, both strings")
        entries.append(StreamEntry(table["name"].strip(), table["uri"].strip()))
    return entries


def load_streams(settings: Settings) -> list[StreamEntry]:
    """The configured streams (`default_streams` while there is no file); a corrupt or invalid file is a UserError
    (and stays as it is, for its owner to fix)."""
    path = streams_file(settings)
    if not path.exists():
        return default_streams(settings)
    entries = read_stream_entries(path)
    problems = stream_problems(settings, entries)
    if problems:
        raise UserError(f"{path}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return entries


def _toml_string(text: str) -> str:
    # A JSON string without non-ASCII escapes is a valid TOML basic string once control characters are refused
    # (stream_problems does): both escape quotes and backslashes the same way.
    return json.dumps(text, ensure_ascii=False)


def streams_toml(entries: Sequence[StreamEntry]) -> str:
    """The file's text for `entries` (checked entries: no control characters)."""
    tables = [f"[[stream]]\nname = {_toml_string(entry.name)}\nuri = {_toml_string(entry.uri)}\n"
              for entry in entries]
    return "# Configured streams: edit on the Streams page or here (name, and a source URI).\n\n" + "\n".join(tables)


def shown_entries(entries: Sequence[StreamEntry]) -> list[StreamEntry]:
    """`entries` as pages show them: credentials in URIs replaced by `***` (see `with_hidden_credentials`)."""
    return [StreamEntry(entry.name, display_uri(entry.uri)) for entry in entries]


def entries_from_rows(rows: Iterable[Mapping[str, object]]) -> list[StreamEntry]:
    """The streams of an edited table's rows (`name`, `uri`; None or blank cells as empty text), rows left empty
    dropped."""
    entries = [StreamEntry(*("" if row.get(column) is None else str(row.get(column)).strip()
                             for column in ("name", "uri"))) for row in rows]
    return [entry for entry in entries if entry.name or entry.uri]


def with_hidden_credentials(edited: Sequence[StreamEntry], saved: Sequence[StreamEntry]) -> list[StreamEntry]:
    """Edited entries whose URIs still read as shown (`rtsp://***@host/...`) get the saved URI's credentials back,
    so an editor never needs to show a camera's password to keep it."""
    originals = {display_uri(entry.uri): entry.uri for entry in saved}
    return [StreamEntry(entry.name, originals.get(entry.uri, entry.uri)) for entry in edited]


def save_streams(settings: Settings, entries: Sequence[StreamEntry]) -> None:
    """Check every entry (InvalidStreams lists all problems; nothing is written then) and write the file
    atomically."""
    entries = [StreamEntry(entry.name.strip(), entry.uri.strip()) for entry in entries]
    problems = stream_problems(settings, entries)
    if problems:
        raise InvalidStreams(problems)
    write_text_atomic(streams_file(settings), streams_toml(entries))

