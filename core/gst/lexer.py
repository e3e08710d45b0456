"""GStreamer's pipeline-description lexer, rule for rule (gst/parse/parse.l of GStreamer 1.22, the version Debian 12
installs; later releases add `#` comments), so a description
is cut into the same tokens GStreamer cuts it into: element names, `name=value` assignments, links (`!`, `:`, and
a caps filter between two of them, spaces after its commas included), `name.pad` references, `.pad` references,
`name.(` bins, URIs and single-character operators.

Like flex, each token is the longest text any rule matches at that point (the first rule wins a tie). Python's
regular expressions stop at the first alternative that matches, not the longest, so rules with alternatives are
tried alternative by alternative, and the link rule, whose caps text may hold `:` (itself a link), is matched by
following every path at once (a small NFA), never by backtracking: the time is linear in the text.

Also here: how GStreamer reads an assignment's value (`gst_parse_split_assignment`, `gst_parse_unescape`) and a
link's caps text (`str_unwrap`).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

SPACE = " \t\n\v\f\r"
_SP = r"[ \t\n\v\f\r]"
_NSP = r"[^ \t\n\v\f\r]"
_IDENT = r"[A-Za-z0-9_][A-Za-z0-9_%:\-]*"
_ASSIGN = rf"{_SP}*={_SP}*"
_STRINGS = (re.compile(rf"(?:\\.|{_NSP})+"), re.compile(r'"(?:\\"|[^"])*"'), re.compile(r"'(?:\\'|[^'])*'"))
_ASSIGNMENT_HEAD = re.compile(rf"{_IDENT}{_ASSIGN}")
_PRESET_HEAD = re.compile(rf"@preset{_ASSIGN}")
_PADREF = re.compile(rf"\.{_IDENT}")
_REF = re.compile(rf"{_IDENT}\.(?:{_IDENT})?")
_BINREF = re.compile(rf"(?P<name>{_IDENT}){_SP}*\.{_SP}*\(")
IDENTIFIER_PATTERN = re.compile(_IDENT)
_PROTOCOL_HEAD = re.compile(r"[A-Za-z][A-Za-z0-9+,\-.]*://")
# flex reads `[".">{_identifier}]` in parse.l as a character class of those characters
_PATH_HEAD = re.compile(r"[\".>{_identifr}]?/")
_OPERATOR = re.compile(r"[(){}.!:,;=]")
_SPACES = re.compile(rf"{_SP}+")
_ANY = re.compile(r".")
_MIME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_OCTAL_FIRST, _OCTAL = "0123", "01234567"

ASSIGNMENT, PRESET, PADREF, REF, BINREF, IDENTIFIER = "ASSIGNMENT", "PRESET", "PADREF", "REF", "BINREF", "IDENTIFIER"
LINK, LINK_ALL, URL, OPERATOR, INVALID = "LINK", "LINK_ALL", "URL", "OPERATOR", "INVALID"
_SPACE_KIND = "SPACE"


@dataclass(frozen=True)
class LexToken:
    """One token: its kind (ASSIGNMENT, PRESET, PADREF, REF, BINREF, IDENTIFIER, LINK, LINK_ALL, URL, OPERATOR or
    INVALID), its text as written in the description, and where it stands there (end excluded). A link with caps
    also says where its caps text starts and ends."""

    kind: str
    text: str
    start: int
    end: int
    caps_start: int = -1
    caps_end: int = -1

    @property
    def caps(self) -> str | None:
        """The caps text of a link as written (None for a plain `!`)."""
        return None if self.caps_start < 0 else self.text[self.caps_start - self.start:self.caps_end - self.start]


def _string_end(text: str, position: int) -> int | None:
    ends = [match.end() for pattern in _STRINGS if (match := pattern.match(text, position))]
    return max(ends, default=None)


def _after_head(head: re.Pattern[str]) -> Callable[[str, int], int | None]:
    def rule(text: str, position: int) -> int | None:
        match = head.match(text, position)
        return _string_end(text, match.end()) if match else None
    return rule


def _pattern(pattern: re.Pattern[str]) -> Callable[[str, int], int | None]:
    def rule(text: str, position: int) -> int | None:
        match = pattern.match(text, position)
        return match.end() if match else None
    return rule


def _url(text: str, position: int) -> int | None:
    ends = []
    if match := _PROTOCOL_HEAD.match(text, position):
        ends.append(_string_end(text, match.end()) or match.end())
    if (match := _PATH_HEAD.match(text, position)) and (end := _string_end(text, match.end())):
        ends.append(end)
    return max(ends, default=None)


# the states of the link rule `[!:] space* caps (space* (";" space* caps)* space*)* [!:]`, where
# caps = mimetype ("," [^!] | "\\" . | [^;!])* and mimetype = [[:alnum:]-]+ "/" [[:alnum:]-]+
_OPENED, _TYPE, _SLASH, _SUBTYPE, _BODY, _COMMA, _ESCAPE, _TAIL, _SEMICOLON, _ACCEPT = range(10)
_CLOSURE = {_SUBTYPE: (_SUBTYPE, _BODY, _TAIL), _BODY: (_BODY, _TAIL)}


def _link_steps(state: int, char: str) -> tuple[int, ...]:
    mime = char in _MIME_CHARS
    if state in (_OPENED, _SEMICOLON):
        return (state,) if char in SPACE else (_TYPE,) if mime else ()
    if state == _TYPE:
        return (_TYPE,) if mime else (_SLASH,) if char == "/" else ()
    if state in (_SLASH, _SUBTYPE):
        return (_SUBTYPE,) if mime else ()
    if state == _BODY:
        steps = () if char in ";!" else (_BODY,)
        return steps + ((_COMMA,) if char == "," else (_ESCAPE,) if char == "\\" else ())
    if state == _COMMA:
        return () if char == "!" else (_BODY,)
    if state == _ESCAPE:
        return () if char == "\n" else (_BODY,)
    if state == _TAIL:
        return (_TAIL,) if char in SPACE else (_SEMICOLON,) if char == ";" else (_ACCEPT,) if char in "!:" else ()
    return ()


def _link(text: str, position: int) -> int | None:
    """The end of the longest link starting at `position`: a caps link if one ends somewhere, else the `!`."""
    if text[position] not in "!:":
        return None
    longest, states = position + 1, {_OPENED}
    for index in range(position + 1, len(text)):
        following = {step for state in states for step in _link_steps(state, text[index])}
        if _ACCEPT in following:
            longest = index + 1
        states = {closed for state in following - {_ACCEPT} for closed in _CLOSURE.get(state, (state,))}
        if not states:
            break
    return longest


_RULES: tuple[tuple[str, Callable[[str, int], int | None]], ...] = (
    (ASSIGNMENT, _after_head(_ASSIGNMENT_HEAD)),
    (PRESET, _after_head(_PRESET_HEAD)),
    (PADREF, _pattern(_PADREF)),
    (REF, _pattern(_REF)),
    (BINREF, _pattern(_BINREF)),
    (IDENTIFIER, _pattern(IDENTIFIER_PATTERN)),
    (LINK, _link),
    (URL, _url),
    (OPERATOR, _pattern(_OPERATOR)),
    (_SPACE_KIND, _pattern(_SPACES)),
    (INVALID, _pattern(_ANY)),
)


def _link_token(text: str, start: int, end: int) -> LexToken:
    body = text[start + 1:end - 1]
    if not body.strip(SPACE):  # a plain `!` or `:`
        return LexToken(LINK_ALL if text[start] == ":" else LINK, text[start:end], start, end)
    caps_start = start + 1 + (len(body) - len(body.lstrip(SPACE)))
    caps_end = end - 1 - (len(body) - len(body.rstrip(SPACE)))
    kind = LINK_ALL if ":" in (text[start], text[end - 1]) else LINK
    return LexToken(kind, text[start:end], start, end, caps_start, caps_end)


def lex(description: str) -> list[LexToken]:
    """The tokens of a pipeline description, spaces left out."""
    tokens, position = [], 0
    while position < len(description):
        best_kind, best_end = INVALID, position
        for kind, rule in _RULES:  # the longest match; the first rule wins a tie
            end = rule(description, position)
            if end is not None and end > best_end:
                best_kind, best_end = kind, end
        if best_kind == LINK:
            tokens.append(_link_token(description, position, best_end))
        elif best_kind != _SPACE_KIND:
            tokens.append(LexToken(best_kind, description[position:best_end], position, best_end))
        position = best_end
    return tokens


def unescape(text: str) -> str:
    """gst_parse_unescape: a backslash outside double quotes is dropped and the character after it kept."""
    result, in_quotes, position = [], False, 0
    while position < len(text):
        char = text[position]
        if char == "\\" and not in_quotes:
            position += 1
            if position == len(text):
                break
            char = text[position]
        elif char == '"' and (not in_quotes or text[position - 1] != "\\"):
            in_quotes = not in_quotes
        result.append(char)
        position += 1
    return "".join(result)


def split_assignment(text: str) -> tuple[str, str]:
    """An ASSIGNMENT token's property name and value as GStreamer sets it (gst_parse_split_assignment): spaces
    around `=` dropped, one pair of double quotes around the whole value removed, then unescaped."""
    name, _, value = text.partition("=")
    name, value = name.rstrip(SPACE), value.lstrip(SPACE)
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return name, unescape(value)


def unwrap_caps(text: str) -> str | None:
    """A link's caps text as GStreamer hands it to gst_caps_from_string (str_unwrap): `\\NNN` octal escapes and
    `\\X` become the character; None where GStreamer gives up (a broken octal escape, a backslash at the end)."""
    result, position = [], 0
    while position < len(text):
        char = text[position]
        if char != "\\":
            result.append(char)
            position += 1
            continue
        position += 1
        if position == len(text):
            return None
        if text[position] in _OCTAL_FIRST:
            digits = text[position:position + 3]
            if len(digits) < 3 or digits[1] not in _OCTAL or digits[2] not in _OCTAL:
                return None
            result.append(chr(int(digits, 8)))
            position += 3
        else:
            result.append(text[position])
            position += 1
    return "".join(result)
