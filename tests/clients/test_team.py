"""Working as a team with a real CLI (issue 19): Claude Code through `batty dispatch` against the
stand-in model, with a set-up of its checkout, then changes requested in words."""

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
NAME = "claude"
FIRST = "notes the stand-in model wrote first\n"
SECOND = "notes rewritten as the reviewer asked\n"
WORDS = "Say that the notes were rewritten as the reviewer asked"


def project(tmp_path: Path) -> Project:
    proj = Project(tmp_path / "proj", seats=1)
    (proj.root / "notes.txt").write_text("old notes\n")
    (proj.root / ".gitignore").write_text((proj.root / ".gitignore").read_text() + ".setup-ran\n.env\n")
    (proj.root / ".env").write_text("LOCAL=1\n")
    (proj.root / ".worktreeinclude").write_text(".env\n")
    git(proj.root, "add", "notes.txt", ".gitignore", ".worktreeinclude")
    git(proj.root, "commit", "-qm", "notes")
    proj.configure({"seats": [{"name": "eng-1", "agent": NAME}], "agents": {NAME: ENTRIES[NAME]},
                    "notify": [{"url_env": "BATTY_NOTIFY_URL"}],
                    # what the set-up saw: the CLI's endpoint passes, batty's secret does not
                    "setup": {"command": 'printf "%s|%s" "${ANTHROPIC_BASE_URL:-}" "${BATTY_NOTIFY_URL:-none}"'
                                         " > .setup-ran", "timeout_s": 60}})
    return proj


def attempt(proj: Project, tid: str, env: dict[str, str], n: int) -> str:
    res = proj.batty("dispatch", env=env)
    assert res.code == 0, res.err
    assert proj.packet(tid)["attempt"] == n
    wait_for(lambda: proj.run_state(tid) == "exited", 150, f"{NAME} attempt {n} to exit")
    log = (proj.paths.run_dir(tid, n) / "agent.log").read_text(errors="replace")
    proj.ok("verify", tid)
    assert proj.status(tid) == "review", (proj.packet(tid).get("feedback"), log[-2000:])
    return log


def test_claude_in_a_set_up_checkout_then_changes_requested(tmp_path: Path, standin: StandinFixture) -> None:
    bin_dir = require_cli(NAME)
    proj = project(tmp_path)
    tid = proj.task("Rewrite the notes", [], scope=["notes.txt"])
    wt = proj.paths.worktree(tid)
    env = environ_for(bin_dir, standin)
    standin.edit(wt, "notes.txt", FIRST, commit_message="standin: first notes")
    attempt(proj, tid, env, 1)
    # 1. the set-up ran in the checkout before the CLI, launched as the CLI is
    seen, secret = (wt / ".setup-ran").read_text().split("|")
    assert seen == standin.url and secret == "none"
    assert (wt / ".env").read_text() == "LOCAL=1\n"
    (ev,) = proj.events("setup.passed", tid)
    kinds = [e["kind"] for e in proj.events(task=tid)]
    assert kinds.index("setup.passed") < kinds.index("agent.started")
    assert json.loads((proj.paths.evidence_dir(tid, 1) / "setup.json").read_text())["result"] == "pass"
    assert git(proj.root, "show", f"batty/{tid}:notes.txt") == FIRST.strip()
    # 2. changes requested in words: the next attempt's prompt carries them to the model
    proj.ok("review", tid, "--request-changes", WORDS)
    standin.reset()
    standin.edit(wt, "notes.txt", SECOND, commit_message="standin: as asked")
    attempt(proj, tid, env, 2)
    requests = standin.model_requests(WIRE[NAME])
    assert requests and WORDS in requests[0].text, standin.log()
    assert git(proj.root, "show", f"batty/{tid}:notes.txt") == SECOND.strip()
    # the changes requested start a fresh attempt from the base (issue 15) in a new checkout,
    # which is set up too
    assert [e["attempt"] for e in proj.events("setup.passed", tid)] == [1, 2]
