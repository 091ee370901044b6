"""A respawn loop held by the cooldown: an agent whose wrapper dies right after it starts, every
time. doctor respawns it at most once per health.respawn_cooldown_s however often it ticks (in
between it says it waits), and after health.max_respawns it escalates instead of healing again."""

from __future__ import annotations

import time
from pathlib import Path

from batty import runner
from batty.core import clock
from tests.scenarios.helpers import actions, kinds, make, once, statuses, tick


def test_a_dying_agent_is_respawned_no_faster_than_the_cooldown(tmp_path: Path) -> None:
    cooldown = 2
    # the fault is the wrapper dying, which an agent can cause only without the sandbox (inside
    # it sees no wrapper to kill: tests/scenarios/test_sandbox_escape.py)
    proj, watch = make(tmp_path, config={"health": {"respawn_cooldown_s": cooldown, "max_respawns": 2},
                                         "sandbox": {"mode": "none"}})
    # a word of output (so the respawn guard sees it started), then the wrapper (the runner's
    # parent) and the agent are killed: no exit record, every time
    doomed = proj.task("Dies at once, every time", [
        "echo 'started'", "kill -9 $(ps -o ppid= -p $PPID) $PPID"])
    run_dir = proj.paths.run_dir(doomed, 1)
    waited = False
    deadline = time.monotonic() + 30
    while statuses(proj)[doomed] != "blocked" and time.monotonic() < deadline:
        tick(proj, watch)  # as fast as cron could ever call it: no pause between ticks
        if len(kinds(proj, "agent.respawned")) == 1 and not waited:
            while runner.run_state(run_dir) != "dead" and time.monotonic() < deadline:
                time.sleep(0.05)  # the respawned agent died at once too
            out = proj.ok("doctor", "--check").out
            assert f"wait respawn {doomed}" in out and "respawn_cooldown_s" in out, out
            waited = True
    assert statuses(proj)[doomed] == "blocked" and waited
    respawned = [clock.parse(e["ts"]).timestamp() for e in kinds(proj, "agent.respawned")]
    assert len(respawned) == 2
    assert all(b - a >= cooldown for a, b in zip(respawned, respawned[1:], strict=False))
    [esc] = actions(proj, "escalate")
    assert esc["task"] == doomed and esc["data"]["fault"] == "respawn"
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["reason"] == "respawns-exhausted"


def test_the_cooldown_counts_from_the_respawned_agent_s_start(tmp_path: Path) -> None:
    """A respawn's stop can take the whole grace (an agent deaf to SIGTERM): counted from when
    doctor decided, the cooldown was spent before the new agent started, and when that one died
    at once the next respawn followed at once."""
    cooldown = 3
    proj, watch = make(tmp_path, config={"health": {"respawn_cooldown_s": cooldown, "max_respawns": 2,
                                                    "stall_after_s": 1},
                                         "sandbox": {"mode": "none"}})
    tid = proj.task("Stalls deaf, then dies at once", once(
        tmp_path / "shared" / "stalled",
        ["trap '' TERM; echo started; exec sleep 600"],  # stalls; the stop waits its grace out
        ["echo started", "kill -9 $(ps -o ppid= -p $PPID) $PPID"]))  # a word, then its wrapper dies
    deadline = time.monotonic() + 60
    while len(kinds(proj, "agent.respawned")) < 2 and time.monotonic() < deadline:
        tick(proj, watch)
    respawned = [clock.parse(e["ts"]).timestamp() for e in kinds(proj, "agent.respawned")]
    assert len(respawned) == 2, statuses(proj)[tid]
    assert respawned[1] - respawned[0] >= cooldown
