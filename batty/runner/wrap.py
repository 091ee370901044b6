"""The wrapper every attempt runs in: starts the agent, records it in run.json, logs its exit.

``python -m batty.runner.wrap RUN_DIR``. It reads launch.json, reads and deletes env.json (the
agent's environment, which may hold the CLI's own key), starts the agent in its own process
group with stdin from a file or /dev/null, copies its output to agent.log (and to the tmux pane
when there is one), and when the agent exits kills what it left behind, then writes the exit
code, the durations and the usage to run.json and logs ``agent.exited``.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from batty.core import clock
from batty.store import atomic, failpoints
from batty.store.events import EventLog

_stop = False


def _on_term(signum: int, frame: Any) -> None:
    global _stop
    _stop = True


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0])
    spec = json.loads((run_dir / "launch.json").read_text())
    if not _own(run_dir):
        return 0  # another wrapper owns this run: one agent per attempt, whoever started first
    env_path = run_dir / "env.json"
    try:
        env = json.loads(env_path.read_text())
    except FileNotFoundError:  # a second wrapper for the same run: the first one owns it
        return 0
    env_path.unlink(missing_ok=True)
    from batty.runner import identity

    root = Path(spec["root"])
    events = EventLog(root / ".batty" / "events.jsonl", root / ".batty" / "locks" / "events.lock",
                      cmd="runner")
    run: dict[str, Any] = {
        "task": spec["task"], "attempt": spec["attempt"], "seat": spec["seat"], "agent": spec["agent"],
        "runner": spec["runner"], "pid": os.getpid(), "pid_started": identity(os.getpid()),
        "started": clock.now_iso(), "started_epoch": time.time(), "exit_code": None,
        "argv0": spec["argv"][0],
    }
    atomic.write_json(run_dir / "run.json", run, durable=False)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, _on_term)
    stdin = open(spec["stdin_path"], "rb") if spec.get("stdin_path") else subprocess.DEVNULL
    log = open(run_dir / "agent.log", "ab", buffering=0)
    start = time.monotonic()
    try:
        child = subprocess.Popen(spec["argv"], cwd=spec["cwd"], env=env, stdin=stdin,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
    except OSError as e:
        log.write(f"batty: could not start {spec['argv'][0]}: {e}\n".encode())
        run.update(exit_code=127, ended=clock.now_iso(), duration_s=0.0, error=str(e))
        atomic.write_json(run_dir / "run.json", run)
        events.emit("agent.exited", task=spec["task"], seat=spec["seat"], attempt=spec["attempt"],
                    exit_code=127, duration_s=0.0, usage={}, error=str(e))
        return 127
    run.update(agent_pid=child.pid, agent_pid_started=identity(child.pid))
    atomic.write_json(run_dir / "run.json", run, durable=False)
    events.emit("agent.started", task=spec["task"], seat=spec["seat"], attempt=spec["attempt"],
                agent=spec["agent"], pid=child.pid, runner=spec["runner"])
    failpoints.point("runner.after-start")
    echo = sys.stdout.isatty()
    _pump(child, log, echo)
    code = child.wait()
    from batty.runner import kill_group

    kill_group(child.pid, grace_s=2)  # nothing the agent started keeps running unattended
    log.close()
    if not _stop:  # a stopped attempt's work is for whoever stopped it (a preempt's hand-off)
        _bring_back(root, spec)
    duration = round(time.monotonic() - start, 3)
    text = atomic.tail(run_dir / "agent.log", 2 << 20)
    from batty.agents.usage import (  # not batty.agents: no dataclasses to import
        context_exhausted,
        parse,
    )

    entry = spec.get("entry") or {}
    usage = parse(spec["agent"], text, dict(entry))
    exhausted = context_exhausted(spec["agent"], text)
    run.update(exit_code=code, ended=clock.now_iso(), duration_s=duration, usage=usage,
               context_exhausted=exhausted, stopped=_stop)
    failpoints.point("runner.before-exit-record")
    atomic.write_json(run_dir / "run.json", run)
    events.emit("agent.exited", task=spec["task"], seat=spec["seat"], attempt=spec["attempt"],
                exit_code=code, duration_s=duration, usage=usage, stopped=_stop)
    if exhausted:
        events.emit("agent.context_exhausted", task=spec["task"], seat=spec["seat"], attempt=spec["attempt"])
    return 0


def _bring_back(root: Path, spec: dict[str, Any]) -> None:
    """The attempt's commits fetched from its checkout (a repository of its own, issue 14) into
    the control repository as soon as its agent is gone: its work is then the control's even if
    the checkout goes before verify looks. What it left uncommitted is verify's to collect."""
    from batty.errors import BattyError
    from batty.store import repos
    from batty.store.paths import branch_of

    cwd = Path(spec.get("cwd") or "")
    try:
        if repos.is_own(cwd):
            repos.bring_back(root, cwd, branch_of(spec["task"]))
    except (BattyError, OSError, ValueError):
        pass  # verify fetches again, and says what went wrong


_owner: Any = None  # the run.lock this wrapper holds until it exits


def _own(run_dir: Path, wait_s: float = 0.5) -> bool:
    """Take run.lock for the wrapper's whole life (the kernel drops it when we die): it is how
    run_state tells a live wrapper from a dead one, and why a second wrapper never starts a
    second agent for the same attempt (a slow start once looked dead and was respawned)."""
    from batty.store.locks import Flock, Timeout

    global _owner
    lock = Flock(run_dir / "run.lock", poll_s=0.1)
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        return False
    _owner = lock
    return True


def _pump(child: subprocess.Popen, log: Any, echo: bool) -> None:
    """Copy the agent's output to the log until it exits (a lingering child holding the pipe
    open does not keep us here), or until we are told to stop."""
    assert child.stdout is not None
    fd = child.stdout.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    exited_at: float | None = None
    while True:
        if _stop and child.poll() is None:
            from batty.runner import kill_group

            kill_group(child.pid, grace_s=3)
        for _key, _ in sel.select(timeout=0.5):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(fd)
                return
            log.write(data)
            if echo:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
        if child.poll() is not None:
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > 1.0:
                return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
