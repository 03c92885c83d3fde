"""Deep links to a quoted passage: the source URL with a URL Text Fragment (``#:~:text=``).

A browser that follows the link scrolls to the passage and highlights it
(https://wicg.github.io/scroll-to-text-fragment/); one that does not simply opens the page.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

EDGE_WORDS = 4  # words in textStart and in textEnd: enough to be unique on a page, short enough to read
_EMPHASIS = "*_`"
_WORDY = re.compile(r"\w")  # a token with no letter or digit (a bullet, a dash) is not in the page's text


def is_web_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace: a source a link may point at."""
    try:
        url = urlsplit(text)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.netloc) and not any(ch.isspace() for ch in text)


def passage_link(source: str | None, passage: str) -> str | None:
    """The link that opens ``source`` at ``passage``, or None when the source is not a web URL.

    Example: ``passage_link("https://c.example/mg", "Take 100 mg daily, with food.\\n\\nAsk first.")``
    -> ``"https://c.example/mg#:~:text=Take%20100%20mg%20daily%2C,Ask%20first."``
    """
    if not source or not is_web_url(source):
        return None
    base = source.split(":~:", 1)[0]  # a link to a link: its old directive would come first
    directive = text_directive(passage)
    if not directive:
        return base
    return base + (":~:" if "#" in base else "#:~:") + directive


def text_directive(passage: str) -> str:
    """``text=start[,end]``: the first words of the first paragraph and the last words of the
    last one. Each term stays inside one paragraph because a browser never matches a term
    across a block boundary; the range between them may cross paragraphs."""
    paragraphs = [words for line in passage.splitlines() if (words := _words(line))]
    if not paragraphs:
        return ""
    first, last = paragraphs[0], paragraphs[-1]
    if len(paragraphs) == 1 and len(first) <= 2 * EDGE_WORDS:
        return "text=" + encode_term(" ".join(first))  # short enough to quote whole
    start, end = first[:EDGE_WORDS], last[-EDGE_WORDS:]
    return f"text={encode_term(' '.join(start))},{encode_term(' '.join(end))}"


def _words(line: str) -> list[str]:
    """The line's words, without leading or trailing bullets and dashes that HTML lists draw, and
    without Markdown emphasis, which the published page shows as bold, not as asterisks:
    "**Can I drive?**" -> ["Can", "I", "drive?"]."""
    tokens = [t for t in (token.strip(_EMPHASIS) for token in line.split()) if t]
    while tokens and not _WORDY.search(tokens[0]):
        tokens.pop(0)
    while tokens and not _WORDY.search(tokens[-1]):
        tokens.pop()
    return tokens


def encode_term(text: str) -> str:
    """Percent-encode a term: all but letters, digits and ``_.~``; '-', ',' and '&' carry meaning
    in a text directive, so they are always encoded. Example: ``"a-b, c&d"`` -> ``"a%2Db%2C%20c%26d"``."""
    return quote(text, safe="").replace("-", "%2D")
