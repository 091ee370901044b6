"""Disk pressure: under disk.min_free_mb dispatch pauses (no agent starts, nothing is lost), the
work already verified still lands; when a person makes room (here: lowers the floor) it goes on.
Old runs and evidence of finished tasks are cleaned past disk.keep_runs_days."""

from __future__ import annotations

import os
import time
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


def test_dispatch_pauses_under_the_disk_floor_and_resumes(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    first = proj.task("Verified before the disk filled", write("src/a.py", "A = 1"))
    tick(proj, watch)
    quiet(proj)
    waiting = proj.task("Waits for room", write("src/b.py", "B = 1"))
    proj.configure({"disk": {"min_free_mb": 1 << 40}})  # more than any disk has free
    res = proj.batty("tick")
    assert res.code == 0 and "dispatch paused: disk" in res.err
    watch.check()
    assert statuses(proj) == {first: "done", waiting: "todo"}
    assert kinds(proj, "task.dispatched", waiting) == []

    proj.configure({"disk": {"min_free_mb": 1, "keep_runs_days": 1}})
    settle(proj, watch)
    assert statuses(proj) == {first: "done", waiting: "done"}
    assert on_base(proj, "src/b.py") == "B = 1"

    old = time.time() - 3 * 86400  # the first task's run and evidence, three days old
    for top in (proj.paths.runs_of(first), proj.paths.evidence_of(first)):
        for f in [top, *top.rglob("*")]:
            os.utime(f, (old, old), follow_symlinks=False)
    tick(proj, watch)
    [cleanup] = actions(proj, "disk-cleanup")
    assert cleanup["data"]["removed"] == 2
    assert not proj.paths.runs_of(first).exists() and proj.paths.runs_of(waiting).exists()
