"""Element metadata from this machine's GStreamer registry, read from `gst-inspect-1.0 FACTORY` (no Python bindings):
the factory's long name, class (Klass) and description, and each property's description, type, range and default.

The names come from text a page visitor pasted, so the work is bounded:
- only a name that this machine's registry lists (one `gst-inspect-1.0` listing, refreshed every
  `FACTORY_LIST_TTL_S`) reaches `gst-inspect-1.0 FACTORY`: a made-up name starts no process, and a name shaped like
  an option (`--gst-plugin-path=...`) never reaches the tool;
- at most `MAX_CONCURRENT_INSPECTIONS` gst-inspect-1.0 processes run at once in this server, each with a timeout; a
  lookup that waits `SLOT_WAIT_S` for a free slot gives up with a one-line error;
- each answer is remembered, the `MAX_REMEMBERED` most recently used ones kept.
A missing tool or factory is an absent answer (None), never an error.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import UserError

logger = logging.getLogger(__name__)

GST_INSPECT = "gst-inspect-1.0"
INSPECT_TIMEOUT_S = 10.0
SOURCE_REGISTRY = "this machine's GStreamer registry"
MAX_REMEMBERED = 512
MAX_CONCURRENT_INSPECTIONS = 2
SLOT_WAIT_S = 15.0
FACTORY_LIST_TTL_S = 600.0
_FACTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_DETAIL = re.compile(r"^  (?P<key>[A-Za-z-]+)\s{2,}(?P<value>.*)$")
_PROPERTY_HEADER = re.compile(r"^  (?P<name>[A-Za-z_][A-Za-z0-9_-]*)\s*: (?P<description>.*)$")
_SCALAR_TYPE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9 ]*)\.\s*(?:Range: (?P<range>.+?)\s+)?"
                          r"Default: (?P<default>.*)$")
_ENUM_TYPE = re.compile(r'^(?P<type>(?:Enum|Flags) "[^"]+")\s+Default: (?P<default>.*)$')
_CHOICE = re.compile(r"^\s+\((?P<value>-?\d+|0x[0-9a-f]+)\): (?P<nick>\S+)")
_LISTED_FEATURE = re.compile(r"^[^\s:]+:\s+(?P<feature>[^\s:]+): ", re.MULTILINE)


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    description: str
    type: str
    default: str | None = None
    range: str | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ElementInfo:
    factory: str
    long_name: str
    klass: str
    description: str
    source: str
    properties: Mapping[str, PropertyInfo] = field(default_factory=dict)


def _unquoted(text: str) -> str:
    text = text.strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _property_type(lines: list[str]) -> tuple[str, str | None, str | None]:
    """(type, default, range) from the detail lines under a property header (the line after `flags: ...`)."""
    flags = next((i for i, line in enumerate(lines) if line.strip().startswith("flags:")), None)
    if flags is None or flags + 1 >= len(lines):
        return "unknown", None, None
    raw = lines[flags + 1]
    line = raw.strip()
    if _indent(raw) > _indent(lines[flags]):
        return "Caps", None, None  # capsfilter prints its caps value, deeper indented, where others print a type
    if match := _ENUM_TYPE.match(line):
        number, _, nick = match["default"].partition(",")
        return match["type"], f"{_unquoted(nick)} ({number.strip()})" if nick else number.strip(), None
    if match := _SCALAR_TYPE.match(line):
        return match["type"], _unquoted(match["default"]), match["range"]
    if line.startswith("Caps"):
        return "Caps", None, None
    return line, None, None


def _properties(block: list[str]) -> dict[str, PropertyInfo]:
    properties: dict[str, PropertyInfo] = {}
    headers = [(i, match) for i, line in enumerate(block) if (match := _PROPERTY_HEADER.match(line))]
    for position, (start, header) in enumerate(headers):
        end = headers[position + 1][0] if position + 1 < len(headers) else len(block)
        details = block[start + 1:end]
        type_name, default, value_range = _property_type(details)
        choices = tuple(m["nick"] for line in details if (m := _CHOICE.match(line)))
        properties[header["name"]] = PropertyInfo(header["name"], header["description"].strip(), type_name,
                                                  default, value_range, choices)
    return properties


def parse_inspect_output(factory: str, text: str) -> ElementInfo:
    """An ElementInfo from `gst-inspect-1.0 FACTORY`'s output (the "Factory Details" and "Element Properties"
    sections)."""
    lines = text.splitlines()
    details: dict[str, str] = {}
    block: list[str] = []
    section = ""
    for line in lines:
        if line and not line.startswith(" "):
            section = line.rstrip(":").strip()
            continue
        if section == "Factory Details" and (match := _DETAIL.match(line)):
            details[match["key"]] = match["value"].strip()
        elif section == "Element Properties":
            block.append(line)
    return ElementInfo(factory, details.get("Long-name", ""), details.get("Klass", ""),
                       details.get("Description", ""), SOURCE_REGISTRY, _properties(block))


class _Remembered:
    """The most recently used answers, at most `limit` of them, safe to share between the server's threads."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._answers: OrderedDict[str, ElementInfo | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, factory: str) -> tuple[bool, ElementInfo | None]:
        with self._lock:
            if factory not in self._answers:
                return False, None
            self._answers.move_to_end(factory)
            return True, self._answers[factory]

    def put(self, factory: str, answer: ElementInfo | None) -> None:
        with self._lock:
            self._answers[factory] = answer
            self._answers.move_to_end(factory)
            while len(self._answers) > self._limit:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


