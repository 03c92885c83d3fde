"""Shared by the hot-reload tests: the clinic's documents in two versions, and clients that keep
asking while an index is rebuilt, recording which version answered each time."""

from __future__ import annotations

import json
import threading
import time
from importlib import resources
from pathlib import Path

import httpx

from mgqa.ingest import default_documents

QUESTION = "What dose of magnesium did the fibromyalgia trial use?"
OLD, NEW = "100 milligrams of a slow-release", "250 milligrams of a slow-release"


# ---------------------------------------------------------------- a clinic's documents and their builds


def write_documents(folder: Path, dose: str = OLD) -> Path:
    """The default documents as the clinic's own JSONL file, with their vocabulary beside them
    (synonyms.txt); ``dose`` edits one of them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "synonyms.txt").write_bytes((resources.files("mgqa") / "corpus" / "synonyms.txt").read_bytes())
    path = folder / "documents.jsonl"
    rows = [{"id": d.id, "title": d.title, "text": d.text.replace(OLD, dose), "source": d.source}
            for d in default_documents()]
    assert any(OLD in d.text for d in default_documents())
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def versions() -> dict[str, dict[str, str]]:
    """Each version's document texts by id."""
    return {name: {d.id: d.text.replace(OLD, dose) for d in default_documents()}
            for name, dose in (("old", OLD), ("new", NEW))}


class Clients:
    """``n`` clients asking the same question back to back until stopped, so that requests are in
    flight whenever a swap happens; each keeps its outcomes in order."""

    def __init__(self, base: str, documents: dict[str, dict[str, str]], n: int = 4):
        self.base, self.documents = base, documents
        self.outcomes: list[list[str]] = [[] for _ in range(n)]  # "old", "new", or what went wrong
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(mine,), daemon=True) for mine in self.outcomes]

    def run(self, mine: list[str]) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                try:
                    r = http.post("/api/ask", json={"question": QUESTION})
                    mine.append(self.version(r))
                except httpx.HTTPError as exc:
                    mine.append(type(exc).__name__)

    def version(self, r: httpx.Response) -> str:
        """Which build answered: every passage must be verbatim in the documents of one version."""
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:200]}"
        passages = r.json()["passages"]
        for name, texts in self.documents.items():
            if passages and all(texts[p["citation"]["doc_id"]][p["citation"]["start"]:p["citation"]["end"]] == p["text"]
                                for p in passages):
                return name if (OLD in passages[0]["text"]) == (name == "old") else "mixed"
        return "not verbatim in either version"

    def all(self) -> list[str]:
        return [o for mine in self.outcomes for o in list(mine)]

    def wait_for(self, outcome: str, count: int, seconds: float = 60) -> None:
        """Until every client has had ``count`` more answers from the ``outcome`` build."""
        start = [mine.count(outcome) for mine in self.outcomes]
        deadline = time.monotonic() + seconds
        while any(mine.count(outcome) < s + count for mine, s in zip(self.outcomes, start, strict=True)):
            assert time.monotonic() < deadline, [mine[-3:] for mine in self.outcomes]
            time.sleep(0.02)
