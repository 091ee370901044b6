"""batty hooks: real shims in .git/hooks, run by real git commits, checkouts and merges."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from batty import runner
from batty.agents.behaviours import BEHAVIOURS
from batty.store.paths import Paths
from batty.workflow.hooks import HOOKS, ID_LINE
from tests.conftest import git


def hooks_dir(repo: Paths) -> Path:
    return repo.root / ".git" / "hooks"


def commit(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "commit", "-q", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def foreign(repo: Paths, name: str, body: str) -> Path:
    hook = hooks_dir(repo) / name
    hook.write_text(f"#!/bin/sh\n{body}\n")
    hook.chmod(0o755)
    return hook


def test_install_writes_the_shims_and_is_idempotent(batty, repo: Paths) -> None:
    assert batty("hooks", "install").code == 0
    for name in HOOKS:
        hook = hooks_dir(repo) / name
        assert ID_LINE in hook.read_text().splitlines()[:3]
        assert hook.stat().st_mode & 0o111
    before = {n: (hooks_dir(repo) / n).read_bytes() for n in HOOKS}
    res = batty("hooks", "install")
    assert res.code == 0 and "nothing changed" in res.err
    assert {n: (hooks_dir(repo) / n).read_bytes() for n in HOOKS} == before
    assert not list(hooks_dir(repo).glob("*.legacy"))  # our own shim is never taken for foreign
    assert batty("doctor", "--check").code == 0  # the tamper baseline knows batty's own hooks


def test_a_foreign_hook_is_chained_and_put_back(batty, repo: Paths) -> None:
    marker = repo.root.parent / "foreign-ran"
    hook = foreign(repo, "pre-commit", f"echo ran >> {marker}")
    original = hook.read_bytes()
    assert batty("hooks", "install").code == 0
    assert (hooks_dir(repo) / "pre-commit.legacy").read_bytes() == original
    (repo.root / "a.txt").write_text("a\n")
    git(repo.root, "add", "a.txt")
    assert commit(repo.root, "-m", "a").returncode == 0
    assert marker.read_text() == "ran\n"  # the foreign hook still runs

    foreign_fails = foreign(repo, "pre-commit.legacy", "exit 7")
    (repo.root / "b.txt").write_text("b\n")
    git(repo.root, "add", "b.txt")
    assert commit(repo.root, "-m", "b").returncode != 0  # its refusal still counts

    foreign_fails.write_bytes(original)
    assert batty("hooks", "uninstall").code == 0
    assert hook.read_bytes() == original
    assert not (hooks_dir(repo) / "pre-commit.legacy").exists()
    assert not (hooks_dir(repo) / "post-merge").exists()


def test_batty_own_commits_run_no_hook(batty, repo: Paths) -> None:
    marker = repo.root.parent / "hook-ran"
    assert batty("hooks", "install").code == 0
    foreign(repo, "pre-commit.legacy", f"echo ran >> {marker}; exit 1")
    res = batty("task", "add", "made by batty")
    assert res.code == 0, res.err
    assert git(repo.root, "log", "-1", "--format=%s") == "batty: T-1 created (todo)"
    assert not marker.exists()


def test_pre_commit_lints_board_files_in_the_control_checkout(batty, repo: Paths) -> None:
    assert batty("task", "add", "x").code == 0
    assert batty("hooks", "install").code == 0
    packet = repo.tasks / "T-1.yaml"
    good = packet.read_text()
    packet.write_text(good.replace("priority: 2", "priority: 9"))
    git(repo.root, "add", "board/tasks/T-1.yaml")
    res = commit(repo.root, "-m", "bad packet")
    assert res.returncode == 1
    assert "board/tasks/T-1.yaml" in res.stderr and "priority" in res.stderr
    packet.write_text(good.replace("title: x", "title: a better title"))
    git(repo.root, "add", "board/tasks/T-1.yaml")
    assert commit(repo.root, "-m", "good packet").returncode == 0
    # a commit that does not touch board/ is not held up by a broken board
    packet.write_text("id: [\n")
    (repo.root / "c.txt").write_text("c\n")
    git(repo.root, "add", "c.txt")
    assert commit(repo.root, "-m", "unrelated").returncode == 0


def test_pre_commit_lints_what_is_staged_not_the_working_tree(batty, repo: Paths) -> None:
    """Issue 5 audit: broken YAML staged, then fixed on disk without `git add`, was linted on
    disk and landed."""
    assert batty("task", "add", "x").code == 0
    assert batty("hooks", "install").code == 0
    packet = repo.tasks / "T-1.yaml"
    good = packet.read_text()
    packet.write_text("id: [\n")
    git(repo.root, "add", "board/tasks/T-1.yaml")
    packet.write_text(good)  # fixed on disk, not staged
    head = git(repo.root, "rev-parse", "HEAD")
    res = commit(repo.root, "-m", "broken packet staged")
    assert res.returncode == 1, res.stderr
    assert "board/tasks/T-1.yaml" in res.stderr
    assert git(repo.root, "rev-parse", "HEAD") == head
    # and the other way round: a good packet staged commits although the disk copy is broken
    packet.write_text(good.replace("title: x", "title: staged and good"))
    git(repo.root, "add", "board/tasks/T-1.yaml")
    packet.write_text("id: [\n")
    res = commit(repo.root, "-m", "good packet staged")
    assert res.returncode == 0, res.stderr
    assert "title: staged and good" in git(repo.root, "show", "HEAD:board/tasks/T-1.yaml")
    # a partial commit (`git commit PATH`) lints git's temporary index: the path's disk copy
    packet.write_text("id: [\n")
    res = commit(repo.root, "-m", "partial", "board/tasks/T-1.yaml")
    assert res.returncode == 1 and "board/tasks/T-1.yaml" in res.stderr


def test_an_agent_s_board_commit_is_its_own_repository_s_and_the_fence_refuses_it(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: a task's checkout is a repository of its own, with none of the control's hooks;
    an agent's commit of board/ stays there, and the gate's fence refuses the branch."""
    assert batty("hooks", "install").code == 0
    args = ["task", "add", "touch the board"]
    for cmd in BEHAVIOURS["touch-board"]:
        args += ["--script", cmd]
    assert batty(*args).code == 0
    assert batty("dispatch").code == 0
    run_dir = repo.run_dir("T-1", 1)
    deadline = time.monotonic() + 30
    while runner.run_state(run_dir) != "exited" and time.monotonic() < deadline:
        time.sleep(0.1)
    wt = repo.worktree("T-1")
    assert git(wt, "log", "-1", "--format=%s") == "touch-board: edit board/BOARD.md"
    assert "touch-board" not in git(repo.root, "log", "-1", "--format=%s", "main")
    assert batty("verify").code == 0
    import yaml

    verdict = yaml.safe_load(repo.packet("T-1").read_text())["verification"]
    assert verdict["result"] == "fail" and verdict["reason"] == "protected", verdict


