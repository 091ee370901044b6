"""Docs checked by tests (STYLE): every command has help, is in the README, and
docs/commands.md holds each command's real --help (`BATTY_WRITE_DOCS=1 pytest tests/test_docs.py`
writes it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batty.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "commands.md"


def help_of(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "100"}
    out = subprocess.run([sys.executable, "-m", "batty", *args, "--help"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout


def subcommands(name: str) -> list[str]:
    import click

    from batty.cli import cli

    cmd = cli.get_command(click.Context(cli), name)
    return sorted(cmd.commands) if isinstance(cmd, click.Group) else []


def render() -> str:
    parts = ["# Commands", "", "Every command's `--help`, as batty prints it.", "", "```", help_of().rstrip(), "```"]
    for name in sorted(COMMANDS):
        parts += ["", f"## batty {name}", "", "```", help_of(name).rstrip(), "```"]
        for sub in subcommands(name):
            parts += ["", f"### batty {name} {sub}", "", "```", help_of(name, sub).rstrip(), "```"]
    return "\n".join(parts) + "\n"


def test_every_command_exists_and_has_help() -> None:
    import click

    from batty.cli import cli

    for name in COMMANDS:
        cmd = cli.get_command(click.Context(cli), name)
        assert cmd is not None, f"batty {name} is registered but not built"
        assert cmd.help and cmd.help.strip(), name


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.lstrip().startswith("# batty")
    head = readme[:1200]
    assert "make demo" in head and "make test" in head
    for name in COMMANDS:
        assert f"`{name}" in readme, name


def test_docs_commands_is_the_real_help() -> None:
    text = render()
    if os.environ.get("BATTY_WRITE_DOCS") == "1":
        DOC.write_text(text)
    if not DOC.exists():
        pytest.fail("docs/commands.md is missing: BATTY_WRITE_DOCS=1 pytest tests/test_docs.py")
    assert DOC.read_text() == text, "docs/commands.md is stale: BATTY_WRITE_DOCS=1 pytest tests/test_docs.py"
