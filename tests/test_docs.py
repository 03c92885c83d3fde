"""README, the reference in docs/, --help and behaviour stay in agreement, and no link is broken."""

import re
from pathlib import Path
from urllib.parse import unquote

import click
import pytest
from click.testing import CliRunner

from mgqa import settings
from mgqa.cli import main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
CLI_DOC = REPO / "docs" / "CLI.md"  # holds the generated command reference (`make readme`)
SETTINGS_DOC = REPO / "docs" / "SETTINGS.md"  # holds the generated settings table (`make readme`)
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def commands(group=main, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def help_text(*args):
    return CliRunner().invoke(main, [*args, "--help"], terminal_width=100, prog_name="mgqa").output


@pytest.mark.parametrize("args", [(), *commands()], ids=lambda a: " ".join(a) or "mgqa")
def test_the_cli_reference_has_the_current_help_of_every_command(args):
    reference = CLI_DOC.read_text(encoding="utf-8")
    assert help_text(*args).strip() in reference, f"docs/CLI.md is out of date for `mgqa {' '.join(args)} --help`"


@pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_documented(setting):
    assert f"`{setting.env}`" in SETTINGS_DOC.read_text(encoding="utf-8")


def test_the_readme_names_only_real_settings():
    assert set(re.findall(r"MGQA_[A-Z_]+", README)) <= {s.env for s in settings.SETTINGS}


def test_the_two_readme_commands_exist_and_ci_runs_the_test_one():
    assert "make run" in README and "make test" in README
    targets = re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M)
    assert {"run", "test", "install"} <= set(targets)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def readme_block(*args) -> str:
    """The text to paste into docs/CLI.md for one command's help (used by `make readme`)."""
    return f"### `{' '.join(('mgqa', *args))}`\n\n```\n{help_text(*args).strip()}\n```\n"


# ---------------------------------------------------------------- links

LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")  # [text](target), ![alt](target)
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=[\"']([^\"']+)[\"']", re.I)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)")  # [label]: target
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http(s), mailto: never fetched


def prose(text: str):
    """The lines of a Markdown text outside fenced code blocks."""
    fence = ""
    for line in text.splitlines():
        mark = re.match(r" {0,3}(`{3,}|~{3,})", line)
        if fence:
            if mark and mark.group(1).startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
        elif mark:
            fence = mark.group(1)
        else:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: "Your clinic's words: `clinic.toml`" -> "your-clinics-words-clinictoml"."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text(encoding="utf-8")):
        found.update(re.findall(r"<a\b[^>]*?\b(?:name|id)=[\"']([^\"']+)[\"']", line, re.I))
        if heading := HEADING.match(line):
            base = slug(heading.group(1))
            found.add(f"{base}-{seen[base]}" if base in seen else base)  # GitHub numbers repeats
            seen[base] = seen.get(base, 0) + 1
    return found


def targets(text: str):
    for line in prose(text):
        line = re.sub(r"(`+).*?\1", "", line)  # a link inside inline code is not a link
        yield from LINK.findall(line)
        yield from HTML_LINK.findall(line)
        yield from REFERENCE.findall(line)


def broken_links(path: Path) -> list[str]:
    """Every relative link or image in `path` that names a missing file or heading."""
    broken = []
    for target in targets(path.read_text(encoding="utf-8")):
        if SCHEME.match(target):
            continue
        file, _, anchor = target.partition("#")
        if not file:
            dest = path
        elif file.startswith("/"):
            dest = REPO / unquote(file).lstrip("/")
        else:
            dest = path.parent / unquote(file)
        if not dest.exists() or not dest.resolve().is_relative_to(REPO):
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(REPO)}")
    return broken


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_image_points_at_something_that_exists(path):
    broken = broken_links(path)
    assert not broken, f"{path.relative_to(REPO)}: " + "; ".join(broken)


def test_the_readme_links_to_every_page_in_docs():
    linked = {(REPO / unquote(t.partition("#")[0])).resolve() for t in targets(README) if not SCHEME.match(t)}
    assert {p.resolve() for p in MARKDOWN[1:]} - linked == set()


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path, monkeypatch):
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    (tmp_path / "other.md").write_text("# Other page\n\n## Known `heading`: yes\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[fine](other.md#known-heading-yes) [fine too](#page) ![fine](other.md) [web](https://x.invalid/y)\n"
        "[gone](missing.md) ![gone](img/none.png) [no heading](other.md#unknown) [here](#nowhere)\n"
        "[outside](../../etc/passwd) `[code](not-checked.md)`\n\n"
        "```md\n[in a fence](not-checked.md)\n```\n\n"
        "[label]: also-missing.md\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "img/none.png: no such file",
        "other.md#unknown: no heading #unknown in other.md",
        "#nowhere: no heading #nowhere in page.md",
        "../../etc/passwd: no such file",
        "also-missing.md: no such file",
    ]
