"""Parse a `gst-launch-1.0 ...` line, or a pipeline description as `Gst.parse_launch` takes it, into its pieces:
options (`-e`, `-v`), elements with their `name=value` properties, caps filters (`video/x-raw, framerate=30/1`,
`'video/x-raw(memory:NVMM),format=NV12'`), references to named elements and pads (`t.`, `mux.sink_0`), bins in
parentheses, URIs, and the links between them.

The line is read as the shell and gst-launch-1.0 read it (`core.gst.launch_line`), the description is cut into
GStreamer's own tokens (`core.gst.lexer`), and those are put together by GStreamer's grammar (gst/parse/grammar.y):
a chain is elements joined by links; a link may carry caps, which gst-launch-1.0 turns into a capsfilter element
between the two; a chain may start or end at a reference or a URI; links into and out of a bin go to the first and
last element of its chain. Every piece keeps its place in the line, so an error points at the offending text and
the converter can replace one piece and leave the rest exactly as written.

The work is bounded: at most `MAX_TEXT_CHARS` characters and `MAX_PIECES` pieces per pipeline, since the text may
come from anyone who can reach a page.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.errors import UserError
from core.gst import lexer
from core.gst.launch_line import (LAUNCHERS, OPTIONS, OPTIONS_WITH_ARGUMENT, LaunchLine, Option, Token,
                                  read_launch_line, syntax_error, tokenize)
from core.gst.lexer import LexToken

__all__ = ["LAUNCHERS", "MAX_PIECES", "MAX_TEXT_CHARS", "OPTIONS", "OPTIONS_WITH_ARGUMENT", "Link",
           "Option", "ParsedPipeline", "Piece", "PropertySetting", "Token", "parse_description", "parse_pipeline",
           "tokenize"]

MAX_TEXT_CHARS = 10_000
MAX_PIECES = 64
PIECE_KINDS = ("element", "caps", "reference", "bin", "uri")


@dataclass(frozen=True)
class PropertySetting:
    """`name=value` of one element (or bin) as GStreamer sets it: the value with the quotes and backslashes
    GStreamer removes removed. `start`/`end` are its place in the line. `@preset=NAME` is kept as name
    "@preset"."""

    name: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Piece:
    """An element, a caps filter, a reference to a named element, a bin or a URI, numbered in reading order from 1.

    `kind` is one of PIECE_KINDS; `factory` is the element's factory name (for a bin: "bin" or the factory named
    in `factory.( ... )`); `text` is the piece as written in the line (quotes included); `caps` the caps text as
    GStreamer parses it (caps only); `name`/`pad` of a reference (`pad` may list several, comma-separated);
    `uri` of a URI, for which GStreamer picks a source or sink element by its scheme; `parent` is the index of the
    bin the piece is in (0: the pipeline itself)."""

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
    uri: str = ""
    parent: int = 0

    @property
    def column(self) -> int:
        return self.start + 1


@dataclass(frozen=True)
class Link:
    """A link as GStreamer makes it: from piece `source` to piece `sink`, through the caps filter piece `caps`
    when the link carries caps (0 when not), with the pads named for it on either side; `all_pads` for `:`."""

    source: int
    sink: int
    source_pads: tuple[str, ...] = ()
    sink_pads: tuple[str, ...] = ()
    caps: int = 0
    all_pads: bool = False


@dataclass(frozen=True)
class ParsedPipeline:
    """`links` are (from piece index, to piece index) pairs, a caps filter piece standing between the two pieces
    its link joins; `link_details` are the same links as GStreamer makes them. `description` is the text
    GStreamer's parser reads, `arguments` the words gst-launch-1.0 hands it (for `Gst.parse_launchv`)."""

    text: str
    options: tuple[Option, ...]
    pieces: tuple[Piece, ...]
    links: tuple[tuple[int, int], ...]
    link_details: tuple[Link, ...] = ()
    description: str = ""
    arguments: tuple[str, ...] = ()

    def piece(self, index: int) -> Piece:
        return self.pieces[index - 1]

    def upstream_of(self, index: int) -> Piece | None:
        """The piece linked into piece `index`, if any."""
        return next((self.piece(left) for left, right in self.links if right == index), None)

    def has_option(self, *flags: str) -> bool:
        return any(option.flag in flags for option in self.options)


@dataclass(frozen=True)
class _End:
    """A chain's first or last piece as GStreamer's grammar tracks it (`reference_t`): the piece, the pads named
    on it, and whether it is a reference nothing has linked yet."""

    piece: int = 0
    pads: tuple[str, ...] = ()
    reference: bool = False