def move_card(repo: Paths, card: str, column: str) -> None:
    text = repo.board_md.read_text()
    assert card + "\n" in text
    text = text.replace(card + "\n", "").replace(f"## {column}\n", f"## {column}\n\n{card}", 1)
    repo.board_md.write_text(text)


def status(batty, tid: str) -> str:  # type: ignore[no-untyped-def]
    return json.loads(batty("task", "show", tid, "--json").out)["status"]


def test_post_checkout_and_post_merge_reconcile_quietly(batty, repo: Paths) -> None:
    assert batty("task", "add", "one").code == 0
    assert batty("task", "add", "two").code == 0
    assert batty("hooks", "install").code == 0
    move_card(repo, "- [ ] T-1 one `P2`", "Backlog")
    # a file checkout is no branch switch: no reconcile
    git(repo.root, "checkout", "-q", "--", "README.md")
    assert status(batty, "T-1") == "todo"
    res = subprocess.run(["git", "checkout", "-q", "-b", "feature"], cwd=repo.root,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # quiet
    # off the base branch batty writes nothing (its board/ is that branch's)
    assert "status: todo" in (repo.tasks / "T-1.yaml").read_text()
    res = subprocess.run(["git", "checkout", "-q", "main"], cwd=repo.root, capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    assert status(batty, "T-1") == "backlog"

    # post-merge: a merge runs a reconcile too (a card moved meanwhile is applied)
    move_card(repo, "- [ ] T-2 two `P2`", "Backlog")
    side = git(repo.root, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "side")
    git(repo.root, "branch", "side", side)
    res = subprocess.run(["git", "merge", "-q", "--no-edit", "side"], cwd=repo.root,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert status(batty, "T-2") == "backlog"


def test_install_refuses_when_core_hooks_path_is_set(batty, repo: Paths) -> None:
    git(repo.root, "config", "core.hooksPath", ".githooks")
    res = batty("hooks", "install")
    assert res.code == 1 and "core.hooksPath is set" in res.err
    assert not (hooks_dir(repo) / "pre-commit").exists()


def test_install_refuses_to_overwrite_a_kept_legacy_hook(batty, repo: Paths) -> None:
    foreign(repo, "pre-commit", "exit 0")
    foreign(repo, "pre-commit.legacy", "exit 0")
    res = batty("hooks", "install")
    assert res.code == 1 and "both exist" in res.err


def test_batty_own_git_ignores_a_planted_hooks_path_and_fsmonitor(tmp_path: Path) -> None:
    """What an agent could plant in the shared .git/config to run code in batty's git: a
    core.hooksPath of its own hooks and a core.fsmonitor script. batty verifies, merges and
    ticks under them and runs neither (batty.store.git.NEUTRAL)."""
    from tests.project import Project

    proj = Project(tmp_path / "p")
    task = proj.task("lands under a planted config", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(task)  # the agent's own git is not batty's: plant only once it is done

    marker = tmp_path / "planted-ran"
    planted = tmp_path / "planted-hooks"
    planted.mkdir()
    for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "pre-merge-commit",
                 "post-merge", "post-checkout", "pre-rebase", "post-rewrite", "reference-transaction",
                 "pre-auto-gc", "post-index-change", "pre-push"):
        hook = planted / name
        hook.write_text(f"#!/bin/sh\necho {name} >> {marker}\n")
        hook.chmod(0o755)
    fsmonitor = tmp_path / "fsmonitor"
    fsmonitor.write_text(f"#!/bin/sh\necho fsmonitor >> {marker}\n")
    fsmonitor.chmod(0o755)
    git(proj.root, "config", "core.hooksPath", str(planted))
    git(proj.root, "config", "core.fsmonitor", str(fsmonitor))
    # the plant works: a person's git runs both
    git(proj.root, "update-ref", "refs/heads/probe", "HEAD")
    git(proj.root, "update-ref", "-d", "refs/heads/probe")
    git(proj.root, "status")
    ran = marker.read_text().split()
    assert "reference-transaction" in ran and "fsmonitor" in ran
    marker.unlink()

    proj.ok("verify")
    assert proj.status(task) == "review"
    proj.ok("merge")
    assert proj.status(task) == "done"
    assert git(proj.root, "config", "core.hooksPath") == str(planted)  # still planted throughout
    assert not marker.exists(), marker.read_text()
    res = proj.batty("tick")
    assert res.code in (0, 1), res.err  # doctor may report the planted settings
    assert not marker.exists(), marker.read_text()
