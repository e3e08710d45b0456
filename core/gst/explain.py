"""Explain a `gst-launch-1.0` line piece by piece: each element's factory, class and description; each property's
value, type and default; each capability (caps filter, or a property that holds caps) with its media type, features
and fields. This answers "which is a property, which is a capability?": `port=5000` sets a property of one element,
while `video/x-raw,width=640` between two elements is a caps filter that restricts what may flow over that link.

Element facts come from this machine's GStreamer registry (gst-inspect-1.0) where the element is installed, else
from the table of NVIDIA facts (`core.gst.nvidia`) for Jetson-only elements; any other element is reported unknown.
An explanation looks up at most `MAX_LOOKUPS` different factories (each once), so a pasted line cannot make the
server inspect hundreds of names; the parser bounds the number of pieces (`core.gst.syntax.MAX_PIECES`).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

from core.errors import UserError
from core.gst.caps import CapsStructure, looks_like_caps, parse_caps
from core.gst.nvidia import NVIDIA_ELEMENTS, SOURCE_NVIDIA
from core.gst.element_info import ElementInfo, PropertyInfo, inspect_element
from core.gst.syntax import Option, ParsedPipeline, Piece, parse_pipeline

SOURCE_UNKNOWN = "unknown: not in this machine's GStreamer registry nor in the NVIDIA facts"
CAPSFILTER = "capsfilter"  # what gst-launch-1.0 makes of a caps filter between two elements
MAX_LOOKUPS = 32
PRESET = "@preset"

Lookup = Callable[[str], ElementInfo | None]


@dataclass(frozen=True)
class ElementRow:
    index: int
    kind: str  # "element", "caps filter", "reference", "bin", "URI source" or "URI sink"
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
    status: str  # "known", "preset", "not a property of this element", "not covered by the NVIDIA facts",
    # "unknown element"
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


def _looked_up(parsed: ParsedPipeline, lookup: Lookup) -> dict[str, ElementInfo | None]:
    """Each factory the pipeline names, looked up once, in reading order; UserError past MAX_LOOKUPS of them."""
    factories = [CAPSFILTER if piece.kind == "caps" else piece.factory for piece in parsed.pieces
                 if piece.kind in ("element", "bin", "caps")]
    distinct = list(dict.fromkeys(factories))
    if len(distinct) > MAX_LOOKUPS:
        raise UserError(f"too many different elements to explain at once: {len(distinct)} (at most {MAX_LOOKUPS}); "
                        "explain the pipeline in parts")
    return {factory: element_info(factory, lookup) for factory in distinct}


def _caps_rows(index: int, origin: str, text: str, where: str) -> list[CapsRow]:
    try:
        structures: tuple[CapsStructure, ...] = parse_caps(text)
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return [CapsRow(index, origin, text, s.media_type, s.features, tuple((f.name, f.value, f.type) for f in s.fields))
            for s in structures]


def _where(piece: Piece) -> str:
    return f"piece {piece.index} at column {piece.column} ({piece.text!r})"


def _property_status(info: ElementInfo | None, known: PropertyInfo | None, name: str) -> str:
    if name == PRESET:
        return "preset"
    if known is not None:
        return "known"
    if info is None:
        return "unknown element"
    return "not covered by the NVIDIA facts" if info.source == SOURCE_NVIDIA else "not a property of this element"


def _element_rows(piece: Piece, info: ElementInfo | None) -> tuple[ElementRow, list[PropertyRow], list[CapsRow]]:
    row = ElementRow(piece.index, piece.kind, piece.factory, piece.text, info.klass if info else "",
                     info.long_name if info else "", info.description if info else "",
                     info.source if info else SOURCE_UNKNOWN)
    properties, caps = [], []
    for setting in piece.properties:
        known = info.properties.get(setting.name) if info else None
        status = _property_status(info, known, setting.name)
        description = known.description if known else (
            "loads the settings saved for this element under this name (GstPreset)" if status == "preset" else "")
        type_name = known.type if known else ""
        properties.append(PropertyRow(piece.index, piece.factory, setting.name, setting.value, type_name,
                                      known.default if known else None, description, status,
                                      value_problem(known, setting.value) if known else ""))
        origin = f"{piece.factory}'s {setting.name} property"
        if type_name == "Caps":
            caps += _caps_rows(piece.index, origin, setting.value, _where(piece))
        elif not type_name and "," in setting.value and looks_like_caps(setting.value):
            with contextlib.suppress(UserError):  # an unknown element's value that reads like caps: shown if it is
                caps += _caps_rows(piece.index, origin, setting.value, _where(piece))
    return row, properties, caps


def _uri_row(parsed: ParsedPipeline, piece: Piece) -> ElementRow:
    sink = any(link.sink == piece.index for link in parsed.link_details)
    scheme, separator, _ = piece.uri.partition("://")
    if separator:
        role = "writes to" if sink else "reads from"
        about = f"GStreamer picks the element that {role} {scheme}:// URIs"
    else:
        about = "a path, not a URI (no scheme://): GStreamer finds no element for it"
    return ElementRow(piece.index, "URI sink" if sink else "URI source", "", piece.text, "", "", about, "")


def _reference_row(piece: Piece) -> ElementRow:
    pads = piece.pad.split(",") if piece.pad else []
    pad = f", pad{'s' if len(pads) > 1 else ''} {', '.join(repr(p) for p in pads)}" if pads else ""
    return ElementRow(piece.index, "reference", "", piece.text, "", "",
                      f"links to the element named {piece.name!r}{pad}", "")


def explain_parsed(parsed: ParsedPipeline, lookup: Lookup = inspect_element) -> Explanation:
    elements: list[ElementRow] = []
    properties: list[PropertyRow] = []
    caps: list[CapsRow] = []
    infos = _looked_up(parsed, lookup)
    for piece in parsed.pieces:
        if piece.kind in ("element", "bin"):
            row, piece_properties, piece_caps = _element_rows(piece, infos[piece.factory])
            elements.append(row)
            properties += piece_properties
            caps += piece_caps
        elif piece.kind == "caps":
            capsfilter = infos[CAPSFILTER]
            elements.append(ElementRow(piece.index, "caps filter", CAPSFILTER, piece.text,
                                       capsfilter.klass if capsfilter else "",
                                       capsfilter.long_name if capsfilter else "",
                                       "restricts the formats that may flow over this link (a capability, not a "
                                       "property)", capsfilter.source if capsfilter else SOURCE_UNKNOWN))
            caps += _caps_rows(piece.index, "caps filter", piece.caps, _where(piece))
        elif piece.kind == "uri":
            elements.append(_uri_row(parsed, piece))
        else:
            elements.append(_reference_row(piece))
    return Explanation(parsed.text, parsed.options, tuple(elements), tuple(properties), tuple(caps), parsed.links)


def explain_pipeline(text: str, lookup: Lookup = inspect_element) -> Explanation:
    """Parse and explain a gst-launch-1.0 line; UserError on a syntax error (pointing at the piece) or a pipeline
    past the bounds."""
    return explain_parsed(parse_pipeline(text), lookup)


@dataclass(frozen=True)
class Setting:
    """One thing written after or between elements, sorted into "property" (a setting of one element),
    "capability" (a caps filter: the formats allowed over one link) or "property holding a capability"."""

    text: str
    kind: str
    where: str
    meaning: str


def _name(row: ElementRow) -> str:
    return row.factory if row.kind in ("element", "bin") else row.text


def _capability_meaning(rows: list[CapsRow]) -> str:
    alternatives = []
    for row in rows:
        features = f" in {', '.join(row.features)} memory" if row.features else ""
        fields = ", ".join(f"{name}={value} ({kind})" for name, value, kind in row.fields)
        alternatives.append(f"{row.media_type}{features}" + (f" with {fields}" if fields else ""))
    return "only " + " or ".join(alternatives)


def properties_and_capabilities(explanation: Explanation) -> tuple[Setting, ...]:
    """Every property and capability of the pipeline in reading order, each said to be which and why."""
    rows = {row.index: row for row in explanation.elements}
    settings: list[Setting] = []
    for row in explanation.elements:
        caps = [c for c in explanation.caps if c.index == row.index]
        if row.kind == "caps filter":
            before = next((rows[left] for left, right in explanation.links if right == row.index), None)
            after = next((rows[right] for left, right in explanation.links if left == row.index), None)
            where = f"the link {_name(before) if before else '?'} → {_name(after) if after else '?'}"
            settings.append(Setting(row.text, "capability", where,
                                    f"{_capability_meaning(caps)} may flow over this link"))
            continue
        for prop in (p for p in explanation.properties if p.index == row.index):
            holds_caps = [c for c in caps if c.origin.endswith(f"'s {prop.name} property")]
            about = prop.description or prop.status
            if prop.status == "known":
                about += f" ({prop.type}, default {prop.default or '-'})"
            if holds_caps:
                settings.append(Setting(f"{prop.name}={prop.value}", "property holding a capability", row.factory,
                                        f"{about}: {_capability_meaning(holds_caps)}"))
            else:
                settings.append(Setting(f"{prop.name}={prop.value}", "property", row.factory, about))
    return tuple(settings)


def explanation_text(explanation: Explanation) -> str:
    """The explanation as plain text, one piece after the other with its properties and capabilities."""
    lines = [f"option {option.flag}{' ' + option.argument if option.argument else ''}: {option.meaning}"
             for option in explanation.options]
    for row in explanation.elements:
        heading = f"{row.index}. {row.kind} {row.text}"
        if row.kind in ("element", "bin"):
            about = f"{row.klass}: {row.description} [{row.source}]" if row.klass else row.source
            lines.append(f"{heading}\n   {about}")
        else:
            lines.append(f"{heading}\n   {row.description}")
        for prop in (p for p in explanation.properties if p.index == row.index):
            if prop.status == "known":
                problem = f" PROBLEM: {prop.problem}" if prop.problem else ""
                lines.append(f"   property {prop.name}={prop.value}: {prop.type}, default {prop.default or '-'}"
                             f" ({prop.description}){problem}")
            else:
                lines.append(f"   property {prop.name}={prop.value}: {prop.status}")
        for caps in (c for c in explanation.caps if c.index == row.index):
            features = f" with features {', '.join(caps.features)}" if caps.features else ""
            fields = ", ".join(f"{name}={value} ({kind})" for name, value, kind in caps.fields) or "no fields"
            lines.append(f"   capability ({caps.origin}): {caps.media_type}{features}; {fields}")
    return "\n".join(lines)
