"""Protected paths: .github/** (gates.protected) and board/** (always) are refused by the fence
whatever the scope says, and neither ever changes on the base by an agent's hand."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git
from tests.scenarios.helpers import kinds, make, settle, statuses


def test_protected_paths_never_change_on_the_base(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"gates": {"max_attempts": 1, "protected": [".github/**"]}})
    ci = proj.task("Edits the CI", "touch-protected", scope=[])       # [] = anything not protected
    board = proj.task("Edits the board", "touch-board", scope=["board/**", "src/**"])
    ci_before = git(proj.root, "rev-parse", "main:.github")
    settle(proj, watch)
    assert statuses(proj) == {ci: "blocked", board: "blocked"}
    assert {(e["task"], e["data"]["reason"]) for e in kinds(proj, "verify.failed")} == {
        (ci, "protected"), (board, "protected")}
    assert git(proj.root, "rev-parse", "main:.github") == ci_before
    assert "touched by an agent" not in git(proj.root, "show", "main:board/BOARD.md")
    authors = set(git(proj.root, "log", "--format=%an", "main", "--", "board/").splitlines())
    assert authors <= {"batty", "Test Person"}  # board/ only ever by batty or the person
    assert {e["data"]["reason"] for e in kinds(proj, "escalation.raised")} == {"verify-protected"}
