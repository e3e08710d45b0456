"""Text is text: the one escape for values shown inside Markdown (st.markdown, st.caption, st.error, st.info, ...).

Every value that comes from a stream, a run, a host, a file, an error or an import goes through `plain` before it is
put into a Markdown string, so no data can draw an image, a link, a heading or any other formatting (a Markdown
image would make every viewer's browser fetch its address). Every ASCII punctuation character is backslash-escaped,
which CommonMark renders as the character itself. Streamlit's renderer also turns bare addresses in text into links
(GFM autolinks: `http://...`, `www....`, `name@host`) after escapes are resolved, so an invisible word joiner
(U+2060) is put inside each `://`, `www.` and before each `@`: the text reads the same, but is no link. Values shown
by elements that draw plain text (tables, JSON, code, select boxes) need no escape.
"""
from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")  # ASCII punctuation: the characters CommonMark lets a backslash escape
_AUTOLINK_STARTS = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain(value: object) -> str:
    """`value` as Markdown that shows exactly its text, with no link, image or formatting."""
    unlinked = _AUTOLINK_STARTS.sub(WORD_JOINER, str(value))
    return _PUNCTUATION.sub(lambda match: "\\" + match.group(0), unlinked)
