"""bin/batty-cron under cron's bare environment, `batty cron install|uninstall|show` on the real
crontab, and the real cron daemon ticking a repository."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batty.services import cron
from batty.store import locks
from batty.store.paths import Paths
from tests import realcron
from tests.realcron import unavailable

# one worker for every test here: they share the machine's one crontab (pytest-xdist, --dist
# loadgroup); what keeps them apart is the lock crontab_kept holds (tests/realcron.py)
pytestmark = pytest.mark.xdist_group("crontab")
BARE = {"PATH": "/usr/bin:/bin", "HOME": "/root", "SHELL": "/bin/sh", "LOGNAME": "root"}


def batty_cron(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(cron.SCRIPT), str(repo)], env=env, capture_output=True, text=True,
                          timeout=120, cwd="/")


def events(repo: Paths) -> list[dict]:
    if not repo.events.exists():
        return []
    return [json.loads(x) for x in repo.events.read_text().splitlines() if x.strip()]


@pytest.fixture
def crontab_kept() -> Iterator[list[str]]:
    with realcron.crontab_kept() as before:
        yield before


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
