"""Emergency triage: a learned classifier over the question's vector, with auditable rules as a floor.

Either one raising the alarm gives the fixed emergency notice, and the answer says which did it
(``Triage(category, by, score)``). Both are data, not code:
- ``data/triage_rules.tsv``: a few general patterns that must never be missed ("kill myself",
  "not breathing"), one per line as ``category<TAB>regex``; a clinic can read and edit them.
- ``data/triage_model.json`` + ``triage_weights.npz``: a small classifier (a softmax over the
  red-flag categories and "benign") over the sentence embedding retrieval computes anyway,
  trained by ``bench/triage/train.py`` on the labelled bank ``bench/triage/bank.jsonl``; the
  JSON holds its operating threshold and the weights' sha256, checked at load.
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


@dataclass(frozen=True)
class TriageModel:
    """A feed-forward softmax classifier: ``layers`` of (weights, bias), ReLU between them.

    ``features`` says what it reads of the encoder's token states (see ``features``); ``views``
    whether it reads the whole message only ("whole") or also each sentence of a longer one,
    taking the most alarming ("sentences"): an emergency told in the middle of a long story is
    diluted in the whole message's pooled states.
    """

    classes: list[str]
    layers: list[tuple[np.ndarray, np.ndarray]]
    threshold: float
    views: str = "whole"
    features: str = "mean"
    encoder_id: str = ""
    recipe: dict | None = None

    def read(self, states: list[np.ndarray]) -> np.ndarray:
        """The feature rows for the token states of each view."""
        return np.vstack([features(s, self.features) for s in states])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, np.float32)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        if h.shape[1] == 1:  # a binary model keeps one logit: P(second class)
            p = 1 / (1 + np.exp(-h))
            return np.hstack([1 - p, p])
        h = np.exp(h - h.max(axis=1, keepdims=True))
        return h / h.sum(axis=1, keepdims=True)

    def emergency_probability(self, views: np.ndarray) -> float:
        """The most alarming view's probability of not being benign."""
        p = self.probabilities(views)
        return float((1 - p[:, self.classes.index(BENIGN)]).max())

    def classify(self, views: np.ndarray) -> Triage | None:
        """A ``Triage`` by "model" when the emergency probability clears the threshold."""
        p = self.probabilities(views)
        alarm = 1 - p[:, self.classes.index(BENIGN)]
        row = int(alarm.argmax())
        if alarm[row] < self.threshold:
            return None
        emergency = [c for c in range(len(self.classes)) if self.classes[c] != BENIGN]
        category = self.classes[max(emergency, key=lambda c: p[row, c])]
        return Triage(category, "model", round(float(alarm[row]), 4))

    def with_threshold(self, threshold: float) -> TriageModel:
        return replace(self, threshold=float(threshold))

    def save(self, directory: Path, recipe: dict, encoder_id: str | None = None) -> dict:
        """Write the weights (npz of plain arrays) and the JSON that describes and checksums them."""
        from mgqa.embed import MODEL_ID

        arrays = {f"{kind}{i}": a for i, (w, b) in enumerate(self.layers) for kind, a in (("w", w), ("b", b))}
        weights = directory / WEIGHTS_FILE
        np.savez(weights, **arrays)
        meta = {"format_version": FORMAT_VERSION, "encoder": encoder_id or MODEL_ID, "classes": self.classes,
                "threshold": round(self.threshold, 6), "views": self.views, "features": self.features,
                "layers": len(self.layers),
                "weights_file": WEIGHTS_FILE, "weights_sha256": _sha256(weights), "recipe": recipe}
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return meta


def load_model(directory: Path | None = None) -> TriageModel:
    """The shipped classifier, checked against its JSON's format and sha256."""
    where = directory or Path(str(resources.files("mgqa") / "data"))
    fix = "reinstall mgqa, or retrain it with `make train-triage`"
    try:
        meta = json.loads((where / MODEL_JSON).read_text(encoding="utf-8"))
        weights = where / meta["weights_file"]
        if meta.get("format_version") != FORMAT_VERSION:
            raise TriageDataError(f"the triage model is format {meta.get('format_version')}, not {FORMAT_VERSION}; {fix}")
        if _sha256(weights) != meta["weights_sha256"]:
            raise TriageDataError(f"the triage model's weights do not match their checksum; {fix}")
        with np.load(weights, allow_pickle=False) as z:
            layers = [(z[f"w{i}"], z[f"b{i}"]) for i in range(meta["layers"])]
    except TriageDataError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TriageDataError(f"the triage model in {where} cannot be read ({type(exc).__name__}); {fix}") from None
    if meta.get("features") not in FEATURES:
        raise TriageDataError(f"the triage model reads unknown features {meta.get('features')!r}; {fix}")
    return TriageModel(meta["classes"], layers, float(meta["threshold"]), meta.get("views", "whole"),
                       meta["features"], meta["encoder"], meta.get("recipe"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


FEATURES = ("mean", "mean+max+cls")


def features(states: np.ndarray, kind: str) -> np.ndarray:
    """What the classifier reads of one text's token states (n_tokens, dim), each part unit length.

    "mean" is the question's own vector (retrieval's); "mean+max+cls" adds the largest value of
    each dimension over the tokens and the first token's state, which keep local cues (a "no",
    "years ago", "if") that the mean smooths away.
    """
    from mgqa.embed import mean_pool

    parts = [mean_pool(states)]
    if kind == "mean+max+cls":
        parts += [_unit(states.max(axis=0)), _unit(states[0])]
    return np.concatenate(parts).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def message_views(question: str) -> list[str]:
    """The message, then each of its sentences when it has more than one.

    Example: "I'm fine. My dad just collapsed." -> [the whole, "I'm fine.", "My dad just collapsed."].
    """
    from mgqa.sentences import sentence_spans

    spans = sentence_spans(question)
    if len(spans) < 2:
        return [question]
    return [question] + [question[s:e] for s, e in spans]


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
        vector is the mean of the token states the classifier reads. Sentences of a longer
        message are encoded only when the model reads them."""
        if self.model is None:
            return encoder.encode([question])[0], None
        from mgqa.embed import mean_pool

        parts = message_views(question)[1:] if self.model.views == "sentences" else []
        states = encoder.encode_tokens([question, *parts])
        return mean_pool(states[0]), self.model.classify(self.model.read(states))


def load_rules() -> list[Rule]:
    text = (resources.files("mgqa") / "data" / RULES_FILE).read_text(encoding="utf-8")
    return parse_rules(text)
