"""Changes requested in words (issue 19, SPEC 13): `batty review`, the board's note line, and
both decisions in `trace` and the digest. Real repositories, real dispatch, the scripted agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git
from tests.project import Project

WORDS = "Rename add to plus and keep a docstring"


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj", seats=1)


def reviewed(proj: Project, behaviour: str = "follow-feedback") -> str:
    tid = proj.task("Add things", behaviour)
    proj.ok("dispatch")
    proj.wait_exited(tid)
    proj.ok("verify", tid)
    assert proj.status(tid) == "review", proj.packet(tid).get("feedback")
    return tid


def test_requested_changes_reach_the_next_attempt_in_words(proj: Project) -> None:
    tid = reviewed(proj)
    res = proj.ok("review", tid, "--request-changes", WORDS)
    assert "review -> in-progress" in res.err
    p = proj.packet(tid)
    assert p["status"] == "in-progress" and WORDS in p["feedback"] and p["assignee"] is None
    (ev,) = proj.events("review.changes_requested", tid)
    assert ev["data"] == {"by": "review", "text": WORDS} and ev["attempt"] == 1
    moved = proj.events("task.status", tid)[-1]["data"]
    assert (moved["from"], moved["to"], moved["by"]) == ("review", "in-progress", "human")
    proj.ok("dispatch")
    assert proj.packet(tid)["attempt"] == 2
    assert WORDS in (proj.paths.run_dir(tid, 2) / "prompt.md").read_text()
    proj.wait_exited(tid)
    proj.ok("verify", tid)
    assert proj.status(tid) == "review"
    # the agent did what the words said: they are in its work on the branch
    assert WORDS in git(proj.root, "show", f"batty/{tid}:src/app.py")


def test_approve_through_review_lands_it_and_both_show_in_trace_and_digest(proj: Project) -> None:
    proj.configure({"merge": {"mode": "approve"}})
    tid = reviewed(proj)
    proj.ok("review", tid, "--request-changes", WORDS)
    proj.ok("dispatch")
    proj.wait_exited(tid)
    proj.ok("verify", tid)
    proj.ok("merge")
    assert proj.status(tid) == "review"  # merge.mode approve: waits for a person
    proj.ok("review", tid, "--approve")
    proj.ok("merge")
    assert proj.status(tid) == "done"
    trace = json.loads(proj.ok("trace", tid, "--json").out)
    kinds = [e["kind"] for e in trace["events"]]
    assert "review.changes_requested" in kinds and "merge.approved" in kinds
    assert kinds.index("review.changes_requested") < kinds.index("merge.approved")
    digest = proj.ok("digest").out
    section = digest.split("## Reviews", 1)[1]
    assert f"| {tid} | changes requested | review | {WORDS} |" in section
    assert f"| {tid} | approved | human | - |" in section


def test_a_card_moved_back_with_a_note_line_requests_those_changes(proj: Project) -> None:
    tid = reviewed(proj)
    board = proj.paths.board_md.read_text()
    card = next(line for line in board.splitlines() if line.startswith(f"- [ ] {tid} "))
    # no note: the card goes back to Review, nothing changes
    proj.paths.board_md.write_text(board.replace(card + "\n", "").replace(
        "## In Progress\n", f"## In Progress\n\n{card}\n"))
    res = proj.ok("reconcile")
    assert "without a note line" in res.err and proj.status(tid) == "review"
    assert not proj.events("review.changes_requested", tid)
    board = proj.paths.board_md.read_text()
    proj.paths.board_md.write_text(board.replace(card + "\n", "").replace(
        "## In Progress\n", f"## In Progress\n\n{card}\n\t{WORDS}\n"))
    proj.ok("reconcile")
    p = proj.packet(tid)
    assert p["status"] == "in-progress" and WORDS in p["feedback"]
    (ev,) = proj.events("review.changes_requested", tid)
    assert ev["data"] == {"by": "board", "text": WORDS}
    assert f"\t{WORDS}" in proj.paths.board_md.read_text()  # the note stays: it is the person's


def test_task_move_back_from_review_needs_the_words(proj: Project) -> None:
    tid = reviewed(proj)
    res = proj.batty("task", "move", tid, "in-progress")
    assert res.code == 1 and res.err.startswith("batty: the requested changes are empty")
    proj.ok("task", "move", tid, "in-progress", "--why", WORDS)
    assert WORDS in proj.packet(tid)["feedback"]


def test_bad_review_usage_is_one_line(proj: Project) -> None:
    tid = proj.task("Not reviewed", "succeed")
    res = proj.batty("review", tid, "--request-changes", WORDS)
    assert res.code == 1 and res.err == f"batty: {tid} is todo, not review (request changes of a task in review)\n"
    res = proj.batty("review", tid)
    assert res.code == 2 and res.err.startswith("batty: give one of --request-changes TEXT or --approve")
    res = proj.batty("review", tid, "--approve", "--request-changes", "x")
    assert res.code == 2
    res = proj.batty("review", tid, "--request-changes", "  ")
    assert res.code == 1 and "empty" in res.err