@dataclass
class _Parser:
    line: LaunchLine
    tokens: list[LexToken]
    position: int = 0
    pieces: list[Piece] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    bins: list[int] = field(default_factory=list)

    def peek(self, ahead: int = 0) -> LexToken | None:
        index = self.position + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> LexToken:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def error(self, first: LexToken, last: LexToken, problem: str) -> UserError:
        start, end = self.line.words_around(first.start, last.end)
        return syntax_error(self.line.text, start, end, problem)

    def add(self, kind: str, first: int, last: int, **values: object) -> int:
        """A new piece spanning the description's `first:last`; its index."""
        start, end = self.line.span(first, last)
        if len(self.pieces) >= MAX_PIECES:
            raise UserError(f"pipeline too long: more than {MAX_PIECES} elements, caps filters and references "
                            f"(the {MAX_PIECES + 1}th at column {start + 1}); explain it in parts")
        index = len(self.pieces) + 1
        self.pieces.append(Piece(index, kind, start, end, self.line.text[start:end],
                                 parent=self.bins[-1] if self.bins else 0, **values))  # type: ignore[arg-type]
        return index

    def extend(self, index: int, last: LexToken) -> None:
        """Piece `index` now reaches to the end of `last`."""
        piece = self.pieces[index - 1]
        _, end = self.line.span(last.start, last.end)
        self.pieces[index - 1] = replace(piece, end=end, text=self.line.text[piece.start:end])

    def setting(self, token: LexToken) -> PropertySetting:
        start, end = self.line.span(token.start, token.end)
        if token.kind == lexer.PRESET:
            return PropertySetting("@preset", lexer.unescape(token.text.partition("=")[2]), start, end)
        name, value = lexer.split_assignment(token.text)
        return PropertySetting(name, value, start, end)

    def settings(self, index: int) -> None:
        """The assignments (and presets) that follow piece `index`."""
        while (token := self.peek()) is not None and token.kind in (lexer.ASSIGNMENT, lexer.PRESET):
            self.take()
            piece = self.pieces[index - 1]
            self.pieces[index - 1] = replace(piece, properties=piece.properties + (self.setting(token),))
            self.extend(index, token)

    def pads(self) -> tuple[str, ...]:
        """`.pad` or `.pad,pad2` after an element (GStreamer's `pads`)."""
        if (token := self.peek()) is None or token.kind != lexer.PADREF:
            return ()
        self.take()
        return (token.text[1:],) + self.more_pads()

    def more_pads(self) -> tuple[str, ...]:
        pads: tuple[str, ...] = ()
        while (comma := self.peek()) is not None and comma.text == "," and comma.kind == lexer.OPERATOR \
                and (name := self.peek(1)) is not None and name.kind == lexer.IDENTIFIER:
            self.position += 2
            pads += (name.text,)
        return pads

    def reference(self) -> _End:
        token = self.take()
        name, _, pad = token.text.partition(".")
        pads = ((pad,) if pad else ()) + self.more_pads()
        last = self.tokens[self.position - 1]
        index = self.add("reference", token.start, last.end, name=name, pad=",".join(pads))
        return _End(index, pads, reference=True)

    def uri(self) -> int:
        token = self.take()
        return self.add("uri", token.start, token.end, uri=lexer.unescape(token.text))

    def caps(self, link: LexToken) -> int:
        written = link.caps or ""
        caps = lexer.unwrap_caps(written)
        if caps is None:
            raise self.error(link, link, "caps with a broken backslash escape")
        return self.add("caps", link.caps_start, link.caps_end, caps=caps)

    def unexpected(self, token: LexToken) -> UserError:
        if token.kind == lexer.ASSIGNMENT:
            name = lexer.IDENTIFIER_PATTERN.match(token.text)
            if name is not None and token.text[name.end()] in lexer.SPACE:  # GStreamer took `element =value` as one
                equals = token.start + token.text.index("=")
                return self.error(replace(token, start=equals), token, "bad property, expected name=value")
            return self.error(token, token, "property that follows no element")
        if token.kind in (lexer.LINK, lexer.LINK_ALL):
            return self.error(token, token, f"{token.text[0]!r} with nothing before it")
        if token.kind == lexer.PADREF:
            return self.error(token, token, "a pad ('.pad') must follow an element")
        if token.text == "=":
            return self.error(token, token, "bad property, expected name=value")
        if token.text == ")":
            return self.error(token, token, "')' without a '(' before it")
        return self.error(token, token, "not an element, caps, reference or name=value property")

    def elementary(self) -> tuple[_End, _End]:
        """An element with its properties, or a bin; its first and last piece for links."""
        token = self.take()
        if token.kind == lexer.IDENTIFIER:
            following = self.peek()
            if following is not None and following.kind == lexer.URL and following.start == token.end \
                    and following.text.startswith("/"):
                before = self.tokens[self.position - 2] if self.position > 1 else None
                if before is not None and before.caps is not None:
                    raise self.error(token, following, "two caps filters in a row: GStreamer needs an element "
                                                       "between them (identity, say), else it reads the second as an "
                                                       "element name and a path")
                raise self.error(token, following, "not caps to GStreamer but an element name and a path: caps "
                                                   "stand between two '!', and inside quotes no space may follow a "
                                                   "';'")
            index = self.add("element", token.start, token.end, factory=token.text)
            self.settings(index)
            return _End(index), _End(index)
        if token.kind == lexer.BINREF or token.text == "(":
            return self.bin(token)
        raise self.unexpected(token)

    def bin(self, opener: LexToken) -> tuple[_End, _End]:
        factory = "bin" if opener.text == "(" else opener.text.split(".")[0].rstrip(lexer.SPACE)
        index = self.add("bin", opener.start, opener.end, factory=factory)
        self.settings(index)
        self.bins.append(index)
        found, first, last = self.chainlist(inside_bin=True)
        closing = self.peek()
        if closing is None:
            raise self.error(opener, opener, "'(' without a ')' after it")
        self.take()
        self.bins.pop()
        if not found:
            raise self.error(opener, closing, "empty bin")
        self.extend(index, closing)
        return first, last

    def link(self, token: LexToken, source: _End, sink: _End, caps: int) -> None:
        if not source.piece:
            raise self.error(token, token, "link has no source (the chain before it ended at a reference or URI)")
        if not sink.piece:
            raise self.error(token, token, "link has no sink (the bin after it starts at a reference or URI)")
        self.links.append(Link(source.piece, sink.piece, source.pads, sink.pads, caps, token.kind == lexer.LINK_ALL))

    def empty_element(self, left: LexToken, right: LexToken) -> UserError:
        """Two links in a row: point at an empty quoted word between them if there is one."""
        start, _ = self.line.span(left.start, left.end)
        end, _ = self.line.span(right.start, right.end)
        empty = next((word for word in self.line.arguments if not word.text and start < word.start < end), None)
        if empty is not None:
            return syntax_error(self.line.text, empty.start, empty.end, "empty element")
        return self.error(left, right, "empty element between two '!'")

    def chain(self) -> tuple[_End, _End]:
        """One chain (GStreamer's `chain`): its first and last piece for links from outside."""
        start = self.peek()
        assert start is not None
        if start.kind == lexer.URL:
            first, last = _End(), _End(self.uri())
        elif start.kind == lexer.REF:
            first, last = _End(), self.reference()
        else:
            first, last = self.elementary()
            last = replace(last, pads=last.pads + self.pads())
        while (token := self.peek()) is not None and token.kind in (lexer.LINK, lexer.LINK_ALL):
            self.take()
            following = self.peek()
            if following is None:
                raise self.error(token, token, f"{token.text[-1]!r} with nothing after it")
            if following.kind in (lexer.LINK, lexer.LINK_ALL):
                raise self.empty_element(token, following)
            caps = self.caps(token) if token.caps is not None else 0
            if following.kind == lexer.URL:
                self.link(token, last, _End(self.uri()), caps)
                return first, _End()
            if following.kind == lexer.REF:
                self.link(token, last, self.reference(), caps)
                return first, _End()
            sink_pads = self.pads()
            if sink_pads and self.peek() is None:
                raise self.error(self.tokens[-1], self.tokens[-1], "a pad ('.pad') with no element after it")
            element_first, element_last = self.elementary()
            self.link(token, last, replace(element_first, pads=sink_pads + element_first.pads), caps)
            last = replace(element_last, pads=element_last.pads + self.pads())
        if last.reference:
            piece = self.pieces[last.piece - 1]
            raise syntax_error(self.line.text, piece.start, piece.end, "a reference that nothing links to or from")
        if last.pads:
            raise syntax_error(self.line.text, *self.line.span(self.tokens[self.position - 1].start,
                                                                self.tokens[self.position - 1].end),
                               "a pad reference ('.pad') that nothing links to")
        return first, last

    def chainlist(self, inside_bin: bool) -> tuple[bool, _End, _End]:
        """Chains one after the other (GStreamer's `chainlist`): whether there was one, the first chain's first
        piece and the last chain's last."""
        found, first, last = False, _End(), _End()
        while (token := self.peek()) is not None:
            if token.text == ")" and token.kind == lexer.OPERATOR:
                if inside_bin:
                    break
                raise self.unexpected(token)
            chain_first, chain_last = self.chain()
            first = first if found else chain_first
            found, last = True, chain_last
        return found, first, last


