"""A task's checkout deleted or corrupted under it: the folder removed (re-added from the branch,
where its commits are since its agent exited: the wrapper fetched them),
its .git removed (a folder git does not know: re-added keeping the agent's uncommitted files),
and left on the wrong branch (switched back, keeping the commit made there). Each task lands."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import git
from tests.scenarios.helpers import actions, make, on_base, quiet, settle, statuses, tick, write


def test_a_deleted_or_corrupted_worktree_is_repaired(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=3)
    deleted = proj.task("Its worktree folder is deleted", write("src/a.py", "A = 1"))
    corrupt = proj.task("Its .git file is deleted", ["echo 'B = 1' > src/b.py"])  # left uncommitted
    wrong = proj.task("Left on a detached HEAD", [*write("src/c.py", "C = 1"), "git checkout -q --detach"])
    tick(proj, watch)
    quiet(proj)
    shutil.rmtree(proj.paths.worktree(deleted))
    shutil.rmtree(proj.paths.worktree(corrupt) / ".git")
    assert git(proj.paths.worktree(wrong), "symbolic-ref", "-q", "HEAD", check=False) == ""

    settle(proj, watch)
    assert statuses(proj) == {deleted: "done", corrupt: "done", wrong: "done"}
    assert {e["task"] for e in actions(proj, "worktree-repair")} >= {deleted, corrupt, wrong}
    for name in "abc":
        assert on_base(proj, f"src/{name}.py") == f"{name.upper()} = 1"
