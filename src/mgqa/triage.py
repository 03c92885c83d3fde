"""Emergency triage: a learned classifier over the encoder's token states, with auditable rules as a floor.

Either one raising the alarm gives the fixed emergency notice, and the answer says which did it
(``Triage(category, by, score)``). Both are data, not code:
- ``data/triage_rules.tsv``: a few general patterns that must never be missed ("kill myself",
  "not breathing"), one per line as ``category<TAB>regex``; a clinic can read and edit them.
- ``data/triage_model.json`` + ``triage.onnx``: a classifier made of MiniLM's top two
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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from mgqa.errors import MgqaError
from mgqa.normalize import fold
from mgqa.types import Triage

BENIGN = "benign"
FORMAT_VERSION = 2
MODEL_JSON = "triage_model.json"
WEIGHTS_FILE = "triage.onnx"
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


class TriageModel:
    """MiniLM's top transformer layers, fine-tuned for triage, and a softmax head, as one small
    ONNX graph (int8 weights: a quarter of the float cost, the same decisions in validation).

    It reads the token states the encoder's shared lower layers already computed for retrieval
    (``TokenStates.shared``, one message, no padding), so a question is encoded once, and gives
    a probability per class; ``classes`` end with "benign".
    """

    def __init__(self, onnx: bytes, classes: list[str], threshold: float, encoder_id: str = "",
                 recipe: dict | None = None):
        from mgqa.embed import cpu_session

        self.onnx, self.classes, self.threshold = onnx, classes, float(threshold)
        self.encoder_id, self.recipe = encoder_id, recipe
        self._session = cpu_session(onnx)  # one thread, as the encoder: steady under load on a 2-core host

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        """Class probabilities for one message's shared token states (n_tokens, dim)."""
        x = np.asarray(states, np.float32)[None]
        return self._session.run(None, {"states": x})[0][0]

    def emergency_probability(self, states: np.ndarray) -> float:
        return _alarm(self.probabilities(states), self.classes)

    def classify(self, states: np.ndarray) -> Triage | None:
        """A ``Triage`` by "model" when the emergency probability clears the threshold."""
        p = self.probabilities(states)
        alarm = _alarm(p, self.classes)
        if alarm < self.threshold:
            return None
        category = max((c for c in self.classes if c != BENIGN), key=lambda c: p[self.classes.index(c)])
        return Triage(category, "model", round(alarm, 4))

    def with_threshold(self, threshold: float) -> TriageModel:
        return TriageModel(self.onnx, self.classes, threshold, self.encoder_id, self.recipe)

    def save(self, directory: Path, recipe: dict, encoder_id: str | None = None) -> dict:
        """Write the graph and the JSON that describes and checksums it."""
        from mgqa.embed import MODEL_ID, SHARED_LAYERS

        (directory / WEIGHTS_FILE).write_bytes(self.onnx)
        meta = {"format_version": FORMAT_VERSION, "encoder": encoder_id or MODEL_ID,
                "shared_layers": SHARED_LAYERS, "classes": self.classes, "threshold": round(self.threshold, 6),
                "weights_file": WEIGHTS_FILE, "weights_sha256": hashlib.sha256(self.onnx).hexdigest(),
                "recipe": recipe}
        (directory / MODEL_JSON).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        return meta


def _alarm(p: np.ndarray, classes: list[str]) -> float:
    """The probability of any emergency: everything but "benign"."""
    return float(1 - p[classes.index(BENIGN)])


def load_model(directory: Path | None = None) -> TriageModel:
    """The shipped classifier, checked against its JSON's format and sha256."""
    from mgqa.embed import SHARED_LAYERS

    where = directory or Path(str(resources.files("mgqa") / "data"))
    fix = "reinstall mgqa, or retrain it with `make train-triage`"
    try:
        meta = json.loads((where / MODEL_JSON).read_text(encoding="utf-8"))
        onnx = (where / meta["weights_file"]).read_bytes()
        if meta.get("format_version") != FORMAT_VERSION or meta.get("shared_layers") != SHARED_LAYERS:
            raise TriageDataError(f"the triage model is format {meta.get('format_version')} over "
                                  f"{meta.get('shared_layers')} shared layers, not {FORMAT_VERSION} over "
                                  f"{SHARED_LAYERS}; {fix}")
        if hashlib.sha256(onnx).hexdigest() != meta["weights_sha256"]:
            raise TriageDataError(f"the triage model's weights do not match their checksum; {fix}")
        return TriageModel(onnx, meta["classes"], float(meta["threshold"]), meta["encoder"], meta.get("recipe"))
    except TriageDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable JSON, a missing file, a graph ORT refuses
        raise TriageDataError(f"the triage model in {where} cannot be read ({type(exc).__name__}); {fix}") from None


# ------------------------------------------------------------------ both together


class Triager:
    """Rules first (cheap, no encoding), then the classifier on the question's token states."""

    def __init__(self, rules: list[Rule], model: TriageModel | None):
        self.rules = rules
        self.model = model

    @classmethod
    def for_encoder(cls, encoder) -> Triager:
        """The shipped rules and model. The model reads only its own encoder's vectors: with any
        other encoder (the tests' fake one) only the rules run, and the log says so."""
        rules = load_rules()
        if not hasattr(encoder, "encode_tokens"):  # no token states to read: nothing to load
            log.warning("triage model skipped: encoder %s gives no token states; only the rules run",
                        getattr(encoder, "model_id", None))
            return cls(rules, None)
        model = load_model()
        if model.encoder_id != encoder.model_id:
            log.warning("triage model skipped: it reads %s states, not %s; only the rules run",
                        model.encoder_id, encoder.model_id)
            return cls(rules, None)
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
