"""HTML -> readable text with headings kept (as ``#`` lines), via BeautifulSoup.

Scripts, styles, navigation, forms, footers and images never reach the text, so a page's
chrome cannot become a passage and markup in a page cannot become markup in an answer.
"""

from __future__ import annotations

from collections.abc import Iterator

from bs4 import BeautifulSoup, Tag

_DROP = ["script", "style", "noscript", "template", "nav", "footer", "header", "form", "aside",
         "iframe", "svg", "img", "picture", "video", "audio", "button", "select", "figure"]
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "dt", "dd", "td", "th"]


def html_to_text(html: str) -> tuple[str | None, str]:
    """Return (title, text). Example: ``<h2>Dose</h2><p>100 mg.</p>`` -> (None, "## Dose\\n\\n100 mg.")."""
    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup.find_all(_DROP):
        tag.decompose()
    body = soup.body or soup
    lines = []
    for el in _outer_blocks(body):
        text = " ".join(el.get_text(" ", strip=True).split())
        if not text:
            continue
        if el.name in _HEADINGS:
            lines.append("#" * _HEADINGS[el.name] + " " + text)
        elif el.name == "li":
            lines.append("• " + text)
        else:
            lines.append(text)
    if not lines:  # a page of bare text without block tags
        lines = [" ".join(t.split()) for t in body.get_text("\n").split("\n") if t.strip()]
    return (title or None), "\n\n".join(lines)


def _outer_blocks(body: Tag) -> Iterator[Tag]:
    """Block elements not inside another block, in document order.

    One pass down the tree: asking each block for its ancestors instead is quadratic in the
    nesting depth, and a page with a few thousand unclosed ``<div>`` tags took minutes.
    """
    if body.find_parent(_BLOCKS):  # a body inside a block (a malformed page): read as bare text instead
        return
    stack = list(reversed(body.contents))
    while stack:
        node = stack.pop()
        if not isinstance(node, Tag):
            continue
        if node.name in _BLOCKS:
            yield node  # a nested block's text is already in its parent's
        else:
            stack.extend(reversed(node.contents))
