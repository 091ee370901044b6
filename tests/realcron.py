"""The machine's one crontab and its real cron daemon, for the tests that use them.

Every test that touches the crontab holds CRONTAB_LOCK (``crontab_kept``): the pytest-xdist group
is only a hint (pytest 9.2 renamed the node id pytest-xdist 3.8 rewrites to group tests, and a CI
run had the install test of one worker wipe the real-cron test's lines on the other); the lock also
keeps two runs on one machine apart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock
import pytest

from batty.services import cron

REQUIRE = os.environ.get("BATTY_REQUIRE_SYSDEPS") == "1"
CRONTAB_LOCK = Path(tempfile.gettempdir()) / "batty-tests.crontab.lock"


def unavailable(why: str) -> None:
    """A system dependency this machine lacks: skip, or fail under BATTY_REQUIRE_SYSDEPS=1 (where
    the machine is meant to have it, a skip would hide that the test never ran)."""
    if REQUIRE:
        pytest.fail(f"{why} (BATTY_REQUIRE_SYSDEPS=1)")
    pytest.skip(why)


def need(binary: str) -> str:
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if not found:
        unavailable(f"{binary} is not installed (make sysdeps installs it)")
    assert found
    return found


@contextlib.contextmanager
def crontab_kept() -> Iterator[list[str]]:
    """The real crontab, for this test alone (every worker and every run on the machine waits its
    turn); whatever the test did, it is put back as it was."""
    need("crontab")
    with filelock.FileLock(str(CRONTAB_LOCK), timeout=600):
        before = cron.read()
        try:
            yield before
        finally:
            cron.write(before)


def _cron_alive() -> bool:
    import psutil

    for proc in psutil.process_iter(["name", "status"]):
        if proc.info["name"] in ("cron", "crond") and proc.info["status"] != psutil.STATUS_ZOMBIE:
            return True
    return False


def _start_cron(daemon: str) -> subprocess.Popen | None:
    """Our own cron daemon, or None when another one of this namespace runs the jobs. A daemon
    that exits at once while no cron is alive met the lock of one just stopped (the test before,
    in another run): it is started again, not taken for a cron that serves us (a CI run saw
    "no job at all" that way)."""
    for _ in range(10):
        proc = subprocess.Popen([daemon, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return proc
        if _cron_alive():
            return None  # another cron of this namespace holds the pid file: it runs the jobs
        time.sleep(1)
    return None


@contextlib.contextmanager
def cron_daemon() -> Iterator[None]:
    """A cron daemon that sees this machine's crontab and these paths, for the block. Our own,
    always: a cron already running may live in another mount namespace (a service the machine
    started before this checkout existed) and would never see them. A second daemon in the same
    namespace exits at once (cron's pid file is locked), and the one already running serves us."""
    if os.geteuid() != 0:
        unavailable("starting the cron daemon needs root")
    ours = _start_cron(need("cron"))
    try:
        yield
    finally:
        if ours is not None:
            ours.terminate()
            ours.wait(timeout=10)


def wait_for_cron(done: Callable[[], bool], canary: Path, log: Path, *, within: float = 150) -> None:
    """Wait until ``done()``, or fail saying whose fault it is: a ``touch canary`` line in the
    crontab tells a cron that runs no job at all (seen: PAM's pam_loginuid refusing cron's
    session in some containers; batty is not at fault) from one that never ran batty-cron."""
    deadline = time.monotonic() + within  # cron wakes up on the minute
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(1)
    if not log.exists() and not canary.exists():
        unavailable("this machine's cron daemon ran no job at all, not even a `touch` canary")
    text = log.read_text() if log.exists() else "(no cron.log)"
    raise AssertionError(f"cron ran a canary but batty-cron never finished the wanted work:\n{text[-3000:]}")