def _bounded(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"pipeline text too long: {len(text)} characters, at most {MAX_TEXT_CHARS}")
    return text


def _parsed(line: LaunchLine) -> ParsedPipeline:
    parser = _Parser(line, lexer.lex(line.description))
    parser.chainlist(inside_bin=False)
    if not parser.pieces:
        raise UserError("no pipeline: expected elements such as 'videotestsrc ! autovideosink'")
    pairs: list[tuple[int, int]] = []
    for link in parser.links:
        pairs += [(link.source, link.caps), (link.caps, link.sink)] if link.caps else [(link.source, link.sink)]
    return ParsedPipeline(line.text, line.options, tuple(parser.pieces), tuple(pairs), tuple(parser.links),
                          line.description, tuple(word.text for word in line.arguments))


def parse_pipeline(text: str) -> ParsedPipeline:
    """Parse a gst-launch-1.0 command line (the `gst-launch-1.0` word itself is optional) as the shell and
    gst-launch-1.0 read it; UserError on a syntax error, with the column and the text of the offending piece."""
    return _parsed(read_launch_line(_bounded(text)))


def parse_description(text: str) -> ParsedPipeline:
    """Parse a pipeline description as `Gst.parse_launch` reads it (no shell: quotes are GStreamer's own, and
    there are no options); UserError on a syntax error."""
    return _parsed(LaunchLine(_bounded(text), (), (), text, (), ()))
