"""HTML -> readable text with headings kept (as ``#`` lines), via BeautifulSoup.

Scripts, styles, navigation, forms, footers and images never reach the text, so a page's
chrome cannot become a passage and markup in a page cannot become markup in an answer.
"""

from __future__ import annotations

from bs4 import BeautifulSoup

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
    for el in body.find_all(_BLOCKS):
        if el.find_parent(_BLOCKS):  # nested block: its parent already carries the text
            continue
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
