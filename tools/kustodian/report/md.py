"""Markdown for text that comes from the checked tree (names, images, paths, messages): it
must render as the text it is, never as Markdown, HTML, a link or an @mention, and never break
out of the table cell, code span or fence it is put in. The PR author writes that text."""

from __future__ import annotations

import html
import re

# ASCII punctuation CommonMark lets a backslash escape and that means something inline
_SPECIAL = re.compile(r"([\\`*_\[\]()#+\-.!|~{}])")
_JOINER = "\u2060"   # WORD JOINER: invisible, breaks @mentions and autolinks
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")


def text(value: object) -> str:
    """Prose (one table cell or paragraph line): Markdown and HTML escaped, line breaks
    folded, @mentions and autolinks broken."""
    flat = " ".join(str("" if value is None else value).split())
    flat = _AUTOLINK.sub(lambda m: m.group(1)[0] + _JOINER + m.group(1)[1:], flat)
    return html.escape(_SPECIAL.sub(r"\\\1", flat), quote=False)


def code(value: object, *, table: bool = True) -> str:
    """A code span holding `value` verbatim (one line): a backtick fence longer than any run
    inside; in a table cell, `|` escaped (GitHub splits cells before reading code spans)."""
    flat = " ".join(str("" if value is None else value).split())
    if not flat:
        return ""
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    if table:
        flat = flat.replace("|", "\\|")
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def fence(lines: list[str]) -> str:
    """A code fence no line of `lines` can close: longer than any backtick run in them."""
    longest = max((len(r) for line in lines for r in re.findall(r"`{3,}", line)), default=0)
    return "`" * max(3, longest + 1)


def attr(value: object) -> str:
    """Text inside raw HTML (`<summary><code>...</code>`)."""
    return html.escape(" ".join(str("" if value is None else value).split()), quote=True)
