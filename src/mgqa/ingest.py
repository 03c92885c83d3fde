"""Documents in: the packaged default corpus, or a clinic's own .md/.txt/.html/.jsonl files.

A page's title, address, date and author come from where sites keep them: YAML (or TOML) front
matter in Markdown (the Jekyll/Hugo/Docusaurus convention) or a reader's "Title: …" / "URL Source: …"
header lines, ``<title>`` and ``<link rel="canonical">`` in HTML, ``url`` in JSONL. Those lines
are taken out of the text, so they are never quoted as a passage.

A file that cannot be read is reported by name (and line) and skipped; the rest is kept.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from importlib import resources
from pathlib import Path

from mgqa.clinic import FILE_NAME as CLINIC_FILE
from mgqa.errors import IngestError
from mgqa.known import FILE_NAME as KNOWN_QUESTIONS_FILE
from mgqa.links import is_web_url
from mgqa.normalize import clean_controls
from mgqa.synonyms import FILE_NAME as SYNONYMS_FILE
from mgqa.types import Document, PageMeta

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl")
MAX_FILE_BYTES = 20 * 1024 * 1024  # one vetted page is kilobytes; 20 MB is a mistake or an attack
MAX_JSONL_BYTES = 200 * 1024 * 1024  # a whole corpus may arrive as one .jsonl
MAX_FRONT_MATTER = 64 * 1024  # a page's front matter is a few lines; past this it is text
# "---" (YAML) or "+++" (TOML) on the first line, a "key:" (or "key =") next, and the closing line
_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(?=[\w-]+[ \t]*[:=]|\1|\.\.\.)(.*?\n)??(\1|\.\.\.)[ \t]*(\n|\Z)", re.S)
_HEADER_LINE = re.compile(r"([A-Za-z][A-Za-z ]{0,24}):[ \t]*(\S.*)?")
# a reader's header lines ("Title: …", "URL Source: …") -> the PageMeta field each fills
HEADER_KEYS = {"title": "title", "url": "url", "url source": "url", "source": "url", "canonical": "url",
               "permalink": "url", "link": "url", "date": "date", "published": "date", "published time": "date",
               "author": "author", "markdown content": None}
# front matter keys, first found wins; only a web URL becomes the source (a permalink is often a path)
FRONT_MATTER_KEYS = {"title": ("title",), "url": ("url", "canonical_url", "canonical", "permalink", "link", "source"),
                     "date": ("date", "published", "publishDate"), "author": ("author", "authors")}


@dataclass
class IngestReport:
    documents: list[Document] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one human-readable line each
    files: list[Path] = field(default_factory=list)  # every file looked at, for staleness checks

    def skip(self, where: str, why: str) -> None:
        self.skipped.append(f"skipped {where}: {why}")


def default_documents() -> list[Document]:
    """The clinic's vetted default corpus, shipped inside the package."""
    root = resources.files("mgqa") / "corpus"
    meta = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
    docs = []
    for m in meta["documents"]:
        text = (root / m["file"]).read_text(encoding="utf-8")
        source = m.get("url") or ", ".join(x for x in (m.get("author"), m.get("publisher")) if x)
        docs.append(Document(m["id"], m["title"], text, source or None, m.get("date"), m["file"]))
    return docs


def content_hash(doc: Document) -> str:
    """What staleness checks compare: everything about a document that reaches an answer."""
    h = hashlib.sha256()
    for part in (doc.id, doc.title, doc.source or "", doc.text):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def read_paths(paths: list[Path]) -> IngestReport:
    """Read every supported file under ``paths``; unreadable ones are skipped with a reason."""
    report = IngestReport()
    files = _expand(paths, report)
    report.files = [f for f, _ in files]
    if not files and not report.skipped:
        raise IngestError("no .md, .txt, .html or .jsonl files found in: " + ", ".join(map(str, paths)))
    for f, doc_id in files:
        _read_file(f, doc_id, report)
    _drop_duplicate_ids(report)
    return report


