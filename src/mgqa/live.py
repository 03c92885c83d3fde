"""The index a server answers from, replaced by a new build while it runs (hot reload).

`mgqa index build --out DIR` writes a new data directory, then replaces DIR/manifest.json
atomically (see index.py). A server watching DIR notices the new manifest (a ``stat`` of that one
file, at most once every MGQA_RELOAD_SECONDS, or at once on SIGHUP), loads and verifies the new
build beside the one it serves, warms it up, and swaps it in. Each request keeps the engine it
started with, so requests in flight finish on the old build and none waits for the swap. A build
that fails verification is not swapped in: the old one keeps serving and the log says why in
one line, once per build.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from mgqa import settings
from mgqa.answer import Engine
from mgqa.index import MANIFEST, build_id, read_manifest
from mgqa.types import Answer

log = logging.getLogger("mgqa.reload")

# Any question will do: it runs the encoder, both searches and fills the per-index caches
# (title terms) that the first patient on a new build would otherwise wait for.
WARM_UP_QUESTION = "What should I know before my appointment?"

Stamp = tuple[int, int, int] | None  # the manifest file's (inode, mtime ns, size); None when missing


@dataclass(frozen=True)
class Build:
    """The build a server process answers from, as /healthz reports it."""

    build_id: str
    documents: int
    passages: int
    built: str | None  # UTC, from the manifest

    @classmethod
    def of(cls, engine: Engine) -> Build:
        m = engine.index.manifest
        return cls(build_id(m), len(m["documents"]), len(engine.index.chunks), m.get("created"))


@dataclass(frozen=True)
class Refusal:
    """The newest build on disk that could not be loaded, and why (one line)."""

    build_id: str | None  # None when even its manifest was unreadable
    reason: str
    error: BaseException

    def to_dict(self) -> dict:
        return {"build_id": self.build_id, "reason": self.reason}


def manifest_stamp(path: Path) -> Stamp:
    """What changes when a build replaces the manifest (``os.replace`` gives it a new inode)."""
    try:
        st = os.stat(path / MANIFEST)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def one_line(exc: BaseException) -> str:
    """mgqa's errors already say what to do; anything else is named by type (no traceback)."""
    from mgqa.errors import MgqaError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, MgqaError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


_NEVER = object()  # a stamp no manifest has: the first check always looks


class LiveEngine:
    """``Engine.ask`` on the newest good build in ``path``; safe to call from many threads."""

    def __init__(self, path: str | Path | None = None, encoder=None):
        self.path = Path(path or settings.get("index_dir"))
        self._encoder = encoder  # None: the `encoder` setting's, loaded with the first build
        self._engine: Engine | None = None
        self.build: Build | None = None
        self.refused: Refusal | None = None
        self._seen: object = _NEVER  # the manifest stamp last acted on
        self._lock = threading.Lock()  # one load at a time; answering never takes it

    def ask(self, question: str, history: list[str] | None = None, k: int | None = None) -> Answer:
        return self.engine().ask(question, history, k)

    def engine(self) -> Engine:
        """The engine to answer one request with (loading the first build if none is loaded)."""
        engine = self._engine
        if engine is not None:
            return engine
        with self._lock:
            stamp = manifest_stamp(self.path)
            if self._engine is None and (self.refused is None or stamp != self._seen):
                self._load(stamp, None)
            engine = self._engine
        if engine is None:
            assert self.refused is not None
            raise _again(self.refused.error)  # the same line, until the index changes
        return engine

    def refresh(self, forced: bool = False) -> bool:
        """Swap in the build on disk if it is new since the last look (``forced``: look anyway, and
        retry a refused build). True when a new build was swapped in."""
        stamp = manifest_stamp(self.path)
        if stamp == self._seen and not forced:
            return False
        with self._lock:
            if stamp == self._seen and not forced:
                return False
            try:
                on_disk = build_id(read_manifest(self.path))
            except Exception as exc:  # noqa: BLE001 - an unreadable manifest is a refused build
                self._seen = stamp
                self._refuse(None, exc)
                return False
            if self.build is not None and on_disk == self.build.build_id:
                self._seen = stamp
                return False
            return self._load(stamp, on_disk)

    def _load(self, stamp: Stamp, on_disk: str | None) -> bool:
        """Load, verify and warm up the build on disk, then swap it in; False if it was refused."""
        self._seen = stamp
        current = self._engine
        try:
            engine = Engine.load(self.path, self._encoder or (current.encoder if current else None))
            warm_up(engine)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the old build keeps serving
            self._refuse(on_disk, exc)
            return False
        previous = self.build
        self._engine = engine  # the swap: each request reads this once, so it sees old or new, whole
        self.build, self.refused = Build.of(engine), None
        b = self.build
        log.info("serving index build %s (%d documents, %d passages, built %s)%s", b.build_id, b.documents,
                 b.passages, b.built, f", replacing {previous.build_id}" if previous else "")
        return True

    def _refuse(self, on_disk: str | None, exc: BaseException) -> None:
        if on_disk is None:
            with contextlib.suppress(Exception):
                on_disk = build_id(read_manifest(self.path))
        self.refused = Refusal(on_disk, one_line(exc), exc)
        serving = f"still serving build {self.build.build_id}" if self.build else "no build loaded"
        log.warning("index build %s in %s not loaded (%s): %s", on_disk or "?", self.path, serving,
                    self.refused.reason)


def _again(exc: BaseException) -> BaseException:
    """A fresh copy of a remembered mgqa error: one instance raised in many threads would gather
    their tracebacks."""
    from mgqa.errors import MgqaError

    return type(exc)(*exc.args) if isinstance(exc, MgqaError) else exc


def warm_up(engine: Engine) -> None:
    """Answer one question and build the per-index caches before the build takes requests."""
    engine.ask(WARM_UP_QUESTION)


# ---------------------------------------------------------------- the watcher, in a server's event loop


@contextlib.asynccontextmanager
async def watching(live: LiveEngine, interval: float) -> AsyncIterator[None]:
    """While the server runs: load the first build now, then look for a new one every ``interval``
    seconds (0: only on SIGHUP) and whenever SIGHUP arrives."""
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    hup = _on_sighup(loop, wake.set)
    task = asyncio.create_task(_watch(live, interval, wake), name="mgqa-reload")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if hup:
            loop.remove_signal_handler(signal.SIGHUP)


async def _watch(live: LiveEngine, interval: float, wake: asyncio.Event) -> None:
    await asyncio.to_thread(_quietly, live.engine)
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval if interval > 0 else None):
                await wake.wait()
        forced = wake.is_set()
        wake.clear()
        await asyncio.to_thread(_quietly, live.refresh, forced)


def _quietly(fn: Callable, *args) -> None:
    """Run a load; its failure is already logged and kept in ``refused``. The watcher must live on."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001
        pass


def _on_sighup(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> bool:
    """Check at once on SIGHUP. Only the main thread can take signals (a test's server thread can't)."""
    if not hasattr(signal, "SIGHUP") or threading.current_thread() is not threading.main_thread():
        return False
    loop.add_signal_handler(signal.SIGHUP, callback)
    return True
