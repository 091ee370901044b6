"""batty tick and batty run on real repositories: exit codes, one broken step among working ones,
one board commit per tick, the loop and what idle means."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from batty import runner
from batty.store import locks
from batty.store.paths import Paths
from batty.workflow.tick import worst
from tests.conftest import git
from tests.project import Project


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    for run_json in tmp_path.rglob("run.json"):
        runner.stop(run_json.parent, grace_s=1)


def finished(proj: Project) -> list[dict]:
    return [e["data"] for e in proj.events("tick.finished")]


# ------------------------------------------------------------------ exit codes


def test_the_exit_code_is_the_worst_step() -> None:
    assert worst([0, 0, 0]) == 0
    assert worst([0, 75, 0]) == 0  # issue 16.8: a tick that did work is no "nothing was done"
    assert worst([75, 75, 75]) == 75
    assert worst([0, 2, 0]) == 2  # issue 5 audit: a step's exit 2 made the tick exit 0
    assert worst([75, 2]) == 2
    assert worst([1, 75]) == 1
    assert worst([1, 2, 3, 75]) == 3
    assert worst([]) == 0


def test_busy_is_75_only_when_nothing_was_done(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    with locks.hold(proj.paths.state, "merge"):  # another run holds a step's lock
        res = proj.batty("tick")
    # issue 16.8: the other steps ran, so the tick did work: 0, and it names the busy step
    assert res.code == 0, res.err
    assert "merge busy" in res.err
    assert finished(proj)[-1]["steps"]["merge"] == 75 and finished(proj)[-1]["failed"] == []
    # a busy merge step with nothing to merge logs no merge.skipped
    assert proj.events("merge.skipped") == []
    with locks.hold(proj.paths.state, "reconcile"), locks.hold(proj.paths.state, "doctor"), \
            locks.hold(proj.paths.state, "verify"), locks.hold(proj.paths.state, "merge"), \
            locks.hold(proj.paths.state, "dispatch"):
        res = proj.batty("tick")
    assert res.code == 75, res.err  # every step busy: nothing was done

    # a seat whose agent is not installed: dispatch fails on something a person must fix
    proj.configure({"seats": [{"name": "eng-1", "agent": "aider"}],
                    "agents": {"aider": {"binary": str(tmp_path / "no-such-aider")}}})
    with locks.hold(proj.paths.state, "merge"):
        res = proj.batty("tick")
    assert res.code == 1, res.err
    assert "dispatch: " in res.err and "no-such-aider" in res.err
    last = finished(proj)[-1]
    assert last["rc"] == 1 and last["failed"] == ["dispatch"] and last["steps"]["merge"] == 75


def test_a_bug_in_one_step_does_not_stop_the_others(tmp_path: Path) -> None:
    """Issue 5 audit: an unexpected exception in one step skipped the remaining steps and
    tick.finished, on every tick. The bug is the verify failpoint's raise (BATTY_FAILPOINT)."""
    proj = Project(tmp_path / "p")
    first = proj.task("verified later", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(first)
    second = proj.task("dispatched by the broken tick", "succeed")
    res = proj.batty("tick", env={"BATTY_FAILPOINT": "raise:verify.after-collect"})
    assert res.code == 3, res.err
    assert "verify: internal error: RuntimeError: failpoint verify.after-collect" in res.err
    assert "Traceback" not in res.err
    last = finished(proj)[-1]
    assert last["rc"] == 3 and last["failed"] == ["verify"]
    assert last["steps"] == {"reconcile": 0, "doctor": 0, "verify": 3, "merge": 0, "dispatch": 0, "commit": 0}
    assert proj.status(second) == "in-progress"  # dispatch ran after the broken verify
    [crash] = list(proj.paths.crashes.glob("*-verify.log"))
    text = crash.read_text()
    assert "step: verify" in text and "RuntimeError: failpoint verify.after-collect" in text
    # the next tick, without the bug, takes up where it stopped
    proj.until(lambda: proj.status(first) == "done", what=f"{first} to land")


# ------------------------------------------------------------------ one board commit


def test_a_tick_that_verifies_merges_and_dispatches_makes_one_board_commit(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    first = proj.task("lands in this tick", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(first)
    second = proj.task("dispatched in this tick", "succeed")
    before = proj.base()
    res = proj.ok("tick")
    assert proj.status(first) == "done" and proj.status(second) == "in-progress", res.err
    board_commits = git(proj.root, "log", "--format=%s", f"{before}..main", "--", "board").splitlines()
    assert len(board_commits) == 1, board_commits
    [subject] = board_commits
    assert f"{first} in-progress -> review" in subject and f"{first} review -> done" in subject
    assert f"{second} todo -> in-progress" in subject
    # the landing itself is the agent's commit, which touches no board file
    assert git(proj.root, "log", "--format=%s", f"{before}..main").count("succeed: edit src/app.py") == 1


def test_a_tasks_life_costs_two_board_commits_and_idle_ticks_cost_none(tmp_path: Path) -> None:
    """Issue 16.9: 55 of 74 commits on a base were batty's bookkeeping. Chosen: at most one board
    commit per command run (docs/tick.md); a tick that changed nothing commits nothing."""
    proj = Project(tmp_path / "p")
    task = proj.task("one change", "succeed")  # its own commit: a person's `task add`
    added = proj.base()
    proj.ok("tick")  # dispatches: the claim is on the base before the agent starts
    proj.wait_exited(task)
    proj.ok("tick")  # verifies and lands
    assert proj.status(task) == "done"
    landed = proj.base()
    for _ in range(3):
        proj.batty("tick")  # nothing to do
    assert proj.base() == landed
    subjects = git(proj.root, "log", "--format=%s", f"{added}..main").splitlines()
    bookkeeping = [s for s in subjects if not s.startswith("succeed:")]
    assert len(bookkeeping) == 2, subjects
    assert len(subjects) == 3, subjects  # and the agent's own commit


# ------------------------------------------------------------------ batty run


def test_run_loops_and_until_idle_stops_once_the_board_drains(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    res = proj.batty("run", "--interval", "0.1", "--max-ticks", "3")
    assert res.code == 0, res.err
    assert len(proj.events("tick.started")) == 3 and len(finished(proj)) == 3

    task = proj.task("drained by run", "succeed")
    res = proj.batty("run", "--interval", "0.2", "--until-idle", "--max-ticks", "300", timeout=180)
    assert res.code == 0, res.err
    assert proj.status(task) == "done"
    ticks = len(finished(proj)) - 3
    assert ticks > 1  # dispatch, then verify and merge: it looped
    assert f"idle after {ticks} ticks: nothing left to do" in res.err


def test_until_idle_stops_when_only_a_paused_dispatch_holds_the_work(tmp_path: Path) -> None:
    """Issue 5 audit: `batty run --until-idle` never stopped while dispatch was paused for low
    disk. --max-ticks bounds the replay: without the fix it ran 20 ticks and said nothing."""
    proj = Project(tmp_path / "p", config={"disk": {"min_free_mb": 1 << 40}})  # more than any disk
    task = proj.task("waits for room", "succeed")
    res = proj.batty("run", "--interval", "0.1", "--until-idle", "--max-ticks", "20")
    assert res.code == 0, res.err
    assert "idle after 1 tick: dispatch is paused (disk: " in res.err and "1 task(s) wait" in res.err
    assert len(finished(proj)) == 1
    assert proj.status(task) == "todo"


def test_until_idle_goes_on_while_an_agent_works_and_stops_at_a_block(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", config={"gates": {"max_attempts": 1}})
    task = proj.task("fails its tests", "fail-tests")
    res = proj.batty("run", "--interval", "0.2", "--until-idle", "--max-ticks", "300", timeout=180)
    assert res.code == 0, res.err
    assert proj.status(task) == "blocked"
    assert "1 task(s) blocked, for a person" in res.err


def test_until_idle_stops_when_a_reviewed_task_waits_for_approval(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", config={"merge": {"mode": "approve"}})
    task = proj.task("waits for a person's approval", "succeed")
    res = proj.batty("run", "--interval", "0.2", "--until-idle", "--max-ticks", "100", timeout=180)
    assert res.code == 0, res.err
    assert proj.status(task) == "review"
    assert "1 task(s) in review wait for `batty approve`" in res.err


def test_a_long_run_keeps_no_growing_memo_of_commits(repo: Paths) -> None:
    """The gates keep facts about commits for one tick's verify and merge; each tick of a long
    `batty run` (one process) starts with none, so they never grow with the tasks seen."""
    from batty.workflow import gate
    from batty.workflow.session import Session
    from batty.workflow.tick import tick

    sha = git(repo.root, "rev-parse", "HEAD")
    gate.base_files(repo.root, sha, ["board/config.yaml"])
    gate.merge_base(repo.root, sha, sha)
    assert gate._blobs and gate._merge_bases
    assert tick(Session(str(repo.root), True)) == 0
    assert not gate._blobs and not gate._merge_bases


def test_eight_ticks_started_together_dispatch_each_task_once(tmp_path: Path) -> None:
    """Issue 16.8: eight ticks started together dispatched two tasks, yet every one exited 75
    ("nothing was done")."""
    import os

    from tests import forkserver

    proj = Project(tmp_path / "p", seats=2)
    tasks = [proj.task(f"task {i}", "succeed") for i in range(2)]
    ticks = forkserver.batty_many([["--repo", str(proj.root), "tick"]] * 8, cwd=proj.root, env=dict(os.environ))
    codes = [t.returncode for t in ticks]
    errs = [t.stderr for t in ticks]
    assert all(c in (0, 75) for c in codes), (codes, errs)
    assert 0 in codes, (codes, errs)
    # each task claimed once: no attempt of a task launched by two ticks (a later attempt, should
    # a loaded machine make the first one fail, is another dispatch, not a double one)
    dispatched = [(e["task"], e["attempt"]) for e in proj.events("task.dispatched")]
    assert len(dispatched) == len(set(dispatched)), dispatched
    assert sorted(t for t, attempt in dispatched if attempt == 1) == sorted(tasks), dispatched
