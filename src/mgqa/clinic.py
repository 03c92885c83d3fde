"""The clinic's own words: title, introduction, example questions, disclaimer and notices.

They are the clinic's, not mgqa's, so they live in a ``clinic.toml`` beside the documents and
travel with the index built from them; this module only knows the format::

    title = "Harbour Dental questions"
    topic = "your teeth and our treatments"     # "Ask a question about ..."
    examples = ["How long does a filling take?"]

    [emergency]
    number = "111"
    notice = "If your face is swelling fast or you cannot swallow, call {number} now."

Every key is optional: one the file leaves out keeps mgqa's generic wording
(``data/clinic.toml``). The default corpus ships its magnesium clinic's file
(``corpus/clinic.toml``). A bad key or value raises ``ClinicError`` naming the file and line.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mgqa import datafile
from mgqa.errors import ClinicError
from mgqa.normalize import clean_controls

FILE_NAME = "clinic.toml"  # found beside the documents; copied into the index under this name
MAX_FILE_BYTES = 64 * 1024
NUMBER = "{number}"  # in the emergency notice: replaced by the emergency number


@dataclass(frozen=True)
class Key:
    """One key of the file: its dotted name, the most characters it may hold (each item, for a
    list), how many items a list may have (0: a text), and whether it may be empty."""

    name: str
    limit: int
    items: int = 0
    required: bool = True

    @property
    def field(self) -> str:
        return self.name.replace(".", "_")


KEYS = (
    Key("title", 80),
    Key("topic", 80, required=False),
    Key("introduction", 300, required=False),
    Key("examples", 200, items=8, required=False),
    Key("disclaimer", 1000),
    Key("no_answer", 500),
    Key("emergency.notice", 1000),
    Key("emergency.number", 20, required=False),
)
_BY_NAME = {k.name: k for k in KEYS}
_TABLES = {k.name.split(".")[0] for k in KEYS if "." in k.name}
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]*[0-9]$")


@dataclass(frozen=True)
class Clinic:
    """A clinic's words, with where they came from (``origin`` None: mgqa's generic wording)."""

    title: str
    topic: str
    introduction: str
    examples: tuple[str, ...]
    disclaimer: str
    no_answer: str
    emergency_notice: str  # with the number in place of {number}
    emergency_number: str
    origin: str | None = None
    sha256: str = ""
    text: str = ""  # the file, verbatim, so that an index can carry its own copy

    def to_dict(self) -> dict:
        """The public form (``GET /api``), keyed as the file is."""
        return {"title": self.title, "topic": self.topic, "introduction": self.introduction,
                "examples": list(self.examples), "disclaimer": self.disclaimer, "no_answer": self.no_answer,
                "emergency": {"notice": self.emergency_notice, "number": self.emergency_number}}

    def record(self) -> dict | None:
        """What the index manifest says about the file (None: the index has none)."""
        if self.origin is None:
            return None
        return {"origin": self.origin, "sha256": self.sha256, "title": self.title,
                "examples": len(self.examples), "emergency_number": self.emergency_number}


# ------------------------------------------------------------------ the file


def parse(text: str, origin: str, sha256: str | None = None, base: Clinic | None = None) -> Clinic:
    """The words in ``text``, each key it leaves out taken from ``base`` (None: every key is
    required). The first problem raises ``ClinicError``: "<origin> line 3: title must be text"."""
    text = text.removeprefix("\ufeff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClinicError(_syntax_error(str(exc), origin, text)) from None
    where = _Where(text, origin)
    values: dict[str, Any] = {key.field: _checked(key, value, where) for key, value in _keys(data, where)}
    if base is None:
        missing = [k.name for k in KEYS if k.field not in values]
        if missing:
            raise ClinicError(f"{origin}: missing {', '.join(missing)}")
        words = Clinic(**values)
    else:
        words = replace(base, **values)
    notice = _with_number(words.emergency_notice, words.emergency_number, where,
                          "emergency.notice" if "emergency_notice" in values else "emergency.number")
    return replace(words, emergency_notice=notice, origin=origin, text=text,
                   sha256=sha256 or hashlib.sha256(text.encode("utf-8")).hexdigest())


def read(path: Path, origin: str | None = None) -> Clinic:
    """The clinic file at ``path`` over mgqa's generic wording; ``origin`` names it [default: the path]."""
    origin = origin or str(path)
    raw = datafile.read_bytes(path, MAX_FILE_BYTES, ClinicError, "clinic file")
    return parse(datafile.decode(raw, origin, ClinicError), origin, hashlib.sha256(raw).hexdigest(), generic())


@lru_cache(maxsize=1)
def generic() -> Clinic:
    """mgqa's own wording (``data/clinic.toml``), for a corpus without a clinic file."""
    raw = (resources.files("mgqa") / "data" / FILE_NAME).read_bytes()
    words = parse(raw.decode("utf-8"), f"mgqa/data/{FILE_NAME} (packaged)")
    return replace(words, origin=None, sha256="", text="")


def packaged() -> Clinic:
    """The default corpus's clinic (``corpus/clinic.toml``)."""
    raw = (resources.files("mgqa") / "corpus" / FILE_NAME).read_bytes()
    origin = f"mgqa/corpus/{FILE_NAME} (packaged)"
    return parse(datafile.decode(raw, origin, ClinicError), origin, hashlib.sha256(raw).hexdigest(), generic())


def beside(paths: list[Path]) -> Path | None:
    """The ``clinic.toml`` in the documents' folder, if there is one."""
    return datafile.beside(paths, FILE_NAME)


