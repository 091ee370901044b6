"""Context exhaustion: an agent that says its context window ran out gets a fresh attempt with a
hand-off note; one that runs out on its last attempt is escalated."""

from __future__ import annotations

from pathlib import Path

from batty.agents.behaviours import BEHAVIOURS
from tests.scenarios.helpers import (
    actions,
    kinds,
    make,
    on_attempt,
    on_base,
    settle,
    statuses,
    write,
)


def test_out_of_context_gets_a_fresh_agent_then_escalates_on_the_last_attempt(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"gates": {"max_attempts": 2}})
    recovers = proj.task("Runs out once", on_attempt(1, BEHAVIOURS["out-of-context"][:2] + ["exit 3"],
                                                      write("src/a.py", "A = 1")))
    never = proj.task("Runs out every time", "out-of-context")
    settle(proj, watch)
    assert statuses(proj) == {recovers: "done", never: "blocked"}
    resets = [e["task"] for e in actions(proj, "context-reset")]
    assert sorted(resets) == sorted([recovers, never])
    prompt = (proj.paths.run_dir(recovers, 2) / "prompt.md").read_text()
    assert "ran out" in prompt or "context" in prompt  # the hand-off note reached attempt 2
    assert kinds(proj, "verify.failed") == []  # running out is doctor's, not a failed gate
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["reason"] == "context-exhausted" and raised["data"]["tasks"] == [never]
    assert on_base(proj, "src/a.py") == "A = 1"
