"""Text is text: values from streams, runs, hosts and imports are escaped for Markdown by one helper, so none of
them draws an image, a link or formatting (the browser test test_sessions renders such a run in chromium)."""
from __future__ import annotations

import re
import string

import pytest

from dashboard.components.text import WORD_JOINER, plain

HOSTILE = ["![x](http://evil.invalid/x.png)", "[click](javascript:alert(1))", "<img src=x onerror=alert(1)>",
           ":red[alarm] :material/home: $\\href{http://evil.invalid}{x}$", "# heading\n> quote\n1. list",
           "**bold** _it_ `code` ~~gone~~ | a | b |", "see www.evil.invalid or HTTPS://evil.invalid or me@evil.invalid",
           "&lt;b&gt; \\*not bold\\*"]


def _shown(markdown: str) -> str:
    """What CommonMark shows for text that is only escapes and characters: each backslash escape is its character."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@pytest.mark.parametrize("value", HOSTILE)
def test_every_punctuation_character_of_data_is_escaped_and_shows_as_itself(value: str) -> None:
    escaped = plain(value)
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", escaped)
    assert not any(character in string.punctuation for character in unescaped)  # no bare Markdown syntax left
    assert _shown(escaped).replace(WORD_JOINER, "") == value


def test_bare_addresses_are_no_links() -> None:
    shown = _shown(plain("http://a.example/x https://b.example www.c.example d@e.example"))
    assert re.search(r"://|www\.|[\w.+-]@", shown, re.IGNORECASE) is None  # each split by an invisible joiner
    assert shown.replace(WORD_JOINER, "") == "http://a.example/x https://b.example www.c.example d@e.example"


def test_non_text_values_are_shown_as_their_text() -> None:
    assert plain(3.5) == "3\\.5" and plain(None) == "None"
