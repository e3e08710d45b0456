"""How `gst-launch-1.0` reads its command line, before GStreamer's own parser sees anything.

1. The shell splits the line into words: single quotes, double quotes (where a backslash escapes `"`, `\\`, `$`
   and a backquote), backslashes outside quotes, backslash-newline continuations, a `#` that starts a word begins
   a comment. An unquoted `;`, `|`, `&`, `<`, `>`, `(` or `)` means something to the shell, so gst-launch-1.0
   never receives it: it is an error here, with the way to quote it.
2. gst-launch-1.0 takes its own options out of the words (GLib's option parser: `-e`, `-v`, `-ev`, `-X name`,
   `--gst-debug=LIST`, ...), wherever they stand.
3. The remaining words are joined into one pipeline description as `gst_parse_launchv` does: a space inside a word
   (it was quoted) gets a backslash before it unless it is inside double quotes, and the words are separated by
   one space.

Every character of the description remembers where it came from in the line, so an error found in the description
points at the line, and a piece of the pipeline can be replaced in the line exactly as it was written.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError

LAUNCHERS = ("gst-launch-1.0", "gst-launch")
SHELL_SPACE = " \t\n"
SHELL_OPERATORS = ";|&<>()"
_SHELL_MEANING = {";": "ends the command there", "|": "pipes the output into another command",
                  "&": "runs the command in the background", "<": "redirects the input", ">": "redirects the output",
                  "(": "refuses it as a syntax error", ")": "refuses it as a syntax error"}
_VERBOSE_EXCLUDE = "leave this property out of the verbose output"
_EOS = "send end-of-stream to the sources on Ctrl-C, so encoders and muxers finish their output"
# gst-launch-1.0's options and GStreamer's own (`gst-launch-1.0 --help-all`), long and short spellings
OPTIONS: dict[str, str] = {
    "-e": _EOS,
    "--eos-on-shutdown": _EOS,
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
    "-X": _VERBOSE_EXCLUDE,
    "--exclude": _VERBOSE_EXCLUDE,
    "--gst-debug": "set debug levels per category, e.g. GST_PIPELINE:5 logs how the pipeline text was parsed",
    "--gst-debug-level": "default debug level, from 0 (none) to 9 (everything)",
    "--gst-debug-no-color": "debug output without colours",
    "--gst-debug-color-mode": "debug output colours: off, on, disable, auto or unix",
    "--gst-debug-disable": "turn debug output off",
    "--gst-fatal-warnings": "make every warning fatal",
    "--gst-plugin-spew": "print details while loading plugins",
    "--gst-plugin-path": "also look for plugins in these colon-separated folders",
    "--gst-plugin-load": "load these comma-separated plugins first",
    "--gst-disable-segtrap": "do not trap segmentation faults while loading plugins",
    "--gst-disable-registry-update": "do not update the plugin registry",
    "--gst-disable-registry-fork": "scan plugins without a helper process",
}
OPTIONS_WITH_ARGUMENT = ("-X", "--exclude", "--gst-debug", "--gst-debug-level", "--gst-debug-color-mode",
                         "--gst-plugin-path", "--gst-plugin-load")


@dataclass(frozen=True)
class Token:
    """One shell word: its text after quote removal, where it starts and ends in the line (0-based, end excluded),
    whether any part of it was quoted, and where each character of `text` stands in the line."""

    text: str
    start: int
    end: int
    quoted: bool = False
    origins: tuple[int, ...] = ()


@dataclass(frozen=True)
class Option:
    flag: str
    meaning: str
    argument: str | None = None


def syntax_error(text: str, start: int, end: int, problem: str) -> UserError:
    """`syntax error at column N: problem: 'snippet'`, the snippet being `text[start:end]` (shortened)."""
    snippet = text[start:end].replace("\n", " ")
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    return UserError(f"syntax error at column {start + 1}: {problem}: {snippet!r}")


def _double_quoted(text: str, opening: int, parts: list[tuple[str, int]]) -> int:
    """Append the double-quoted string opening at `opening` to `parts`; return the position after its end."""
    position = opening + 1
    while position < len(text):
        char = text[position]
        if char == '"':
            return position + 1
        if char == "\\" and position + 1 < len(text) and text[position + 1] in '"\\$`\n':
            if text[position + 1] != "\n":
                parts.append((text[position + 1], position + 1))
            position += 2
            continue
        parts.append((char, position))
        position += 1
    raise syntax_error(text, opening, len(text), "unbalanced double quote")


def _word(text: str, start: int) -> tuple[Token, int]:
    """The shell word starting at `start` and the position after it."""
    position, parts, quoted = start, [], False
    while position < len(text) and text[position] not in SHELL_SPACE:
        char = text[position]
        if char == "'":
            close = text.find("'", position + 1)
            if close < 0:
                raise syntax_error(text, position, len(text), "unbalanced single quote")
            parts += [(text[i], i) for i in range(position + 1, close)]
            position, quoted = close + 1, True
        elif char == '"':
            position, quoted = _double_quoted(text, position, parts), True
        elif char == "\\" and position + 1 < len(text):
            if text[position + 1] != "\n":
                parts.append((text[position + 1], position + 1))
            position += 2
        elif char in SHELL_OPERATORS:
            raise syntax_error(text, position, position + 1, f"quote {char!r} ('{char}') or escape it (\\{char}): "
                                                             f"unquoted, the shell {_SHELL_MEANING[char]}")
        else:
            parts.append((char, position))
            position += 1
    word = "".join(char for char, _ in parts)
    return Token(word, start, position, quoted, tuple(origin for _, origin in parts)), position


def tokenize(text: str) -> list[Token]:
    """Split `text` into shell words, as a POSIX shell does before running gst-launch-1.0."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position] in SHELL_SPACE:
            position += 1
        elif text.startswith("\\\n", position):
            position += 2
        elif text[position] == "#":
            newline = text.find("\n", position)
            position = len(text) if newline < 0 else newline
        else:
            token, position = _word(text, position)
            tokens.append(token)
    return tokens


