"""A passage's sentences and its heading, each as a vector: what tells the passage that answers
from the passages about the same thing.

On one clinic's pages every passage is about the clinic's subject, so the question's cosine with
a whole passage says little about which one answers. The cosine with the passage's best single
sentence, and with the heading it sits under (often a FAQ's own question), says much more:
leave-clinic-out on the clinic bank, they lifted the judge's Hit@1 from 0.64 to 0.69
(docs/QUALITY.md). Both are computed once, when the index is built, and memory-mapped at load.

Files in an index's data directory::

    sentences.npy        (n_sentences, dim) float16: every passage's sentences, in row order
    sentence_starts.npy  (n_chunks + 1,) int64: passage i's sentences are rows starts[i]:starts[i+1]
    sections.npy         (n_chunks, dim) float16: the heading a passage sits under (zeros: none)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgqa.sentences import sentence_spans
from mgqa.types import Chunk

FILES = ("sentences.npy", "sentence_starts.npy", "sections.npy")


@dataclass(frozen=True)
class Detail:
    sentences: np.ndarray
    starts: np.ndarray
    sections: np.ndarray

    def sentence_cosines(self, row: int, qvec: np.ndarray) -> np.ndarray:
        """The question's cosine with each sentence of passage ``row`` (at least one value)."""
        block = self.sentences[self.starts[row]:self.starts[row + 1]]
        if not len(block):
            return np.zeros(1, np.float32)
        return np.asarray(block, np.float32) @ qvec.astype(np.float32)

    def section_cosine(self, row: int, qvec: np.ndarray) -> float:
        """The question's cosine with passage ``row``'s heading (0 when it has none)."""
        return float(np.asarray(self.sections[row], np.float32) @ qvec.astype(np.float32))


def compute(chunks: list[Chunk], encoder, old_rows: np.ndarray | None = None, previous: Detail | None = None) -> Detail:
    """Sentence and heading vectors of ``chunks``; a passage whose ``old_rows`` entry points into
    ``previous`` keeps its vectors from there (a rebuild after one edit encodes one document)."""
    dim = encoder.dim
    old = old_rows if old_rows is not None and previous is not None else np.full(len(chunks), -1)
    texts: list[str] = []
    blocks: list[np.ndarray | list[str]] = []
    for c, o in zip(chunks, old, strict=True):
        if o >= 0 and previous is not None:
            blocks.append(np.asarray(previous.sentences[previous.starts[o]:previous.starts[o + 1]], np.float16))
        else:
            blocks.append([c.text[s:e] for s, e in sentence_spans(c.text)])
            texts.extend(blocks[-1])
    encoded = encoder.encode(texts).astype(np.float16) if texts else np.zeros((0, dim), np.float16)
    rows, at = [], 0
    for b in blocks:  # a passage encoded here takes its sentences' rows of ``encoded``, in order
        if isinstance(b, list):
            b, at = encoded[at:at + len(b)], at + len(b)
        rows.append(b)
    starts = np.zeros(len(chunks) + 1, np.int64)
    starts[1:] = np.cumsum([len(r) for r in rows])
    sentences = np.concatenate(rows) if rows else np.zeros((0, dim), np.float16)
    headings = sorted({c.section for c in chunks if c.section})
    vec = dict(zip(headings, encoder.encode(headings).astype(np.float16), strict=True)) if headings else {}
    sections = np.zeros((len(chunks), dim), np.float16)
    for i, c in enumerate(chunks):
        if c.section:
            sections[i] = vec[c.section]
    return Detail(sentences.reshape(-1, dim), starts, sections)


def save(detail: Detail, directory: Path) -> None:
    for name, array in zip(FILES, (detail.sentences, detail.starts, detail.sections), strict=True):
        np.save(directory / name, array, allow_pickle=False)


def load(directory: Path, n_chunks: int) -> Detail:
    """The saved arrays, memory-mapped; ValueError when they do not fit ``n_chunks`` passages."""
    sentences, starts, sections = (np.load(directory / name, mmap_mode="r", allow_pickle=False) for name in FILES)
    if len(starts) != n_chunks + 1 or len(sections) != n_chunks or starts[-1] != len(sentences):
        raise ValueError("sentence and heading vectors do not match the passages")
    return Detail(sentences, starts, sections)
