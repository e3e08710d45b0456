"""Explain a `gst-launch-1.0` line piece by piece: each element's factory, class and description; each property's
value, type and default; each capability (caps filter, or a property that holds caps) with its media type, features
and fields. This answers "which is a property, which is a capability?": `port=5000` sets a property of one element,
while `video/x-raw,width=640` between two elements is a caps filter that restricts what may flow over that link.

Element facts come from this machine's GStreamer registry (gst-inspect-1.0) where the element is installed, else
from the table of NVIDIA facts (`core.gst.nvidia`) for Jetson-only elements; any other element is reported unknown.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

from core.errors import UserError
from core.gst.caps import CapsStructure, looks_like_caps, parse_caps
from core.gst.nvidia import NVIDIA_ELEMENTS, SOURCE_NVIDIA
from core.gst.registry import ElementInfo, PropertyInfo, inspect_element
from core.gst.syntax import Option, ParsedPipeline, Piece, parse_pipeline

SOURCE_UNKNOWN = "unknown: not in this machine's GStreamer registry nor in the NVIDIA facts"
CAPSFILTER = "capsfilter"  # what gst-launch-1.0 makes of a caps filter between two elements

Lookup = Callable[[str], ElementInfo | None]


@dataclass(frozen=True)
class ElementRow:
    index: int
    kind: str  # "element", "caps filter" or "reference"
    factory: str
    text: str
    klass: str
    long_name: str
    description: str
    source: str


@dataclass(frozen=True)
class PropertyRow:
    index: int  # the element's piece index
    element: str
    name: str
    value: str
    type: str
    default: str | None
    description: str
    status: str  # "known", "not a property of this element", "not covered by the NVIDIA facts", "unknown element"
    problem: str = ""  # why the value does not fit the property's type, range or choices ("" when it fits)


@dataclass(frozen=True)
class CapsRow:
    index: int
    origin: str  # "caps filter" or "<factory>'s <property> property"
    text: str
    media_type: str
    features: tuple[str, ...]
    fields: tuple[tuple[str, str, str], ...]  # (name, value, type)


@dataclass(frozen=True)
class Explanation:
    command: str
    options: tuple[Option, ...]
    elements: tuple[ElementRow, ...]
    properties: tuple[PropertyRow, ...]
    caps: tuple[CapsRow, ...]
    links: tuple[tuple[int, int], ...]

    def as_dict(self) -> dict:
        return asdict(self)


_BOOLEAN_WORDS = ("true", "false", "yes", "no", "t", "f", "1", "0")
_INTEGER_TYPES = ("Integer", "Unsigned Integer", "Integer64", "Unsigned Integer64", "Long", "Unsigned Long")


def value_problem(info: PropertyInfo, value: str) -> str:
    """Why gst-launch-1.0 would refuse `value` for this property ("" when it fits, or when we cannot tell)."""
    if info.type == "Boolean" and value.lower() not in _BOOLEAN_WORDS:
        return f"{value!r} is not a boolean (true or false)"
    if info.type in _INTEGER_TYPES:
        try:
            number = int(value, 0)
        except ValueError:
            return f"{value!r} is not a whole number"
        low, _, high = (info.range or "").partition(" - ")
        if high and not int(low) <= number <= int(high):
            return f"{number} is outside {info.range}"
    if info.type.startswith("Enum") and info.choices and value not in info.choices \
            and not value.lstrip("-").isdigit():
        return f"{value!r} is not one of {', '.join(info.choices)}"
    return ""


def element_info(factory: str, lookup: Lookup = inspect_element) -> ElementInfo | None:
    """This machine's registry entry for `factory`, else the NVIDIA facts for it, else None."""
    return lookup(factory) or NVIDIA_ELEMENTS.get(factory)


def _caps_rows(index: int, origin: str, text: str, where: str) -> list[CapsRow]:
    try:
        structures: tuple[CapsStructure, ...] = parse_caps(text)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return [CapsRow(index, origin, text, s.media_type, s.features, tuple((f.name, f.value, f.type) for f in s.fields))
            for s in structures]


def _where(piece: Piece) -> str:
    return f"piece {piece.index} at column {piece.column} ({piece.text!r})"


def _element_rows(piece: Piece, lookup: Lookup) -> tuple[ElementRow, list[PropertyRow], list[CapsRow]]:
    info = element_info(piece.factory, lookup)
    row = ElementRow(piece.index, "element", piece.factory, piece.text, info.klass if info else "",
                     info.long_name if info else "", info.description if info else "",
                     info.source if info else SOURCE_UNKNOWN)
    properties, caps = [], []
    for setting in piece.properties:
        known = info.properties.get(setting.name) if info else None
        if known is not None:
            status = "known"
        elif info is None:
            status = "unknown element"
        elif info.source == SOURCE_NVIDIA:
            status = "not covered by the NVIDIA facts"
        else:
            status = "not a property of this element"
        type_name = known.type if known else ""
        properties.append(PropertyRow(piece.index, piece.factory, setting.name, setting.value, type_name,
                                      known.default if known else None, known.description if known else "", status,
                                      value_problem(known, setting.value) if known else ""))
        origin = f"{piece.factory}'s {setting.name} property"
        if type_name == "Caps":
            caps += _caps_rows(piece.index, origin, setting.value, _where(piece))
        elif not type_name and "," in setting.value and looks_like_caps(setting.value):
            with contextlib.suppress(UserError):  # an unknown element's value that reads like caps: shown if it is
                caps += _caps_rows(piece.index, origin, setting.value, _where(piece))
    return row, properties, caps


def explain_parsed(parsed: ParsedPipeline, lookup: Lookup = inspect_element) -> Explanation:
    elements: list[ElementRow] = []
    properties: list[PropertyRow] = []
    caps: list[CapsRow] = []
    capsfilter = element_info(CAPSFILTER, lookup)
    for piece in parsed.pieces:
        if piece.kind == "element":
            row, piece_properties, piece_caps = _element_rows(piece, lookup)
            elements.append(row)
            properties += piece_properties
            caps += piece_caps
        elif piece.kind == "caps":
            elements.append(ElementRow(piece.index, "caps filter", CAPSFILTER, piece.text,
                                       capsfilter.klass if capsfilter else "",
                                       capsfilter.long_name if capsfilter else "",
                                       "restricts the formats that may flow over this link (a capability, not a "
                                       "property)", capsfilter.source if capsfilter else SOURCE_UNKNOWN))
            caps += _caps_rows(piece.index, "caps filter", piece.caps, _where(piece))
        else:
            pad = f", pad {piece.pad!r}" if piece.pad else ""
            elements.append(ElementRow(piece.index, "reference", "", piece.text, "", "",
                                       f"links to the element named {piece.name!r}{pad}", ""))
    return Explanation(parsed.text, parsed.options, tuple(elements), tuple(properties), tuple(caps), parsed.links)


def explain_pipeline(text: str, lookup: Lookup = inspect_element) -> Explanation:
    """Parse and explain a gst-launch-1.0 line; UserError on a syntax error (pointing at the piece)."""
    return explain_parsed(parse_pipeline(text), lookup)
