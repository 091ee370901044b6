"""batty's kernel locks (batty/store/locks.py): flock on a sidecar file, as filelock takes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batty.errors import Busy
from batty.store import locks


def test_a_filelock_holder_and_batty_exclude_each_other(tmp_path: Path) -> None:
    folder = locks.lock_dir(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from filelock import FileLock;"
        f"l = FileLock({str(folder / 'board.lock')!r}, is_singleton=False); l.acquire();"
        "print('held', flush=True); time.sleep(30)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # type: ignore[union-attr]
        assert locks.is_held(tmp_path, "board")
        with pytest.raises(Busy), locks.hold(tmp_path, "board", wait_s=0.1, quiet=True):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locks.hold(tmp_path, "board"):
        from filelock import FileLock, Timeout

        with pytest.raises(Timeout):
            FileLock(str(folder / "board.lock"), is_singleton=False).acquire(timeout=0.1)
    assert not locks.is_held(tmp_path, "board")


def test_hold_is_reentrant_and_releases(tmp_path: Path) -> None:
    with locks.hold(tmp_path, "x"):
        with locks.hold(tmp_path, "x"):
            assert locks.is_held(tmp_path, "x")
        assert locks.is_held(tmp_path, "x")
    assert not locks.is_held(tmp_path, "x")
    assert locks.owner(tmp_path, "x")["cmd"] is None  # type: ignore[index]


def test_a_lock_file_removed_under_its_holder_leaves_the_next_run_a_new_one(tmp_path: Path) -> None:
    """What doctor does to a lock leaked into a process that outlived its run."""
    with locks.hold(tmp_path, "x"):
        (locks.lock_dir(tmp_path) / "x.lock").unlink()
        assert not locks.is_held(tmp_path, "x")  # the new file is free
