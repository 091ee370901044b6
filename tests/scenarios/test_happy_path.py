"""The happy path: two tasks, one waiting on the other, from the board to the base unattended."""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.helpers import kinds, make, on_base, settle, statuses, write


def test_two_tasks_land_in_dependency_order(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    a = proj.task("Edit the app", "succeed")
    b = proj.task("A module", write("src/mod.py", "X = 1"), depends=a)
    settle(proj, watch)
    assert statuses(proj) == {a: "done", b: "done"}
    merged = [e["task"] for e in kinds(proj, "merge.merged")]
    assert merged == [a, b]
    assert "edited by the succeed behaviour" in (on_base(proj, "src/app.py") or "")
    assert on_base(proj, "src/mod.py") == "X = 1"
    assert kinds(proj, "escalation.raised") == [] and kinds(proj, "doctor.action") == []
    assert watch.moves_checked == 2  # both landings went through the base check