_remembered = _Remembered(MAX_REMEMBERED)  # per process; a timed-out lookup is not kept, so it is tried again
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_INSPECTIONS)
_listing_lock = threading.Lock()
_listing: tuple[float, frozenset[str]] | None = None  # (when it was read, the names)


def _inspect(arguments: list[str]) -> subprocess.CompletedProcess[str] | None:
    """Run gst-inspect-1.0 in one of the server's slots; None when the tool is missing or took too long."""
    executable = shutil.which(GST_INSPECT)
    if executable is None:
        return None
    if not _slots.acquire(timeout=SLOT_WAIT_S):
        raise UserError(f"GStreamer's registry is busy answering other requests (more than {SLOT_WAIT_S:.0f} s "
                        "waiting); try again in a moment")
    try:
        return subprocess.run([executable, *arguments], capture_output=True, text=True, timeout=INSPECT_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        logger.warning("%s %s took longer than %.0f s; treating the answer as unknown", GST_INSPECT,
                       " ".join(arguments), INSPECT_TIMEOUT_S)
        return None
    finally:
        _slots.release()


def installed_factories() -> frozenset[str] | None:
    """The name of every feature (element factories among them) in this machine's registry, read with one
    `gst-inspect-1.0` and kept for FACTORY_LIST_TTL_S; None when the tool is missing or failed."""
    global _listing
    with _listing_lock:
        if _listing is not None and time.monotonic() - _listing[0] < FACTORY_LIST_TTL_S:
            return _listing[1]
        result = _inspect([])
        if result is None or result.returncode != 0:
            return None
        _listing = (time.monotonic(), frozenset(_LISTED_FEATURE.findall(result.stdout)))
        return _listing[1]


def inspect_element(factory: str) -> ElementInfo | None:
    """This machine's registry entry for `factory`, or None when GStreamer or the factory is not installed."""
    if not _FACTORY_NAME.fullmatch(factory):
        return None
    known, answer = _remembered.get(factory)
    if known:
        return answer
    listed = installed_factories()
    if listed is None or factory not in listed:
        return None
    result = _inspect([factory])
    if result is None:
        return None
    found = result.returncode == 0 and "Factory Details" in result.stdout
    answer = parse_inspect_output(factory, result.stdout) if found else None
    _remembered.put(factory, answer)
    return answer
