"""gate.history: one `git log` for the fence's per-commit paths, the commit count, and (for one
commit on top of the range's start) the tree diff that `git diff` would give."""

from __future__ import annotations

from pathlib import Path

import pytest

from batty.workflow import gate
from tests.conftest import git

# names a parser that split on anything but NUL, or read a path as a record, would get wrong
ODD = ["\x01deadbeef cafe", ":100644 100644 x y M", "line\nbreak.txt", " lead space", "R100"]


def commit(root: Path, msg: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", msg)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "tests").mkdir()
    (git_repo / "tests" / "test_a.py").write_text("def test_a():\n    pass\n" * 20)
    (git_repo / "app.py").write_text("x = 1\n" * 50)
    commit(git_repo, "base")
    return git_repo


def test_one_commit_gives_the_tree_diff_with_renames_and_odd_names(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    for name in ODD:
        (repo / name).write_text(f"{name!r}\n")
    git(repo, "mv", "tests/test_a.py", "tests/test_b.py")
    (repo / "app.py").unlink()
    (repo / "link").symlink_to("tests")
    head = commit(repo, "many kinds of change")
    h = gate.history(repo, base, head)
    assert h.commits == 1
    served = gate.changes_and_lines(repo, base, head)  # from what the log said
    gate._diffs.clear()
    assert served == gate.changes_and_lines(repo, base, head)  # what git diff says
    assert h.changes == served[0] and served[1] > 50
    assert {(c.status, c.path, c.old_path) for c in h.changes} >= {
        ("R", "tests/test_b.py", "tests/test_a.py"), ("D", "app.py", None), ("A", "link", None)}
    assert set(ODD) <= set(h.paths)
    assert h.paths == gate.touched(h.changes)
    # the trusted files as the checkout's diff would name them
    assert gate.trusted_in(h.changes, ["tests/**"]) == gate.trusted_changes(repo, base, ["tests/**"], head)


def test_several_commits_and_merges_give_no_tree_diff_but_every_commit_s_paths(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    (repo / "one.txt").write_text("1\n")
    commit(repo, "one")
    (repo / "one.txt").unlink()
    head = commit(repo, "two: undo one")
    h = gate.history(repo, base, head)
    assert (h.commits, h.changes, h.paths) == (2, None, ["one.txt"])  # the tree diff is empty
    git(repo, "checkout", "-qb", "side", base)
    (repo / "side.txt").write_text("s\n")
    commit(repo, "side")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "--no-edit", "side")
    merged = git(repo, "rev-parse", "HEAD")
    on_branch = gate.history(repo, head, merged)
    assert on_branch.changes is None and on_branch.paths == ["side.txt"]  # the side commit itself
    landing = gate.history(repo, head, merged, landing=True)
    assert landing.commits == 1 and landing.changes is None  # a merge: two parents
    assert landing.paths == ["side.txt"]


def test_an_empty_range(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    h = gate.history(repo, base, base)
    assert (h.commits, h.changes, h.paths) == (0, None, [])


def test_worktrees_of_one_repository_share_one_reading_of_its_drivers(repo: Path, tmp_path: Path) -> None:
    """git writes a worktree's commondir as "../..": unnormalised, every worktree named the
    repository differently and its filter drivers were read again for each (3 git processes a
    task in a tick)."""
    from batty.store import git as bgit

    for name in ("a", "b"):
        git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / name))
    assert bgit.common_dir(tmp_path / "a") == bgit.common_dir(tmp_path / "b") == repo / ".git"
    bgit._drivers.clear()
    for where in (repo, tmp_path / "a", tmp_path / "b"):
        bgit.run(where, "status", "--porcelain")
    assert list(bgit._drivers) == [str(repo / ".git")]


def test_branch_history_finds_the_merge_base_from_the_log_when_the_branch_is_a_line(repo: Path) -> None:
    fork = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", "task")
    (repo / "feature.py").write_text("x = 2\n")
    commit(repo, "feature")
    (repo / "feature.py").write_text("x = 3\n")
    head = commit(repo, "more")
    git(repo, "checkout", "-q", "main")
    (repo / "base.txt").write_text("moved on\n")
    base = commit(repo, "the base moves on")
    gate._merge_bases.clear()
    gate._diffs.clear()
    mb, h = gate.branch_history(repo, base, head)
    assert mb == fork == git(repo, "merge-base", base, head)
    assert (h.commits, h.paths, h.changes) == (2, ["feature.py"], None)
    assert gate.merge_base(repo, base, head) == fork  # kept for merge's precheck
    # one commit off an older base: its diff is the tree diff from the merge base, not the base
    git(repo, "checkout", "-qb", "one", fork)
    (repo / "one.py").write_text("y = 1\n")
    one = commit(repo, "one")
    git(repo, "checkout", "-q", "main")
    mb, h = gate.branch_history(repo, base, one)
    assert mb == fork and h.since == fork
    gate._diffs.clear()
    assert h.changes == gate.changes(repo, fork, one) != gate.changes(repo, base, one)


def test_branch_history_with_the_base_merged_in_asks_git_for_the_merge_base(repo: Path) -> None:
    fork = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", "task")
    (repo / "feature.py").write_text("x = 2\n")
    commit(repo, "feature")
    git(repo, "checkout", "-q", "main")
    (repo / "base.txt").write_text("moved on\n")
    base = commit(repo, "the base moves on")
    git(repo, "checkout", "-q", "task")
    git(repo, "merge", "-q", "--no-edit", "main")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    gate._merge_bases.clear()
    mb, h = gate.branch_history(repo, base, head)
    assert mb == git(repo, "merge-base", base, head) == base != fork
    assert h.paths == ["feature.py"] and h.changes is None
