"""Each real CLI, launched by build_launch, edits a file for the stand-in model.

A run is proved from three sources (AGENT-CLIS.md): the stand-in's request log, the CLI's
own output through parse_usage, and git.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from batty.agents import context_exhausted, parse_usage
from tests.clients.conftest import PROMPT, SECRET, Place, environ_for, require_cli, run
from tests.standin.fixture import StandinFixture

pytestmark = pytest.mark.clients

TEXT = "new line, written by the stand-in model\n"

ENTRIES: dict[str, dict[str, Any]] = {
    # CLAUDE_CODE_MAX_RETRIES=0: a scripted error is final, not retried with backoff.
    "claude": {"model": "sonnet", "env": {"CLAUDE_CODE_MAX_RETRIES": "0"}},
    # A model Codex knows nothing about is fine; priced from config.
    "codex": {"model": "gpt-5", "price": {"input_per_mtok": 1.25, "output_per_mtok": 10.0}},
    "gemini": {"model": "gemini-2.5-flash"},  # priced from the default table
    # The whole-file edit format and no repo map: one deterministic request.
    "aider": {"model": "openai/standin-model",
              "args": ["--edit-format", "whole", "--map-tokens", "0", "notes.txt"],
              "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
}
WIRE = {"claude": "anthropic", "codex": "responses", "aider": "chat", "gemini": "gemini"}
CLIS = ["claude", "codex", "gemini", "aider"]


def launch_and_run(name: str, place: Place, standin: StandinFixture, ok: bool = True) -> str:
    bin_dir = require_cli(name)
    launch = place.launch(name, ENTRIES[name], environ_for(bin_dir, standin), secrets=(SECRET,))
    assert SECRET not in launch.env and "CLAUDECODE" not in launch.env
    code, log = run(launch)
    place.seat_home.joinpath(f"{name}.log").write_text(log)  # kept in tmp_path for a failure
    if name == "aider":
        assert code == 0, log[-3000:]  # whatever happened: that is why parse_usage exists
    else:
        assert (code == 0) is ok, f"exit {code}: {log[-3000:]}"
    return log


def first_request_text(standin: StandinFixture, wire: str) -> str:
    requests = standin.model_requests(wire)
    assert requests, f"the stand-in saw no {wire} request: {standin.log()}"
    return requests[0].text


@pytest.mark.parametrize("name", CLIS)
def test_cli_edits_the_file_for_the_standin(name: str, place: Place,
                                            standin: StandinFixture) -> None:
    standin.edit(place.worktree, "notes.txt", TEXT, commit_message="standin: rewrite notes")
    log = launch_and_run(name, place, standin)

    # 1. The stand-in saw the model calls, carrying the prompt batty wrote.
    body = first_request_text(standin, WIRE[name])
    assert json.dumps(PROMPT.strip())[1:-1] in body, "the prompt did not reach the model"
    assert SECRET not in body and "secret-hook" not in body
    if name != "aider":  # the tool-result steps of the scripted conversation
        assert max(len(r.tool_results()) for r in standin.model_requests(WIRE[name])) >= 2

    # 2. The CLI's own output says what it used.
    usage = parse_usage(name, log, ENTRIES[name])
    assert usage["is_error"] is False, log[-3000:]
    assert usage["input_tokens"] and usage["input_tokens"] > 0
    assert usage["output_tokens"] and usage["output_tokens"] > 0
    if name != "gemini":  # its stream-json result counts tool calls, not turns
        assert usage["turns"] and usage["turns"] >= 1
    assert usage["cost_usd"] and usage["cost_usd"] > 0  # Claude's and Aider's own, others priced
    assert not context_exhausted(name, log)

    # 3. git: the edit is on the branch, committed by the agent, and nothing else is left.
    assert (place.worktree / "notes.txt").read_text() == TEXT
    assert place.committed_files() == ["notes.txt"], log[-3000:]
    assert "standin: rewrite notes" in place.commits()
    assert place.status() == "", "the CLI left files in the worktree"


@pytest.mark.parametrize("name", CLIS)
def test_cli_context_window_error_is_detected(name: str, place: Place,
                                              standin: StandinFixture) -> None:
    standin.context_exhausted()
    log = launch_and_run(name, place, standin, ok=False)
    assert standin.model_requests(WIRE[name])
    assert context_exhausted(name, log), log[-3000:]
    assert parse_usage(name, log, ENTRIES[name])["is_error"] is True
    assert place.commits() == []
    assert (place.worktree / "notes.txt").read_text() == "old line\n"


def test_claude_seat_config_stays_out_of_the_worktree(place: Place,
                                                      standin: StandinFixture) -> None:
    standin.edit(place.worktree, "notes.txt", TEXT)
    launch_and_run("claude", place, standin)
    assert (place.seat_home / ".claude").is_dir()
    assert not (place.worktree / ".claude").exists()
    assert place.status() == ""


def test_aider_history_files_stay_in_the_seat(place: Place, standin: StandinFixture) -> None:
    standin.edit(place.worktree, "notes.txt", TEXT)
    launch_and_run("aider", place, standin)
    assert (place.seat_home / "aider" / "chat.md").is_file()
    assert not list(place.worktree.glob(".aider*"))
    # its commit-message side call went to the stand-in too, and was answered
    assert any("one-line Git commit messages" in r.text for r in standin.model_requests("chat"))
