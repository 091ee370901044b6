"""A respawn loop held by the cooldown: an agent whose wrapper dies right after it starts, every
time. doctor respawns it at most once per health.respawn_cooldown_s however often it ticks,
and after health.max_respawns it escalates instead of healing again."""

from __future__ import annotations

import time
from pathlib import Path

from batty import clock
from tests.scenarios.helpers import actions, kinds, make, statuses, tick


def test_a_dying_agent_is_respawned_no_faster_than_the_cooldown(tmp_path: Path) -> None:
    cooldown = 2
    proj, watch = make(tmp_path, config={"health": {"respawn_cooldown_s": cooldown, "max_respawns": 2}})
    # a word of output (so the respawn guard sees it started), then the wrapper (the runner's
    # parent) and the agent are killed: no exit record, every time
    doomed = proj.task("Dies at once, every time", [
        "echo 'started'", "kill -9 $(ps -o ppid= -p $PPID) $PPID"])
    deadline = time.monotonic() + 20
    while statuses(proj)[doomed] != "blocked" and time.monotonic() < deadline:
        tick(proj, watch)  # as fast as cron could ever call it: no pause between ticks
    assert statuses(proj)[doomed] == "blocked"
    respawned = [clock.parse(e["ts"]).timestamp() for e in kinds(proj, "agent.respawned")]
    assert len(respawned) == 2
    assert all(b - a >= cooldown for a, b in zip(respawned, respawned[1:], strict=False))
    waits = proj.ok("doctor", "--check").out  # blocked now: nothing left to wait for
    assert "respawn_cooldown_s" not in waits
    [esc] = actions(proj, "escalate")
    assert esc["task"] == doomed and esc["data"]["fault"] == "respawn"
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["reason"] == "respawns-exhausted"
    ticks = len(kinds(proj, "tick.finished"))
    assert ticks > 2 * len(respawned)  # the guard, not a slow tick, held the respawns back
