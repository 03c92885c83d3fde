"""README, --help and behaviour stay in agreement."""

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mgqa import settings
from mgqa.cli import main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def commands(group=main, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def help_text(*args):
    return CliRunner().invoke(main, [*args, "--help"], terminal_width=100, prog_name="mgqa").output


@pytest.mark.parametrize("args", [(), *commands()], ids=lambda a: " ".join(a) or "mgqa")
def test_readme_has_the_current_help_of_every_command(args):
    assert help_text(*args).strip() in README, f"README is out of date for `mgqa {' '.join(args)} --help`"


@pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_documented(setting):
    assert f"`{setting.env}`" in README


def test_the_two_readme_commands_exist_and_ci_runs_the_test_one():
    assert "make run" in README and "make test" in README
    targets = re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M)
    assert {"run", "test", "install"} <= set(targets)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def readme_block(*args) -> str:
    """The text to paste into README for one command's help (used by `make readme`)."""
    return f"### `{' '.join(('mgqa', *args))}`\n\n```\n{help_text(*args).strip()}\n```\n"
