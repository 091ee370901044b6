"""Runners: start an attempt's agent so that it outlives the batty command, and read its state.

Both runners start the same small wrapper (:mod:`batty.runner.wrap`), which owns ``run.json``:
its own pid and start time (safe against pid reuse), the agent's, started, exit code,
durations, usage. ``process`` starts the wrapper detached in its own session; ``tmux`` starts
it in a window per seat of a tmux server that has a clean environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from batty.store import atomic

TMUX_TIMEOUT_S = 15
# doctor's write-ahead record of a respawn of the attempt, in its run folder (batty.workflow.doctor)
RESPAWN_FILE = "respawn.json"


_BOOT: float | None = None


def _proc(pid: int) -> tuple[str, float] | None:
    """Linux: (state letter, start time) of ``pid`` from /proc/<pid>/stat, the start time as
    psutil computes it (boot time plus the start tick), without importing psutil; None when
    /proc cannot say (no such process)."""
    global _BOOT
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
        if _BOOT is None:
            with open("/proc/stat", "rb") as f:
                for line in f:
                    if line.startswith(b"btime "):
                        _BOOT = float(line.split()[1])
                        break
        fields = stat[stat.rindex(b")") + 2:].split()  # after the name: field 3 on
        if _BOOT is None:
            return None
        return fields[0].decode(), _BOOT + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # 3 and 22
    except (OSError, ValueError, IndexError):
        return None


_HAS_PROC = os.path.exists("/proc/self/stat")


def identity(pid: int) -> float | None:
    """The start time of process ``pid``, or None when there is none."""
    if _HAS_PROC:
        found = _proc(pid)
        return found[1] if found else None
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def alive(pid: int | None, started: float | None) -> bool:
    """True when ``pid`` runs and is the same process that started at ``started``."""
    if not pid:
        return False
    now = identity(int(pid))
    if now is None:
        return False
    if started is not None and abs(now - float(started)) > 1.0:
        return False  # the pid was reused by another process
    if _HAS_PROC:
        found = _proc(int(pid))
        return found is not None and found[0] != "Z"
    import psutil

    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def read_run(run_dir: Path) -> dict[str, Any] | None:
    return atomic.read_json(run_dir / "run.json")


def run_state(run_dir: Path) -> str:
    """``none`` (never launched), ``launching``, ``running``, ``exited`` or ``dead`` (the
    wrapper is gone without an exit record)."""
    run = read_run(run_dir)
    if run is None:
        launch = atomic.read_json(run_dir / "launch.json")
        if launch is None:
            return "none"
        if owned(run_dir):
            return "running"  # started, not yet recorded
        age = time.time() - float(launch.get("at_epoch", 0))
        return "launching" if age < 30 else "dead"
    if run.get("exit_code") is not None or run.get("ended"):
        return "exited"
    if owned(run_dir) or alive(run.get("pid"), run.get("pid_started")):
        return "running"
    return "dead"


def owned(run_dir: Path) -> bool:
    """True while a wrapper holds the run's lock (a kernel lock: gone when the wrapper is)."""
    from batty.store.locks import held

    return held(run_dir / "run.lock")


def last_output_age(run_dir: Path) -> float | None:
    """Seconds since the agent last wrote output (or since it started, if it never did)."""
    log = run_dir / "agent.log"
    try:
        return time.time() - log.stat().st_mtime
    except FileNotFoundError:
        run = read_run(run_dir) or {}
        started = run.get("started_epoch")
        return time.time() - float(started) if started else None


def start(run_dir: Path, *, launch: Any, meta: dict[str, Any], runner: str, root: Path) -> None:
    """Write ``launch.json`` (no secrets) and ``env.json`` (0600, deleted by the wrapper on
    start), then start the wrapper with the chosen runner."""
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o700)
    spec = {**meta, "argv": launch.argv, "cwd": str(launch.cwd),
            "stdin_path": str(launch.stdin_path) if launch.stdin_path else None,
            "at_epoch": time.time(), "runner": runner, "root": str(root)}
    atomic.write_bytes(run_dir / "env.json", json.dumps(launch.env).encode(), mode=0o600, durable=False)
    atomic.write_json(run_dir / "launch.json", spec, durable=False)
    argv = [sys.executable, "-m", "batty.runner.wrap", str(run_dir)]
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": os.environ.get("LANG", "C.UTF-8"),
                "HOME": os.environ.get("HOME", "/"), **{k: v for k, v in os.environ.items()
                                                       if k in ("BATTY_FAILPOINT", "BATTY_FAILPOINT_ONCE", "BATTY_HOST", "BATTY_NOW",
                                                                "PYTHONPATH")}}
    if runner == "tmux":
        _tmux_start(root, meta["seat"], argv, base_env)
        return
    with open(run_dir / "wrapper.log", "ab") as err:
        subprocess.Popen(argv, cwd=str(run_dir), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                         start_new_session=True, close_fds=True, env=base_env)


