"""Silent death: an agent gone without a word, with its wrapper (no exit record at all: doctor
respawns it) or by a signal the wrapper saw (a failed attempt: the next one starts)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.scenarios.helpers import (
    actions,
    kinds,
    make,
    on_attempt,
    on_base,
    once,
    settle,
    shared,
    started,
    statuses,
    tick,
    write,
)


def test_a_silent_death_is_healed_and_the_task_lands(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    vanished = proj.task("Its agent and wrapper vanish", once(
        shared(tmp_path) / "vanished", ["echo started", "sleep 30"], write("src/a.py", "A = 1")))
    killed = proj.task("Killed by a signal on attempt 1", on_attempt(
        1, ["echo 'about to vanish'", "kill -9 $PPID"], write("src/b.py", "B = 1")))
    tick(proj, watch)
    # once its step printed "started": its mark is made (the echo of the step comes before it; a
    # kill in between left no mark, and the respawn stalled again until a new attempt)
    run = started(proj, vanished, line="started")
    os.kill(run["pid"], signal.SIGKILL)           # the wrapper: nobody will write the exit record
    os.killpg(run["agent_pid"], signal.SIGKILL)   # and the agent with everything it started

    settle(proj, watch)
    assert statuses(proj) == {vanished: "done", killed: "done"}
    [respawn] = actions(proj, "respawn")
    assert respawn["task"] == vanished and respawn["data"]["reason"] == "dead"
    assert proj.packet(vanished)["attempt"] == 1  # a respawn is not a new attempt
    [failed] = kinds(proj, "verify.failed", killed)
    assert failed["data"]["reason"] == "agent-exit" and proj.packet(killed)["attempt"] == 2
    assert on_base(proj, "src/a.py") == "A = 1" and on_base(proj, "src/b.py") == "B = 1"
    assert kinds(proj, "escalation.raised") == []