def _expand(paths: list[Path], report: IngestReport) -> list[tuple[Path, str]]:
    """(file, document id) pairs; ids are paths relative to a given folder, so that two
    folders' index.html do not collide."""
    files: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_dir() or any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                if f.parent == p and f.name in (SYNONYMS_FILE, KNOWN_QUESTIONS_FILE, CLINIC_FILE):
                    continue  # the folder's vocabulary, known questions and words (clinic.py), not documents
                if not f.is_file():
                    report.skip(str(f), "not a regular file (a broken link, a pipe or a device)")
                    continue
                if f.suffix.lower() not in SUFFIXES:
                    report.skip(str(f), f"unsupported file type {f.suffix or '(none)'}; use .md, .txt, .html or .jsonl")
                    continue
                files.append((f, f.relative_to(p).with_suffix("").as_posix()))
        elif p.is_file():
            files.append((p, p.stem))
        elif p.exists():
            report.skip(str(p), "not a regular file (a pipe or a device)")
        else:
            report.skip(str(p), "no such file or directory")
    return files


def _read_file(path: Path, doc_id: str, report: IngestReport) -> None:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        report.skip(str(path), f"unsupported file type {suffix or '(none)'}; use .md, .txt, .html or .jsonl")
        return
    try:
        size = path.stat().st_size
        limit = MAX_JSONL_BYTES if suffix == ".jsonl" else MAX_FILE_BYTES
        if size > limit:
            report.skip(str(path), f"file is {size:,} bytes, over the {limit:,}-byte limit")
            return
        raw = path.read_bytes()
    except OSError as exc:
        report.skip(str(path), f"cannot be read ({exc.strerror or exc})")
        return
    if suffix == ".jsonl":
        _read_jsonl(path, raw, report)
        return
    text = _decode(path, raw, report)
    if text is None:
        return
    if suffix in (".html", ".htm"):
        from mgqa.htmltext import html_to_text

        meta, text = html_to_text(text)
        text = clean_controls(text)  # again: character references (&#x202e; &#8203;) decode to controls
    else:
        try:
            meta, text = front_matter(text)
        except IngestError as exc:
            report.skip(f"{path}{exc.args[1] if len(exc.args) > 1 else ''}", str(exc.args[0]))
            return
    if not text.strip():
        report.skip(str(path), "no readable text")
        return
    report.documents.append(_document(doc_id, path, text, meta))


def _document(doc_id: str, path: Path, text: str, meta: PageMeta) -> Document:
    """A page's document: its own title, else its first short line, else its file name; its web
    address, else its author, else its file name."""
    title, url, date, author = ((" ".join(clean_controls(v).split()) or None) if v else None for v in astuple(meta))
    title = title or _title_from_text(text) or path.stem.replace("-", " ").replace("_", " ")
    source = url if url and is_web_url(url) else author or path.name
    return Document(doc_id, title, text, source, date, str(path))


def front_matter(text: str) -> tuple[PageMeta, str]:
    """(the page's metadata, its text without it) for a Markdown or text page. Example:
    "---\\ntitle: Fees\\nurl: https://c.example/fees\\n---\\nWe bill…" -> (PageMeta("Fees", "https://c.example/fees"), "We bill…").
    Raises IngestError(why, ":line") when the front matter is not valid YAML or TOML."""
    m = _FRONT_MATTER.match(text[:MAX_FRONT_MATTER])
    if m is None:
        return _header_lines(text)
    data = _parse_front_matter(m.group(2) or "", toml=m.group(1) == "+++")
    if not isinstance(data, dict):  # "---" lines around text: thematic breaks, not front matter
        return PageMeta(), text
    # only a web address is a page's url (a permalink is often a path)
    fields = {name: _first(data, keys, is_web_url if name == "url" else bool) for name, keys in FRONT_MATTER_KEYS.items()}
    return PageMeta(**fields), text[m.end():]


