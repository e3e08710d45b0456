"""Parse a `gst-launch-1.0 ...` line into its pieces: options (`-e`, `-v`), elements with their `name=value`
properties, caps filters (`video/x-raw,width=640`, `'video/x-raw(memory:NVMM),format=NV12'`), references to named
elements (`t.`, `mux.sink_0`) and the `!` links between them.

The line is read as a shell would (single and double quotes, backslashes, backslash-newline continuations) and then
as gst-launch-1.0 does. Every piece keeps its place in the line, so an error points at the offending text and the
converter can replace one piece and leave the rest exactly as written.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from core.errors import UserError

LAUNCHERS = ("gst-launch-1.0", "gst-launch")
# gst-launch-1.0's own options (`gst-launch-1.0 --help`); -X/--exclude takes the next argument
OPTIONS: dict[str, str] = {
    "-e": "send end-of-stream to the sources on Ctrl-C, so encoders and muxers finish their output",
    "--eos-on-shutdown": "send end-of-stream to the sources on Ctrl-C, so encoders and muxers finish their output",
    "-v": "print status information and property changes (negotiated caps, for example)",
    "--verbose": "print status information and property changes (negotiated caps, for example)",
    "-q": "print no progress information",
    "--quiet": "print no progress information",
    "-m": "print the messages posted on the pipeline's bus",
    "--messages": "print the messages posted on the pipeline's bus",
    "-t": "print tags (metadata)",
    "--tags": "print tags (metadata)",
    "-c": "print the table of contents (chapters and editions)",
    "--toc": "print the table of contents (chapters and editions)",
    "-f": "install no fault handler",
    "--no-fault": "install no fault handler",
    "--no-position": "do not print the pipeline's position",
    "--force-position": "print the pipeline's position even when the output is not a terminal",
    "-X": "leave this property out of the verbose output",
    "--exclude": "leave this property out of the verbose output",
}
OPTIONS_WITH_ARGUMENT = ("-X", "--exclude")

_CAPS = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_.+-]+(?:\(|,|;|$)")
_PROPERTY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:::[A-Za-z_][A-Za-z0-9_-]*)*)=(?P<value>.*)", re.DOTALL)
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_-]*)\.(?P<pad>[A-Za-z0-9_%-]*)")
_FACTORY = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*")


@dataclass(frozen=True)
class Token:
    """One shell word: its text after quote removal, where it starts and ends in the line (0-based, end excluded),
    and whether any part of it was quoted (a quoted `!` is text, not a link)."""

    text: str
    start: int
    end: int
    quoted: bool = False


@dataclass(frozen=True)
class Option:
    flag: str
    meaning: str
    argument: str | None = None


@dataclass(frozen=True)
class PropertySetting:
    name: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Piece:
    """An element, a caps filter or a reference to a named element, numbered in reading order from 1.

    `kind` is "element", "caps" or "reference"; `factory` is the element's factory name (elements only); `text` is
    the piece as written in the line (quotes included); `caps` the caps text after quote removal (caps only);
    `name`/`pad` of a reference."""

    index: int
    kind: str
    start: int
    end: int
    text: str
    factory: str = ""
    properties: tuple[PropertySetting, ...] = ()
    caps: str = ""
    name: str = ""
    pad: str = ""

    @property
    def column(self) -> int:
        return self.start + 1


@dataclass(frozen=True)
class ParsedPipeline:
    """`links` are (from piece index, to piece index) pairs, one per `!`."""

    text: str
    options: tuple[Option, ...]
    pieces: tuple[Piece, ...]
    links: tuple[tuple[int, int], ...]

    def piece(self, index: int) -> Piece:
        return self.pieces[index - 1]

    def upstream_of(self, index: int) -> Piece | None:
        """The piece linked into piece `index` by a `!`, if any."""
        return next((self.piece(left) for left, right in self.links if right == index), None)

    def has_option(self, *flags: str) -> bool:
        return any(option.flag in flags for option in self.options)


def _error(text: str, start: int, end: int, problem: str) -> UserError:
    snippet = text[start:end].replace("\n", " ")
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    return UserError(f"syntax error at column {start + 1}: {problem}: {snippet!r}")


def tokenize(text: str) -> list[Token]:
    """Split `text` into shell words, with `!` outside quotes always a word of its own."""
    tokens: list[Token] = []
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if text.startswith("\\\n", position):
            position += 2
            continue
        if char == "!":
            tokens.append(Token("!", position, position + 1))
            position += 1
            continue
        start, parts, quoted = position, [], False
        while position < length and not text[position].isspace() and text[position] != "!":
            char = text[position]
            if char == "'":
                close = text.find("'", position + 1)
                if close < 0:
                    raise _error(text, position, length, "unbalanced single quote")
                parts.append(text[position + 1:close])
                position, quoted = close + 1, True
            elif char == '"':
                position, value = _double_quoted(text, position)
                parts.append(value)
                quoted = True
            elif char == "\\" and position + 1 < length:
                if text[position + 1] != "\n":
                    parts.append(text[position + 1])
                position += 2
            else:
                parts.append(char)
                position += 1
        tokens.append(Token("".join(parts), start, position, quoted))
    return tokens


def _double_quoted(text: str, opening: int) -> tuple[int, str]:
    """The end of the double-quoted string opening at `opening` and its value (the shell's backslash rules)."""
    parts, position = [], opening + 1
    while position < len(text):
        char = text[position]
        if char == '"':
            return position + 1, "".join(parts)
        if char == "\\" and position + 1 < len(text) and text[position + 1] in '"\\$`\n':
            if text[position + 1] != "\n":
                parts.append(text[position + 1])
            position += 2
            continue
        parts.append(char)
        position += 1
    raise _error(text, opening, len(text), "unbalanced double quote")


@dataclass
class _Builder:
    """The pieces read so far; `open_element` is the element that the next `name=value` belongs to."""

    text: str
    pieces: list[Piece] = field(default_factory=list)
    links: list[tuple[int, int]] = field(default_factory=list)
    pending_link: Token | None = None
    open_element: int | None = None

    def add(self, piece_kind: str, token: Token, **values: object) -> None:
        index = len(self.pieces) + 1
        self.pieces.append(Piece(index, piece_kind, token.start, token.end, self.text[token.start:token.end],
                                 **values))  # type: ignore[arg-type]
        if self.pending_link is not None:
            self.links.append((index - 1, index))
            self.pending_link = None
        self.open_element = index if piece_kind == "element" else None

    def link(self, token: Token) -> None:
        if self.pending_link is not None:
            raise _error(self.text, self.pending_link.start, token.end, "empty element between two '!'")
        if not self.pieces:
            raise _error(self.text, token.start, token.end, "'!' with nothing before it")
        self.pending_link = token
        self.open_element = None

    def set_property(self, token: Token, name: str, value: str) -> None:
        if self.open_element is None:
            raise _error(self.text, token.start, token.end, "property that follows no element")
        element = self.pieces[self.open_element - 1]
        setting = PropertySetting(name, value, token.start, token.end)
        self.pieces[self.open_element - 1] = replace(element, end=token.end, text=self.text[element.start:token.end],
                                                     properties=element.properties + (setting,))


def _read_piece(builder: _Builder, token: Token) -> None:
    text = token.text
    if not text:
        raise _error(builder.text, token.start, token.end, "empty element")
    if text.startswith("(") or (text.endswith(")") and "(" not in text):
        raise _error(builder.text, token.start, token.end, "bins in parentheses are not supported")
    if _CAPS.match(text):
        builder.add("caps", token, caps=text)
        return
    if "=" in text:
        match = _PROPERTY.fullmatch(text)
        if match is None or (not match["value"] and not token.quoted):
            raise _error(builder.text, token.start, token.end, "bad property, expected name=value")
        builder.set_property(token, match["name"], match["value"])
        return
    reference = _REFERENCE.fullmatch(text)
    if reference:
        builder.add("reference", token, name=reference["name"], pad=reference["pad"])
        return
    if not _FACTORY.fullmatch(text):
        raise _error(builder.text, token.start, token.end, "not an element, caps or name=value property")
    builder.add("element", token, factory=text)


def parse_pipeline(text: str) -> ParsedPipeline:
    """Parse a gst-launch-1.0 command (the `gst-launch-1.0` word itself is optional); UserError on a syntax error,
    with the column and the text of the offending piece."""
    tokens = tokenize(text)
    if tokens and tokens[0].text.rsplit("/", 1)[-1] in LAUNCHERS and not tokens[0].quoted:
        tokens = tokens[1:]
    builder, options = _Builder(text), []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token.text == "!" and not token.quoted:
            builder.link(token)
        elif token.text.startswith("-") and not token.quoted:
            flag, _, inline = token.text.partition("=")
            if flag not in OPTIONS:
                raise _error(text, token.start, token.end, "unknown gst-launch-1.0 option")
            argument = inline or None
            if flag in OPTIONS_WITH_ARGUMENT and argument is None:
                if position >= len(tokens):
                    raise _error(text, token.start, token.end, "option without its argument")
                argument = tokens[position].text
                position += 1
            options.append(Option(flag, OPTIONS[flag], argument))
        else:
            _read_piece(builder, token)
    if builder.pending_link is not None:
        raise _error(text, builder.pending_link.start, builder.pending_link.end, "'!' with nothing after it")
    if not builder.pieces:
        raise UserError("no pipeline: expected elements such as 'videotestsrc ! autovideosink'")
    return ParsedPipeline(text, tuple(options), tuple(builder.pieces), tuple(builder.links))
