"""The tests' warm batty (tests/forkserver.py) runs a command as `python -m batty` does: a process
of its own, with the run's own environment, cwd, stdin, output and exit status."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from batty.store.paths import Paths
from tests import forkserver
from tests.conftest import BATTY, run_batty


def cold(root: Path, *args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATTY, "--repo", str(root), *args], cwd=root, env=env, input=input,
                          capture_output=True, text=True, timeout=60)


def warm(root: Path, *args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess[str]:
    res = forkserver.run(["--repo", str(root), *args], cwd=root, env=env, input=input, timeout=60)
    assert res is not None
    return res


def test_a_warm_command_answers_as_a_cold_one(repo: Paths) -> None:
    import os

    env = {**os.environ}
    for run in (cold, warm):
        assert run(repo.root, "task", "add", f"From {run.__name__}", env=env).returncode == 0
    listed = [json.loads(run(repo.root, "task", "list", "--json", env=env).stdout) for run in (cold, warm)]
    assert listed[0] == listed[1] and [p["title"] for p in listed[0]] == ["From cold", "From warm"]
    bad = [run(repo.root, "task", "show", "T-99", env=env) for run in (cold, warm)]
    assert bad[0].returncode == bad[1].returncode == 1 and bad[0].stderr == bad[1].stderr


def test_each_warm_command_has_its_own_environment_and_process(repo: Paths) -> None:
    import os

    env = {**os.environ}
    # the lock wait is read when the command waits: a value kept from the server's import (or
    # from a command run before in one process) was the wrong one
    with open(repo.locks / "board.lock", "w") as held:
        import fcntl

        fcntl.flock(held, fcntl.LOCK_EX)
        for wait in ("0.2", "0.4"):
            res = warm(repo.root, "task", "add", "x", env={**env, "BATTY_LOCK_WAIT_S": wait})
            assert res.returncode == 75 and f"waiting up to {wait}s for the board lock" in res.stderr
    assert warm(repo.root, "task", "add", "y", env=env).returncode == 0
    res = warm(repo.root, "task", "move", "T-1", "backlog", env={**env, "BATTY_FAILPOINT": "state.after-packet-write"})
    assert res.returncode == -signal.SIGKILL  # killed as a process, and only the command was
    assert run_batty(repo.root, "task", "add", "z").code == 0  # the next command carries on


def test_commands_started_together_each_answer_as_their_own_process(repo: Paths) -> None:
    """batty_many (the concurrent-tick tests): each command a child of its own, all started
    before any is waited on, with its own output and exit status, in the order asked."""
    import fcntl
    import os
    import threading

    env = {**os.environ, "BATTY_LOCK_WAIT_S": "60"}
    assert warm(repo.root, "task", "list", env=env).returncode == 0  # the server up before the clock runs
    held = open(repo.locks / "board.lock", "w")
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(5.0, held.close).start()  # let go later: run one by one, only the first would wait
    runs = forkserver.batty_many([["--repo", str(repo.root), "task", "add", f"t{n}"] for n in range(3)]
                                 + [["--repo", str(repo.root), "task", "show", "T-99"]],
                                 cwd=repo.root, env=env, timeout=120)
    assert [r.returncode for r in runs] == [0, 0, 0, 1], [(r.returncode, r.stderr) for r in runs]
    assert all("waiting up to 60s for the board lock" in r.stderr for r in runs[:3]), [r.stderr for r in runs]
    assert "T-99" in runs[3].stderr
    titles = sorted(p["title"] for p in json.loads(warm(repo.root, "task", "list", "--json", env=env).stdout))
    assert titles == ["t0", "t1", "t2"]


def test_a_long_request_reaches_the_server_whole(repo: Paths) -> None:
    """A stream socket may hand a long request over in pieces (sixteen ticks' environments were
    cut at 36 kB): each request says its length, and the server reads it all."""
    import os

    env = {**os.environ, "BATTY_TEST_PADDING": "x" * 300_000}
    runs = forkserver.batty_many([["--repo", str(repo.root), "task", "list", "--json"]] * 16, cwd=repo.root,
                                 env=env, timeout=120)
    assert [r.returncode for r in runs] == [0] * 16
    assert warm(repo.root, "task", "list", "--json", env=env).returncode == 0
