"""Docs checked by tests (STYLE): every command has help, is in the README, and
docs/commands.md holds each command's real --help (`BATTY_WRITE_DOCS=1 pytest tests/test_docs.py`
writes it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batty.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "commands.md"


def help_of(*args: str) -> str:
    """``batty ARGS --help`` as a process of its own: a child of this worker's fork server
    (tests/forkserver.py, which answers as ``python -m batty`` does), else a new Python."""
    from tests import forkserver

    out = forkserver.batty([*args, "--help"], cwd=ROOT, env={**os.environ, "COLUMNS": "100"}, timeout=60)
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
    # issue 16.1: it opens with how to install batty for your own repository and the three
    # commands that get one going; `make demo` and `make test` stay the first two commands of
    # batty's own checkout
    sections = readme.split("\n## ")
    assert sections[1].startswith("Install it for your repository")
    assert "pipx install" in sections[1] and "uv tool install" in sections[1] and "batty --version" in sections[1]
    for cmd in ("batty init", "batty preflight", "batty cron install"):
        assert cmd in sections[1], cmd
    own = sections[2]
    assert own.startswith("batty's own checkout")
    commands = [x.split()[0:2] for x in own.split("```sh", 1)[1].split("```")[0].strip().splitlines()]
    assert commands[:2] == [["make", "demo"], ["make", "test"]]
    for name in COMMANDS:
        assert f"`{name}" in readme, name


def test_docs_commands_is_the_real_help() -> None:
    text = render()
    if os.environ.get("BATTY_WRITE_DOCS") == "1":
        DOC.write_text(text)
    if not DOC.exists():
        pytest.fail("docs/commands.md is missing: BATTY_WRITE_DOCS=1 pytest tests/test_docs.py")
    assert DOC.read_text() == text, "docs/commands.md is stale: BATTY_WRITE_DOCS=1 pytest tests/test_docs.py"


# ------------------------------------------------------------------ docs that hold (issue 16.10)

import re  # noqa: E402

LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    out: set[str] = set()
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_link_in_the_readme_and_docs_resolves() -> None:
    """Issue 16: the generated config pointed to docs/config.md, which did not exist."""
    broken = []
    for md in markdown_files():
        fenced = False
        for n, line in enumerate(md.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
            if fenced:
                continue
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+://|^mailto:", target):
                    continue  # no network here: an outside address is not checked
                file, _, anchor = target.partition("#")
                dest = (md.parent / file).resolve() if file else md
                if not dest.exists():
                    broken.append(f"{md.relative_to(ROOT)}:{n}: {target} (no such file)")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    broken.append(f"{md.relative_to(ROOT)}:{n}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_the_docs_a_generated_config_points_to_exist() -> None:
    template = (ROOT / "batty" / "templates" / "config.yaml").read_text()
    named = re.findall(r"docs/[\w.-]+\.md", template)
    assert named, "the generated config names no docs page"
    for rel in named:
        assert (ROOT / rel).is_file(), rel


def test_every_config_key_is_documented_with_its_default() -> None:
    import dataclasses

    from batty.agents import AGENT_KEYS
    from batty.core.config import SECTIONS, TOP, Config

    doc = (ROOT / "docs" / "config.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)` \| ([^|]+) \|", doc, re.M)}
    missing = []
    defaults = Config()
    for key in TOP:
        if key in SECTIONS:
            section = getattr(defaults, key)
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                shown = ("true" if value else "false") if isinstance(value, bool) else (
                    "[" + ", ".join(value) + "]" if isinstance(value, tuple) else str(value))
                row = rows.get(f"{key}.{f.name}")
                if row is None or f"`{shown}`" not in row:
                    missing.append(f"{key}.{f.name} (default `{shown}`)")
        elif key not in rows:
            missing.append(key)
    for key in AGENT_KEYS:
        if f"agents.<name>.{key}" not in rows:
            missing.append(f"agents.<name>.{key}")
    assert not missing, "docs/config.md lacks: " + ", ".join(missing)
