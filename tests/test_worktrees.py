"""The gates' scratch checkouts and the tasks' worktrees, as git sees them (issues 4 and 14).

A scratch checkout and a task's checkout are repositories of their own that batty writes by hand
(gitrepository-layout(5)) and fills with one `git read-tree`; they share no refs, config or
hooks with the control repository, and are removed by removing their folder. These tests
check what a person (or the code under test) would: git knows the checkout while it exists and
forgets it after, what a killed run left is cleared, and what the code that ran in a checkout
did to it (a symlink in its place, read-only folders, a rewritten .git file) neither survives
nor reaches anything outside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from batty.store import worktrees
from batty.store.paths import Paths
from batty.workflow import gate
from tests.conftest import git


@pytest.fixture
def paths(git_repo: Path) -> Paths:
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text("X = 1\n")
    (git_repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(git_repo / "run.sh", 0o755)
    os.symlink("src/app.py", git_repo / "link")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "files")
    return Paths(git_repo)


def listed(root: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in git(root, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def test_a_scratch_checkout_is_a_repository_of_its_own(paths: Paths) -> None:
    root = paths.root
    sha = git(root, "rev-parse", "HEAD")
    with gate.scratch(paths, "verify-T-1", sha) as tree:
        assert str(tree) not in listed(root)  # no entry in the control repository
        assert git(tree, "rev-parse", "HEAD") == sha
        assert git(tree, "status", "--porcelain") == ""  # every file checked out, nothing staged
        assert git(tree, "symbolic-ref", "-q", "HEAD", check=False) == ""  # detached
        assert git(tree, "for-each-ref") == ""  # none of the control's refs
        assert (tree / "src" / "app.py").read_text() == "X = 1\n"
        assert os.access(tree / "run.sh", os.X_OK) and os.readlink(tree / "link") == "src/app.py"
        # a commit made there (as merge's rebase does) is the checkout's, not the base's; its
        # objects are the control repository's at once
        (tree / "src" / "app.py").write_text("X = 2\n")
        git(tree, "commit", "-qam", "in the checkout")
        made = git(tree, "rev-parse", "HEAD")
        git(tree, "update-ref", "refs/heads/main", made)  # the code under test moving "main"
        git(tree, "config", "core.hooksPath", "/nowhere")
        assert git(root, "rev-parse", "main") == sha
        assert git(root, "cat-file", "-t", made) == "commit"
    assert not tree.exists()
    assert git(root, "rev-parse", "main") == sha
    assert git(root, "config", "--get", "core.hooksPath", check=False) == ""
    assert not (root / ".git" / "worktrees").exists() or not list((root / ".git" / "worktrees").iterdir())
    assert git(root, "status", "--porcelain") == ""


def test_what_a_killed_run_left_is_cleared(paths: Paths) -> None:
    root = paths.root
    sha = git(root, "rev-parse", "HEAD")
    folder = paths.state / "scratch" / "merge-T-1"
    entry = worktrees.add_detached(root, folder, sha, entry="batty-merge-T-1")  # never discarded
    assert entry is not None and folder.exists()
    (folder / "src" / "app.py").write_text("left by the killed run\n")
    with gate.scratch(paths, "merge-T-1", sha) as tree:
        assert (tree / "src" / "app.py").read_text() == "X = 1\n"
        assert git(tree, "status", "--porcelain") == ""
    # a leftover linked worktree (an older batty's) goes too, with git's entry for it
    git(root, "worktree", "add", "-q", "--detach", str(folder), sha)
    with gate.scratch(paths, "merge-T-1", sha) as tree:
        assert str(tree) not in listed(root)
    assert str(folder) not in listed(root) and not folder.exists()


def test_what_the_tests_did_to_the_checkout_never_outlives_it(paths: Paths, tmp_path: Path) -> None:
    root = paths.root
    sha = git(root, "rev-parse", "HEAD")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("a person's file\n")
    with gate.scratch(paths, "verify-T-2", sha) as tree:
        (tree / "deep" / "er").mkdir(parents=True)
        (tree / "deep" / "er" / "f").write_text("x")
        os.chmod(tree / "deep" / "er", 0o500)
        os.chmod(tree / "deep", 0o500)
        os.symlink(outside, tree / "out")  # a link out: removed, never followed
    assert not tree.exists() and (outside / "keep.txt").exists()
    with gate.scratch(paths, "verify-T-2", sha) as tree:
        # the checkout replaced by a link to a folder of a person's: the link goes, not the folder
        os.rename(tree, tmp_path / "moved")
        os.symlink(outside, tree)
    assert not tree.is_symlink() and not tree.exists()
    assert (outside / "keep.txt").read_text() == "a person's file\n"
    assert str(tree) not in listed(root)


def test_removing_a_task_s_checkout_never_follows_its_git(repo: Paths) -> None:
    """An agent can rewrite its checkout's .git (a file naming another task's repository):
    removing the checkout removes its folder, never what the .git names."""
    root = repo.root
    a = worktrees.ensure(repo, "T-1", "main")
    b = worktrees.ensure(repo, "T-2", "main")
    shutil.rmtree(a / ".git")
    (a / ".git").write_text(f"gitdir: {b / '.git'}\n")  # T-1's .git now names T-2's repository
    worktrees.remove(repo, "T-1")
    assert not a.exists()
    assert (b / ".git" / "HEAD").exists()
    assert git(b, "rev-parse", "--abbrev-ref", "HEAD") == "batty/T-2"
    assert git(root, "branch", "--list", "batty/T-1") == ""
    worktrees.remove(repo, "T-2")
    assert listed(root) == [str(root)] and not b.exists()


def test_a_person_s_worktree_named_like_a_scratch_entry_is_left_be(paths: Paths, tmp_path: Path) -> None:
    """git names a worktree's entry after its folder: a person's checkout at .../batty-verify-T-3
    has the entry a scratch checkout named verify-T-3 would take. It is theirs: never cleared."""
    root = paths.root
    sha = git(root, "rev-parse", "HEAD")
    theirs = tmp_path / "batty-verify-T-3"
    git(root, "worktree", "add", "-q", "-b", "mine", str(theirs), sha)
    (theirs / "src" / "app.py").write_text("X = 'staged'\n")
    git(theirs, "add", "src/app.py")
    assert (root / ".git" / "worktrees" / "batty-verify-T-3").is_dir()
    with gate.scratch(paths, "verify-T-3", sha) as tree:
        assert git(tree, "rev-parse", "HEAD") == sha
        assert git(tree, "status", "--porcelain") == ""
    assert not tree.exists() and str(tree) not in listed(root)
    assert str(theirs) in listed(root)
    assert git(theirs, "symbolic-ref", "HEAD") == "refs/heads/mine"
    assert git(theirs, "diff", "--cached", "--name-only") == "src/app.py"  # their index kept


def test_removing_a_task_s_worktree_never_follows_a_link_in_its_place(repo: Paths) -> None:
    """An agent can put a link to another task's worktree where its own was (and drop its own
    entry): removing it unlinks the link and leaves the other task's worktree whole."""
    root = repo.root
    a = worktrees.ensure(repo, "T-1", "main")
    b = worktrees.ensure(repo, "T-2", "main")
    shutil.rmtree(a)
    os.symlink(b, a)
    worktrees.remove(repo, "T-1")
    assert not a.is_symlink() and not a.exists()
    assert b.is_dir() and not b.is_symlink()
    assert git(b, "rev-parse", "--abbrev-ref", "HEAD") == "batty/T-2"
    assert listed(root) == [str(root)]


UNREADABLE = """
import os, sys
from pathlib import Path
from batty.workflow import gate
from batty.store.paths import Paths
paths = Paths(Path(sys.argv[1]))
with gate.scratch(paths, "verify-T-4", sys.argv[2]) as tree:
    (tree / "deep" / "er" / "est").mkdir(parents=True)
    for sub in ("deep/er/est", "deep/er", "deep"):  # folders nobody may read, one in another
        os.chmod(tree / sub, 0)
print("left" if tree.exists() else "gone")
"""


def test_folders_the_tests_made_unreadable_never_outlive_the_checkout(paths: Paths) -> None:
    """Folders the code under test made unreadable, one inside another, go with the checkout
    (else the next checkout of that name cannot be made). As root, run without the capability
    that lets root read them."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root, and no setpriv to drop CAP_DAC_OVERRIDE")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode != 0:
            pytest.skip("root, and setpriv cannot drop CAP_DAC_OVERRIDE here")
    sha = git(paths.root, "rev-parse", "HEAD")
    out = subprocess.run([*prefix, sys.executable, "-c", UNREADABLE, str(paths.root), sha],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(Path(worktrees.__file__).parents[2])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "gone"


def test_a_linked_worktree_of_an_older_batty_moves_over_keeping_its_work(repo: Paths) -> None:
    """Issue 14: a task's linked worktree (batty before it) becomes a repository of its own in
    place: its commits, its uncommitted and untracked files kept; git forgets the old entry."""
    root = repo.root
    wt = repo.worktree("T-1")
    wt.parent.mkdir(parents=True)
    git(root, "worktree", "add", "-q", "-b", "batty/T-1", str(wt), "main")
    (wt / "done.txt").write_text("committed\n")
    git(wt, "add", "done.txt")
    git(wt, "commit", "-qm", "the agent's commit")
    tip = git(root, "rev-parse", "batty/T-1")
    (wt / "README.md").write_text("edited, not committed\n")
    (wt / "new.txt").write_text("untracked\n")
    assert worktrees.ensure(repo, "T-1", "main") == wt
    assert (wt / ".git").is_dir()
    assert listed(root) == [str(root)]
    assert git(wt, "symbolic-ref", "HEAD") == "refs/heads/batty/T-1"
    assert git(wt, "rev-parse", "HEAD") == tip == git(root, "rev-parse", "batty/T-1")
    status = git(wt, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(line.strip() for line in status) == ["?? new.txt", "M README.md"]  # unstaged edit, untracked file
    assert (wt / "done.txt").read_text() == "committed\n"


def test_a_task_s_checkout_shares_no_refs_config_or_hooks(repo: Paths) -> None:
    """Issue 14: what an agent does to its repository's refs, replace refs, config and hooks
    stays there; batty brings its branch back with a fetch and reads no replace object."""
    from batty.store import repos

    root = repo.root
    base = git(root, "rev-parse", "main")
    wt = worktrees.ensure(repo, "T-1", "main")
    (wt / "f.txt").write_text("work\n")
    git(wt, "add", "f.txt")
    git(wt, "commit", "-qm", "work")
    work = git(wt, "rev-parse", "HEAD")
    git(wt, "update-ref", "refs/heads/main", work)
    git(wt, "branch", "batty/T-2")
    git(wt, "replace", "-f", f"{base}^{{tree}}", git(wt, "rev-parse", "HEAD^{tree}"))
    git(wt, "config", "core.hooksPath", "/nowhere")
    hooks = wt / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-checkout").write_text("#!/bin/sh\ntouch /tmp/hooked\n")
    assert git(root, "rev-parse", "main") == base
    assert git(root, "for-each-ref", "refs/replace", "refs/heads/batty/T-2") == ""
    assert git(root, "config", "--get", "core.hooksPath", check=False) == ""
    assert git(root, "rev-parse", "batty/T-1") == base  # nothing of its until batty fetches
    assert repos.bring_back(root, wt, "batty/T-1") == work
    assert git(root, "rev-parse", "batty/T-1") == work
    assert git(root, "for-each-ref", "refs/replace") == ""
    said = repos.oddities(wt, "batty/T-1", "main", base)
    assert any("replace" in s for s in said) and any("main" in s for s in said)
    assert any("batty/T-2" in s for s in said) and any("hooks" in s for s in said)
