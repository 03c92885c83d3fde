"""Emergency triage: a learned classifier over the question's vector, with auditable rules as a floor.

Either one raising the alarm gives the fixed emergency notice, and the answer says which did it
(``Triage(category, by, score)``). Both are data, not code:
- ``data/triage_rules.tsv``: a few general patterns that must never be missed ("kill myself",
  "not breathing"), one per line as ``category<TAB>regex``; a clinic can read and edit them.
- ``data/triage_model.json`` + ``triage_weights.npz``: a classifier made of MiniLM's top two
  layers, fine-tuned, and a softmax over the red-flag categories and "benign". It reads the token
  states of the encoder's lower layers, which retrieval computes anyway, so a question is still
  encoded once. Trained by ``bench/triage/train.py`` on the labelled bank
  ``bench/triage/bank.jsonl``; the JSON holds its operating threshold and the weights' sha256,
  checked at load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from mgqa.errors import MgqaError
from mgqa.normalize import fold
from mgqa.types import Triage

BENIGN = "benign"
FORMAT_VERSION = 1
MODEL_JSON = "triage_model.json"
WEIGHTS_FILE = "triage_weights.npz"
RULES_FILE = "triage_rules.tsv"

log = logging.getLogger("mgqa.triage")


class TriageDataError(MgqaError):
    """The shipped triage rules or model are missing, altered or unreadable."""


# ------------------------------------------------------------------ rules: the floor


@dataclass(frozen=True)
class Rule:
    category: str
    pattern: re.Pattern
    line: int


def parse_rules(text: str, origin: str = RULES_FILE) -> list[Rule]:
    """``category<TAB>regex`` lines; blank lines and ``#`` comments are skipped.

    Example: "suicide\\t\\\\bkill myself\\\\b" -> [Rule("suicide", re.compile(r"\\bkill myself\\b"), 1)].
    """
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        category, sep, pattern = line.partition("\t")
        if not sep or not category.strip() or not pattern.strip():
            raise TriageDataError(f"{origin} line {n}: expected 'category<TAB>pattern'")
        try:
            rules.append(Rule(category.strip(), re.compile(pattern.strip()), n))
        except re.error as exc:
            raise TriageDataError(f"{origin} line {n}: bad pattern: {exc}") from None
    return rules


def match_rules(rules: list[Rule], question: str) -> Triage | None:
    """The first rule the folded question matches, as a ``Triage`` by "rule" (score 1.0)."""
    q = " ".join(fold(question).split())
    for rule in rules:
        if rule.pattern.search(q):
            return Triage(rule.category, "rule", 1.0)
    return None


# ------------------------------------------------------------------ the learned classifier

LAYER_PARTS = ("q", "k", "v", "o", "ln1", "f1", "f2", "ln2")
HEADS = 12
LN_EPS = 1e-12


@dataclass(frozen=True)
class TriageModel:
    """MiniLM's top transformer layers, fine-tuned for triage, and a softmax head.

    They read the token states the encoder's shared lower layers already computed for retrieval
    (``TokenStates.shared``), so a question is encoded once. ``layers`` hold each layer's arrays
    (``q.w``, ``q.b``, … ``ln2.b``; weights in x out), ``head`` the (weights, bias) over the
    pooled mean, max and first-token states; ``classes`` end with "benign". Arrays are float32
    holding float16 values: stored as float16, computed in float32 (converted once, at load).
    """

    classes: list[str]
    layers: list[dict[str, np.ndarray]]
    head: tuple[np.ndarray, np.ndarray]
    threshold: float
    encoder_id: str = ""
    recipe: dict | None = None

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        """Class probabilities for one message's shared token states (n_tokens, dim)."""
        x = np.asarray(states, np.float32)
        for p in self.layers:
            x = _layer(x, p)
        pooled = np.concatenate([_unit(x.mean(axis=0)), _unit(x.max(axis=0)), _unit(x[0])])
        logits = pooled @ self.head[0] + self.head[1]
        e = np.exp(logits - logits.max())
        return e / e.sum()

    def emergency_probability(self, states: np.ndarray) -> float:
        return float(1 - self.probabilities(states)[self.classes.index(BENIGN)])

    def classify(self, states: np.ndarray) -> Triage | None:
        """A ``Triage`` by "model" when the emergency probability clears the threshold."""
        p = self.probabilities(states)
        alarm = float(1 - p[self.classes.index(BENIGN)])
        if alarm < self.threshold:
            return None
        category = max((c for c in self.classes if c != BENIGN), key=lambda c: p[self.classes.index(c)])
        return Triage(category, "model", round(alarm, 4))

    def with_threshold(self, threshold: float) -> TriageModel:
        return replace(self, threshold=float(threshold))

    def save(self, directory: Path, recipe: dict, encoder_id: str | None = None) -> dict:
        """Write the weights (npz of plain float16 arrays) and the JSON that describes and checksums them."""
        from mgqa.embed import MODEL_ID, SHARED_LAYERS

        arrays = {f"l{i}.{k}": a.astype(np.float16) for i, p in enumerate(self.layers) for k, a in p.items()}
        arrays.update({"head.w": self.head[0].astype(np.float16), "head.b": self.head[1].astype(np.float16)})
        weights = directory / WEIGHTS_FILE
        np.savez(weights, **arrays)
        meta = {"format_version": FORMAT_VERSION, "encoder": encoder_id or MODEL_ID,
                "shared_layers": SHARED_LAYERS, "classes": self.classes, "threshold": round(self.threshold, 6),
                "layers": len(self.layers), "weights_file": WEIGHTS_FILE, "weights_sha256": _sha256(weights),
                "recipe": recipe}
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return meta


