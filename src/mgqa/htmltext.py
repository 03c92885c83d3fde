"""HTML -> readable text with headings kept (as ``#`` lines), and what the page says about itself.

Scripts, styles, navigation, forms, footers and images never reach the text, so a page's
chrome cannot become a passage and markup in a page cannot become markup in an answer. A FAQ's
questions are kept as headings wherever a page sets them: ``<summary>`` of an accordion, ``<dt>``
of a definition list, an accordion's toggle button, or a question of its schema.org ``FAQPage``
markup (JSON-LD), whose answers are added when the page does not show them as text.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator

from bs4 import BeautifulSoup, NavigableString, Tag

from mgqa.links import is_web_url
from mgqa.types import PageMeta

_DROP = ["head", "title", "script", "style", "noscript", "template", "nav", "footer", "header", "form", "aside",
         "iframe", "svg", "img", "picture", "video", "audio", "button", "select", "figure"]
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_QUESTIONS = ("summary", "dt")  # an accordion's and a definition list's titles: a FAQ's questions
_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "dt", "dd", "td", "th", "summary"]
_INLINE = {"a", "abbr", "b", "bdi", "cite", "code", "data", "del", "em", "i", "ins", "kbd", "label", "mark", "q",
           "s", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr", "font"}
QUESTION_LEVEL = 3  # a FAQ question under the page's h1/h2
_BREAK = "\0"  # stands for <br> until a block's text is cut into lines (controls were removed on reading)
MAX_LD_NODES = 10_000  # a page's JSON-LD is a few dozen nodes; more is a mistake or an attack


def html_to_text(html: str) -> tuple[PageMeta, str]:
    """Return (what the page says about itself, its text).

    Example: ``<title>FAQ</title><h2>Dose</h2><p>100 mg.</p>`` -> (PageMeta(title="FAQ"), "## Dose\\n\\n100 mg.")."""
    soup = BeautifulSoup(html, "html.parser")
    meta, faq = page_meta(soup), _faq_entries(soup)  # read before scripts and <head> are dropped
    body = soup.body or soup
    asked = {_norm(q) for q, _ in faq}
    lines = _fragment_lines(body, asked)
    if not lines:  # a page of bare text without block tags
        lines = [" ".join(t.split()) for t in body.get_text("\n").replace(_BREAK, "\n").split("\n") if t.strip()]
    return meta, "\n\n".join(lines + _unshown(faq, lines))


def page_meta(soup: BeautifulSoup) -> PageMeta:
    """``<title>`` (else ``og:title``), ``<link rel="canonical">`` (else ``og:url``), the published date and author."""
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    canonical = soup.find("link", rel="canonical", href=True)
    urls = (_attr_text(canonical.get("href")) if isinstance(canonical, Tag) else None, _meta(soup, "og:url"))
    return PageMeta(title=" ".join((title or _meta(soup, "og:title") or "").split()) or None,
                    url=next((u for u in urls if u and is_web_url(u)), None),  # a relative canonical is no address
                    date=_meta(soup, "article:published_time") or _meta(soup, "date"),
                    author=_meta(soup, "author"))


def _meta(soup: BeautifulSoup, key: str) -> str | None:
    tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
    return _attr_text(tag.get("content")) if isinstance(tag, Tag) else None


def _attr_text(value: object) -> str | None:
    return (" ".join(value.split()) or None) if isinstance(value, str) else None


def _faq_entries(soup: BeautifulSoup) -> list[tuple[str, str]]:
    """(question, answer) of each schema.org ``Question`` in the page's JSON-LD; an answer may hold HTML."""
    pairs = []
    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json.loads(script.string or "")
        except (ValueError, RecursionError):
            continue  # broken markup: the page's visible text still counts
        for node in _ld_nodes(data):
            answer = node.get("acceptedAnswer")
            answer = answer[0] if isinstance(answer, list) and answer else answer
            if _ld_type(node) == "question" and isinstance(node.get("name"), str) and isinstance(answer, dict):
                question, text = " ".join(node["name"].split()), answer.get("text")
                if question and isinstance(text, str) and text.strip():
                    pairs.append((question, text))
    return pairs


