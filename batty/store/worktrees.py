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
    """The task's checkout, a repository of its own (store/repos.py, issue 14), made (from the
    base) or reused (the next attempt, the same branch, put where the control repository has
    it). A linked worktree an older batty made is moved over first, keeping its files."""
    from batty.store import repos

    wt = paths.worktree(task_id)
    branch = branch_of(task_id)
    root = paths.root
    if wt.exists() and repos.is_linked(wt):
        current = git.head_branch(wt) if _valid(wt) else None
        if current != branch:
            raise GitError(f"worktree {paths.rel(wt)} is not on {branch} (doctor repairs it)")
        repos.migrate(root, wt, branch, _entry_of(root, wt))
    if wt.exists() and (wt / ".git").exists():
        current, sha = repos.head(wt) if repos.is_own(wt) else (None, None)
        if current != branch:
            raise GitError(f"worktree {paths.rel(wt)} is not on {branch} (doctor repairs it)")
        tip = git.rev(root, f"refs/heads/{branch}")
        if tip is not None and sha != tip:
            if sha is not None and not git.is_ancestor(root, sha, tip):
                tip = repos.bring_back(root, wt, branch) or tip  # work no gate saw yet (preempted)
            repos.align(root, wt, branch, tip)
        base_sha = git.rev(root, f"refs/heads/{base}")
        if base_sha and base != branch:  # its `main` is the base as it is now (`git rebase main`)
            repos.set_ref(wt, f"refs/heads/{base}", base_sha)
        return wt
    if str(root) not in _ready:  # once a process
        _exclude_agent_litter(root)
        _ready.add(str(root))
    paths.worktrees.mkdir(parents=True, exist_ok=True)
    tip = git.rev(root, f"refs/heads/{branch}")
    if tip is None:
        tip = git.rev(root, f"refs/heads/{base}") or git.out(root, "rev-parse", "--verify", f"{base}^{{commit}}")
        repos.create_ref(root, f"refs/heads/{branch}", tip)
    base_sha = git.rev(root, f"refs/heads/{base}")
    fresh = not wt.exists()
    try:
        repos.make(root, wt, tip, branch=branch,
                   refs={f"refs/heads/{base}": base_sha} if base_sha and base != branch else None)
    except BaseException:
        if fresh:
            remove_tree(wt)
        raise
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
    """A checkout of ``sha`` at ``folder`` on a detached HEAD (a gate's scratch checkout): a
    repository of its own reading ``root``'s objects through alternates (store/repos.py), made
    by hand and filled by one `git read-tree --reset -u` (issue 4: fewer git processes than `git
    worktree add`), sharing no refs or config with the control repository, so that what the
    tests do to it stays there (issue 14). Returns its ``.git`` folder (what :func:`discard`
    removes with it). Whatever a killed run left at ``folder`` goes first. ``entry`` is kept
    for callers; a checkout of its own has no entry in the control repository."""
    from batty.store import repos

    if folder.exists() or folder.is_symlink():
        if repos.is_linked(folder):  # an older batty's, or git's: its entry goes too
            _clear(root, folder, None)
        remove_tree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        repos.make(root, folder, sha, branch=None, shared=True)
    except BaseException:
        remove_tree(folder)
        raise
    return folder / ".git"


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
    """Remove the task's checkout (a repository of its own: one folder; a linked worktree of an
    older batty: its folder and the entry git keeps for it, read from the entries, never from the
    checkout's .git, which its agent could rewrite) and, with ``branch``, its branch."""
    wt = paths.worktree(task_id)
    removed = False
    if wt.is_symlink():  # an agent's link in its place: unlinked; git would remove what it names
        wt.unlink()
    entry = _entry_of(paths.root, wt) if wt.exists() else None
    if entry is not None:  # its two folders, as `git worktree remove --force --force` does
        remove_tree(wt)
        remove_tree(entry)
        removed = not wt.exists() and not entry.exists()
    elif wt.exists():
        remove_tree(wt)
        removed = not wt.exists()
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
