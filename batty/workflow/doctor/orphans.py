"""The orphans room: ``batty/*`` branches and run folders whose task is gone."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from batty import runner
from batty.core import clock
from batty.core.ids import ID_RE
from batty.core.kinds import Kind
from batty.store import failpoints, git, worktrees
from batty.workflow.doctor.base import A, Doctor, Finding


def orphan_branch_stage(doc: Doctor) -> list[Finding]:
    """A ``batty/<ID>`` branch with no packet: deleted when it is fully merged into the base, or
    else renamed to ``batty-orphan/<ID>`` (never lose work). Uncommitted work in its worktree is
    committed on it first."""
    out = []
    packets = doc.st.packets
    names = git.out(doc.root, "for-each-ref", "--format=%(refname:short)", "refs/heads/batty/")
    for branch in names.splitlines():
        tid = branch.removeprefix("batty/")
        if not ID_RE.match(tid) or tid in packets.by_id or tid in packets.invalid_ids:
            continue
        if doc.paths.packet(tid).exists():
            continue  # a packet that did not load: nobody knows yet
        merged = git.is_ancestor(doc.root, f"refs/heads/{branch}", f"refs/heads/{doc.cfg.base}")
        what = "fully merged: deleted" if merged else "not merged: renamed to batty-orphan/" + tid
        out.append(Finding(A.ORPHAN_BRANCH, f"{branch} has no task; {what}",
                           fix=partial(_orphan, doc, branch, tid), subject=branch))
    return out


def _stop_runs(doc: Doctor, tid: str) -> list[str]:
    """Stop every agent still running for task ``tid`` (any attempt): the attempts of a task
    whose packet is gone."""
    stopped = []
    top = doc.paths.state / "runs" / tid
    for run_dir in sorted(top.iterdir()) if top.is_dir() else []:
        if run_dir.is_dir() and run_dir.name.isdigit() and runner.stop(run_dir, grace_s=3):
            doc.st.events.emit(Kind.AGENT_STOPPED, task=tid, attempt=int(run_dir.name), reason="no-task")
            stopped.append(run_dir.name)
    return stopped


def orphan_run_stage(doc: Doctor) -> list[Finding]:
    """``.batty/runs/<ID>/`` of a task whose packet is gone (deleted by hand while its agent ran):
    the agent is stopped and the folder moved to ``.batty/lost/`` (kept, not deleted)."""
    top = doc.paths.state / "runs"
    if not top.is_dir():
        return []
    packets = doc.st.packets
    out = []
    for folder in sorted(top.iterdir()):
        tid = folder.name
        if not folder.is_dir() or not ID_RE.match(tid) or tid in packets.by_id or tid in packets.invalid_ids:
            continue
        if doc.paths.packet(tid).exists():
            continue  # a packet that did not load: nobody knows yet
        out.append(Finding(A.ORPHAN_RUN, f".batty/runs/{tid} has no task; its agents stopped, "
                           "moved to .batty/lost/", fix=partial(_orphan_run, doc, folder),
                           subject=tid))
    return out


def _orphan_run(doc: Doctor, folder: Path) -> dict[str, Any]:
    stopped = _stop_runs(doc, folder.name)
    failpoints.point("doctor.orphan-run.after-stop")
    lost = doc.paths.state / "lost"
    lost.mkdir(parents=True, exist_ok=True)
    dest = lost / f"runs-{folder.name}.{clock.now().strftime('%Y%m%dT%H%M%S')}"
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{dest.name.split('~')[0]}~{n}")
    os.replace(folder, dest)
    return {"run": doc.paths.rel(folder), "to": doc.paths.rel(dest), "stopped": stopped}


def _orphan(doc: Doctor, branch: str, tid: str) -> dict[str, Any]:
    root = doc.root
    wt = doc.paths.worktree(tid)
    _stop_runs(doc, tid)  # no agent keeps writing into a worktree that is about to go
    failpoints.point("doctor.orphan-branch.after-stop")
    if wt.exists() and git.head_branch(wt) == branch:
        if git.out(wt, "status", "--porcelain", check=False):
            git.run(wt, "add", "-A")
            git.run(wt, "commit", "-q", "--no-verify", "-m",
                    f"batty doctor: uncommitted work left in the worktree of {tid}",
                    env=git.BATTY_AUTHOR)
            failpoints.point("doctor.orphan-branch.after-commit")
        worktrees.remove(doc.paths, tid, branch=False)
        failpoints.point("doctor.orphan-branch.after-remove")
    tip = git.rev(root, f"refs/heads/{branch}")
    if git.is_ancestor(root, f"refs/heads/{branch}", f"refs/heads/{doc.cfg.base}"):
        git.run(root, "branch", "-D", branch)
        return {"branch": branch, "result": "deleted", "sha": tip}
    new = f"batty-orphan/{tid}"
    n = 1
    while git.rev(root, f"refs/heads/{new}"):
        n += 1
        new = f"batty-orphan/{tid}-{n}"
    git.run(root, "branch", "-m", branch, new)
    return {"branch": branch, "result": "renamed", "to": new, "sha": tip}


# ------------------------------------------------------------------ attempts
