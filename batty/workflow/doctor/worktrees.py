"""The worktrees room: a task's checkout missing, on the wrong branch or left without a task
(``worktree-prune``, ``worktree-repair``)."""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from batty import runner
from batty.core import clock
from batty.core.ids import ID_RE
from batty.core.kinds import Kind
from batty.core.lifecycle import Status
from batty.core.packet import Packet
from batty.errors import BattyError
from batty.store import failpoints, git, worktrees
from batty.store.paths import branch_of
from batty.workflow.doctor.base import A, Doctor, Finding

REPAIR, REPAIRED = ".repair-", ".repaired-"  # in .batty/worktrees/: a repair's folder set aside



def worktree_stage(doc: Doctor) -> list[Finding]:
    """Metadata without a folder (pruned); a folder without metadata (re-added on its branch,
    keeping its files; or, with no active task, moved to .batty/lost/); a worktree on the wrong
    branch (switched back, keeping commits made elsewhere); an in-progress task's folder gone
    (re-added from its branch)."""
    out: list[Finding] = []
    listing = worktrees.listing(doc.root)
    prunable = [w for w in listing if w.prunable]
    if prunable:
        gone = [doc.paths.rel(w.path) for w in prunable]

        def prune() -> dict[str, Any]:
            git.run(doc.root, "worktree", "prune")
            failpoints.point("doctor.worktree-prune.after-prune")
            for path in gone:
                doc.st.events.emit(Kind.RECONCILE_WORKTREE, action="prune", path=path)
            return {"paths": gone}

        out.append(Finding(A.WORKTREE_PRUNE, "git metadata without a folder: " + ", ".join(gone),
                           fix=prune, subject=",".join(gone)))
    known = {_real(w.path): w for w in listing if not w.prunable}
    from batty.store import repos

    linked = set(known)  # a checkout of an older batty (issue 14): moved over below
    for folder in (sorted(doc.paths.worktrees.iterdir()) if doc.paths.worktrees.is_dir() else []):
        if repos.is_own(folder):  # a repository of its own: its HEAD from its files
            on, sha = repos.head(folder)
            known[_real(folder)] = worktrees.Worktree(folder, sha, on, False)
    packets = doc.st.packets
    active = (Status.IN_PROGRESS, Status.REVIEW)
    listed = sorted(doc.paths.worktrees.iterdir()) if doc.paths.worktrees.is_dir() else []
    folders = [f for f in listed if f.is_dir() and not f.name.startswith(".")]
    resumed = set()
    for aside in listed:  # a repair a crash cut short: its files wait in the folder set aside
        if aside.name.startswith(REPAIR) and ID_RE.match(aside.name[len(REPAIR):]):
            tid = aside.name[len(REPAIR):]
            resumed.add(tid)
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(aside)} holds the files of a "
                               f"repair a crash cut short; re-added on {branch_of(tid)} with them",
                               task=tid, fix=partial(_readd, doc, tid)))
        elif aside.name.startswith(REPAIRED):  # their copy, every file back already
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(aside)} is what a repair left; "
                               "removed", subject=doc.paths.rel(aside),
                               fix=partial(_remove_tree, aside)))
    for folder in folders:
        name = folder.name
        if name in resumed:
            continue
        p = packets.get(name) if ID_RE.match(name) else None
        w = known.get(_real(folder))
        if w is None:
            if p is not None and p.status in active:
                out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(folder)} has no git metadata;"
                                   f" re-added on {branch_of(name)} keeping its files", task=name,
                                   fix=partial(_readd, doc, name)))
            elif name not in packets.invalid_ids:
                out.append(Finding(A.WORKTREE_PRUNE, f"{doc.paths.rel(folder)} has no git metadata"
                                   " and no active task; moved to .batty/lost/", task=None,
                                   fix=partial(_lose, doc, folder), subject=doc.paths.rel(folder)))
        elif (p is not None and w.branch == branch_of(name) and _real(folder) in linked
              and p.status in active and _branch_exists(doc, name)):  # a gone branch: restored first
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(folder)} is a linked worktree of an"
                               " older batty; moved to a repository of its own, keeping its files",
                               task=name, fix=partial(_ensure, doc, name)))
        elif p is not None and w.branch != branch_of(name):
            where = f"{doc.paths.rel(folder)} is on {w.branch or 'a detached HEAD'}, not {branch_of(name)}"
            if p.attempt and runner.run_state(doc.paths.run_dir(name, p.attempt)) == "running":
                # a running agent may be mid-rebase or mid-bisect; verify judges where it ends
                out.append(Finding(A.WORKTREE_REPAIR, f"{where}; its agent runs, left alone",
                                   task=name, wait=True))
                continue
            out.append(Finding(A.WORKTREE_REPAIR, f"{where}; switched back", task=name,
                               fix=partial(_switch, doc, name)))
    from batty.workflow.state import is_local

    for p in packets:
        if not is_local(p) or p.id in resumed:
            continue
        wt = doc.paths.worktree(p.id)
        if p.status is Status.IN_PROGRESS and not wt.exists() and _branch_exists(doc, p.id):
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(wt)} is gone; re-added from "
                               f"{branch_of(p.id)}", task=p.id, attempt=p.attempt, seat=p.assignee,
                               fix=partial(_ensure, doc, p.id)))
        elif p.status in active and not _branch_exists(doc, p.id):
            # scenario tests/scenarios/test_branch_deleted.py: left alone, a reviewed task waits
            # for ever (merge: no-branch) and verify commits the worktree as a new root commit
            tip = _lost_tip(doc, p)
            if tip is not None:
                out.append(Finding(A.WORKTREE_REPAIR, f"{branch_of(p.id)} is gone; restored at "
                                   f"{tip[0][:12]} ({tip[1]})", task=p.id, attempt=p.attempt,
                                   seat=p.assignee, fix=partial(_restore_branch, doc, p.id, tip[0])))
    return out