def stop(run_dir: Path, *, grace_s: float = 5.0) -> bool:
    """Stop the attempt's agent and everything it started; True if something was running."""
    run = read_run(run_dir) or {}
    stopped = False
    for pid_key, started_key in (("agent_pid", "agent_pid_started"), ("pid", "pid_started")):
        pid = run.get(pid_key)
        if pid and alive(pid, run.get(started_key)):
            stopped = True
            kill_group(int(pid), grace_s=grace_s)
    return stopped


def kill_group(pgid: int, *, grace_s: float = 5.0) -> None:
    """SIGTERM the process group ``pgid`` (an agent or wrapper started with its own session,
    so its pgid is its pid; the group outlives its leader), then SIGKILL what is left: a member
    that is a zombie (dead, its parent has not reaped it yet) is not left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 2)
        pause = 0.01
        while time.monotonic() < deadline:
            if not live_members(pgid):
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def live_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that are not zombies. From /proc (proc(5): each
    ``/proc/<pid>/stat`` holds the state and the group) where there is one: every agent's
    wrapper asks this when its agent exits, and psutil's import alone was 40 ms of it (a
    sandboxed agent leaves a zombie bwrap in its group until init reaps it)."""
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        pids = []
    if os.getpid() not in pids:  # no /proc, or another namespace's: it cannot tell
        return _live_members_psutil(pgid)
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone between the listing and the look
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        if len(fields) > 2 and int(fields[2]) == pgid and (fields[0] != b"Z" or _threads_left(pid)):
            out.append(pid)
    return out


def _threads_left(pid: int) -> bool:
    """A process whose main thread exited shows Z while its other threads still run."""
    try:
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _live_members_psutil(pgid: int) -> list[int]:
    import psutil

    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if _pgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


# ---------------------------------------------------------------- tmux


def tmux_socket(root: Path) -> str:
    import hashlib

    return "batty-" + hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]


def _tmux(root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", tmux_socket(root), *args], capture_output=True, text=True,
                          timeout=TMUX_TIMEOUT_S, check=check, env=env, stdin=subprocess.DEVNULL)


def _tmux_start(root: Path, seat: str, argv: list[str], base_env: dict[str, str]) -> None:
    sock = tmux_socket(root)
    # A tmux server hands its environment to every pane: start it with a clean one.
    clean = {"PATH": base_env["PATH"], "HOME": base_env["HOME"], "LANG": base_env["LANG"], "TERM": "xterm-256color"}
    if _tmux(root, "has-session", "-t", sock, env=clean, check=False).returncode != 0:
        _tmux(root, "new-session", "-d", "-s", sock, "-n", "batty", "-x", "200", "-y", "50", env=clean)
        _tmux(root, "set-option", "-t", sock, "-g", "remain-on-exit", "off", env=clean, check=False)
    _tmux(root, "kill-window", "-t", f"{sock}:{seat}", env=clean, check=False)
    env_args: list[str] = []
    for key, value in base_env.items():
        if key.startswith("BATTY_") or key == "PYTHONPATH":
            env_args += ["-e", f"{key}={value}"]
    _tmux(root, "new-window", "-d", "-t", f"{sock}:", "-n", seat, *env_args, "--", *argv, env=clean)


def tmux_attach_argv(root: Path, seat: str) -> list[str]:
    sock = tmux_socket(root)
    return ["tmux", "-L", sock, "attach-session", "-t", f"{sock}:{seat}"]


def tmux_windows(root: Path) -> list[str]:
    try:
        proc = _tmux(root, "list-windows", "-t", tmux_socket(root), "-F", "#{window_name}", check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    return proc.stdout.split() if proc.returncode == 0 else []
