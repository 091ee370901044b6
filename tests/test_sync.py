"""batty sync (SPEC 10): two real clones of one bare remote, each its own host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batty import runner
from tests.conftest import git
from tests.project import Project, wait_for


class Clone(Project):
    """A clone of the shared remote, as a second machine has it (init is on the remote)."""

    def __init__(self, root: Path, remote: Path, host: str) -> None:  # noqa: D107
        from batty.store.paths import Paths

        self.root = root
        self.paths = Paths(root)
        self.host = host
        git(root.parent, "clone", "-q", str(remote), root.name)


def _host(project: Project, host: str) -> Project:
    original = project.batty

    def batty(*args: str, **kw: object) -> object:
        env = {**(kw.pop("env", None) or {}), "BATTY_HOST": host}  # type: ignore[dict-item]
        return original(*args, env=env, **kw)  # type: ignore[arg-type]

    project.batty = batty  # type: ignore[method-assign]
    return project


@pytest.fixture
def machines(tmp_path: Path) -> tuple[Project, Project, Path]:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    a = _host(Project(tmp_path / "a", seats=1), "host-a")
    git(a.root, "remote", "add", "origin", str(remote))
    a.ok("sync")
    b = _host(Clone(tmp_path / "b", remote, "host-b"), "host-b")
    return a, b, remote


def remote_main(remote: Path) -> str:
    return git(remote, "rev-parse", "main")


def clean_board(p: Project) -> bool:
    return git(p.root, "status", "--porcelain", "--", "board/") == ""


def titles(p: Project) -> dict[str, dict]:
    rows = json.loads(p.ok("task", "list", "--json").out)
    return {r["title"]: r for r in rows}


def test_fast_forward_both_ways(machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    t1 = a.task("from a", "succeed")
    a.ok("sync")
    assert remote_main(remote) == a.base()
    b.ok("sync")
    assert b.base() == a.base() and b.packet(t1)["title"] == "from a" and clean_board(b)
    t2 = b.task("from b", "succeed")
    b.ok("sync")
    a.ok("sync")
    assert a.base() == b.base() == remote_main(remote)
    assert a.packet(t2)["title"] == "from b" and clean_board(a)
    assert "origin/main" not in a.ok("sync").out  # up to date: nothing to say on stdout


def test_no_remote_is_one_line_exit_1(tmp_path: Path) -> None:
    p = Project(tmp_path / "solo")
    res = p.batty("sync")
    assert res.code == 1 and res.err.startswith("batty: ") and len(res.err.strip().splitlines()) == 1
    assert p.batty("sync", "--remote", "nowhere").code == 1


def test_colliding_ids_are_renumbered_on_the_side_that_syncs_second(
        machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    b.ok("sync")
    ta = a.task("from a", "succeed")
    tb = b.task("from b", "succeed")
    tb2 = b.task("b's follow-up", "succeed", depends=tb)
    assert ta == tb == "T-1" and tb2 == "T-2"
    a.ok("sync")
    pushed = remote_main(remote)
    res = b.ok("sync")
    assert "renumbered" in res.err
    assert git(b.root, "rev-list", "--count", f"{pushed}..main") == "1"  # one board commit
    assert git(b.root, "rev-parse", "main^") == pushed
    assert any(e["data"].get("renumbered_from") == "T-1" for e in b.events("reconcile.state", "T-3"))
    for p in (b, a):
        if p is a:
            p.ok("sync")
        got = titles(p)
        assert got["from a"]["id"] == "T-1"
        assert got["from b"]["id"] == "T-3"  # the next free id over both sides
        assert got["b's follow-up"]["id"] == "T-2" and got["b's follow-up"]["depends_on"] == ["T-3"]
        assert clean_board(p)
        assert "T-3" in p.paths.board_md.read_text()
    assert a.base() == b.base() == remote_main(remote)
    assert not (b.paths.tasks / "T-1.yaml").read_text().count("from b")


def test_a_lost_claim_stops_the_agent_and_takes_the_remote_board(
        machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    b.ok("sync")
    t = a.task("one task, two machines", "stall")
    a.ok("sync")
    b.ok("sync")
    try:
        a.ok("dispatch")
        a.ok("sync")  # A's claim reaches the remote first
        b.ok("dispatch")
        wait_for(lambda: b.run_state(t) == "running", 30, "B's agent to start")
        run = runner.read_run(b.paths.run_dir(t, 1)) or {}
        pids = [(run.get("pid"), run.get("pid_started")), (run.get("agent_pid"), run.get("agent_pid_started"))]
        assert any(runner.alive(pid, started) for pid, started in pids)
        pushed = remote_main(remote)
        res = b.ok("sync")
        assert "claim lost" in res.err
        assert int(git(b.root, "rev-list", "--count", f"{pushed}..main")) <= 1
        # B's agent is gone, and so is everything else of B's claim
        assert not any(runner.alive(pid, started) for pid, started in pids if pid)
        assert not b.paths.worktree(t).exists()
        assert git(b.root, "branch", "--list", f"batty/{t}") == ""
        assert not b.paths.run_dir(t, 1).exists()
        # B's packet is the remote's: A's claim
        assert b.packet(t) == a.packet(t)
        assert git(b.root, "show", f"main:board/tasks/{t}.yaml") == git(remote, "show", f"main:board/tasks/{t}.yaml")
        assert b.base() == remote_main(remote) and clean_board(b)
        stopped = b.events("agent.stopped", t)
        assert stopped and stopped[-1]["data"]["reason"] == "lost-claim" and stopped[-1]["host"] == "host-b"
        assert b.events("reconcile.state", t)
        # one board commit at most on top of A's history; A's agent still runs
        assert a.run_state(t) == "running"
    finally:
        runner.stop(a.paths.run_dir(t, 1), grace_s=1)
        runner.stop(b.paths.run_dir(t, 1), grace_s=1)


def test_dry_run_changes_nothing(machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    b.ok("sync")
    a.task("from a", "succeed")
    a.ok("sync")
    b.task("from b", "succeed")
    before = (b.base(), remote_main(remote), git(b.root, "for-each-ref"), git(b.root, "status", "--porcelain"),
              sorted(p.name for p in b.paths.tasks.iterdir()))
    res = b.ok("sync", "--dry-run")
    assert "would" in res.out and "diverged" in res.out
    after = (b.base(), remote_main(remote), git(b.root, "for-each-ref"), git(b.root, "status", "--porcelain"),
             sorted(p.name for p in b.paths.tasks.iterdir()))
    assert before == after


def test_code_commits_are_rebased_and_tested_before_they_are_pushed(
        machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    b.ok("sync")
    b.task("from b", "succeed")
    b.ok("sync")
    (a.root / "src" / "extra.py").write_text("VALUE = 1\n")
    git(a.root, "add", "src/extra.py")
    git(a.root, "commit", "-q", "-m", "a person's change")
    a.ok("sync")
    assert git(remote, "show", "main:src/extra.py") == "VALUE = 1"
    assert "from b" in titles(a) and a.base() == remote_main(remote)
    assert a.tests_pass_at(a.base(), a.root.parent)


def test_code_that_fails_on_the_remote_base_is_refused(machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    b.ok("sync")
    b.task("from b", "succeed")
    b.ok("sync")
    pushed = remote_main(remote)
    (a.root / "src" / "broken.py").write_text("raise RuntimeError('broken')\n")
    git(a.root, "add", "src/broken.py")
    git(a.root, "commit", "-q", "-m", "a broken change")
    local = a.base()
    res = a.batty("sync")
    assert res.code == 1 and "sync refused" in res.err
    assert remote_main(remote) == pushed  # nothing reached the remote
    assert git(a.root, "merge-base", "--is-ancestor", local, "main", check=False) == ""
    assert git(a.root, "show", "main:src/broken.py")  # this clone's work is kept
    assert a.events("escalation.raised")


def test_a_push_that_loses_the_race_is_replayed_and_pushed_again(
        machines: tuple[Project, Project, Path]) -> None:
    """Another machine pushes between our fetch and our push: the remote rejects ours, sync
    fetches again, replays, and pushes; both tasks are on the remote."""
    a, b, remote = machines
    b.ok("sync")
    a.task("from a", "succeed")
    git(a.root, "push", "-q", "origin", "main:refs/heads/side")  # A's commit, not yet on main
    marker = remote / "moved-once"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\n"
                    f"if [ ! -e '{marker}' ]; then touch '{marker}'; env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY"
                    " -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main refs/heads/side; fi\n")
    hook.chmod(0o755)
    b.task("from b", "succeed")
    res = b.ok("sync")
    assert marker.exists() and "moved while pushing" in res.err
    assert b.base() == remote_main(remote)
    assert git(remote, "rev-list", "--count", "side..main") == "1"  # one board commit on A's
    b.ok("sync")
    got = titles(b)
    assert got["from a"]["id"] == "T-1" and got["from b"]["id"] == "T-2" and clean_board(b)


def test_a_remote_that_refuses_is_an_error_not_a_retry(machines: tuple[Project, Project, Path]) -> None:
    a, b, remote = machines
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\ncat >/dev/null\necho 'main is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    a.task("from a", "succeed")
    res = a.batty("sync")
    assert res.code == 1 and res.err.strip().splitlines()[-1].startswith("batty: git push")
    assert "moved while pushing" not in res.err
