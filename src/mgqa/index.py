"""Chunks + vectors -> a self-describing FAISS index on disk, and back.

Layout of an index directory::

    manifest.json        build id, format version, model, chunking, documents (hash each),
                         synonyms (origin, sha256, entries), known questions (origin,
                         sha256, counts, who read them), the clinic file (origin, sha256, title),
                         files (sha256 each)
    data-<build id>/     chunks.jsonl, vectors.npy, dense.faiss, BM25 arrays and vocabulary,
                         synonyms.txt (a copy of the corpus's vocabulary, when it has one),
                         known.npy and known.jsonl (the known questions' vectors and the
                         passages answering each, when the corpus has them: ``known``),
                         clinic.toml (the clinic's own words, when it has a file: ``clinic``),
                         sentence and heading vectors (``detail``)

The manifest is written last and atomically (``os.replace``): a build killed at any moment
leaves the previous manifest pointing at the previous, untouched data directory, and a server
watching the directory sees either build whole, never a mix. A data directory is never changed
after its manifest is written, so the arrays are memory-mapped read-only: processes serving the
same build share its pages through the page cache. Only FAISS, JSON and ``.npy`` files are read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mgqa import __version__
from mgqa.chunking import ChunkParams, chunk_document
from mgqa.clinic import Clinic, generic
from mgqa.detail import Detail
from mgqa.errors import IndexCorrupt, IndexMismatch, IndexNotFound, StaleIndex
from mgqa.ingest import content_hash
from mgqa.known import NONE as NO_KNOWN_QUESTIONS
from mgqa.known import KnownQuestions, Memory
from mgqa.known import beside as known_beside
from mgqa.synonyms import NONE, Synonyms, beside
from mgqa.types import Chunk, Document

FORMAT_VERSION = 2  # 2: sentence and heading vectors (detail.py)
EMBEDDING_TEXT_VERSION = 2  # bump when embedding_text() changes: saved vectors go stale
MANIFEST = "manifest.json"
DATA_PREFIX = "data-"  # + the build id: UTC time of the build and a random suffix


@dataclass
class Index:
    """A loaded index: chunks in row order, their vectors, and the search structures."""

    path: Path | None
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray
    dense: Any  # faiss.Index
    lexical: Any  # mgqa.lexical.Lexical
    docs: dict[str, dict] = field(default_factory=dict)  # doc id -> manifest entry
    known: Memory | None = None  # the corpus's known questions (``known``), if it has any
    clinic: Clinic = field(default_factory=generic)  # the clinic's words, for answers and interfaces
    detail: Detail | None = None  # each passage's sentence and heading vectors, for the judge

    @property
    def model_id(self) -> str:
        return self.manifest["model"]["id"]


def build(docs: list[Document], encoder, out: Path | None, params: ChunkParams = ChunkParams(),
          sources: list[dict] | None = None, build_command: str = "mgqa index build",
          progress: Callable[[int], None] | None = None, corpus: str = "documents",
          on_total: Callable[[int], None] | None = None, synonyms: Synonyms = NONE,
          known: KnownQuestions = NO_KNOWN_QUESTIONS, clinic: Clinic | None = None) -> Index:
    """Chunk, embed and index ``docs``; save to ``out`` (atomically) when given. ``synonyms``
    expand questions for this corpus, ``known`` questions vote for its passages, and ``clinic``
    is what the interfaces say (mgqa's generic wording when None); all are saved with it.

    Documents whose content hash is unchanged since the index already at ``out`` was built keep
    their vectors, so a rebuild after one edit re-embeds only that document. ``on_total`` hears
    the number of passages once they are known, before embedding starts.
    """
    from mgqa.ann import build_ann, fits, keep_training
    from mgqa.detail import compute as compute_detail
    from mgqa.known import compile_memory, reader_id
    from mgqa.lexical import Lexical
    from mgqa.tower import asker

    previous = _previous(out, encoder, params) if out else None
    hashes = {d.id: content_hash(d) for d in docs}
    chunks = [c for d in docs for c in _chunks(d, hashes[d.id], params, previous)]
    if on_total:
        on_total(len(chunks))
    old_rows = _old_rows(chunks, hashes, previous)
    texts = embedding_texts(chunks, {d.id: d.title for d in docs})
    vectors = _embed(texts, encoder, old_rows, previous, progress)
    detail = compute_detail(chunks, encoder, old_rows, previous.detail if previous else None)
    manifest = _manifest(docs, chunks, encoder, params, sources or [], build_command)
    manifest["corpus"] = corpus
    manifest["synonyms"] = synonyms.record()
    reader = asker(encoder)  # known questions are read as a new one is: by the query tower, if one ships
    manifest["known_questions"] = known.record(reader_id(reader))
    words = clinic or generic()
    manifest["clinic"] = words.record()
    memory = compile_memory(known, docs, chunks, reader)  # checked before anything is written
    lexical = Lexical.build(texts, previous.lexical if previous else None, old_rows, synonyms)
    # Rows not carried over from the previous index: new or changed passages, and removed ones.
    changed = int((old_rows < 0).sum()) + (len(previous.vectors) - int((old_rows >= 0).sum()) if previous else 0)
    centroids = previous.centroids() if previous and keep_training(previous.training, len(chunks), changed) else None
    keep = fits(centroids, vectors)
    dense = build_ann(vectors, centroids if keep else None)
    # keep implies a previous IVF index whose training is recorded (keep_training checked it)
    manifest["ann_training"] = {"added_since": (previous.training["added_since"] + changed)
                                if keep and previous and previous.training else 0}
    index = Index(out, manifest, chunks, vectors, dense, lexical, known=memory, clinic=words, detail=detail)
    index.docs = {d["id"]: d for d in manifest["documents"]}
    if out is not None:
        save(index, out)
    return index


def _chunks(doc: Document, digest: str, params: ChunkParams, previous: Previous | None) -> list[Chunk]:
    """``doc``'s passages: the previous index's spans when the document is unchanged there
    (chunking is deterministic given the same rules, which ``_previous`` checked), else chunked."""
    rows = previous.rows.get(digest) if previous else None
    if rows is None or previous is None or previous.spans is None:
        return chunk_document(doc, params)
    return [Chunk(doc.id, start, end, doc.text[start:end], section) for start, end, section in previous.spans[rows.start:rows.stop]]


def _embed(texts: list[str], encoder, old_rows: np.ndarray, previous: Previous | None,
           progress: Callable[[int], None] | None) -> np.ndarray:
    """Vectors of ``texts``: reused where ``old_rows`` points into the previous index, else encoded."""
    vectors = np.zeros((len(texts), encoder.dim), np.float32)
    kept = np.flatnonzero(old_rows >= 0)
    if previous is not None and kept.size:
        vectors[kept] = previous.vectors[old_rows[kept]]
        if progress:
            progress(int(kept.size))
    todo = np.flatnonzero(old_rows < 0).tolist()
    batch = 256
    for b in range(0, len(todo), batch):
        rows = todo[b:b + batch]
        vectors[rows] = encoder.encode([texts[i] for i in rows])
        if progress:
            progress(len(rows))
    return vectors


def embedding_text(chunk: Chunk, title: str, sectioned: bool) -> str:
    """What is embedded and indexed. A passage of a document without headings is read under the
    document's title (a MedQuAD answer is about its title's disease); in a document with headings
    the passage alone ranked best on the gold set. The passage shown stays verbatim."""
    return chunk.text if sectioned or not title else f"{title}: {chunk.text}"


def embedding_texts(chunks: list[Chunk], titles: dict[str, str]) -> list[str]:
    sectioned = {c.doc_id for c in chunks if c.section}
    return [embedding_text(c, titles[c.doc_id], c.doc_id in sectioned) for c in chunks]


def _manifest(docs, chunks, encoder, params, sources, build_command) -> dict:
    from mgqa.ann import ann_kind

    counts = Counter(c.doc_id for c in chunks)
    return {
        "format_version": FORMAT_VERSION,
        "mgqa_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": {"id": encoder.model_id, "dim": encoder.dim, "encoder": encoder.backend},
        "chunking": params.to_dict(),
        "embedding_text": EMBEDDING_TEXT_VERSION,
        "ann": ann_kind(len(chunks)),
        "build_command": build_command,
        "n_chunks": len(chunks),
        "documents": [{"id": d.id, "title": d.title, "source": d.source, "date": d.date,
                       "origin": d.origin, "sha256": content_hash(d), "chunks": counts.get(d.id, 0)}
                      for d in docs],
        "sources": sources,
    }


# ---------------------------------------------------------------- saving


def save(index: Index, out: Path) -> None:
    """Write data into a fresh directory, then swap the manifest in atomically."""
    import faiss

    from mgqa.clinic import save as save_clinic
    from mgqa.detail import save as save_detail
    from mgqa.known import save as save_known

    out.mkdir(parents=True, exist_ok=True)
    data = DATA_PREFIX + f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    tmp = out / (data + ".tmp")
    tmp.mkdir()
    names = [f.name for f in fields(Chunk)]  # asdict's keys in asdict's order, without its deep copy
    with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as out_file:
        out_file.writelines(json.dumps({n: getattr(c, n) for n in names}, ensure_ascii=False) + "\n"
                            for c in index.chunks)
    np.save(tmp / "vectors.npy", index.vectors, allow_pickle=False)
    faiss.write_index(index.dense, str(tmp / "dense.faiss"))
    index.lexical.save(tmp)
    if index.known is not None:
        save_known(index.known, tmp)
    save_clinic(index.clinic, tmp)
    if index.detail is not None:
        save_detail(index.detail, tmp)
    for f in tmp.iterdir():
        _fsync(f)
    os.replace(tmp, out / data)
    manifest = dict(index.manifest, build_id=data.removeprefix(DATA_PREFIX), data=data,
                    files={f.name: _sha256(f) for f in sorted((out / data).iterdir())})
    _atomic_write(out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    index.manifest, index.path = manifest, out
    _remove_old_data(out, keep=data)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _remove_old_data(out: Path, keep: str) -> None:
    for d in out.iterdir():
        if d.is_dir() and d.name.startswith(DATA_PREFIX) and d.name != keep:
            shutil.rmtree(d, ignore_errors=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- loading


def read_manifest(path: Path) -> dict:
    fix = f"rebuild it with `mgqa index build --out {path}`"
    if not (path / MANIFEST).exists():
        raise IndexNotFound(f"no index at {path}: build one with `mgqa index build [PATHS] --out {path}`")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("manifest is not an object")
        version = manifest["format_version"]
        manifest["model"]["id"], manifest["data"], manifest["files"]  # noqa: B018 - required keys
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise IndexCorrupt(f"the index manifest at {path} is unreadable ({exc}); {fix}") from None
    if version != FORMAT_VERSION:
        raise IndexMismatch(f"the index at {path} has format {version}, this mgqa reads format "
                            f"{FORMAT_VERSION}; {fix}")
    return manifest


def build_id(manifest: dict) -> str:
    """The build's id: recorded since hot reload; before that, the name of its data directory."""
    return str(manifest.get("build_id") or manifest.get("data", "").removeprefix(DATA_PREFIX))


