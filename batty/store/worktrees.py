"""Task worktrees, ``.batty/worktrees/<ID>`` on branch ``batty/<ID>`` (issue 3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from batty.errors import GitError
from batty.paths import Paths, branch_of
from batty.store import git


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


def _valid(wt: Path) -> bool:
    return git.run(wt, "rev-parse", "--is-inside-work-tree", check=False).returncode == 0


def remove(paths: Paths, task_id: str, *, branch: bool = True) -> None:
    wt = paths.worktree(task_id)
    removed = False
    if wt.exists():
        removed = git.run(paths.root, "worktree", "remove", "--force", "--force", str(wt),
                          check=False).returncode == 0
        if wt.exists():
            import shutil

            shutil.rmtree(wt, ignore_errors=True)
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
