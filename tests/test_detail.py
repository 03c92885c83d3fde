"""Each passage's sentence and heading vectors (detail.py): built with the index, kept across a
rebuild, loaded memory-mapped, and refused when they do not fit the passages."""

from __future__ import annotations

import numpy as np
import pytest

from mgqa.detail import Detail, compute
from mgqa.errors import IndexCorrupt
from mgqa.index import build_corpus, load
from mgqa.sentences import sentence_spans

FAQ = """# Questions

## Can I drive home after the procedure?

No. You will have had sedation, so someone must collect you. Plan to rest for the day.

## How long does the appointment take?

Allow about two hours in total.
"""


def test_every_sentence_and_heading_has_its_vector(tmp_path, fake):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.md").write_text(FAQ)
    index, _ = build_corpus([tmp_path / "docs"], tmp_path / "ix", fake)
    d = index.detail
    for row, chunk in enumerate(index.chunks):
        spans = sentence_spans(chunk.text)
        block = np.asarray(d.sentences[d.starts[row]:d.starts[row + 1]], np.float32)
        assert len(block) == len(spans)
        np.testing.assert_allclose(block, fake.encode([chunk.text[s:e] for s, e in spans]), atol=2e-3)
        heading = fake.encode([chunk.section])[0] if chunk.section else np.zeros(fake.dim)
        np.testing.assert_allclose(np.asarray(d.sections[row], np.float32), heading, atol=2e-3)
    drive = next(i for i, c in enumerate(index.chunks) if "drive" in (c.section or ""))
    q = fake.encode(["can I drive home after the procedure"])[0]
    assert d.section_cosine(drive, q) > 0.9  # the FAQ's own question
    long_q = fake.encode(["how many hours in total should I allow"])[0]
    cos = d.sentence_cosines(drive + 1, long_q)
    assert cos.argmax() == len(cos) - 1 and cos.max() > 0.5  # "Allow about two hours in total."


def test_loaded_memory_mapped_and_identical(tmp_path, fake):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.md").write_text(FAQ)
    built, _ = build_corpus([tmp_path / "docs"], tmp_path / "ix", fake)
    loaded = load(tmp_path / "ix", fake)
    assert isinstance(loaded.detail.sentences, np.memmap)
    np.testing.assert_array_equal(loaded.detail.sentences, built.detail.sentences)
    np.testing.assert_array_equal(loaded.detail.sections, built.detail.sections)


def test_mismatched_arrays_are_a_corrupt_index(tmp_path, fake):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.md").write_text(FAQ)
    index, _ = build_corpus([tmp_path / "docs"], tmp_path / "ix", fake)
    data = tmp_path / "ix" / index.manifest["data"]
    np.save(data / "sentence_starts.npy", np.zeros(2, np.int64))
    with pytest.raises(IndexCorrupt, match="cannot be read"):
        load(tmp_path / "ix", fake, verify=False)


def test_a_passage_without_sentences_has_none():
    class Enc:
        dim = 4

        def encode(self, texts):
            return np.ones((len(texts), 4), np.float32) / 2

    from mgqa.types import Chunk

    d = compute([Chunk("a", 0, 3, "   ", None), Chunk("a", 3, 9, "Hello.", "Hi?")], Enc())
    assert list(d.starts) == [0, 0, 1]
    assert isinstance(d, Detail) and d.sentence_cosines(0, np.ones(4, np.float32)).tolist() == [0.0]
    assert d.section_cosine(0, np.ones(4, np.float32)) == 0.0
