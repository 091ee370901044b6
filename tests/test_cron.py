"""bin/batty-cron under cron's bare environment, `batty cron install|uninstall|show` on the real
crontab, and the real cron daemon ticking a repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batty.services import cron
from batty.store import locks
from batty.store.paths import Paths

# one worker for every test here: they share the machine's one crontab (pytest-xdist, --dist loadgroup)
pytestmark = pytest.mark.xdist_group("crontab")

REQUIRE = os.environ.get("BATTY_REQUIRE_SYSDEPS") == "1"
BARE = {"PATH": "/usr/bin:/bin", "HOME": "/root", "SHELL": "/bin/sh", "LOGNAME": "root"}


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


def batty_cron(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(cron.SCRIPT), str(repo)], env=env, capture_output=True, text=True,
                          timeout=120, cwd="/")


def events(repo: Paths) -> list[dict]:
    if not repo.events.exists():
        return []
    return [json.loads(x) for x in repo.events.read_text().splitlines() if x.strip()]


@pytest.fixture
def crontab_kept() -> Iterator[list[str]]:
    """The real crontab; whatever the test did, it is put back as it was."""
    need("crontab")
    before = cron.read()
    yield before
    cron.write(before)


# ------------------------------------------------------------------ bin/batty-cron


def test_batty_cron_ticks_under_a_bare_environment(repo: Paths) -> None:
    res = batty_cron(repo.root, {**BARE, "BATTY_PYTHON": sys.executable})
    log = (repo.state / "cron.log").read_text()
    assert "batty-cron: tick" in log and "batty-cron: exit" in log
    assert res.returncode == 0, log
    kinds = [e["kind"] for e in events(repo) if e["cmd"] == "tick"]
    assert "tick.started" in kinds and "tick.finished" in kinds
    assert res.stdout == ""  # everything goes to the log, nothing to cron's mail


def test_busy_counts_as_success_and_a_real_error_does_not(repo: Paths, tmp_path: Path) -> None:
    env = {**BARE, "BATTY_PYTHON": sys.executable}
    with locks.hold(repo.state, "reconcile"):  # another run holds a step's lock
        res = batty_cron(repo.root, env)
    log = (repo.state / "cron.log").read_text()
    assert "batty-cron: exit 75" in log
    assert res.returncode == 0
    plain = tmp_path / "not-batty"
    plain.mkdir()
    res = batty_cron(plain, env)
    assert res.returncode == 1
    assert "no batty repository" in (plain / ".batty" / "cron.log").read_text()


# ------------------------------------------------------------------ batty cron


def test_install_show_uninstall_one_marked_line(batty, repo: Paths, crontab_kept: list[str]) -> None:
    other = "17 3 * * * echo someone else's job"
    cron.write([*crontab_kept, other])
    assert batty("cron", "show").code == 1
    res = batty("cron", "install")
    assert res.code == 0, res.err
    line = res.out.strip()
    assert line.startswith("* * * * * ") and str(cron.SCRIPT) in line
    assert cron.marker(repo.root) in line and str(repo.root) in line
    assert batty("cron", "install").code == 0  # idempotent: still one line
    now = cron.read()
    assert now.count(line) == 1 and other in now and len(now) == len(crontab_kept) + 2
    assert batty("cron", "show").out.strip() == line
    assert batty("cron", "uninstall").code == 0
    assert cron.read() == [*crontab_kept, other]
    assert batty("cron", "show").code == 1


@pytest.mark.slow
def test_the_real_cron_daemon_ticks_the_repository(batty, repo: Paths, crontab_kept: list[str],
                                                   tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unavailable("starting the cron daemon needs root")
    daemon = need("cron")
    # Our own daemon, always: a cron that is already running may live in another mount
    # namespace (a service the machine started before this checkout existed) and would never
    # see this crontab or these paths. A second daemon in the same namespace exits at once
    # (cron's pid file is locked), and the one already running serves us.
    ours: subprocess.Popen | None = subprocess.Popen([daemon, "-f"], stdout=subprocess.DEVNULL,
                                                    stderr=subprocess.PIPE, text=True)
    try:
        ours.wait(timeout=1)
        ours = None  # another cron of this namespace holds the pid file: it runs the jobs
    except subprocess.TimeoutExpired:
        pass
    canary = tmp_path / "canary"
    try:
        assert batty("cron", "install").code == 0
        cron.write([*cron.read(), f"* * * * * touch {canary}"])
        log = repo.state / "cron.log"
        deadline = time.monotonic() + 150  # cron wakes up on the minute
        while time.monotonic() < deadline:
            if log.exists() and "batty-cron: exit" in log.read_text():
                break
            time.sleep(1)
        if not log.exists() and not canary.exists():
            # not even `touch` ran: this machine's cron runs no jobs at all (seen: PAM's
            # pam_loginuid refusing cron's session in some containers); batty is not at fault
            unavailable("this machine's cron daemon ran no job at all, not even a `touch` canary")
        assert log.exists() and "batty-cron: exit" in log.read_text(), "cron ran a canary but never batty-cron"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kinds = [e["kind"] for e in events(repo) if e["cmd"] == "tick"]
            if "tick.finished" in kinds:
                break
            time.sleep(0.5)
        assert "tick.started" in kinds and "tick.finished" in kinds, log.read_text()
    finally:
        cron.uninstall(repo)
        if ours is not None:
            ours.terminate()
            ours.wait(timeout=10)
