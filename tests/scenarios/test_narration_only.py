"""Narration only: an agent that talks and changes nothing fails the collect gate as no-change;
its feedback says so; one that keeps only talking is escalated, and the base never moves for it."""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.helpers import kinds, make, on_attempt, on_base, settle, statuses, write


def test_an_attempt_that_only_talks_is_refused(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"gates": {"max_attempts": 2}})
    talker = proj.task("Only talks", "no-change")
    learns = proj.task("Talks, then works", on_attempt(1, ["echo 'I would change src/a.py'"],
                                                         write("src/a.py", "A = 1")))
    before = proj.code()
    settle(proj, watch)
    assert statuses(proj) == {talker: "blocked", learns: "done"}
    reasons = {(e["task"], e["data"]["reason"]) for e in kinds(proj, "verify.failed")}
    assert reasons == {(talker, "no-change"), (learns, "no-change")}
    assert "no-change" in (proj.paths.run_dir(learns, 2) / "prompt.md").read_text()
    [raised] = kinds(proj, "escalation.raised")
    assert raised["data"]["reason"] == "verify-no-change" and raised["data"]["tasks"] == [talker]
    assert proj.packet(talker)["merge"] is None
    assert on_base(proj, "src/a.py") == "A = 1" and proj.code() != before
