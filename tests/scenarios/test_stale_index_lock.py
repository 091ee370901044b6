"""Stale index.lock files, left by a git that died: one in the control checkout (it would stop the
merge moving the base) and one in a task's worktree (it would stop verify committing what the
agent left; in its own repository since issue 14, it would stop the next attempt's checkout).
doctor removes both, and the tasks land in the same tick."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.scenarios.helpers import actions, make, on_base, quiet, settle, statuses, tick, write


def aged(path: Path, seconds: float = 120) -> None:
    path.write_text("")
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_stale_index_locks_are_removed_and_work_goes_on(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    reviewed = proj.task("Reviewed when git died", write("src/a.py", "A = 1"))
    uncommitted = proj.task("Left its work uncommitted", ["echo 'B = 1' > src/b.py"])
    tick(proj, watch)
    quiet(proj)
    proj.ok("verify", reviewed)
    gitdir = proj.root / ".git"
    aged(gitdir / "index.lock")
    aged(proj.paths.worktree(uncommitted) / ".git" / "index.lock")  # its own repository (issue 14)
    tick(proj, watch)
    assert statuses(proj) == {reviewed: "done", uncommitted: "done"}
    paths = sorted(e["data"]["path"] for e in actions(proj, "git-lock"))
    assert paths == [f".batty/worktrees/{uncommitted}/.git/index.lock", ".git/index.lock"]
    settle(proj, watch)
    assert on_base(proj, "src/a.py") == "A = 1" and on_base(proj, "src/b.py") == "B = 1"
