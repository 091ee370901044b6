"""Scope violation: a change outside the packet's scope fails the fence; the agent that takes
the feedback and drops it lands; the one that keeps leaving is escalated. Nothing outside the
scope ever reaches the base."""

from __future__ import annotations

from pathlib import Path

from batty.agents.behaviours import BEHAVIOURS
from tests.scenarios.helpers import (
    COMMIT,
    kinds,
    make,
    on_attempt,
    on_base,
    settle,
    statuses,
    write,
)


def test_a_change_outside_the_scope_never_lands(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"gates": {"max_attempts": 2}})
    strays = proj.task("Keeps writing docs/", [
        "mkdir -p docs", "echo \"attempt $BATTY_ATTEMPT\" > docs/outside-scope.md", COMMIT])
    learns = proj.task("Strays once", on_attempt(
        1, BEHAVIOURS["leave-scope"],
        # the fence judges every commit, not just the sum: the stray commit itself must go
        ["git reset -q --hard main", *write("src/a.py", "A = 1")]))
    settle(proj, watch)
    assert statuses(proj) == {strays: "blocked", learns: "done"}
    assert [e["data"]["reason"] for e in kinds(proj, "verify.failed", learns)] == ["scope"]
    assert [e["data"]["reason"] for e in kinds(proj, "verify.failed", strays)] == ["scope", "scope"]
    assert "docs/outside-scope.md" in (proj.paths.run_dir(learns, 2) / "prompt.md").read_text()
    assert on_base(proj, "docs/outside-scope.md") is None
    assert on_base(proj, "src/a.py") == "A = 1"
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["reason"] == "verify-scope"