def _lost_tip(doc: Doctor, p: Packet) -> tuple[str, str] | None:
    """Where a task's deleted branch was: the last commit its worktree's HEAD log names (the
    worktree still points at the branch by name), else, for a reviewed task, its verified commit.
    None when neither is a commit git still has (an in-progress task is then requeued as lost)."""
    found: list[tuple[str, str]] = []
    dotgit = doc.paths.worktree(p.id) / ".git"
    try:
        text = dotgit.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    from batty.store import repos

    if repos.is_own(doc.paths.worktree(p.id)):  # the checkout's own branch: fetched back from it
        on, sha = repos.head(doc.paths.worktree(p.id))
        if on == branch_of(p.id) and sha:
            return sha, "its checkout's branch"
    if text.startswith("gitdir:"):
        gitdir = Path(text[len("gitdir:"):].strip())
        try:
            last = (gitdir / "logs" / "HEAD").read_text(encoding="utf-8").splitlines()[-1]
            found.append((last.split(" ")[1], "its worktree's HEAD log"))
        except (OSError, UnicodeDecodeError, IndexError):
            pass
    sha = (p.verification or {}).get("sha")
    if p.status is Status.REVIEW and sha:
        found.append((str(sha), "its verified commit"))
    for sha, where in found:
        if git.run(doc.root, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0:
            return sha, where
    return None


def _restore_branch(doc: Doctor, task_id: str, sha: str) -> dict[str, Any]:
    branch = branch_of(task_id)
    from batty.store import repos

    wt = doc.paths.worktree(task_id)
    if repos.is_own(wt) and repos.head(wt) == (branch, sha):
        if git.rev(doc.root, f"refs/heads/{branch}") is not None:
            raise BattyError(f"{branch} reappeared meanwhile")
        if repos.bring_back(doc.root, wt, branch) != sha:
            raise BattyError(f"{branch} could not be fetched back from its checkout")
    elif not git.update_ref(doc.root, f"refs/heads/{branch}", sha, None, "batty doctor: restore branch"):
        raise BattyError(f"{branch} reappeared meanwhile")
    failpoints.point("doctor.branch-restore.after-update")
    if repos.is_linked(wt):  # an older batty's checkout: moved over in the same heal (issue 14)
        worktrees.ensure(doc.paths, task_id, doc.cfg.base)
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="branch-restore", branch=branch,
                       sha=sha)
    return {"branch": branch, "sha": sha}


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _branch_exists(doc: Doctor, task_id: str) -> bool:
    return git.rev(doc.root, f"refs/heads/{branch_of(task_id)}") is not None


def _ensure(doc: Doctor, task_id: str) -> dict[str, Any]:
    wt = worktrees.ensure(doc.paths, task_id, doc.cfg.base)
    failpoints.point("doctor.worktree-add.after-add")
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="add", path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt)}


def _readd(doc: Doctor, task_id: str) -> dict[str, Any]:
    """Move the folder aside, add the worktree again on its branch, put the folder's files back
    over it (what the agent left uncommitted survives), drop files the agent had deleted. Run
    again after a crash it carries on from the folder set aside (``.repair-<ID>``), which goes
    only once every file is back (renamed first, so that a half-removed copy is never taken for
    the agent's files)."""
    folder = doc.paths.worktree(task_id)
    aside = folder.with_name(f"{REPAIR}{task_id}")
    if not aside.exists():
        os.rename(folder, aside)
        failpoints.point("doctor.worktree-repair.after-aside")
    try:
        wt = worktrees.ensure(doc.paths, task_id, doc.cfg.base)
    except BattyError:
        if not folder.exists():
            os.rename(aside, folder)
        raise
    failpoints.point("doctor.worktree-repair.after-add")
    tracked = git.out(wt, "ls-files", "-z").split("\0")
    for rel in tracked:
        if rel and not (aside / rel).exists() and not (aside / rel).is_symlink():
            (wt / rel).unlink(missing_ok=True)
    for src in sorted(aside.rglob("*")):
        rel_path = src.relative_to(aside)
        if rel_path.parts[0] == ".git":
            continue
        dest = wt / rel_path
        if src.is_dir() and not src.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if dest.is_symlink() or dest.exists():
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            else:
                dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dest)
        else:
            shutil.copy2(src, dest)
    failpoints.point("doctor.worktree-repair.after-restore")
    gone = folder.with_name(f"{REPAIRED}{task_id}")
    os.rename(aside, gone)
    shutil.rmtree(gone, ignore_errors=True)
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="repair", path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt)}


