"""batty reconcile against git and the event log: a verified branch a person merged is done, a
status written without its event is logged, and a second run changes nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from batty import runner
from tests.conftest import git
from tests.project import Project


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    for run_json in tmp_path.rglob("run.json"):
        runner.stop(run_json.parent, grace_s=1)


def snapshot(proj: Project) -> tuple[int, str, str]:
    """Events, the base's head, and git status: what a run that changes nothing leaves alone."""
    lines = proj.paths.events.read_bytes().count(b"\n")
    return lines, proj.base(), git(proj.root, "status", "--porcelain")


def test_a_verified_branch_already_in_the_base_is_done(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    task = proj.task("merged by a person", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(task)
    proj.ok("verify")
    assert proj.status(task) == "review"
    branch = f"batty/{task}"
    assert proj.packet(task)["verification"]["sha"] == git(proj.root, "rev-parse", branch)
    # a person lands it by hand, before merge ran
    git(proj.root, "merge", "-q", "--no-ff", "-m", f"merge {branch} by hand", branch)
    res = proj.ok("reconcile")
    assert f"{task}: its verified branch is in main already: done" in res.err
    assert proj.status(task) == "done"
    [change] = [e for e in proj.events("task.status", task) if e["data"]["to"] == "done"]
    assert change["data"]["by"] == "reconcile" and change["data"]["from"] == "review"
    assert not proj.paths.worktree(task).exists()  # its work is in the base: the worktree goes
    assert git(proj.root, "branch", "--list", branch) == ""
    assert "done" in git(proj.root, "log", "-1", "--format=%s")  # the one board commit


def test_an_unverified_branch_in_the_base_is_not_done(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    task = proj.task("not verified yet", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(task)
    git(proj.root, "merge", "-q", "--no-ff", "-m", "early", f"batty/{task}")
    proj.ok("reconcile")
    assert proj.status(task) == "in-progress"  # only a pass of verify counts


def test_a_status_written_without_its_event_is_logged_once(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    task = proj.task("moved by hand in its packet", "succeed")
    packet = proj.paths.packet(task)
    packet.write_text(packet.read_text().replace("status: todo", "status: backlog"))  # no event
    res = proj.ok("reconcile")
    assert f"{task}: status backlog has no event (last: todo); logged" in res.err
    [logged] = proj.events("reconcile.state", task)
    assert logged["data"]["from"] == "todo" and logged["data"]["to"] == "backlog"
    assert proj.status(task) == "backlog"
    board = proj.paths.board_md.read_text()
    assert board.index("## Backlog") < board.index(task) < board.index("## Todo")
    assert git(proj.root, "status", "--porcelain", "board") == ""  # committed, in one commit

    # idempotent: a second run adds no event and no commit, also when it reads everything again
    before = snapshot(proj)
    proj.ok("reconcile")
    assert snapshot(proj) == before
    shutil.rmtree(proj.paths.cache)  # no quiet key, no last-status cache: the full pass
    proj.ok("reconcile")
    assert snapshot(proj) == before
    assert len(proj.events("reconcile.state", task)) == 1