def for_corpus(paths: list[Path], override: Path | None = None) -> Clinic:
    """The words a build from ``paths`` uses: ``override``, the file beside the documents, or for
    the default corpus (no paths) the packaged one; without any, mgqa's generic wording."""
    if override is not None:
        return read(override)
    if paths:
        found = beside(paths)
        return read(found) if found else generic()
    return packaged()


def save(words: Clinic, directory: Path) -> None:
    """Copy the clinic file into an index's data directory (nothing for the generic wording)."""
    if words.origin is not None:
        (directory / FILE_NAME).write_bytes(words.text.encode("utf-8"))


def load(directory: Path) -> Clinic:
    """The words an index's data directory carries: its copy of the file, else the generic ones."""
    path = directory / FILE_NAME
    return read(path) if path.exists() else generic()


# ------------------------------------------------------------------ checking


class _Where:
    """Names a key's line in the file, for messages: "clinic.toml line 4"."""

    def __init__(self, text: str, origin: str):
        self.lines = text.splitlines()
        self.origin = origin

    def __call__(self, name: str) -> str:
        n = self.line(name)
        return f"{self.origin} line {n}" if n else self.origin

    def line(self, name: str) -> int | None:
        """The line that sets dotted key ``name``: under its [table], as a dotted key, or in an inline table."""
        *table, key = name.split(".")
        quoted = rf"""(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')"""
        own = re.compile(rf"^\s*{quoted}\s*=")
        dotted = re.compile(r"^\s*" + r"\s*\.\s*".join(map(re.escape, name.split("."))) + r"\s*=")
        anywhere = re.compile(rf"(?:^|[{{,\s]){quoted}\s*=")
        section = ""
        for n, line in enumerate(self.lines, 1):
            header = re.match(r"^\s*\[+\s*([^\]]*?)\s*\]", line)
            if header:
                section = header.group(1).strip("\"'")
            elif (section == ".".join(table) and own.match(line)) or (section == "" and dotted.match(line)):
                return n
        return next((n for n, line in enumerate(self.lines, 1) if anywhere.search(line)), None)


def _syntax_error(message: str, origin: str, text: str) -> str:
    """tomllib's "Expected '=' … (at line 3, column 7)" as "<origin> line 3: Expected '=' … (column 7)"."""
    m = re.match(r"^(.*) \(at line (\d+), column (\d+)\)$", message)
    if m:
        return f"{origin} line {m[2]}: {m[1]} (column {m[3]}); not valid TOML"
    m = re.match(r"^(.*) \(at end of document\)$", message)
    if m:
        return f"{origin} line {max(1, len(text.splitlines()))}: {m[1]} (at the end of the file); not valid TOML"
    return f"{origin}: {message}; not valid TOML"


def _keys(data: dict, where: _Where, prefix: str = ""):
    """(Key, value) for each key set in ``data``; an unknown key raises ``ClinicError``."""
    for name, value in data.items():
        dotted = prefix + name
        if dotted in _TABLES:
            if not isinstance(value, dict):
                raise ClinicError(f"{where(dotted)}: {dotted} must be a table ([{dotted}] with its own keys)")
            yield from _keys(value, where, dotted + ".")
        elif dotted in _BY_NAME:
            yield _BY_NAME[dotted], value
        else:
            near = difflib.get_close_matches(dotted, list(_BY_NAME), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ClinicError(f"{where(dotted)}: unknown key {dotted!r}{hint}; the keys are {', '.join(_BY_NAME)}")


def _checked(key: Key, value: object, where: _Where) -> str | tuple[str, ...]:
    """``value`` as the text (or texts) ``key`` holds, line breaks as spaces; else ``ClinicError``."""
    at = where(key.name)
    if key.items:
        if not isinstance(value, list):
            raise ClinicError(f"{at}: {key.name} must be a list of texts in quotes, not {_kind(value)}")
        if len(value) > key.items:
            raise ClinicError(f"{at}: {key.name} has {len(value)} items; the most is {key.items}")
        return tuple(_text(key, v, at, f"{key.name} item {i}") for i, v in enumerate(value, 1))
    text = _text(key, value, at, key.name)
    if key.name == "emergency.number" and text and not _PHONE.match(text):
        raise ClinicError(f'{at}: emergency.number must be a phone number such as "999" or "+44 20 7946 0000"')
    return text


def _text(key: Key, value: object, at: str, what: str) -> str:
    if not isinstance(value, str):
        hint = ' (write "000" in quotes: as a number it would lose its leading zeros)' if key.field == "emergency_number" else ""
        raise ClinicError(f"{at}: {what} must be text in quotes, not {_kind(value)}{hint}")
    text = " ".join(clean_controls(value).split())
    if not text and (key.required or key.items):
        raise ClinicError(f"{at}: {what} is empty")
    if len(text) > key.limit:
        raise ClinicError(f"{at}: {what} is {len(text):,} characters long; the limit is {key.limit:,}")
    return text


def _kind(value: object) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "a table"}
    return next((name for t, name in kinds.items() if isinstance(value, t)), "a date or time")


def _with_number(notice: str, number: str, where: _Where, key: str) -> str:
    """The emergency notice with the number in place of {number}; it must say the number if there is one."""
    if NUMBER in notice and not number:
        raise ClinicError(f"{where(key)}: emergency.notice has {NUMBER} but emergency.number is not set")
    if number and NUMBER not in notice and number not in notice:
        raise ClinicError(f'{where(key)}: emergency.notice must say the emergency number "{number}" '
                          f"(write {NUMBER} where it goes)")
    return notice.replace(NUMBER, number)

