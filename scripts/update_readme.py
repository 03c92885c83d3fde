"""Regenerate README's reference sections (settings table, command help) between their markers.

Run `make readme` after changing a setting or a command; tests/test_docs.py fails until then.
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mgqa import settings  # noqa: E402
from test_docs import README, commands, readme_block  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def settings_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    shown = {"index_dir": "`index/` in the repository", "cache_dir": "`~/.cache/mgqa`",
             "allowed_origins": "(only the server's own origin)"}
    for s in settings.SETTINGS:
        rows.append(f"| `{s.env}` | {shown.get(s.name, s.default)} | {s.help} |")
    return "\n".join(rows)


def help_sections() -> str:
    return "\n".join(readme_block(*args) for args in [(), *commands()])


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    return pattern.sub(lambda m: m.group(1) + body.strip() + "\n" + m.group(2), text)


if __name__ == "__main__":
    text = replace(README, "settings", settings_table())
    text = replace(text, "help", help_sections())
    (REPO / "README.md").write_text(text, encoding="utf-8")
