"""The locks room: batty's own locks whose holder died, and git's stale ``index.lock`` files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from batty import runner
from batty.core import clock
from batty.core.kinds import Kind
from batty.errors import BattyError
from batty.store import atomic, git, locks
from batty.workflow.doctor.base import GIT_LOCK_AGE_S, LOCK, A, Doctor, Finding


def stale_lock_stage(doc: Doctor) -> list[Finding]:
    """A batty lock held although the process that took it is gone: its descriptor leaked into a
    process that outlived it. (A free lock with an old owner file is the normal leftover of a
    finished run, not a fault: kernel locks are released when their holder dies.)"""
    out = []
    folder = locks.lock_dir(doc.paths.state)
    for owner_file in sorted(folder.glob("*.owner")):
        name = owner_file.name[: -len(".owner")]
        if name == LOCK:
            continue
        info = atomic.read_json(owner_file) or {}
        if _owner_alive(info) or not locks.is_held(doc.paths.state, name):
            continue
        time.sleep(0.3)  # a new holder may be between taking the lock and writing its owner file
        if (atomic.read_json(owner_file) or {}) != info or not locks.is_held(doc.paths.state, name):
            continue
        holders = _holders(folder / f"{name}.lock")
        pid = info.get("pid")

        def fix(name: str = name, pid: Any = pid, holders: list[int] = holders) -> dict[str, Any]:
            # The leaked holder keeps its lock on the old file; the next run locks a new one.
            (folder / f"{name}.lock").unlink(missing_ok=True)
            (folder / f"{name}.owner").unlink(missing_ok=True)
            doc.st.events.emit(Kind.LOCK_BROKEN, lock=name, holder_pid=pid, held_by=holders)
            return {"lock": name, "holder_pid": pid}

        out.append(Finding(A.STALE_LOCK, f"the {name} lock is held although its owner (pid {pid},"
                           f" {info.get('cmd')}) is gone; held by pid {holders or '?'}", fix=fix,
                           subject=name))
    return out


def _owner_alive(info: dict[str, Any]) -> bool:
    pid = info.get("pid")
    if not pid:
        return False
    started = runner.identity(int(pid))
    if started is None:
        return False
    since = info.get("since")
    try:
        # a process that started after the owner took the lock is a reused pid
        return not since or started <= clock.parse(since).timestamp() + 1
    except ValueError:
        return True


def _holders(path: Path) -> list[int]:
    import psutil

    target = str(path.resolve())
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if any(f.path == target for f in proc.open_files()):
                out.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return out


def git_lock_stage(doc: Doctor) -> list[Finding]:
    """An ``index.lock`` older than a minute that no live git holds: a git died mid-write, and
    every git command in that checkout now fails until it goes."""

    gitdir = git.common_dir(doc.root)
    candidates = [gitdir / "index.lock", *sorted((gitdir / "worktrees").glob("*/index.lock")),
                  *sorted(doc.paths.worktrees.glob("*/.git/index.lock"))]  # checkouts of their own
    out = []
    for lock in candidates:
        try:
            st = lock.stat()
        except FileNotFoundError:
            continue
        age = time.time() - st.st_mtime
        if age < GIT_LOCK_AGE_S:
            continue
        users = _git_users(lock, doc.root)
        where = doc.paths.rel(lock) if lock.is_relative_to(doc.root) else str(lock)
        if users:
            out.append(Finding(A.GIT_LOCK, f"{where} is {age:.0f} s old but git pid {users} still"
                               " runs here; left alone", wait=True, subject=where))
            continue

        def fix(lock: Path = lock, ino: int = st.st_ino, where: str = where) -> dict[str, Any]:
            # under batty's own locks, so no batty command is running git here meanwhile; waiting
            # for them no longer than the step may (a tick's steps do not wait: Busy, next tick)
            wait = getattr(doc.st, "step_wait", None)
            with locks.hold(doc.paths.state, "board", cmd=doc.st.app.cmd, wait_s=wait), \
                    locks.hold(doc.paths.state, "merge", cmd=doc.st.app.cmd, wait_s=wait):
                try:
                    if lock.stat().st_ino != ino or _git_users(lock, doc.root):
                        raise BattyError(f"{where} changed hands meanwhile")
                except FileNotFoundError:
                    return {"path": where, "gone": True}
                lock.unlink()
            return {"path": where}

        out.append(Finding(A.GIT_LOCK, f"{where} left {age:.0f} s ago by a git that is gone",
                           fix=fix, subject=where))
    return out


def _git_users(lock: Path, root: Path) -> list[int]:
    """Live processes that hold ``lock`` open, or git processes working in this repository."""
    import psutil

    target = str(lock.resolve())
    top = str(root.resolve())
    out = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.pid == os.getpid():
                continue
            name = proc.info.get("name") or ""
            if name == "git" or name.startswith("git-"):
                cwd = proc.cwd()
                if cwd == top or cwd.startswith(top + os.sep):
                    out.append(proc.pid)
                    continue
            if name.startswith("git") and any(f.path == target for f in proc.open_files()):
                out.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return out
