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
from typing import TYPE_CHECKING

import numpy as np

from mgqa.errors import MgqaError
from mgqa.normalize import fold
from mgqa.sentences import sentence_spans
from mgqa.types import Triage

if TYPE_CHECKING:
    from mgqa.embed import TokenStates

BENIGN = "benign"
FORMAT_VERSION = 3  # 3: a batch of views (the whole message and its clauses) with a mask
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


# ------------------------------------------------------------------ clauses: the parts of a message

# Within a sentence, a clause starts after ; or : or a dash, or after a comma that opens a new
# question or statement ("my arm is numb, should I take magnesium"). General English joints, not
# words from any message.
CLAUSE_BREAK = re.compile(r"\s*[;:]\s+|\s+[-\u2013\u2014]+\s+|,\s+(?=(?:but|and|so|or|also|plus|should|shall|can|could|"
                          r"would|will|may|might|is|are|was|do|does|did|what|how|when|why|which|who|where|i|im|i'm|"
                          r"my|we|he|she|they|it)\b)", re.IGNORECASE)
MAX_PARTS = 8  # one batched run scores at most this many parts; longer messages are grouped


def clause_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of a message's clauses (sentences, split further at CLAUSE_BREAK), each of
    two words or more. An emergency told in one clause must not be diluted by a question beside it.

    Example: clause_spans("My chest is crushing, should I take magnesium?") -> [(0, 20), (22, 46)].
    """
    spans = []
    for start, end in sentence_spans(text):
        cursor = start
        for m in CLAUSE_BREAK.finditer(text, start, end):
            if m.start() > cursor:
                spans.append((cursor, m.start()))
            cursor = m.end()
        if end > cursor:
            spans.append((cursor, end))
    return [(s, e) for s, e in spans if len(text[s:e].split()) >= 2]


def part_tokens(offsets: np.ndarray | None, spans: list[tuple[int, int]]) -> list[np.ndarray]:
    """Each span's token indices in the message's encoding, between the message's own first
    ([CLS]) and last ([SEP]) tokens; empty when the message has a single part (the whole is
    scored anyway). Spans beyond ``MAX_PARTS`` are grouped with their neighbours."""
    if offsets is None or len(spans) < 2:
        return []
    if len(spans) > MAX_PARTS:
        size = -(-len(spans) // MAX_PARTS)
        spans = [(spans[i][0], spans[min(i + size, len(spans)) - 1][1]) for i in range(0, len(spans), size)]
    parts = [span_tokens(offsets, s, e) for s, e in spans]
    return [p for p in parts if 2 < len(p) < len(offsets)]


def span_tokens(offsets: np.ndarray, start: int, end: int) -> np.ndarray:
    """The indices of the tokens inside text[start:end], between the message's [CLS] and [SEP]."""
    offsets = np.asarray(offsets)
    real = offsets[:, 1] > offsets[:, 0]  # [CLS] and [SEP] have empty spans
    inner = np.flatnonzero(real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end))
    return np.concatenate([[0], inner, [len(offsets) - 1]])


def message_parts(text: str, offsets: np.ndarray | None) -> list[np.ndarray]:
    """The token indices of each clause of ``text`` worth scoring on its own (see part_tokens)."""
    return part_tokens(offsets, clause_spans(text)) if offsets is not None else []


# ------------------------------------------------------------------ the learned classifier


class TriageModel:
    """MiniLM's top transformer layers, fine-tuned for triage, and a softmax head, as one small
    ONNX graph (int8 weights: a quarter of the float cost, the same decisions in validation).

    It reads the token states the encoder's shared lower layers already computed for retrieval
    (``TokenStates.shared``), so a question is encoded once. It scores the whole message and each
    of its clauses (``parts``: token indices into the same states), each view alone, and the
    message's emergency probability is the highest of them; ``classes`` end with "benign".
    Training validates through this very graph and this very way of running it.
    """

    def __init__(self, onnx: bytes, classes: list[str], threshold: float, encoder_id: str = "",
                 recipe: dict | None = None):
        from mgqa.embed import cpu_session

        self.onnx, self.classes, self.threshold = onnx, classes, float(threshold)
        self.encoder_id, self.recipe = encoder_id, recipe
        # Trained and validated to read each clause too, or the whole message only (the recipe says).
        self.score_parts = bool((recipe or {}).get("score_parts", True))
        self._session = cpu_session(onnx)  # one thread, as the encoder: steady under load on a 2-core host

    def probabilities(self, states: np.ndarray, parts: list[np.ndarray] | tuple = ()) -> np.ndarray:
        """Class probabilities (1 + len(parts), n_classes): the whole message's shared token
        states (n_tokens, dim), then each part's. Each view runs alone. Batched, a view padded to
        its neighbours' width cost more than the extra call (over 60 messages of 2+ clauses: 2.60 ms
        alone, 3.01 ms parts batched, 3.39 ms all padded to the whole), and the int8 graph's
        activation scale, computed per batch, let one view's score move with the others (by up to
        0.008 over 800 bank messages): alone, a clause scores the same wherever it appears."""
        states = np.asarray(states, np.float32)
        return np.concatenate([self._run(states)] + [self._run(states[p]) for p in parts])

    def _run(self, view: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"states": view[None], "mask": np.ones((1, len(view)), np.float32)})[0]

    def parts(self, text: str, offsets: np.ndarray | None) -> list[np.ndarray]:
        """The clauses of ``text`` this model scores beside the whole (none if it reads wholes only)."""
        return message_parts(text, offsets) if self.score_parts else []

    def emergency_probability(self, states: np.ndarray, parts: list[np.ndarray] | tuple = ()) -> float:
        """The highest probability of any emergency over the whole message and its parts."""
        return max(_alarm(p, self.classes) for p in self.probabilities(states, parts))

    def classify(self, states: np.ndarray, parts: list[np.ndarray] | tuple = ()) -> Triage | None:
        """A ``Triage`` by "model" when the emergency probability of the whole message or of one
        of its parts clears the threshold; the category is that view's likeliest red flag."""
        rows = self.probabilities(states, parts)
        alarms = [_alarm(p, self.classes) for p in rows]
        best = int(np.argmax(alarms))
        if alarms[best] < self.threshold:
            return None
        p = rows[best]
        category = max((c for c in self.classes if c != BENIGN), key=lambda c: p[self.classes.index(c)])
        return Triage(category, "model", round(alarms[best], 4))

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

    def read(self, question: str, encoder) -> tuple[TokenStates | None, np.ndarray, Triage | None]:
        """One encoder run for the question: its token states (None where the encoder gives none:
        the query tower reads the shared ones), its vector pooled from the last layer, and the
        model's alarm from the shared layers' states."""
        from mgqa.embed import mean_pool

        if not hasattr(encoder, "encode_tokens"):
            return None, encoder.encode([question])[0], None
        states = encoder.encode_tokens([question])[0]
        alarm = None if self.model is None else self.model.classify(states.shared, self.model.parts(question, states.offsets))
        return states, mean_pool(states.last), alarm


def load_rules() -> list[Rule]:
    text = (resources.files("mgqa") / "data" / RULES_FILE).read_text(encoding="utf-8")
    return parse_rules(text)
