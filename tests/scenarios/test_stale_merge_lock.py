"""Stale merge locks. A merge killed while it held the lock leaves its lock and owner files
behind: a free lock is no fault, the next tick merges. A merge lock leaked to a process that
outlived its taker is held for real: doctor breaks it, and the merge goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.scenarios.helpers import (
    actions,
    kinds,
    make,
    on_base,
    quiet,
    settle,
    statuses,
    tick,
    write,
)

HOLDER = """
import os, subprocess, sys, time
from pathlib import Path
from batty.store import locks
with locks.hold(Path(sys.argv[1]), "merge", cmd="merge"):
    fd = next(int(n) for n in os.listdir("/proc/self/fd")
              if os.path.realpath(f"/proc/self/fd/{n}").endswith("merge.lock"))
    child = subprocess.Popen(["sleep", "300"], pass_fds=[fd], start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(300)
"""


def test_a_stale_merge_lock_does_not_stop_the_merges(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    a = proj.task("Lands after a killed merge", write("src/a.py", "A = 1"))
    tick(proj, watch)
    quiet(proj)
    res = proj.batty("tick", env={"BATTY_FAILPOINT": "merge.after-test"})  # SIGKILL inside merge
    assert res.code == -signal.SIGKILL
    assert (proj.paths.locks / "merge.owner").exists()  # what the killed merge left
    tick(proj, watch)
    assert statuses(proj)[a] == "done"
    assert kinds(proj, "lock.broken") == []  # a free lock was never a fault

    b = proj.task("Lands after a leaked merge lock", write("src/b.py", "B = 1"))
    tick(proj, watch)
    quiet(proj)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(proj.paths.state)], stdout=subprocess.PIPE,
                              text=True, cwd=proj.root)
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        holder.kill()
        holder.wait()
        settle(proj, watch)
        assert statuses(proj) == {a: "done", b: "done"}
        [broken] = kinds(proj, "lock.broken")
        assert broken["data"]["lock"] == "merge" and child in broken["data"]["held_by"]
        assert actions(proj, "stale-lock")
    finally:
        os.kill(child, signal.SIGKILL)
    assert on_base(proj, "src/a.py") == "A = 1" and on_base(proj, "src/b.py") == "B = 1"
