"""A task's branch deleted under it (`git branch -D`, a cleanup script, a bad rebase).

Found by this scenario: a task in review whose branch was gone waited in review for ever (merge
skipped it as no-branch on every tick, nothing healed it); a finished attempt whose branch was
gone was committed by verify as a new root commit of the whole worktree, so the fence blamed the
agent for touching board/ and blocked the task. doctor now restores the branch where it was:
from the task's checkout (its own repository's branch, fetched back), or for a reviewed task
from its verified commit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import git
from tests.scenarios.helpers import actions, kinds, make, on_base, quiet, settle, statuses, write


def test_a_deleted_branch_is_restored_where_it_was(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=3)
    reviewed = proj.task("In review when its branch goes", write("src/a.py", "A = 1"))
    exited = proj.task("Finished, not yet verified, when its branch goes", write("src/b.py", "B = 1"))
    no_worktree = proj.task("In review, branch and worktree both gone", write("src/c.py", "C = 1"))
    proj.ok("dispatch")
    quiet(proj)
    proj.ok("verify", reviewed)
    proj.ok("verify", no_worktree)
    assert statuses(proj) == {reviewed: "review", exited: "in-progress", no_worktree: "review"}
    # each task's own commit: in the control repository once verified, in its checkout (a
    # repository of its own, issue 14) until then
    heads = {t: git(proj.root, "rev-parse", f"batty/{t}") for t in (reviewed, no_worktree)}
    heads[exited] = git(proj.paths.worktree(exited), "rev-parse", "HEAD")
    shutil.rmtree(proj.paths.worktree(no_worktree))
    for t in heads:
        git(proj.root, "update-ref", "-d", f"refs/heads/batty/{t}")

    settle(proj, watch)
    assert statuses(proj) == {reviewed: "done", exited: "done", no_worktree: "done"}
    assert kinds(proj, "verify.failed") == []  # nobody was blamed for a branch batty lost
    assert {e["task"] for e in actions(proj, "worktree-repair")} == set(heads)
    assert proj.packet(exited)["verification"]["sha"] == heads[exited]  # the agent's own commit
    for t, name in ((reviewed, "a"), (exited, "b"), (no_worktree, "c")):
        assert on_base(proj, f"src/{name}.py") == f"{name.upper()} = 1", t
