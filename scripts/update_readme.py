"""Regenerate the reference the code owns, between its markers: the settings table in
docs/SETTINGS.md and every command's help in docs/CLI.md.

Run `make readme` after changing a setting or a command; tests/test_docs.py fails until then.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mgqa import settings  # noqa: E402
from test_docs import CLI_DOC, SETTINGS_DOC, commands, readme_block  # noqa: E402


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    shown = {"index_dir": "`index/` in the repository", "cache_dir": "`~/.cache/mgqa`",
             "allowed_origins": "(only the server's own origin)"}
    for s in settings.SETTINGS:
        rows.append(f"| `{s.env}` | {shown.get(s.name, s.default)} | {s.help} |")
    return "\n".join(rows)


def help_sections() -> str:
    return "\n".join(readme_block(*args) for args in [(), *commands()])


def regenerate(path: Path, name: str, body: str) -> None:
    """Replace the text between `<!-- name:start -->` and `<!-- name:end -->` in `path` with `body`."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        sys.exit(f"{path}: no <!-- {name}:start --> ... <!-- {name}:end --> block to fill")
    new = pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text)
    if new != text:
        path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    regenerate(SETTINGS_DOC, "settings", settings_table())
    regenerate(CLI_DOC, "help", help_sections())
