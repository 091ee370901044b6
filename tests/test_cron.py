"""bin/batty-cron under cron's bare environment, `batty cron install|uninstall|show` on the real
crontab, and the real cron daemon ticking a repository."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest

from batty.services import cron
from batty.store import locks
from batty.store.paths import Paths

# one worker for every test here: they share the machine's one crontab (pytest-xdist, --dist loadgroup).
# The grouping is only a hint: pytest 9.2 renamed what pytest-xdist 3.8 rewrites to group tests, and
# a CI run had the install test of one worker wipe the real-cron test's lines on the other. What
# keeps them apart is CRONTAB_LOCK, held by every test that touches the crontab (crontab_kept).
pytestmark = pytest.mark.xdist_group("crontab")
CRONTAB_LOCK = Path(tempfile.gettempdir()) / "batty-tests.crontab.lock"

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
    """The real crontab, for this test alone (every worker and every run on the machine waits its
    turn); whatever the test did, it is put back as it was."""
    need("crontab")
    with filelock.FileLock(str(CRONTAB_LOCK), timeout=600):
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
    with contextlib.ExitStack() as held:  # another run holds every step's lock
        for step in ("reconcile", "doctor", "verify", "merge", "dispatch"):
            held.enter_context(locks.hold(repo.state, step))
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
    ours = _start_cron(daemon)
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


# ------------------------------------------------------------------ issue 16.4

ROOT = Path(__file__).resolve().parent.parent


def test_the_checkouts_script_ticks_by_its_path_under_env_i(repo: Paths) -> None:
    """Issue 16: bin/batty-cron run by its path from the checkout under cron's bare environment
    exited 1 with nothing on stderr (it fell back to a python3 without batty)."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        unavailable("this checkout has no .venv (make install makes it)")
    res = subprocess.run([str(ROOT / "bin" / "batty-cron"), str(repo.root)], env=BARE,
                         capture_output=True, text=True, timeout=120, cwd="/")
    log = (repo.state / "cron.log").read_text()
    assert res.returncode == 0, (res.stderr, log)
    assert "batty-cron: exit 0" in log


def test_a_script_that_finds_no_batty_says_why_on_stderr(repo: Paths, tmp_path: Path) -> None:
    lonely = tmp_path / "elsewhere" / "batty" / "templates" / "batty-cron"
    lonely.parent.mkdir(parents=True)
    shutil.copy2(cron.SCRIPT, lonely)
    res = subprocess.run([str(lonely), str(repo.root)], env={**BARE, "BATTY_PYTHON": "/nonexistent/python"},
                         capture_output=True, text=True, timeout=120, cwd="/")
    assert res.returncode == 1
    assert "no Python here can import batty" in res.stderr and "BATTY_PYTHON" in res.stderr
    assert "no Python here can import batty" in (repo.state / "cron.log").read_text()


def test_cron_install_keeps_the_agents_key_for_cron_outside_the_repo(batty, repo: Paths, tmp_path: Path,
                                                                     crontab_kept: list[str]) -> None:
    """Issue 16: a Claude Code seat worked from the shell, then failed every minute under cron
    ("Not logged in"): cron gives a job none of the shell's variables."""
    env_file = tmp_path / "secrets" / "env"
    res = batty("cron", "install", env={"ANTHROPIC_API_KEY": "sk-ant-test-123", "BATTY_ENV_FILE": str(env_file)})
    assert res.code == 0, res.err
    # the seats are `shell` seats: no variable wanted yet; a claude seat wants its key
    import yaml

    cfg = yaml.safe_load(repo.config.read_text())
    cfg["seats"] = [{"name": "eng-1", "agent": "claude"}]
    repo.config.write_text(yaml.safe_dump(cfg))
    res = batty("cron", "install", env={"ANTHROPIC_API_KEY": "sk-ant-test-123", "BATTY_ENV_FILE": str(env_file)})
    assert res.code == 0, res.err
    assert "kept ANTHROPIC_API_KEY" in res.err and "sk-ant-test-123" not in res.err + res.out
    assert (env_file.stat().st_mode & 0o777) == 0o600
    assert "ANTHROPIC_API_KEY=sk-ant-test-123" in env_file.read_text()
    assert "sk-ant" not in "\n".join(cron.read())  # never in the crontab
    assert "BATTY_ENV_FILE=" in cron.installed(repo)  # the line names the file
    # batty-cron under cron's bare environment hands it to the tick (and so to the agents, whose
    # own variables pass through): a Python wrapper records what the tick's process got
    seen = tmp_path / "seen"
    wrapper = tmp_path / "python"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s' \"${{ANTHROPIC_API_KEY:-}}\" > {seen}\nexec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**BARE, "BATTY_PYTHON": str(wrapper), "BATTY_ENV_FILE": str(env_file)}
    res = subprocess.run([str(cron.SCRIPT), str(repo.root)], env=env, capture_output=True, text=True,
                         timeout=120, cwd="/")
    assert "batty-cron: exit" in (repo.state / "cron.log").read_text(), res.stderr
    assert seen.read_text() == "sk-ant-test-123"
    out = tmp_path / "ran"
    # the file is read, never sourced: a line that would run something runs nothing
    env_file.write_text(env_file.read_text() + f"X=$(touch {out})\n`touch {out}`\n")
    subprocess.run([str(cron.SCRIPT), str(repo.root)], env=env, capture_output=True, text=True, timeout=120, cwd="/")
    assert not out.exists()
    # a file others can read is refused, with the fix on stderr
    env_file.chmod(0o644)
    res2 = subprocess.run([str(cron.SCRIPT), str(repo.root)], env=env, capture_output=True, text=True,
                          timeout=120, cwd="/")
    assert res2.returncode == 1 and "chmod 600" in res2.stderr
