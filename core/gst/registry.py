"""Element metadata from this machine's GStreamer registry, read from `gst-inspect-1.0 FACTORY` (no Python bindings):
the factory's long name, class (Klass) and description, and each property's description, type, range and default.

Each factory is inspected at most once per process (a few ms each; the first call may take longer while GStreamer
builds its registry cache), with a timeout; a missing tool or factory is an absent answer, never an error. Only a
name shaped like a factory name reaches the tool (never an option such as `--gst-plugin-path=...`), and at most
`MAX_REMEMBERED` answers are kept, since the names come from text a page visitor pasted.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

GST_INSPECT = "gst-inspect-1.0"
INSPECT_TIMEOUT_S = 10.0
SOURCE_REGISTRY = "this machine's GStreamer registry"
MAX_REMEMBERED = 512
_FACTORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_DETAIL = re.compile(r"^  (?P<key>[A-Za-z-]+)\s{2,}(?P<value>.*)$")
_PROPERTY_HEADER = re.compile(r"^  (?P<name>[A-Za-z_][A-Za-z0-9_-]*)\s*: (?P<description>.*)$")
_SCALAR_TYPE = re.compile(r"^(?P<type>[A-Za-z][A-Za-z0-9 ]*)\.\s*(?:Range: (?P<range>.+?)\s+)?"
                          r"Default: (?P<default>.*)$")
_ENUM_TYPE = re.compile(r'^(?P<type>(?:Enum|Flags) "[^"]+")\s+Default: (?P<default>.*)$')
_CHOICE = re.compile(r"^\s+\((?P<value>-?\d+|0x[0-9a-f]+)\): (?P<nick>\S+)")


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


_answers: dict[str, ElementInfo | None] = {}  # per process; a timed-out lookup is not kept, so it is tried again


def inspect_element(factory: str) -> ElementInfo | None:
    """This machine's registry entry for `factory`, or None when GStreamer or the factory is not installed."""
    if factory in _answers:
        return _answers[factory]
    executable = shutil.which(GST_INSPECT)
    if executable is None or not _FACTORY_NAME.fullmatch(factory):
        return None
    try:
        result = subprocess.run([executable, factory], capture_output=True, text=True, timeout=INSPECT_TIMEOUT_S,
                                check=False)
    except subprocess.TimeoutExpired:
        logger.warning("%s %s took longer than %.0f s; treating the element as unknown", GST_INSPECT, factory,
                       INSPECT_TIMEOUT_S)
        return None
    found = result.returncode == 0 and "Factory Details" in result.stdout
    answer = parse_inspect_output(factory, result.stdout) if found else None
    if len(_answers) < MAX_REMEMBERED:
        _answers[factory] = answer
    return answer
