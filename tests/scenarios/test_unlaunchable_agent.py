"""A task whose agent cannot be started at all (found while writing the board scenario: a card a
person writes in Todo is a task with no `script:`, which the shell agent cannot run).

It used to sit in progress for ever, holding its seat, a warning on stderr every tick (silence
under cron) and nobody told. Now an attempt that cannot start is an attempt that failed at once:
its run says why, verify fails it (agent-exit), and after gates.max_attempts it is blocked and
escalated; the seat goes back to the queue meanwhile.
"""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.helpers import kinds, make, on_base, settle, statuses, write


def test_an_agent_that_cannot_start_is_escalated_and_frees_its_seat(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"gates": {"max_attempts": 2}})
    board = proj.paths.board_md
    board.write_text(board.read_text().replace("## Todo\n", "## Todo\n\n- [ ] Written on the board\n", 1))
    proj.ok("reconcile")
    [stuck] = statuses(proj)
    queued = proj.task("Waits for the only seat", write("src/a.py", "A = 1"))
    settle(proj, watch)
    assert statuses(proj) == {stuck: "blocked", queued: "done"}
    assert [e["data"]["reason"] for e in kinds(proj, "verify.failed", stuck)] == ["agent-exit"] * 2
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["tasks"] == [stuck] and "script" in raised["data"]["text"]
    assert on_base(proj, "src/a.py") == "A = 1"