def _switch_own(doc: Doctor, task_id: str, wt: Path, want: str) -> dict[str, Any]:
    """:func:`_switch` for a checkout that is a repository of its own (issue 14), with no git run
    there: what its HEAD holds is fetched into the control repository and kept when it carries
    the branch on (the agent committed on a detached HEAD or another branch); then its HEAD names
    the branch again and its index is the branch's; its files stay as they are (what differs is
    uncommitted work for verify to collect), but for a rebase undone: those go back too."""
    from batty.store import repos

    gitdir = wt / ".git"
    aborted = False
    for name in ("rebase-merge", "rebase-apply", "MERGE_HEAD", "CHERRY_PICK_HEAD", "BISECT_LOG"):
        if (gitdir / name).exists():  # an agent left mid-rebase (or merge): undone below
            aborted = True
            _remove_tree(gitdir / name) if (gitdir / name).is_dir() else (gitdir / name).unlink()
    tip = git.rev(doc.root, f"refs/heads/{want}")
    kept = None
    incoming = f"refs/batty/incoming/{task_id}"
    if not aborted and repos.fetch(doc.root, wt, "HEAD", incoming):
        head = git.rev(doc.root, incoming)
        git.run(doc.root, "update-ref", "-d", incoming, check=False)
        if head and tip is None:
            git.update_ref(doc.root, f"refs/heads/{want}", head, None, "batty doctor: keep work")
            tip = head
        elif head and tip and head != tip and git.is_ancestor(doc.root, tip, head):
            if git.update_ref(doc.root, f"refs/heads/{want}", head, tip, "batty doctor: keep work"):
                kept = tip = head
                failpoints.point("doctor.worktree-switch.after-cas")
    if tip is None:
        raise BattyError(f"{want} has no commit to switch {doc.paths.rel(wt)} back to")
    repos.align(doc.root, wt, want, tip)
    if aborted:  # the files of a half-done rebase go back to the branch's
        git.run(doc.root, f"--work-tree={wt}", "checkout-index", "-a", "-f",
                env={"GIT_INDEX_FILE": str(gitdir / "index")})
    action = "rebase-abort" if aborted else "switch"
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action=action, path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt), "kept": kept, **({"rebase_aborted": True} if aborted else {})}


def _remove_tree(folder: Path) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    return {"path": str(folder.name)}


def _lose(doc: Doctor, folder: Path) -> dict[str, Any]:
    lost = doc.paths.state / "lost"
    lost.mkdir(parents=True, exist_ok=True)
    dest = lost / f"{folder.name}.{clock.now().strftime('%Y%m%dT%H%M%S')}"
    shutil.move(str(folder), str(dest))
    failpoints.point("doctor.worktree-lose.after-move")
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, action="lost", path=doc.paths.rel(folder))
    return {"path": doc.paths.rel(folder), "moved_to": doc.paths.rel(dest)}


def _switch(doc: Doctor, task_id: str) -> dict[str, Any]:
    wt = doc.paths.worktree(task_id)
    want = branch_of(task_id)
    from batty.store import repos

    if repos.is_own(wt):
        return _switch_own(doc, task_id, wt, want)
    gitdir = Path(git.out(wt, "rev-parse", "--absolute-git-dir"))
    if (gitdir / "rebase-merge").exists() or (gitdir / "rebase-apply").exists():
        git.run(wt, "rebase", "--abort", check=False)  # an agent left mid-rebase: undo it first
        if git.head_branch(wt) == want:
            doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="rebase-abort",
                               path=doc.paths.rel(wt))
            return {"path": doc.paths.rel(wt), "rebase_aborted": True}
    head = git.rev(wt, "HEAD")
    tip = git.rev(doc.root, f"refs/heads/{want}")
    kept = None
    if head and tip is None:
        git.run(doc.root, "branch", want, head)
    elif head and tip and head != tip and git.is_ancestor(doc.root, tip, head):
        # the agent committed on another branch or a detached HEAD: that work is the task's
        if git.update_ref(doc.root, f"refs/heads/{want}", head, tip, "batty doctor: keep work"):
            kept = head
            failpoints.point("doctor.worktree-switch.after-cas")
    git.run(wt, "checkout", "-q", want)
    if repos.is_linked(wt):  # an older batty's checkout: moved over in the same heal (issue 14)
        worktrees.ensure(doc.paths, task_id, doc.cfg.base)
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="switch", path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt), "kept": kept}
