"""Kernel file locks in ``.batty/locks/`` (released by the OS when the holder dies).

Following filelock's advice: lock a sidecar file, never the resource; probe with a zero timeout,
then say on stderr what we wait for; a command that cannot get its lock raises Busy (exit 75).

The lock is filelock's own primitive, ``flock(2)`` on the lock file (so it contends with a
filelock.FileLock on the same file), taken here in a few lines: importing filelock cost a no-op
reconcile 15-35 ms (issue 2's speed target). A file system without flock falls back to filelock,
which knows what to do there.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batty.errors import Busy, InvalidInput

DEFAULT_WAIT_S = 10.0


def default_wait_s() -> float:
    """How long a command waits for a lock another run holds: BATTY_LOCK_WAIT_S, read when it
    waits (not at import: a process that runs commands in turn, `batty run` or a test's, honours
    each one's environment)."""
    raw = os.environ.get("BATTY_LOCK_WAIT_S")
    if raw is None:
        return DEFAULT_WAIT_S
    try:
        wait = float(raw)
    except ValueError:
        wait = -1.0
    if not wait >= 0:  # a word, a negative number or nan
        raise InvalidInput(f"BATTY_LOCK_WAIT_S is {raw!r}", valid="seconds to wait for a lock, e.g. 10 or 0.5")
    return wait


def host() -> str:
    """This machine's name, as events and lock owners record it (``BATTY_HOST`` overrides)."""
    return os.environ.get("BATTY_HOST") or os.uname().nodename  # socket.gethostname(), no import


def lock_dir(state: Path) -> Path:
    folder = state / "locks"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def owner(state: Path, name: str) -> dict | None:
    """Who last took lock ``name`` (pid, host, cmd, since); informational only."""
    from batty.store.atomic import read_json

    return read_json(lock_dir(state) / f"{name}.owner")


_held: dict[tuple[str, str], int] = {}


class Timeout(Exception):
    pass


class Flock:
    """An exclusive flock on ``path``, one descriptor per instance (as filelock's FileLock with
    thread_local=False and is_singleton=False). Polls every ``poll_s`` while waiting (50 ms, as
    filelock; the event log, held for microseconds, polls faster). Used by the named locks
    here, the event log and each attempt's run.lock."""

    POLL_S = 0.05

    def __init__(self, path: Path, *, poll_s: float | None = None) -> None:
        self.path = path
        if poll_s is not None:
            self.POLL_S = poll_s
        self.fd: int | None = None
        self.fallback: Any = None   # a filelock.FileLock where flock is not supported

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            if self._try():
                return
            if time.monotonic() >= deadline:
                raise Timeout
            time.sleep(self.POLL_S)

    def _try(self) -> bool:
        if self.fallback is not None:
            from filelock import Timeout

            try:
                self.fallback.acquire(timeout=0)
            except Timeout:
                return False
            return True
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                if e.errno != errno.ENOSYS:
                    raise
                from filelock import FileLock

                self.fallback = FileLock(str(self.path), thread_local=False, is_singleton=False)
                return self._try()
            if os.fstat(fd).st_nlink:
                self.fd = fd
                return True
            os.close(fd)  # removed between open and flock (doctor breaks a leaked lock): lock the new one

    def release(self) -> None:
        if self.fallback is not None:
            self.fallback.release()
            return
        if self.fd is not None:
            fd, self.fd = self.fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


def held(path: Path) -> bool:
    """True while some process holds the flock on ``path``; False when it is free or there is
    no such file (the probe creates none)."""
    if not path.exists():
        return False
    probe = Flock(path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


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
    folder = lock_dir(state)
    lock = Flock(folder / f"{name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        who = owner(state, name) or {}
        wait = default_wait_s() if wait_s is None else wait_s
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
        _own(folder, name, cmd)
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        lock.release()


# owner file -> (pid, cmd, its inode and mtime) for the owner files this process wrote: taking
# the same lock again (the board lock, once a transition) finds its file still naming it and
# leaves it as it is, "since" the first time (two file writes and a rename a transition saved)
_owned: dict[str, tuple[int, str | None, int, int]] = {}


def _own(folder: Path, name: str, cmd: str | None) -> None:
    from batty.core import clock
    path = folder / f"{name}.owner"
    pid = os.getpid()
    known = _owned.get(str(path))
    if known is not None and known[:2] == (pid, cmd):
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and (st.st_ino, st.st_mtime_ns) == known[2:]:
            return
    info = {"pid": pid, "host": host(), "cmd": cmd, "since": clock.now_iso()}
    tmp = folder / f".{name}.owner.{pid}"
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)
    try:
        st = os.stat(path)
        _owned[str(path)] = (pid, cmd, st.st_ino, st.st_mtime_ns)
    except OSError:
        _owned.pop(str(path), None)


def is_held(state: Path, name: str) -> bool:
    """True when some live process holds lock ``name`` (a probe; takes and drops it if free)."""
    lock = Flock(lock_dir(state) / f"{name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
