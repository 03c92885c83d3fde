"""Every setting in one table: defaults, help and ``MGQA_*`` environment overrides derive from it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "MGQA_" + self.name.upper()


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


SETTINGS: list[Setting] = [
    Setting("index_dir", str(REPO_ROOT / "index"), "Directory of the index that `ask` and the server use."),
    Setting("cache_dir", str(Path.home() / ".cache" / "mgqa"),
            "Where the locally exported fast encoder and evaluation indexes are cached.", str),
    Setting("encoder", "auto", "Query/passage encoder: auto (ONNX if available), onnx or torch."),
    Setting("judge", True, "Rank and abstain with the learned answer judge (off: fused order and a cosine "
            "threshold; for comparison and constrained hosts).", _bool),
    Setting("judge_threshold", 0.0, "The answer probability below which the answer is no_answer; 0: the "
            "model's own, chosen by its training sweep (the known questions' model, else the judge's). Higher "
            "abstains more (see `mgqa eval --sweep`).", float),
    Setting("tower", True, "Read questions with the query tower, trained for answering across clinics (off: the "
            "encoder's own question vector; the judge learned on the tower's).", _bool),
    Setting("known_questions", True, "Let the index's known patient questions (known_questions.jsonl beside "
            "the documents) vote with the judge (off: the judge alone; needs the judge).", _bool),
    Setting("top_k", 3, "Passages returned per answer.", int),
    Setting("max_question_chars", 1000, "Longest question accepted, in characters.", int),
    Setting("host", "127.0.0.1", "Address the server binds to."),
    Setting("port", 7860, "Port the server listens on.", int),
    Setting("allowed_origins", [], "Comma-separated origins allowed to embed the widget and call "
            "the API (default: only the server's own origin).", _list),
    Setting("max_body_bytes", 16384, "Largest accepted HTTP request body, in bytes.", int),
    Setting("max_concurrency", 4, "Answers computed at once by the server; more wait.", int),
    Setting("max_queue", 64, "Requests allowed to wait; beyond that the server answers 503.", int),
    Setting("workers", 1, "Server processes sharing the port (`mgqa serve --workers`).", int),
    Setting("reload_seconds", 1.0, "How often the server looks for a new index build (0: only on SIGHUP).",
            float),
    Setting("log_questions", False, "Write questions and answer status to the log (off: private).",
            _bool),
]

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> Any:
    """The setting's value: its ``MGQA_*`` environment variable if set, else its default."""
    setting = _BY_NAME[name]
    raw = os.environ.get(setting.env)
    if raw is None or raw == "":
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        from mgqa.errors import MgqaError

        raise MgqaError(f"{setting.env}={raw!r} is not valid: {exc}") from None