def load(path: Path, encoder=None, verify: bool = True) -> Index:
    """Load and check an index. Every problem raises one error whose message names the fix."""
    import faiss

    from mgqa.ann import configure_search
    from mgqa.clinic import load as load_clinic
    from mgqa.detail import load as load_detail
    from mgqa.known import load as load_known
    from mgqa.lexical import Lexical

    path = Path(path)
    manifest = read_manifest(path)
    fix = rebuild_hint(path, manifest)
    if encoder is not None and (manifest["model"]["id"], manifest["model"]["dim"]) != (encoder.model_id, encoder.dim):
        raise IndexMismatch(f"the index at {path} was built with {manifest['model']['id']} "
                            f"({manifest['model']['dim']}-d), not {encoder.model_id}; {fix}")
    if manifest.get("chunking") != ChunkParams().to_dict():
        raise StaleIndex(f"the index at {path} was built with other chunking rules; {fix}")
    if manifest.get("embedding_text") != EMBEDDING_TEXT_VERSION:
        raise StaleIndex(f"the index at {path} embedded passages differently; {fix}")
    data = path / manifest["data"]
    if verify:
        _verify_files(data, manifest["files"], fix)
    try:
        chunks = [Chunk(**json.loads(line)) for line in (data / "chunks.jsonl").open(encoding="utf-8")]
        vectors = np.load(data / "vectors.npy", mmap_mode="r", allow_pickle=False)
        # Memory-mapped too (faiss >= 1.11), so that server processes share the vectors.
        dense = faiss.read_index(str(data / "dense.faiss"), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        lexical = Lexical.load(data)
        known = load_known(data, len(chunks))
        clinic = load_clinic(data)
        detail = load_detail(data, len(chunks))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same problem to the user
        raise IndexCorrupt(f"the index at {path} cannot be read ({type(exc).__name__}: {exc}); {fix}") from None
    if not (len(chunks) == len(vectors) == dense.ntotal == manifest.get("n_chunks")):
        raise IndexCorrupt(f"the index at {path} is inconsistent (chunk and vector counts differ); {fix}")
    configure_search(dense)
    index = Index(path, manifest, chunks, vectors, dense, lexical, known=known, clinic=clinic, detail=detail)
    index.docs = {d["id"]: d for d in manifest["documents"]}
    return index


def rebuild_hint(path: Path | None, manifest: dict) -> str:
    command = manifest.get("build_command") or "mgqa index build"
    if "--out" not in command:
        command += f" --out {path}"
    return f"rebuild it with `{command}`"


def _verify_files(data: Path, files: dict, fix: str) -> None:
    if not data.is_dir():
        raise IndexCorrupt(f"the index data directory {data} is missing; {fix}")
    for name, digest in files.items():
        f = data / name
        if not f.exists():
            raise IndexCorrupt(f"the index file {f} is missing; {fix}")
        if _sha256(f) != digest:
            raise IndexCorrupt(f"the index file {f} is damaged (checksum mismatch); {fix}")


def check_fresh(index: Index, docs: list[Document]) -> None:
    """Raise ``StaleIndex`` naming the documents that changed since ``index`` was built."""
    built = {d["id"]: d["sha256"] for d in index.manifest["documents"]}
    now = {d.id: content_hash(d) for d in docs}
    changed = sorted(k for k in now.keys() & built.keys() if now[k] != built[k])
    added, removed = sorted(now.keys() - built.keys()), sorted(built.keys() - now.keys())
    problems = [f"{label}: {', '.join(ids)}" for label, ids in
                (("changed", changed), ("added", added), ("removed", removed)) if ids]
    if problems:
        raise StaleIndex(f"the index at {index.path} is out of date ({'; '.join(problems)}); "
                         f"{rebuild_hint(index.path, index.manifest)}")


def _check_packaged(index: Index, key: str, sha256: str, what: str) -> None:
    """The default index is stale when a packaged file it copied (the manifest's ``key``) changed."""
    record = index.manifest.get(key) or {}
    if record and not str(record.get("origin", "")).endswith("(packaged)"):
        return  # built with a clinic's own file (--known-questions, --clinic): that file is the clinic's to keep
    if record.get("sha256") != sha256:
        raise StaleIndex(f"the index at {index.path} was built with other {what}; {rebuild_hint(index.path, index.manifest)}")


def check_sources(index: Index) -> None:
    """For an index built from files: stale if a recorded source file changed on disk."""
    for src in index.manifest.get("sources", []):
        p = Path(src["path"])
        try:
            st = p.stat()
        except OSError:
            continue  # moved away: the index still holds what was vetted
        if (st.st_size, st.st_mtime_ns) != (src["size"], src["mtime_ns"]) and _sha256(p) != src["sha256"]:
            raise StaleIndex(f"{p} changed since the index at {index.path} was built; "
                             f"{rebuild_hint(index.path, index.manifest)}")


def source_records(files: list[Path]) -> list[dict]:
    out = []
    for p in files:
        st = p.stat()
        out.append({"path": str(p.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(p)})
    return out


@dataclass
class Previous:
    """What a rebuild takes from the index already at ``out``: each unchanged document's rows."""

    rows: dict[str, range]  # document hash -> its rows there
    vectors: np.ndarray
    lexical: Any  # mgqa.lexical.Lexical with its term counts, or None
    spans: list[tuple[int, int, str | None]] | None  # each row's (start, end, section), or None
    training: dict | None  # manifest["ann_training"] of an IVF index: its lists may be kept
    dense: tuple[Path, str] | None = None  # the FAISS file holding those lists, and its sha256
    detail: Detail | None = None  # its sentence and heading vectors, when readable

    def centroids(self) -> np.ndarray | None:
        """The previous IVF lists' centroids (read, checksummed, only when a rebuild keeps them)."""
        import faiss

        from mgqa.ann import centroids_of

        try:
            path, digest = self.dense  # type: ignore[misc] # None is caught below: train afresh
            _verify_files(path.parent, {path.name: digest}, "")
            return centroids_of(faiss.read_index(str(path)))
        except Exception:  # noqa: BLE001 - unreadable: train afresh
            return None


def _previous(out: Path, encoder, params: ChunkParams) -> Previous | None:
    """The compatible index already at ``out``, if any, read from its manifest and (checksummed)
    files: a document's passages are consecutive rows, in manifest order, ``chunks`` rows each,
    as ``build`` wrote them."""
    try:
        m = json.loads((out / MANIFEST).read_text(encoding="utf-8"))  # an older format's vectors still serve
        same = (m["model"]["id"], m["model"]["dim"], m["model"].get("encoder"), m.get("chunking"),
                m.get("embedding_text")) == \
            (encoder.model_id, encoder.dim, encoder.backend, params.to_dict(), EMBEDDING_TEXT_VERSION)
        if not same:
            return None
        data = out / m["data"]
        _verify_files(data, {"vectors.npy": m["files"]["vectors.npy"]}, "")
        vectors = np.load(data / "vectors.npy", allow_pickle=False)
        counts = [int(d["chunks"]) for d in m["documents"]]
    except Exception:  # noqa: BLE001 - no usable previous index: embed everything
        return None
    if sum(counts) != len(vectors) or len(vectors) != m.get("n_chunks"):
        return None
    ends = np.cumsum(counts).tolist()
    rows = {d["sha256"]: range(end - n, end) for d, n, end in zip(m["documents"], counts, ends, strict=True)}
    training = m.get("ann_training") if m.get("ann") == "ivf" else None
    if not (isinstance(training, dict) and isinstance(training.get("added_since"), int)):
        training = None
    return Previous(rows, vectors, _previous_lexical(data, m["files"], len(vectors)),
                    _previous_spans(data, m["files"], len(vectors)), training,
                    (data / "dense.faiss", m["files"].get("dense.faiss", "")), _previous_detail(data, m["files"], len(vectors)))


def _previous_detail(data: Path, files: dict, n: int) -> Detail | None:
    """The previous sentence and heading vectors (absent from indexes before format 2)."""
    from mgqa.detail import FILES
    from mgqa.detail import load as load_detail

    try:
        _verify_files(data, {k: files[k] for k in FILES}, "")
        return load_detail(data, n)
    except Exception:  # noqa: BLE001 - encode them all again
        return None


def _previous_lexical(data: Path, files: dict, n: int):
    """The previous BM25 index with its term counts (absent from indexes before they were kept)."""
    from mgqa.lexical import COUNTS, Lexical

    try:
        _verify_files(data, {k: v for k, v in files.items() if k.endswith(".index.npy") or k.endswith(".index.json")},
                      "")
        lexical = Lexical.load(data) if COUNTS in files else None
    except Exception:  # noqa: BLE001 - tokenise everything again
        return None
    return lexical if lexical is not None and lexical._n == n else None


def _previous_spans(data: Path, files: dict, n: int) -> list[tuple[int, int, str | None]] | None:
    """Each previous passage's (start, end, section): an unchanged document is not chunked again."""
    try:
        _verify_files(data, {"chunks.jsonl": files["chunks.jsonl"]}, "")
        with open(data / "chunks.jsonl", encoding="utf-8") as f:
            spans = [(r["start"], r["end"], r["section"]) for r in map(json.loads, f)]
    except Exception:  # noqa: BLE001 - chunk everything again
        return None
    return spans if len(spans) == n else None


def _old_rows(chunks: list[Chunk], hashes: dict[str, str], previous: Previous | None) -> np.ndarray:
    """Each passage's row in the previous index (its document unchanged there), else -1."""
    old = np.full(len(chunks), -1, np.int64)
    if previous is None:
        return old
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_doc.setdefault(c.doc_id, []).append(i)
    for doc_id, rows in by_doc.items():
        there = previous.rows.get(hashes[doc_id])
        if there is not None and len(there) == len(rows):
            old[rows] = there
    return old


# ---------------------------------------------------------------- which index, from which corpus

DEFAULT_CORPUS = "default"


def build_corpus(paths: list[Path], out: Path, encoder,
                 progress: Callable[[int], None] | None = None,
                 on_total: Callable[[int], None] | None = None,
                 synonyms: Path | None = None, known: Path | None = None,
                 clinic: Path | None = None) -> tuple[Index, list[str]]:
    """Build from the clinic's files (or, with no paths, the packaged default corpus).

    The corpus's synonyms are ``synonyms`` when given, else the ``synonyms.txt`` beside the
    documents (the packaged one for the default corpus), else none; its known questions likewise
    ``known`` or the ``known_questions.jsonl`` beside them, and its words ``clinic`` or the
    ``clinic.toml`` beside them (else mgqa's generic wording). All are parsed before anything is
    read or written (and the known answers checked before anything is written), so a bad line
    leaves the index at ``out`` untouched.
    Returns the index and the lines about skipped files.
    """
    from mgqa.clinic import beside as clinic_beside
    from mgqa.clinic import for_corpus
    from mgqa.ingest import default_documents, read_paths

    vocabulary = corpus_synonyms(paths, synonyms)
    questions = corpus_known_questions(paths, known)
    words = for_corpus(paths, clinic)
    if paths:
        report = read_paths(paths)
        if not report.documents:
            from mgqa.errors import IngestError

            raise IngestError("no readable documents: " + "; ".join(report.skipped[:5]))
        docs, skipped = report.documents, report.skipped
        # The synonyms file is a source too: editing it makes the index stale, like a document.
        vocab_file = synonyms or beside(paths)
        known_file = known or known_beside(paths)
        clinic_file = clinic or clinic_beside(paths)
        sources = source_records([f for f in [*report.files, vocab_file, known_file, clinic_file]
                                  if f is not None and f.is_file()])
        command = "mgqa index build " + " ".join(str(p) for p in paths)
        corpus = "files"
    else:
        docs, skipped, sources, command, corpus = default_documents(), [], [], "mgqa index build", DEFAULT_CORPUS
    index = build(docs, encoder, out, sources=sources, build_command=command,
                  progress=progress, corpus=corpus, on_total=on_total, synonyms=vocabulary, known=questions,
                  clinic=words)
    return index, skipped


def corpus_synonyms(paths: list[Path], override: Path | None = None) -> Synonyms:
    """The synonyms a build from ``paths`` uses: ``override``, the file beside the documents, or
    for the default corpus (no paths) the packaged one."""
    from importlib import resources

    from mgqa.synonyms import FILE_NAME, decode, parse, read

    if override is not None:
        return read(override)
    if paths:
        found = beside(paths)
        return read(found) if found else NONE
    packaged = (resources.files("mgqa") / "corpus" / FILE_NAME).read_bytes()
    origin = f"mgqa/corpus/{FILE_NAME} (packaged)"
    return parse(decode(packaged, origin), origin, hashlib.sha256(packaged).hexdigest())


def corpus_known_questions(paths: list[Path], override: Path | None = None) -> KnownQuestions:
    """The known questions a build from ``paths`` uses: ``override``, the file beside the
    documents, or for the default corpus (no paths) the packaged one."""
    from mgqa.known import packaged, read

    if override is not None:
        return read(override)
    if paths:
        found = known_beside(paths)
        return read(found) if found else NO_KNOWN_QUESTIONS
    return packaged()


def open_index(index_dir: str | Path | None, encoder) -> Index:
    """Load the index an interface should answer from, refusing a stale one."""
    from mgqa import settings
    from mgqa.clinic import packaged
    from mgqa.ingest import default_documents
    from mgqa.known import packaged_sha256

    path = Path(index_dir or settings.get("index_dir"))
    index = load(path, encoder)
    if index.manifest.get("corpus") == DEFAULT_CORPUS:
        check_fresh(index, default_documents())
        _check_packaged(index, "known_questions", packaged_sha256(), "known questions")
        _check_packaged(index, "clinic", packaged().sha256, "clinic words (clinic.toml)")
    else:
        check_sources(index)
    return index


def saved_clinic(index_dir: str | Path) -> Clinic:
    """The clinic's words in the build at ``index_dir``, read without loading the build (mgqa's
    generic wording when it has none, or cannot be read: loading it will say why)."""
    from mgqa.clinic import FILE_NAME
    from mgqa.clinic import load as load_clinic

    try:
        manifest = read_manifest(Path(index_dir))
        data = Path(index_dir) / manifest["data"]
        _verify_files(data, {k: v for k, v in manifest["files"].items() if k == FILE_NAME}, "")
        return load_clinic(data)
    except Exception:  # noqa: BLE001 - see the docstring
        return generic()
