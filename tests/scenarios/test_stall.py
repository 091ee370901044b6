"""A stalled agent: silent past health.stall_after_s, it is respawned; one that stalls every
time is escalated after health.max_respawns, and its agent does not keep running."""

from __future__ import annotations

from pathlib import Path

from batty import runner
from tests.scenarios.helpers import (
    actions,
    kinds,
    make,
    on_base,
    once,
    settle,
    shared,
    statuses,
    write,
)


def test_a_stall_is_respawned_and_a_stall_for_ever_is_escalated(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"health": {"stall_after_s": 1, "respawn_cooldown_s": 0,
                                                    "max_respawns": 1}})
    once_ = proj.task("Stalls once", once(shared(tmp_path) / "stalled", ["echo 'working on it'", "sleep 86400"],
                                          write("src/a.py", "A = 1")))
    always = proj.task("Stalls every time", "stall")

    settle(proj, watch, wait=1.5)
    assert statuses(proj) == {once_: "done", always: "blocked"}
    assert {e["task"] for e in kinds(proj, "agent.stalled")} == {once_, always}
    assert [e["task"] for e in actions(proj, "respawn")].count(always) == 1
    [esc] = actions(proj, "escalate")
    assert esc["task"] == always and esc["data"]["fault"] == "respawn"
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["reason"] == "respawns-exhausted" and raised["data"]["tasks"] == [always]
    assert runner.run_state(proj.paths.run_dir(always, 1)) != "running"
    assert on_base(proj, "src/a.py") == "A = 1"
    assert always in proj.paths.inbox.read_text()
