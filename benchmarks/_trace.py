"""Where a batty command's time goes: ``python benchmarks/_trace.py [--no-agents] OUT.json -- ARGS``
runs ``batty ARGS`` in this process with every git subprocess (batty.store.git.run) timed by
subcommand, and every os.fsync, and writes the totals to OUT.json. ``--no-agents`` replaces the runner's start
with nothing (no wrapper, no agent), to see what the detached wrappers cost a dispatch.

Used by the benchmarks for their breakdowns; never by batty.
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

START = time.perf_counter()


def main(argv: list[str]) -> None:
    no_agents = argv[0] == "--no-agents"
    if no_agents:
        argv = argv[1:]
    out, sep, args = argv[0], argv[1], argv[2:]
    assert sep == "--"
    from batty.store import git

    calls: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    real_run = git.run

    def run(cwd, *a, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return real_run(cwd, *a, **kw)
        finally:
            i = 0
            while i < len(a) - 1 and a[i].startswith("-"):  # global options (-c k=v, --work-tree=)
                i += 2 if a[i] == "-c" else 1
            key = a[i] if a[i] != "worktree" else f"worktree {a[i + 1]}"
            calls[key][0] += 1
            calls[key][1] += time.perf_counter() - t

    git.run = run
    import os

    syncs = [0, 0.0]
    real_fsync = os.fsync

    def fsync(fd):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return real_fsync(fd)
        finally:
            syncs[0] += 1
            syncs[1] += time.perf_counter() - t

    os.fsync = fsync
    if no_agents:
        import batty.runner

        batty.runner.start = lambda run_dir, **kw: None  # type: ignore[assignment]

    def report() -> None:
        Path(out).write_text(json.dumps({
            "total_s": time.perf_counter() - START,
            "git_calls": sum(int(n) for n, _ in calls.values()),
            "git_s": sum(t for _, t in calls.values()),
            "fsyncs": syncs[0], "fsync_s": syncs[1],
            "by_git": {k: {"calls": int(n), "s": t} for k, (n, t) in calls.items()}}))

    atexit.register(report)
    from batty.cli import main as batty_main

    sys.argv[0] = "batty"
    batty_main(args)


def traced(root: Path, out: Path, *args: str, no_agents: bool = False) -> dict:
    """``batty --repo ROOT ARGS`` under this tracer, as a new process; the totals."""
    import subprocess

    from benchmarks._sandbox import env

    flag = ["--no-agents"] if no_agents else []
    subprocess.run([sys.executable, __file__, *flag, str(out), "--", "--repo", str(root), *args],
                   cwd=root, env=env(), check=True, capture_output=True)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


if __name__ == "__main__":
    main(sys.argv[1:])