def _options(text: str, token: Token, following: Token | None) -> tuple[list[Option], bool]:
    """The options one word stands for and whether it took the following word as its argument."""
    if token.text.startswith("--"):
        flag, equals, inline = token.text.partition("=")
        flags = [(flag, inline if equals else None)]
    else:  # short options may be grouped (-ev); one that takes an argument takes the rest of the word
        flags, letters = [], token.text[1:]
        for position, letter in enumerate(letters):
            flag = f"-{letter}"
            if flag in OPTIONS_WITH_ARGUMENT:
                flags.append((flag, letters[position + 1:] or None))
                break
            flags.append((flag, None))
    options, took_next = [], False
    for flag, argument in flags:
        if flag not in OPTIONS:
            raise syntax_error(text, token.start, token.end, "unknown gst-launch-1.0 option")
        if flag in OPTIONS_WITH_ARGUMENT and argument is None:
            if following is None:
                raise syntax_error(text, token.start, token.end, "option without its argument")
            argument, took_next = following.text, True
        elif flag not in OPTIONS_WITH_ARGUMENT and argument is not None:
            raise syntax_error(text, token.start, token.end, "option that takes no argument")
        options.append(Option(flag, OPTIONS[flag], argument))
    return options, took_next


@dataclass(frozen=True)
class LaunchLine:
    """A gst-launch-1.0 line read as the shell and gst-launch-1.0 read it.

    `arguments` are the words handed to GStreamer's parser (options taken out); `description` is the one string
    GStreamer parses; `origins[i]` is where the description's character i comes from in `text` (the separator
    after a word: that word's end); `word_of[i]` is the index in `arguments` of the word it belongs to (-1 for a
    separator)."""

    text: str
    options: tuple[Option, ...]
    arguments: tuple[Token, ...]
    description: str
    origins: tuple[int, ...]
    word_of: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The line's span for the description's `start:end`: whole words where the span starts or ends a word,
        so quotes around it are included."""
        if not self.origins:
            return start, end
        first, last = self.origins[start], self.origins[end - 1] + 1
        if (word := self.word_of[start]) >= 0 and (start == 0 or self.word_of[start - 1] != word):
            first = self.arguments[word].start
        if (word := self.word_of[end - 1]) >= 0 and (end == len(self.word_of) or self.word_of[end] != word):
            last = self.arguments[word].end
        return first, last

    def words_around(self, start: int, end: int) -> tuple[int, int]:
        """The line's span of the whole words that the description's `start:end` touches."""
        first, last = self.span(start, end)
        touched = [word for word in self.arguments if word.end > first and word.start < last]
        return (touched[0].start, touched[-1].end) if touched else (first, last)


def _escaped(word: Token, index: int) -> tuple[list[str], list[int], list[int]]:
    """`word` as gst_parse_launchv writes it into the description: spaces outside double quotes escaped."""
    chars, origins, in_quotes = [], [], False
    for position, char in enumerate(word.text):
        if char == '"' and (not in_quotes or position == 0 or word.text[position - 1] != "\\"):
            in_quotes = not in_quotes
        if char == " " and not in_quotes:
            chars.append("\\")
            origins.append(word.origins[position])
        chars.append(char)
        origins.append(word.origins[position])
    return chars, origins, [index] * len(chars)


def read_launch_line(text: str) -> LaunchLine:
    """Split a gst-launch-1.0 line (the `gst-launch-1.0` word itself is optional) into options and the pipeline
    description GStreamer parses; UserError on a shell quoting error or an unknown option."""
    tokens = tokenize(text)
    if tokens and tokens[0].text.rsplit("/", 1)[-1] in LAUNCHERS and not tokens[0].quoted:
        tokens = tokens[1:]
    options: list[Option] = []
    arguments: list[Token] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        position += 1
        if token.text.startswith("-") and len(token.text) > 1:
            found, took_next = _options(text, token, tokens[position] if position < len(tokens) else None)
            options += found
            position += took_next
        else:
            arguments.append(token)
    chars: list[str] = []
    origins: list[int] = []
    word_of: list[int] = []
    for index, word in enumerate(arguments):
        escaped = _escaped(word, index)
        chars += escaped[0] + [" "]
        origins += escaped[1] + [word.end]
        word_of += escaped[2] + [-1]
    return LaunchLine(text, tuple(options), tuple(arguments), "".join(chars), tuple(origins), tuple(word_of))
