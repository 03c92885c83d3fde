"""Reading a clinic's small data files (synonyms, known questions): bounded, UTF-8, errors named.

Each caller passes its own exception class, so that a problem reads as that file's problem
("cannot read the synonyms file …", "… line 3: not UTF-8 text").
"""

from __future__ import annotations

from pathlib import Path


def read_bytes(path: Path, limit: int, error: type[Exception], what: str) -> bytes:
    """At most ``limit`` bytes of ``path``; ``error`` (one line) when unreadable or larger."""
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise error(f"the {what} {path} is over {limit:,} bytes")
    return raw


def decode(raw: bytes, origin: str, error: type[Exception]) -> str:
    """UTF-8 text of ``raw``; undecodable bytes raise ``error`` naming their line."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        n = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{origin} line {n}: not UTF-8 text (byte {raw[exc.start]:#04x}); save it as UTF-8") from None


def beside(paths: list[Path], name: str) -> Path | None:
    """The file ``name`` in the documents' folder: the first path if a folder, else its folder."""
    if not paths:
        return None
    folder = paths[0] if paths[0].is_dir() else paths[0].parent
    candidate = folder / name
    return candidate if candidate.is_file() else None