def _ld_nodes(data: object) -> Iterator[dict]:
    """Every object in a JSON-LD document (``@graph``, ``mainEntity`` and lists included), breadth first."""
    queue: deque[object] = deque([data])
    for _ in range(MAX_LD_NODES):
        if not queue:
            return
        node = queue.popleft()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        queue.extend(v for v in children if isinstance(v, (dict, list)))
        if isinstance(node, dict):
            yield node


def _ld_type(node: dict) -> str:
    kind = node.get("@type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    return kind.rsplit("/", 1)[-1].lower() if isinstance(kind, str) else ""


def _is_toggle(tag: Tag) -> bool:
    """An accordion's toggle button: its text is the question ("Do you take walk-ins?"); a menu's is not."""
    if tag.name != "button" or not (tag.has_attr("aria-expanded") or tag.has_attr("aria-controls")
                                    or "collapse" in (tag.get("data-bs-toggle"), tag.get("data-toggle"))):
        return False
    text = tag.get_text(" ", strip=True)
    return text.endswith("?") or len(text.split()) >= 3


def _blocks(body: Tag) -> Iterator[tuple[str, str]]:
    """(tag name, text) of each block not inside another block, in document order; loose text
    between blocks (an accordion's answer often sits directly in a ``<div>``) is a block of its own.

    One pass down the tree: asking each block for its ancestors instead is quadratic in the
    nesting depth, and a page with a few thousand unclosed ``<div>`` tags took minutes.
    """
    if body.find_parent(_BLOCKS):  # a body inside a block (a malformed page): read as bare text instead
        return
    loose: list[str] = []  # text and inline tags since the last block began or ended
    stack: list[tuple[object, bool]] = [(node, False) for node in reversed(body.contents)]
    while stack:
        node, leaving = stack.pop()
        if type(node) is NavigableString:  # not a comment, a doctype or a CDATA section
            loose.append(str(node))
        if not isinstance(node, Tag):
            continue
        if node.name in _INLINE:
            stack += [(child, False) for child in reversed(node.contents)]
            continue
        if "".join(loose).strip():
            yield "div", "".join(loose)
        loose.clear()
        if leaving:
            continue
        if node.name in _BLOCKS or _is_toggle(node):
            yield node.name, node.get_text(" ")  # a nested block's text is already in its parent's
        elif node.name == "hr":
            yield "hr", "---"  # a separator between FAQ items
        else:
            stack.append((node, True))  # leaving a container ends the loose text inside it
            stack += [(child, False) for child in reversed(node.contents)]
    if "".join(loose).strip():
        yield "div", "".join(loose)


def _line(name: str, text: str, asked: set[str]) -> str:
    """A block as a line of the text: headings as ``#`` lines, questions as headings, list items as
    bullets, a ``<br>`` as a line break; "" for a block without text."""
    parts = [" ".join(part.split()) for part in text.split(_BREAK)]
    text = "\n".join(part for part in parts if part)
    if not text:
        return ""
    if name in _HEADINGS:
        return "#" * _HEADINGS[name] + " " + " ".join(text.split())
    if name in _QUESTIONS or name == "button" or _norm(text) in asked:
        return "#" * QUESTION_LEVEL + " " + " ".join(text.split())
    if name == "li":
        return "• " + text
    return text


def _fragment_lines(soup: Tag, asked: set[str]) -> list[str]:
    """The lines of a page's (or a JSON-LD answer's) text, without its chrome."""
    for tag in soup.find_all(_DROP):
        if not _is_toggle(tag):
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with(_BREAK)
    return [line for name, text in _blocks(soup) if (line := _line(name, text, asked))]


def _unshown(faq: list[tuple[str, str]], lines: list[str]) -> list[str]:
    """The FAQPage questions and answers whose answer the page does not show as text (a script
    loads it), so that they can be quoted too: they are the clinic's own words on that page."""
    shown = _norm(" ".join(lines))
    extra = []
    for question, answer in faq:
        answer_lines = _fragment_lines(BeautifulSoup(answer, "html.parser"), set())
        if answer_lines and _norm(" ".join(answer_lines)) not in shown:
            extra += ["#" * QUESTION_LEVEL + " " + question, *answer_lines]
    return extra


def _norm(text: str) -> str:
    return " ".join(text.replace("•", " ").split()).casefold()
