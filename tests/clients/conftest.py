"""Run the real agent CLIs, launched exactly as batty launches them, against the stand-in.

The CLIs come from ``bin/install-agent-clis``'s cache (env BATTY_AGENT_CLIS, else
~/.cache/batty/agent-clis). Missing ones skip with the reason, unless BATTY_REQUIRE_CLIS=1
(``make test`` and CI set it), when they fail.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batty.agents import Launch, build_launch
from tests.conftest import git
from tests.standin.fixture import StandinFixture, standin  # noqa: F401 - the fixture, until tests/conftest.py loads the plugin

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "bin" / "install-agent-clis"


def _cache_dir() -> Path:
    # Resolved at import: the suite's autouse fixture points HOME at a temporary folder.
    if os.environ.get("BATTY_AGENT_CLIS"):
        return Path(os.environ["BATTY_AGENT_CLIS"])
    home = os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
    return Path(home) / ".cache" / "batty" / "agent-clis"


CACHE = _cache_dir()
BIN_DIRS = {
    "claude": CACHE / "npm" / "node_modules" / ".bin",
    "codex": CACHE / "npm" / "node_modules" / ".bin",
    "gemini": CACHE / "npm" / "node_modules" / ".bin",
    "aider": CACHE / "aider-venv" / "bin",
}


def pinned_versions() -> dict[str, str]:
    """The versions bin/install-agent-clis installs: CLAUDE_VERSION="..." lines."""
    text = INSTALLER.read_text(encoding="utf-8")
    return {m[1].lower(): m[2] for m in re.finditer(r'^([A-Z]+)_VERSION="([^"]+)"', text, re.M)}


# bin/install-agent-clis skips Gemini CLI where Node is older than 20 (Debian 12's own).
OPTIONAL = frozenset({"gemini"})


def require_cli(name: str) -> Path:
    """The bin folder holding CLI ``name``; skip (or fail, under BATTY_REQUIRE_CLIS=1) without it."""
    bin_dir = BIN_DIRS[name]
    if (bin_dir / name).exists():
        return bin_dir
    reason = f"{name} is not installed in {CACHE}: run bin/install-agent-clis"
    if os.environ.get("BATTY_REQUIRE_CLIS") == "1" and name not in OPTIONAL:
        pytest.fail(reason + " (BATTY_REQUIRE_CLIS=1)")
    pytest.skip(reason)


@dataclass
class Place:
    worktree: Path
    seat_home: Path
    prompt_file: Path

    def launch(self, name: str, entry: Mapping[str, Any], environ: Mapping[str, str],
               secrets: tuple[str, ...] = ()) -> Launch:
        return build_launch(name, entry, prompt_file=self.prompt_file, task="T-1", attempt=1,
                            worktree=self.worktree, seat_home=self.seat_home, environ=environ,
                            secrets=secrets)

    def commits(self) -> list[str]:
        return git(self.worktree, "log", "--format=%s", "main..HEAD").splitlines()

    def committed_files(self) -> list[str]:
        return git(self.worktree, "diff", "--name-only", "main..HEAD").splitlines()

    def status(self) -> str:
        return git(self.worktree, "status", "--porcelain", "--untracked-files=all")


PROMPT = "Task T-1: make notes.txt say what the reviewer asked, then commit it.\n"


@pytest.fixture
def place(git_repo: Path, tmp_path: Path) -> Place:
    """A real repository, a worktree on batty/T-1 with notes.txt, a seat home and a prompt."""
    (git_repo / "notes.txt").write_text("old line\n")
    git(git_repo, "add", "notes.txt")
    git(git_repo, "commit", "-q", "-m", "notes")
    worktree = tmp_path / "worktrees" / "T-1"
    git(git_repo, "worktree", "add", "-q", "-b", "batty/T-1", str(worktree))
    run = tmp_path / "runs" / "T-1" / "1"
    run.mkdir(parents=True)
    (run / "prompt.md").write_text(PROMPT, encoding="utf-8")
    return Place(worktree, tmp_path / "seats" / "eng-1", run / "prompt.md")


SECRET = "BATTY_NOTIFY_URL"


def environ_for(bin_dir: Path, server: StandinFixture) -> dict[str, str]:
    """batty's environment as a supervisor would have it: the CLI on PATH, a secret, markers."""
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', os.defpath)}",
        **server.environ(),
        SECRET: "json://127.0.0.1:9/secret-hook",
        "CLAUDECODE": "1",  # as if batty itself ran inside a Claude Code session
        "CLAUDE_CODE_ENTRYPOINT": "cli",
    }


def run(launch: Launch, timeout: float = 90) -> tuple[int, str]:
    """Run a launch as the runners do: argv, env, cwd, stdin from a file or /dev/null."""
    with open(launch.stdin_path or os.devnull, "rb") as stdin:
        proc = subprocess.run(launch.argv, env=launch.env, cwd=launch.cwd, stdin=stdin,
                              capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr
