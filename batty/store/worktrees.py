"""Task worktrees, ``.batty/worktrees/<ID>`` on branch ``batty/<ID>`` (issue 3)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batty.errors import GitError
from batty.store import git
from batty.store.paths import Paths, branch_of


@dataclass(frozen=True)
class Worktree:
    path: Path
    head: str | None
    branch: str | None
    prunable: bool


def listing(root: Path) -> list[Worktree]:
    text = git.out(root, "worktree", "list", "--porcelain")
    out: list[Worktree] = []
    cur: dict[str, str] = {}
    for line in [*text.splitlines(), ""]:
        if not line:
            if cur:
                branch = cur.get("branch", "")
                out.append(Worktree(Path(cur["worktree"]), cur.get("HEAD"),
                                    branch.removeprefix("refs/heads/") or None, "prunable" in cur))
            cur = {}
            continue
        key, _, value = line.partition(" ")
        cur[key] = value
    return out


_ready: set[str] = set()


def ensure(paths: Paths, task_id: str, base: str) -> Path:
    """The task's worktree, made (from the base) or reused (the next attempt, the same branch)."""
    wt = paths.worktree(task_id)
    branch = branch_of(task_id)
    root = paths.root
    if wt.exists() and (wt / ".git").exists():
        current = git.head_branch(wt) if _valid(wt) else None
        if current == branch:
            return wt
        raise GitError(f"worktree {paths.rel(wt)} is not on {branch} (doctor repairs it)")
    if str(root) not in _ready:  # once a process: dispatching 100 tasks pruned 100 times
        git.run(root, "worktree", "prune")
        _exclude_agent_litter(root)
        _ready.add(str(root))
    paths.worktrees.mkdir(parents=True, exist_ok=True)
    if git.rev(root, f"refs/heads/{branch}"):
        git.run(root, "worktree", "add", "-f", str(wt), branch)
    else:
        git.run(root, "worktree", "add", "-f", "-b", branch, str(wt), base)
    return wt


def _entry_of(root: Path, wt: Path) -> Path | None:
    """The entry under the common dir's worktrees/ whose gitdir names ``wt``'s .git (read from
    the entries, never from the worktree's own .git file, which its agent could rewrite); None
    when there is none or it is locked (git decides then)."""
    common = git.plain_common_dir(root)
    if common is None:
        return None
    want = _gitdir_names(wt)
    try:
        entries = list(os.scandir(common / "worktrees"))
    except OSError:
        return None
    for e in entries:
        try:
            named = Path(e.path, "gitdir").read_text().strip()
        except OSError:
            continue
        if named in want:
            return None if Path(e.path, "locked").exists() else Path(e.path)
    return None


def _gitdir_names(folder: Path) -> set[str]:
    """What an entry's gitdir file holds for the checkout at ``folder``: its path as batty names
    it, or as git resolved it (a symlink above it, /tmp on some systems)."""
    return {str(folder / ".git"), os.path.join(os.path.realpath(folder.parent), folder.name, ".git")}


def add_detached(root: Path, folder: Path, sha: str, *, entry: str) -> Path | None:
    """A linked worktree at ``folder`` with ``sha`` checked out on a detached HEAD (a gate's
    scratch checkout); its entry under the common dir's worktrees/ (``entry``), or None when git
    made it.

    Made by hand in the layout git documents (gitrepository-layout(5): ``worktrees/<id>/`` with
    ``gitdir``, ``commondir``, ``HEAD``) and filled by one `git read-tree --reset -u`: `git
    worktree add` runs three git processes for the same result (issue 4: a third of the
    supervisor's git time a task). Where the repository is not plain files (reftable), git
    makes it. Whatever a killed run left at ``folder`` or ``entry`` goes first; an entry of that
    name that is not one of ``folder``'s (git names a person's worktree after its folder) is
    theirs, and the checkout takes the next free name, as git does."""
    common = git.plain_common_dir(root)
    admin = _free_entry(common / "worktrees", entry, folder) if common is not None else None
    if folder.exists() or folder.is_symlink() or (admin is not None and admin.exists()):
        _clear(root, folder, admin)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if admin is None:
        git.run(root, "worktree", "add", "--detach", "-f", str(folder), sha)
        return None
    # Each file is written before anything names it, so a `git worktree prune` meanwhile (a
    # person's, or dispatch's) never finds an entry to prune: the checkout's .git file, then the
    # entry's gitdir (naming a file that exists), then the rest.
    try:
        folder.mkdir()
        (folder / ".git").write_text(f"gitdir: {admin}\n")
        admin.mkdir(parents=True)
        (admin / "gitdir").write_text(f"{folder / '.git'}\n")
        (admin / "commondir").write_text("../..\n")
        (admin / "HEAD").write_text(f"{sha}\n")
        git.run(folder, "read-tree", "--reset", "-u", sha)
    except BaseException:
        remove_tree(folder)
        remove_tree(admin)
        raise
    return admin


def _free_entry(top: Path, entry: str, folder: Path) -> Path:
    """``top/entry`` (or ``entry-2``, ``entry-3``...): the first that is absent or an entry of
    the checkout at ``folder`` (a killed run's), or of nothing (no gitdir, not locked: git
    prunes it too)."""
    mine = _gitdir_names(folder)
    n = 1
    while True:
        admin = top / (entry if n == 1 else f"{entry}-{n}")
        try:
            named: str | None = (admin / "gitdir").read_text().strip()
        except FileNotFoundError:
            named = None
        except OSError:
            named = ""
        if (named is None and not (admin / "locked").exists()) or named in mine:
            return admin
        n += 1


def discard(root: Path, folder: Path, entry: Path | None) -> None:
    """Remove a checkout :func:`add_detached` made: the two folders it named, never ones read from
    the checkout, whose files the code that ran there may have changed (one process fewer than
    `git worktree remove`); git's own way when git made it or something stayed."""
    if entry is not None:
        remove_tree(folder)
        remove_tree(entry)
    if entry is None or folder.exists() or folder.is_symlink() or entry.exists():
        _clear(root, folder, entry)


def _clear(root: Path, folder: Path, admin: Path | None) -> None:
    if folder.exists() and not folder.is_symlink() and (admin is None or not admin.exists()):
        git.run(root, "worktree", "remove", "--force", "--force", str(folder), check=False)
    remove_tree(folder)
    if admin is not None:
        remove_tree(admin)
    git.run(root, "worktree", "prune", check=False)


def remove_tree(path: Path) -> None:
    """Remove ``path`` whatever was left in it: a symlink in its place is unlinked (never
    followed), a folder made read-only is made writable first."""
    import shutil

    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return

    tried: set[str] = set()  # folders removed again from here: each once (a mount point stays)

    def writable(func: Any, failed: str, exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, 0o700)
                if failed not in tried:
                    tried.add(failed)
                    shutil.rmtree(failed, onerror=writable)  # and the unreadable ones inside it
            else:
                func(failed)
        except OSError:
            pass

    shutil.rmtree(path, onerror=writable)


def _valid(wt: Path) -> bool:
    return git.run(wt, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0


def remove(paths: Paths, task_id: str, *, branch: bool = True) -> None:
    wt = paths.worktree(task_id)
    removed = False
    if wt.is_symlink():  # an agent's link in its place: unlinked; git would remove what it names
        wt.unlink()
    entry = _entry_of(paths.root, wt) if wt.exists() else None
    if entry is not None:  # its two folders, as `git worktree remove --force --force` does
        remove_tree(wt)
        remove_tree(entry)
        removed = not wt.exists() and not entry.exists()
    if wt.exists():
        removed = git.run(paths.root, "worktree", "remove", "--force", "--force", str(wt),
                          check=False).returncode == 0
        if wt.exists():
            remove_tree(wt)
            removed = False
    if not removed:  # git still lists a worktree whose folder is gone: forget it
        git.run(paths.root, "worktree", "prune", check=False)
    if branch:
        git.run(paths.root, "branch", "-D", branch_of(task_id), check=False)


# What agent CLIs drop in a worktree that is theirs, not the task's (Aider's repo-map cache):
# ignored for every worktree through the shared info/exclude, so verify never collects it.
AGENT_LITTER = (".aider*",)


def _exclude_agent_litter(root: Path) -> None:
    exclude = git.common_dir(root) / "info" / "exclude"
    try:
        lines = exclude.read_text().splitlines() if exclude.exists() else []
    except OSError:
        return
    missing = [p for p in AGENT_LITTER if p not in lines]
    if missing:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a") as f:
            f.write("".join(f"{p}\n" for p in missing))
