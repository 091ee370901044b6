"""A packet file deleted while its task's agent runs (a person cleaning up board/tasks/ by hand,
SPEC 2: packets are written by any editor).

Found by this scenario, not fixed: doctor sees the task's branch as an orphan and deletes it (it
has no commit of its own yet) and removes the worktree under the running agent, but does not
stop the agent, and leaves .batty/runs/<ID> behind: a run without a task, which invariant (9)
forbids after doctor. The fix is doctor's to design (stop the agent of a run whose packet is
gone; move the run to .batty/lost/ like a worktree without a task, under which action).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batty import runner
from tests.scenarios.helpers import make, started, tick


@pytest.mark.xfail(strict=True, reason="doctor leaves the run (and a running agent) of a deleted packet")
def test_a_deleted_packet_leaves_no_agent_and_no_run(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    gone = proj.task("Its packet is deleted", ["echo 'working'", "sleep 30"])
    tick(proj, watch)
    run = started(proj, gone)
    proj.paths.packet(gone).unlink()
    tick(proj)
    tick(proj)
    assert not runner.alive(run["agent_pid"], run["agent_pid_started"]), "the agent still runs"
    watch.check()
