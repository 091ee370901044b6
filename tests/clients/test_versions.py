"""The installed CLIs are the pinned versions, and still take every flag the adapters pass.

Flags drift between releases (``--full-auto`` left Codex; ``--max-turns`` left Claude
Code's help): when a pin is bumped, this is the test that says which flag went.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from batty.agents import aider, claude, codex, gemini
from tests.clients.conftest import pinned_versions, require_cli

pytestmark = pytest.mark.clients


def output(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    return proc.stdout + proc.stderr


def test_pins_are_recorded() -> None:
    assert set(pinned_versions()) == {"claude", "codex", "gemini", "aider"}


@pytest.mark.parametrize("name, argv, shows", [
    ("claude", ["--version"], "{v} (Claude Code)"),
    ("codex", ["--version"], "codex-cli {v}"),
    ("gemini", ["--version"], "{v}"),
    ("aider", ["--version"], "aider {v}"),
])
def test_installed_version_is_the_pinned_one(name: str, argv: list[str], shows: str) -> None:
    bin_dir = require_cli(name)
    assert shows.format(v=pinned_versions()[name]) in output([str(bin_dir / name), *argv])


def flags_in(argv: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in argv if a.startswith("-") and a != "-"}


def test_claude_takes_the_adapter_flags() -> None:
    help_text = output([str(require_cli("claude") / "claude"), "--help"])
    argv = ["-p", "--output-format", "--verbose", "--permission-mode", "--allowedTools",
            "--no-session-persistence", "--model"]
    for flag in argv:
        assert flag in help_text, flag
    assert "acceptEdits" in help_text
    assert set(claude.QUIET)  # env, not flags


def test_codex_takes_the_adapter_flags() -> None:
    help_text = output([str(require_cli("codex") / "codex"), "exec", "--help"])
    used = flags_in(["--json", "--ephemeral", "--skip-git-repo-check",
                     "--dangerously-bypass-approvals-and-sandbox", "--model", *codex.QUIET])
    for flag in used - {"-c"}:
        assert flag in help_text, flag
    assert "-c, --config" in help_text


def test_aider_takes_the_adapter_flags() -> None:
    help_text = output([str(require_cli("aider") / "aider"), "--help"])
    used = flags_in([*aider.FLAGS, "--chat-history-file", "--input-history-file",
                     "--message-file", "--model", "--model-metadata-file"])
    for flag in used:
        assert flag in help_text, flag


def test_gemini_takes_the_adapter_flags() -> None:
    help_text = output([str(require_cli("gemini") / "gemini"), "--help"])
    for flag in ("--output-format", "--approval-mode", "--skip-trust", "--prompt", "--model"):
        assert flag in help_text, flag
    assert '"yolo"' in help_text and '"stream-json"' in help_text
    assert set(gemini.SETTINGS)
