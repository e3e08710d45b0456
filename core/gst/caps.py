"""Read GStreamer caps text (`video/x-raw(memory:NVMM),format=NV12,width=(int)1920,framerate=30/1`) into its media
type, caps features and fields, each field with the type GStreamer gives it: the written `(type)` or, without one,
the type GStreamer's deserializer picks (int, double, fraction, boolean, list `{...}`, range `[...]`, else string).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import UserError

_MEDIA_TYPE = re.compile(r"(?P<media>[A-Za-z0-9_-]+/[A-Za-z0-9_.+-]+)(?:\((?P<features>[^)]*)\))?")
_FIELD = re.compile(r"(?P<name>[A-Za-z][A-Za-z0-9_.-]*)\s*=\s*(?:\(\s*(?P<type>[A-Za-z0-9_]+)\s*\))?\s*(?P<value>.*)",
                    re.DOTALL)
_INT = re.compile(r"[+-]?(?:\d+|0[xX][0-9a-fA-F]+)")
_DOUBLE = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?")
_FRACTION = re.compile(r"[+-]?\d+/\d+")
_BOOLEANS = ("true", "false", "yes", "no", "t", "f")
_CLOSING = {"(": ")", "{": "}", "[": "]", "<": ">"}


@dataclass(frozen=True)
class CapsField:
    name: str
    value: str
    type: str
    written_type: bool  # True when the text names the type, as in width=(int)640


@dataclass(frozen=True)
class CapsStructure:
    media_type: str
    features: tuple[str, ...]
    fields: tuple[CapsField, ...]


def looks_like_caps(text: str) -> bool:
    return bool(_MEDIA_TYPE.match(text.strip())) and "=" not in text.split(",", 1)[0]


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside quotes and brackets: `format={I420,NV12},width=640` is two parts."""
    parts, depth, quote, current = [], [], "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char == '"':
            quote = char
        elif char in _CLOSING:
            depth.append(_CLOSING[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char == separator and not depth:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _inferred_type(value: str) -> str:
    if value.startswith("{"):
        return "list"
    if value.startswith("["):
        return "range"
    if value.startswith("<"):
        return "array"
    if value.startswith('"'):
        return "string"
    if _INT.fullmatch(value):
        return "int"
    if _DOUBLE.fullmatch(value):
        return "double"
    if _FRACTION.fullmatch(value):
        return "fraction"
    if value.lower() in _BOOLEANS:
        return "boolean"
    return "string"


def parse_caps(text: str) -> tuple[CapsStructure, ...]:
    """Every structure of `text` (structures are separated by ';'); UserError naming the part that is not caps."""
    structures = []
    for part in (piece.strip() for piece in split_top_level(text.strip(), ";")):
        if not part:
            continue
        head, *rest = split_top_level(part, ",")
        match = _MEDIA_TYPE.fullmatch(head.strip())
        if match is None:
            raise UserError(f"not a caps media type (expected e.g. video/x-raw): {head.strip()!r}")
        features = tuple(f.strip() for f in (match["features"] or "").split(",") if f.strip())
        fields = []
        for item in (piece.strip() for piece in rest):
            found = _FIELD.fullmatch(item)
            if found is None or not found["value"].strip():
                raise UserError(f"caps field without name=value in {text.strip()!r}: {item!r}")
            value = found["value"].strip()
            fields.append(CapsField(found["name"], value.strip('"'), found["type"] or _inferred_type(value),
                                    written_type=bool(found["type"])))
        structures.append(CapsStructure(match["media"], features, tuple(fields)))
    if not structures:
        raise UserError("empty caps")
    return tuple(structures)
