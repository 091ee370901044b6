"""The scripted ``shell`` agent and the named test behaviours, run for real in a git worktree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from batty.agents import Launch, build_launch, context_exhausted
from batty.agents.behaviours import BEHAVIOURS, CONTEXT_MARKER, script
from tests.conftest import git


@pytest.fixture
def worktree(git_repo: Path, tmp_path: Path) -> Path:
    (git_repo / "src").mkdir()
    (git_repo / "src" / "app.py").write_text("def answer():\n    return 42\n")
    git(git_repo, "add", "src/app.py")
    git(git_repo, "commit", "-q", "-m", "app")
    wt = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", "-b", "batty/T-1", str(wt))
    return wt


def shell_launch(worktree: Path, commands: list[str]) -> Launch:
    run = worktree.parent / "run"
    run.mkdir(exist_ok=True)
    prompt = run / "prompt.md"
    prompt.write_text("Task T-1: $(touch /tmp/pwned) {task}\n")
    return build_launch("shell", {}, prompt_file=prompt, task="T-1", attempt=1,
                        worktree=worktree, seat_home=worktree.parent / "seat",
                        environ=dict(os.environ), script=commands)


def run(launch: Launch, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(launch.argv, env=launch.env, cwd=launch.cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def changed(worktree: Path) -> list[str]:
    return git(worktree, "diff", "--name-only", "main..HEAD").splitlines()


@pytest.fixture
def session_reaper() -> Iterator[list[int]]:
    """Process groups a test started; killed at the end whatever happened."""
    groups: list[int] = []
    yield groups
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_runner_echoes_each_command_and_stops_at_the_first_failure(worktree: Path) -> None:
    res = run(shell_launch(worktree, ["echo one", "exit 7", "echo never"]))
    assert res.returncode == 7
    assert res.stdout.splitlines()[:3] == ["$ echo one", "one", "$ exit 7"]
    assert "never" not in res.stdout
    assert "step 2 of 3 failed with exit code 7" in res.stderr


def test_runner_runs_in_the_worktree_with_the_batty_variables(worktree: Path) -> None:
    res = run(shell_launch(worktree, ['echo "$PWD $BATTY_TASK $BATTY_ATTEMPT $HOME"']))
    assert res.returncode == 0
    assert f"{worktree} T-1 1 {worktree.parent / 'seat'}" in res.stdout


def test_runner_never_sees_the_prompt(worktree: Path) -> None:
    res = run(shell_launch(worktree, ["true"]))
    assert res.returncode == 0
    assert "pwned" not in res.stdout + res.stderr


def test_runner_reports_a_bad_script_file(tmp_path: Path) -> None:
    bad = tmp_path / "script.json"
    bad.write_text('{"not": "a list"}')
    res = subprocess.run([sys.executable, "-m", "batty.agents.scripted", "--script", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "JSON list of strings" in res.stderr


def test_succeed_commits_a_change_in_scope(worktree: Path) -> None:
    res = run(shell_launch(worktree, script("succeed")))
    assert res.returncode == 0, res.stderr
    assert changed(worktree) == ["src/app.py"]
    assert git(worktree, "status", "--porcelain") == ""


def test_fail_tests_breaks_the_module(worktree: Path) -> None:
    assert run(shell_launch(worktree, script("fail-tests"))).returncode == 0
    assert changed(worktree) == ["src/app.py"]
    imported = subprocess.run([sys.executable, "src/app.py"], cwd=worktree, capture_output=True,
                              text=True, timeout=60)
    assert imported.returncode != 0
    assert "broken by the fail-tests behaviour" in imported.stderr


@pytest.mark.parametrize("name, path", [
    ("leave-scope", "docs/outside-scope.md"),
    ("touch-protected", ".github/workflows/ci.yml"),
    ("touch-board", "board/BOARD.md"),
])
def test_out_of_bounds_behaviours_commit_the_forbidden_file(name: str, path: str,
                                                             worktree: Path) -> None:
    assert run(shell_launch(worktree, script(name))).returncode == 0
    assert changed(worktree) == [path]


def test_no_change_changes_nothing(worktree: Path) -> None:
    res = run(shell_launch(worktree, script("no-change")))
    assert res.returncode == 0
    assert changed(worktree) == []
    assert git(worktree, "status", "--porcelain") == ""


def test_out_of_context_says_so_and_fails(worktree: Path) -> None:
    res = run(shell_launch(worktree, script("out-of-context")))
    assert res.returncode == 3
    assert context_exhausted("shell", res.stdout + res.stderr)
    assert not context_exhausted("shell", f"echo '{CONTEXT_MARKER}'")  # the echoed command is not the marker


def test_die_silently_kills_the_agent_process_itself(worktree: Path) -> None:
    res = run(shell_launch(worktree, script("die-silently")))
    assert res.returncode == -signal.SIGKILL  # the runner, i.e. the launched process, died
    assert "about to vanish" in res.stdout
    assert "batty-script:" not in res.stdout + res.stderr  # no exit record of its own
    assert "never printed" not in res.stdout


def test_stall_prints_once_then_stays_silent_and_alive(worktree: Path,
                                                       session_reaper: list[int]) -> None:
    launch = shell_launch(worktree, script("stall"))
    proc = subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    session_reaper.append(proc.pid)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    assert lines == ["$ echo 'working on it'\n", "working on it\n", "$ sleep 86400\n"]
    assert proc.poll() is None  # it sleeps for a day: alive, and nothing more to read
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def test_lingering_child_outlives_the_agent(worktree: Path, session_reaper: list[int]) -> None:
    launch = shell_launch(worktree, script("lingering-child"))
    proc = subprocess.Popen(launch.argv, env=launch.env, cwd=launch.cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    session_reaper.append(proc.pid)  # the leader: its pid is the session and the group id
    # communicate() returns: the child holds none of the agent's output pipes
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "left a child behind" in out
    assert changed(worktree) == ["src/app.py"]
    session = [p for p in psutil.process_iter(["pid", "cmdline"]) if _sid(p.pid) == proc.pid]
    assert any((p.info["cmdline"] or [])[:2] == ["sleep", "300"] for p in session)


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_every_behaviour_is_a_list_of_strings() -> None:
    assert set(BEHAVIOURS) >= {"succeed", "fail-tests", "stall", "die-silently", "leave-scope",
                               "touch-protected", "out-of-context", "no-change", "lingering-child"}
    for commands in BEHAVIOURS.values():
        assert commands and all(isinstance(c, str) for c in commands)
    with pytest.raises(KeyError, match="valid"):
        script("nope")
