"""Documents in: the packaged default corpus, or a clinic's own .md/.txt/.html/.jsonl files.

A file that cannot be read is reported by name (and line) and skipped; the rest is kept.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mgqa.errors import IngestError
from mgqa.known import FILE_NAME as KNOWN_QUESTIONS_FILE
from mgqa.normalize import clean_controls
from mgqa.synonyms import FILE_NAME as SYNONYMS_FILE
from mgqa.types import Document

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl")
MAX_FILE_BYTES = 20 * 1024 * 1024  # one vetted page is kilobytes; 20 MB is a mistake or an attack
MAX_JSONL_BYTES = 200 * 1024 * 1024  # a whole corpus may arrive as one .jsonl


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
                if f.parent == p and f.name in (SYNONYMS_FILE, KNOWN_QUESTIONS_FILE):
                    continue  # the folder's vocabulary (synonyms.py) and known questions (known.py), not documents
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

        title, text = html_to_text(text)
        # again: character references (&#x202e; &#8203;) decode to the controls removed above
        title, text = clean_controls(title) if title else None, clean_controls(text)
    else:
        title = None
    if not text.strip():
        report.skip(str(path), "no readable text")
        return
    title = title or _title_from_text(text) or path.stem.replace("-", " ").replace("_", " ")
    report.documents.append(Document(doc_id, title, text, path.name, None, str(path)))


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
