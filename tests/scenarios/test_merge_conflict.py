"""A merge conflict: two agents change the same line at once. The first lands; the second is
sent back with the conflicting files in its feedback, brings the base in, and lands on top."""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.helpers import (
    COMMIT,
    kinds,
    make,
    on_attempt,
    on_base,
    quiet,
    settle,
    statuses,
    tick,
)


def test_the_second_of_two_conflicting_changes_is_sent_back_and_lands(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    first = proj.task("One way", ["sed -i 's/return a + b$/return a + b  # one/' src/app.py", COMMIT])
    second = proj.task("Other way", on_attempt(
        1, ["sed -i 's/return a + b$/return a + b  # other/' src/app.py", COMMIT],
        # what its feedback asks: start again from the base as it is now
        ["git reset -q --hard main", "sed -i 's/  # one$/  # one, other/' src/app.py", COMMIT]))
    tick(proj, watch)   # both dispatched from the same base
    quiet(proj)
    tick(proj, watch)   # both verified; the first lands, the second conflicts
    assert statuses(proj) == {first: "done", second: "in-progress"}
    [conflict] = kinds(proj, "merge.conflict", second)
    assert conflict["data"]["files"] == ["src/app.py"]
    assert "src/app.py" in proj.packet(second)["feedback"]
    settle(proj, watch)
    assert statuses(proj) == {first: "done", second: "done"}
    assert "return a + b  # one, other" in (on_base(proj, "src/app.py") or "")
    assert proj.packet(second)["attempt"] == 2