def _parse_front_matter(block: str, toml: bool) -> object:
    import yaml

    try:
        return tomllib.loads(block) if toml else yaml.load(block, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except tomllib.TOMLDecodeError as exc:
        raise IngestError(f"front matter is not valid TOML ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 2}" if mark is not None else ""  # + the opening "---" line, 1-based
        raise IngestError(f"front matter is not valid YAML ({getattr(exc, 'problem', None) or exc})", where) from None
    except RecursionError:
        raise IngestError("front matter is nested too deeply") from None


def _first(data: dict, keys: tuple[str, ...], accept: Callable[[str], bool] = bool) -> str | None:
    """The first of ``keys`` with a text, number or date value that ``accept``s (a list of them is
    joined: "authors")."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, list) and value and all(_scalar(v) for v in value):
            text: str | None = ", ".join(_scalar(v) or "" for v in value[:10])
        else:
            text = _scalar(value)
        if text and accept(text):
            return text
    return None


def _scalar(value: object) -> str | None:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _header_lines(text: str) -> tuple[PageMeta, str]:
    """A reader's header lines at the top ("Title: …", "URL Source: …", "Markdown Content:"), after
    the page's heading if it has one, taken out of the text. A page without them is unchanged."""
    fields: dict[str, str] = {}
    start = end = offset = 0
    headed = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        m = _HEADER_LINE.fullmatch(stripped)
        name = m.group(1).lower() if m else ""
        if m and name in HEADER_KEYS:
            start, end = (start if end else offset), offset + len(line)
            if HEADER_KEYS[name] and m.group(2):
                fields.setdefault(str(HEADER_KEYS[name]), m.group(2).strip())
        elif stripped and (headed or end or not stripped.startswith("#")):
            break  # the page's text begins
        headed = headed or stripped.startswith("#")
        offset += len(line)
    if not fields:
        return PageMeta(), text
    return PageMeta(**fields), text[:start] + text[end:]


def _decode(path: Path, raw: bytes, report: IngestReport, where: str | None = None) -> str | None:
    where = where or str(path)
    if b"\0" in raw[:8192]:
        report.skip(where, "binary file, not text")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.skip(where, f"not valid UTF-8 (byte {exc.start}); save it as UTF-8")
        return None
    return clean_controls(text)


def _title_from_text(text: str) -> str | None:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:120] if len(line.split()) <= 15 else None
    return None


def _read_jsonl(path: Path, raw: bytes, report: IngestReport) -> None:
    """Line by line: one bad line (not UTF-8, not JSON, nested too deep) costs that line only."""
    if b"\0" in raw[:8192]:
        report.skip(str(path), "binary file, not text")
        return
    lines = raw.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if not any(line.strip() for line in lines):
        report.skip(str(path), "no readable text")
        return
    for lineno, raw_line in enumerate(lines, 1):
        where = f"{path}:{lineno}"
        if not raw_line.strip():
            continue
        line = _decode(path, raw_line, report, where)
        if line is None:
            continue
        if not line.strip():  # it held only control or zero-width characters, now removed
            report.skip(where, "no readable text")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            report.skip(where, f"invalid JSON ({exc.msg})")
            continue
        except RecursionError:
            report.skip(where, "invalid JSON (nested too deeply)")
            continue
        doc = _jsonl_document(obj, where, report)
        if doc is not None:
            report.documents.append(doc)


def _jsonl_document(obj: object, where: str, report: IngestReport) -> Document | None:
    if not isinstance(obj, dict):
        report.skip(where, "line is not a JSON object")
        return None
    missing = [k for k in ("id", "title", "text") if not isinstance(obj.get(k), (str, int))]
    if missing:
        report.skip(where, "missing or non-text field(s): " + ", ".join(missing))
        return None
    text = clean_controls(str(obj["text"]))
    if not text.strip():
        report.skip(where, "empty text")
        return None
    source = obj.get("url") or obj.get("source")
    date = obj.get("date")
    return Document(str(obj["id"]), clean_controls(str(obj["title"])).strip(), text,
                    str(source) if source else None, str(date) if date else None, where)


def _drop_duplicate_ids(report: IngestReport) -> None:
    seen: dict[str, str] = {}
    kept = []
    for doc in report.documents:
        if doc.id in seen:
            report.skip(doc.origin or doc.id, f"duplicate document id {doc.id!r} (first seen in {seen[doc.id]})")
            continue
        seen[doc.id] = doc.origin or doc.id
        kept.append(doc)
    report.documents = kept
