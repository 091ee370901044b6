"""A packet file deleted while its task's agent runs (a person cleaning up board/tasks/ by hand,
SPEC 2: packets are written by any editor).

Found by this scenario: doctor saw the task's branch as an orphan and deleted it, removed the
worktree under the running agent, but did not stop the agent, and left .batty/runs/<ID> behind
(a run without a task, which invariant (9) forbids after doctor). Now the orphan-branch step
stops the task's agents first, and the orphan-run step stops any left and moves the run folder
to .batty/lost/.
"""

from __future__ import annotations

from pathlib import Path

from batty import runner
from tests.scenarios.helpers import make, started, tick


def test_a_deleted_packet_leaves_no_agent_and_no_run(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    gone = proj.task("Its packet is deleted", ["echo 'working'", "sleep 30"])
    tick(proj, watch)
    run = started(proj, gone)
    proj.paths.packet(gone).unlink()
    tick(proj)
    tick(proj)
    assert not runner.alive(run["agent_pid"], run["agent_pid_started"]), "the agent still runs"
    assert not proj.paths.runs_of(gone).exists()
    assert any(d.name.startswith(f"runs-{gone}.") for d in (proj.paths.state / "lost").iterdir())
    watch.check()
