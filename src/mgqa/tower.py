"""The query tower: the question's side of retrieval, re-trained for answering (issue 21).

The bundled encoder gives questions and passages the same vector space, learned on general text.
A clinic's pages need something narrower: among passages that are all about the same thing, the
one that answers. The tower is MiniLM's layers 5-6 re-trained on the question side only (on many
clinics' questions against their own clinics' passages: ``bench/tower/train.py``). It reads the
shared layer-4 token states the encoder already computed (the ones triage reads), so a question
costs two more layers over its own tokens, and its vector is compared with the passage, sentence
and heading vectors the index already holds: nothing is re-embedded. Known questions keep the
encoder's own vector, since they are compared question to question.

Shipped as ``data/tower.onnx`` (int8 weights) + ``data/tower_model.json`` (sha256, the encoder it
reads); ``MGQA_TOWER=off`` uses the encoder's own question vector instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from pathlib import Path

import numpy as np

from mgqa.errors import MgqaError

log = logging.getLogger(__name__)

MODEL_JSON, WEIGHTS_FILE = "tower_model.json", "tower.onnx"
FORMAT_VERSION = 1
FIX = "reinstall mgqa or run `make train-tower`, or set MGQA_TOWER=off to ask with the encoder's own vector"


class TowerDataError(MgqaError):
    """The shipped query tower is missing, altered or unreadable."""

    http_status = 503


class QueryTower:
    """Shared token states of one question -> its unit vector for retrieval and the judge."""

    def __init__(self, onnx: bytes, encoder_id: str, recipe: dict | None = None):
        from mgqa.embed import cpu_session

        self.onnx, self.encoder_id, self.recipe = onnx, encoder_id, recipe or {}
        self.sha256 = hashlib.sha256(onnx).hexdigest()
        self._session = cpu_session(onnx)  # one thread, as the encoder and triage

    def vector(self, shared: np.ndarray) -> np.ndarray:
        states = np.asarray(shared, np.float32)[None]
        v = self._session.run(None, {"states": states, "mask": np.ones(states.shape[:2], np.float32)})[0][0]
        return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)

    def save(self, directory: Path, recipe: dict) -> dict:
        meta = {"format": FORMAT_VERSION, "encoder": self.encoder_id, "weights_file": WEIGHTS_FILE,
                "sha256": self.sha256, "recipe": recipe}
        (directory / WEIGHTS_FILE).write_bytes(self.onnx)
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return meta


def data_dir() -> Path:
    return Path(str(resources.files("mgqa") / "data"))


def load_tower(directory: Path | None = None) -> QueryTower:
    """The tower in ``directory`` (the package's data), its sha256 checked; ``TowerDataError``
    (one line) when unusable."""
    base = Path(directory) if directory else data_dir()
    try:
        meta = json.loads((base / MODEL_JSON).read_text(encoding="utf-8"))
        blob = (base / meta["weights_file"]).read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TowerDataError(f"the query tower cannot be read ({exc.__class__.__name__}: {exc}); {FIX}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
        raise TowerDataError(f"the query tower in {base} is of another format; {FIX}")
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise TowerDataError(f"the query tower weights {base / WEIGHTS_FILE} are damaged (sha256 differs); {FIX}")
    try:
        return QueryTower(blob, str(meta.get("encoder", "")), meta.get("recipe"))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a bad graph
        raise TowerDataError(f"the query tower weights cannot be loaded ({exc.__class__.__name__}); {FIX}") from None


_LOADED: list[QueryTower] = []


def for_encoder(encoder) -> QueryTower | None:
    """The shipped tower for an engine using ``encoder``: None when MGQA_TOWER is off, or the
    encoder gives no token states or is not the one the tower reads (the tests' fake one).
    Loaded once per process; ``TowerDataError`` when missing or damaged."""
    from mgqa import settings

    if not settings.get("tower") or not hasattr(encoder, "encode_tokens"):
        return None
    if not _LOADED:
        _LOADED.append(load_tower())
    tower = _LOADED[0]
    if tower.encoder_id != getattr(encoder, "model_id", None):
        log.warning("query tower skipped: it reads %s states, not %s", tower.encoder_id, getattr(encoder, "model_id", None))
        return None
    return tower


def asker(encoder, tower: QueryTower | None | str = "auto"):
    """What reads questions for ``encoder``: ``tower``'s ``AskingEncoder`` ("auto": the shipped
    tower, ``for_encoder``), or the encoder itself when there is none."""
    reader = for_encoder(encoder) if isinstance(tower, str) else tower
    return encoder if reader is None else AskingEncoder(encoder, reader)


class AskingEncoder:
    """``encoder`` with its question side replaced: ``encode`` gives the tower's vectors of
    questions (from the same shared token states); everything else is the encoder's, so the
    index's passage vectors stay the encoder's own (known questions are questions: the tower's)."""

    def __init__(self, encoder, tower: QueryTower):
        self.base, self.tower = encoder, tower

    def __getattr__(self, name):
        return getattr(self.base, name)

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        return self.encode_both(texts, batch_size)[0]

    def encode_both(self, texts, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(the tower's vectors, the encoder's own) from one encoder run per batch."""
        from mgqa.embed import mean_pool

        texts = list(texts)
        asked = np.zeros((len(texts), self.base.dim), np.float32)
        plain = np.zeros_like(asked)
        for b in range(0, len(texts), batch_size):
            for i, states in enumerate(self.base.encode_tokens(texts[b:b + batch_size]), b):
                asked[i], plain[i] = self.tower.vector(states.shared), mean_pool(states.last)
        return asked, plain