def _layer(x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """One BERT encoder layer on one unpadded message: self-attention, then the feed-forward
    block, each with a residual and LayerNorm (GELU in its tanh form, as trained)."""
    n, d = x.shape
    lin = lambda z, part: z @ p[f"{part}.w"] + p[f"{part}.b"]  # noqa: E731
    heads = lambda z: z.reshape(n, HEADS, d // HEADS).transpose(1, 0, 2)  # noqa: E731
    att = heads(lin(x, "q")) @ heads(lin(x, "k")).transpose(0, 2, 1) / float(np.sqrt(d // HEADS))
    att = np.exp(att - att.max(axis=-1, keepdims=True))
    att /= att.sum(axis=-1, keepdims=True)
    ctx = (att @ heads(lin(x, "v"))).transpose(1, 0, 2).reshape(n, d)
    x = _norm(x + lin(ctx, "o"), p, "ln1")
    h = lin(x, "f1")
    h = 0.5 * h * (1 + np.tanh(0.7978845608028654 * (h + 0.044715 * h * h * h)))  # h * h * h: ** is 300x slower
    return _norm(x + lin(h, "f2"), p, "ln2")


def _norm(x: np.ndarray, p: dict[str, np.ndarray], part: str) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + LN_EPS) * p[f"{part}.w"] + p[f"{part}.b"]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def load_model(directory: Path | None = None) -> TriageModel:
    """The shipped classifier, checked against its JSON's format and sha256."""
    from mgqa.embed import SHARED_LAYERS

    where = directory or Path(str(resources.files("mgqa") / "data"))
    fix = "reinstall mgqa, or retrain it with `make train-triage`"
    try:
        meta = json.loads((where / MODEL_JSON).read_text(encoding="utf-8"))
        weights = where / meta["weights_file"]
        if meta.get("format_version") != FORMAT_VERSION or meta.get("shared_layers") != SHARED_LAYERS:
            raise TriageDataError(f"the triage model is format {meta.get('format_version')} over "
                                  f"{meta.get('shared_layers')} shared layers, not {FORMAT_VERSION} over "
                                  f"{SHARED_LAYERS}; {fix}")
        if _sha256(weights) != meta["weights_sha256"]:
            raise TriageDataError(f"the triage model's weights do not match their checksum; {fix}")
        with np.load(weights, allow_pickle=False) as z:
            f32 = lambda name: np.ascontiguousarray(z[name], dtype=np.float32)  # noqa: E731
            layers = [{k: f32(f"l{i}.{k}") for k in (f"{part}.{wb}" for part in LAYER_PARTS for wb in "wb")}
                      for i in range(meta["layers"])]
            head = (f32("head.w"), f32("head.b"))
    except TriageDataError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TriageDataError(f"the triage model in {where} cannot be read ({type(exc).__name__}); {fix}") from None
    return TriageModel(meta["classes"], layers, head, float(meta["threshold"]), meta["encoder"], meta.get("recipe"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ both together


class Triager:
    """Rules first (cheap, no encoding), then the classifier on the question's own vector."""

    def __init__(self, rules: list[Rule], model: TriageModel | None):
        self.rules = rules
        self.model = model

    @classmethod
    def for_encoder(cls, encoder) -> Triager:
        """The shipped rules and model. The model reads only its own encoder's vectors: with any
        other encoder (the tests' fake one) only the rules run, and the log says so."""
        rules = load_rules()
        model = load_model()
        if model.encoder_id != getattr(encoder, "model_id", None) or not hasattr(encoder, "encode_tokens"):
            log.warning("triage model skipped: it reads %s vectors, not %s; only the rules run",
                        model.encoder_id, getattr(encoder, "model_id", None))
            model = None
        return cls(rules, model)

    def by_rules(self, question: str) -> Triage | None:
        return match_rules(self.rules, question)

    def read(self, question: str, encoder) -> tuple[np.ndarray, Triage | None]:
        """The question's vector for retrieval, and the model's alarm, from one encoder run: the
        vector is pooled from the last layer, the classifier reads the shared layers' states."""
        if self.model is None:
            return encoder.encode([question])[0], None
        from mgqa.embed import mean_pool

        states = encoder.encode_tokens([question])[0]
        return mean_pool(states.last), self.model.classify(states.shared)


def load_rules() -> list[Rule]:
    text = (resources.files("mgqa") / "data" / RULES_FILE).read_text(encoding="utf-8")
    return parse_rules(text)
