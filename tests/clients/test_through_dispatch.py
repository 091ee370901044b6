"""Each real CLI through batty itself: `batty dispatch` with a seat of that agent, the runner,
run.json, then `batty verify` — against the stand-in model on 127.0.0.1 (issue 3).

Proved from three sources: the stand-in saw the request, the CLI's output was parsed into
run.json (usage; cost for Claude Code), and the scripted edit is on the task's branch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.conftest import environ_for, require_cli
from tests.clients.test_clients import ENTRIES, WIRE
from tests.conftest import git
from tests.project import Project, wait_for
from tests.standin.fixture import StandinFixture

pytestmark = pytest.mark.clients
TEXT = "notes the stand-in model asked for\n"


@pytest.mark.parametrize("name", ["claude", "codex", "aider"])
def test_dispatch_runs_the_real_cli(name: str, tmp_path: Path, standin: StandinFixture) -> None:
    bin_dir = require_cli(name)
    proj = Project(tmp_path / "proj", seats=1)
    (proj.root / "notes.txt").write_text("old notes\n")
    git(proj.root, "add", "notes.txt")
    git(proj.root, "commit", "-qm", "notes")
    proj.configure({"seats": [{"name": "eng-1", "agent": name}], "agents": {name: ENTRIES[name]}})
    tid = proj.task("Rewrite the notes", [], scope=["notes.txt"])
    standin.edit(proj.paths.worktree(tid), "notes.txt", TEXT, commit_message="standin: rewrite notes")
    env = environ_for(bin_dir, standin)
    res = proj.batty("dispatch", env=env)
    assert res.code == 0, res.err
    wait_for(lambda: proj.run_state(tid) == "exited", 150, f"{name} to exit")
    run_dir = proj.paths.run_dir(tid, 1)
    run = json.loads((run_dir / "run.json").read_text())
    log = (run_dir / "agent.log").read_text(errors="replace")
    # 1. the stand-in saw the model calls, with batty's prompt
    requests = standin.model_requests(WIRE[name])
    assert requests, standin.log()
    assert "Task T-1: Rewrite the notes" in requests[0].text
    # 2. the CLI's output, parsed by the runner into run.json
    usage = run["usage"]
    assert usage["is_error"] is False, log[-2000:]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    if name == "claude":
        assert usage["cost_usd"] > 0
    # 3. git: the edit is on the task's branch once verify collected what was left
    proj.ok("verify", tid)
    assert git(proj.root, "show", f"batty/{tid}:notes.txt") == TEXT.strip()
    assert proj.status(tid) == "review", proj.packet(tid).get("feedback")


@pytest.mark.parametrize("name", ["claude", "codex", "aider"])
def test_a_seat_budget_is_spent_by_what_the_real_cli_reported(name: str, tmp_path: Path,
                                                              standin: StandinFixture) -> None:
    """SPEC 12: the spend that closes a seat is the real CLI's own report (tokens; Claude Code's
    cost too), read from its output through run.json, not an estimate."""
    bin_dir = require_cli(name)
    proj = Project(tmp_path / "proj", seats=1)
    (proj.root / "notes.txt").write_text("old notes\n")
    git(proj.root, "add", "notes.txt")
    git(proj.root, "commit", "-qm", "notes")
    proj.configure({"seats": [{"name": "eng-1", "agent": name}], "agents": {name: ENTRIES[name]},
                    "budgets": {"seat_day": {"tokens": 1}}})
    tid = proj.task("Rewrite the notes", [], scope=["notes.txt"])
    standin.edit(proj.paths.worktree(tid), "notes.txt", TEXT, commit_message="standin: rewrite notes")
    env = environ_for(bin_dir, standin)
    proj.ok("dispatch", env=env)
    wait_for(lambda: proj.run_state(tid) == "exited", 150, f"{name} to exit")
    usage = json.loads((proj.paths.run_dir(tid, 1) / "run.json").read_text())["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    second = proj.task("Then this", [], scope=["notes.txt"])
    proj.ok("dispatch", env=env)
    assert proj.status(second) == "todo", "the seat spent its day: nothing more starts there"
    [exceeded] = proj.events("budget.exceeded")
    assert exceeded["data"]["scope"] == "seat_day" and exceeded["seat"] == "eng-1"
    assert exceeded["data"]["spent"] == usage["input_tokens"] + usage["output_tokens"]
    spend = json.loads(proj.ok("status", "--json").out)["spend"]["today"]
    assert spend["tokens"] == usage["input_tokens"] + usage["output_tokens"]
    if name == "claude":  # Claude Code's own total_cost_usd, not a price from batty's table
        assert spend["cost_usd"] == pytest.approx(usage["cost_usd"], abs=1e-4) and usage["cost_usd"] > 0
