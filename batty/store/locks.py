"""Kernel file locks in ``.batty/locks/`` (released by the OS when the holder dies).

Following filelock's advice: lock a sidecar file, never the resource; probe with a zero timeout,
then say on stderr what we wait for; a command that cannot get its lock raises Busy (exit 75).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from batty.errors import Busy

DEFAULT_WAIT_S = float(os.environ.get("BATTY_LOCK_WAIT_S", "10"))


def lock_dir(state: Path) -> Path:
    folder = state / "locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def owner(state: Path, name: str) -> dict | None:
    """Who last took lock ``name`` (pid, host, cmd, since); informational only."""
    from batty.store.atomic import read_json

    return read_json(lock_dir(state) / f"{name}.owner")


_held: dict[tuple[str, str], int] = {}


@contextmanager
def hold(state: Path, name: str, *, wait_s: float | None = None, quiet: bool = False,
         cmd: str | None = None) -> Iterator[None]:
    """Hold lock ``name`` for the duration of the block, or raise Busy. Re-entrant within one
    process (a second flock on a new descriptor would wait for ourselves)."""
    key = (str(state), name)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    from filelock import FileLock, Timeout

    from batty import clock
    from batty.store.events import host

    folder = lock_dir(state)
    path = folder / f"{name}.lock"
    # thread_local=False and is_singleton=False: plain fcntl locks, one per hold().
    lock = FileLock(str(path), thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = owner(state, name) or {}
        wait = DEFAULT_WAIT_S if wait_s is None else wait_s
        if not quiet and wait > 0:
            print(
                f"batty: waiting up to {wait:g}s for the {name} lock"
                f" (held by pid {who.get('pid', '?')}, {who.get('cmd', '?')})",
                file=sys.stderr,
            )
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise Busy(f"the {name} lock is held by another run (pid {who.get('pid', '?')})",
                       valid="nothing was done; try again") from None
    try:
        info = {"pid": os.getpid(), "host": host(), "cmd": cmd, "since": clock.now_iso()}
        tmp = folder / f".{name}.owner.{os.getpid()}"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, folder / f"{name}.owner")
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        lock.release()


def is_held(state: Path, name: str) -> bool:
    """True when some live process holds lock ``name`` (a probe; takes and drops it if free)."""
    from filelock import FileLock, Timeout

    path = lock_dir(state) / f"{name}.lock"
    lock = FileLock(str(path), thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
