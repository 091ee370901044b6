"""When two tasks' scopes overlap (issue 19, SPEC 13): conservative, and the dispatch plan waits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batty.core.config import Config, Dispatch, Seat
from batty.core.dispatch_plan import plan
from batty.core.globs import compile_glob
from batty.core.lifecycle import Status
from batty.core.overlap import batches, globs_overlap, scopes_overlap, waiting
from batty.core.packet import Packet


@pytest.mark.parametrize("a,b", [
    ("src/app.py", "src/app.py"), ("src/**", "src/app.py"), ("src/*.py", "src/app.py"),
    ("**/*.py", "src/deep/x.py"), ("src/", "src/a/b.c"), ("app.py", "src/app.py"),
    ("src/**", "src"), ("*.md", "docs/**"), ("src/a*", "src/*b"), ("tests/test_*.py", "tests/**"),
    ("src/**/x.py", "src/x.py"),
    # `src/**` matches `src` at any depth, as the scope and protected-path matcher reads it
    # (batty.core.globs): `docs/src/a.md` matches both (hypothesis found it)
    ("src/**", "docs/**"), ("src/**", "b*/src"),
])
def test_globs_that_share_a_path_overlap(a: str, b: str) -> None:
    assert globs_overlap(a, b) and globs_overlap(b, a)


@pytest.mark.parametrize("a,b", [
    ("src/a.py", "src/b.py"), ("src/auth/**", "src/billing/**"), ("src/*.py", "src/*.md"),
    ("src/*.py", "src/x/y.py"), ("docs/a.md", "src/**"), ("src/a*", "src/b*"), ("app.py", "src/main.py"),
])
def test_disjoint_globs_do_not(a: str, b: str) -> None:
    assert not globs_overlap(a, b) and not globs_overlap(b, a)


NAMES = st.sampled_from(["src", "docs", "a.py", "b.md", "x", "tests", "app.py"])
PIECES = st.sampled_from(["src", "docs", "a.py", "*.py", "*", "**", "x", "b*", "*.md", "tests"])


@settings(max_examples=300, deadline=None)
@given(a=st.lists(PIECES, min_size=1, max_size=3), b=st.lists(PIECES, min_size=1, max_size=3),
       path=st.lists(NAMES, min_size=1, max_size=4))
def test_never_says_disjoint_of_globs_one_path_matches(a: list[str], b: list[str], path: list[str]) -> None:
    """Conservative: whenever one path matches both globs (as the fence matches them), they overlap."""
    ga, gb, p = "/".join(a), "/".join(b), "/".join(path)
    if compile_glob(ga).match(p) and compile_glob(gb).match(p):
        assert globs_overlap(ga, gb), (ga, gb, p)


def test_no_scope_overlaps_every_task() -> None:
    assert scopes_overlap([], ["src/a.py"]) and scopes_overlap(["docs/**"], []) and scopes_overlap([], [])
    assert not scopes_overlap(["src/a.py", "src/b.py"], ["docs/**", "src/c.py"])


def pk(tid: str, scope: list[str], status: Status = Status.TODO, **kw: object) -> Packet:
    return Packet(id=tid, title=tid, status=status, scope=tuple(scope), **kw)  # type: ignore[arg-type]


def test_waiting_names_the_task_a_ready_one_waits_for() -> None:
    running = pk("T-1", ["src/app.py"], Status.IN_PROGRESS, assignee="eng-1", attempt=1)
    review = pk("T-2", ["docs/**"], Status.REVIEW)
    same, other, anything = pk("T-3", ["src/app.py"]), pk("T-4", ["src/util.py"]), pk("T-5", [])
    docs = pk("T-6", ["docs/guide.md"])
    found = {w.task: w for w in waiting([same, other, anything, docs], [running, review, same, other], "wait")}
    assert set(found) == {"T-3", "T-5", "T-6"}
    assert found["T-3"].other == "T-1" and "in-progress" in found["T-3"].why
    assert found["T-6"].other == "T-2" and found["T-6"].status == "review"
    assert "no scope" in found["T-5"].why
    assert waiting([same, anything], [running], "allow") == []


def cfg(seats: int, overlap: str = "wait") -> Config:
    return Config(seats=tuple(Seat(f"eng-{i}", "shell") for i in range(1, seats + 1)),
                  dispatch=Dispatch(overlap=overlap))


def test_the_plan_holds_back_a_task_on_the_files_of_one_at_work_or_claimed_now() -> None:
    a, b = pk("T-1", ["src/app.py"]), pk("T-2", ["src/app.py"])
    c, d = pk("T-3", ["src/a.py"]), pk("T-4", ["src/b.py"])
    packets = {p.id: p for p in (a, b, c, d)}
    got = plan(cfg(4), packets, [a, b, c, d], {})
    assert [x.task for x in got.assign] == ["T-1", "T-3", "T-4"]
    assert got.waiting == (("T-2", "waits for T-1 (dispatched now): their scopes overlap"),)
    # allow: side by side
    assert [x.task for x in plan(cfg(4, "allow"), packets, [a, b, c, d], {}).assign] == ["T-1", "T-2", "T-3", "T-4"]


def test_another_machines_task_in_review_holds_one_back_too() -> None:
    theirs = pk("T-1", ["src/**"], Status.REVIEW, host="elsewhere")
    mine = pk("T-2", ["src/x.py"])
    got = plan(cfg(2), {"T-2": mine}, [mine], {}, everyone={"T-1": theirs, "T-2": mine})
    assert not got.assign and got.waiting[0][1].startswith("waits for T-1 (review)")


def test_batches_keep_overlapping_tasks_apart_in_order() -> None:
    items = [("A", ["src/app.py"]), ("B", ["src/app.py"]), ("C", ["src/a.py"]), ("D", ["docs/**"]),
             ("E", ["src/**"])]
    got = batches(items, 4, lambda x: x[1])
    assert [[x[0] for x in g] for g in got] == [["A", "C", "D"], ["B"], ["E"]]
    assert [[x[0] for x in g] for g in batches(items, 4, lambda x: x[1], mode="allow")] == [
        ["A", "B", "C", "D"], ["E"]]
    assert [[x[0] for x in g] for g in batches(items, 1, lambda x: x[1])] == [[x[0]] for x in items]


def test_a_bracket_is_a_literal_character_to_the_fence_and_never_hides_an_overlap() -> None:
    assert compile_glob("src/[ab].py").match("src/[ab].py")
    assert globs_overlap("src/[ab].py", "src/*.py") and globs_overlap("src/[ab].py", "src/[ab].py")


def test_a_cards_note_is_its_br_lines_and_its_indented_lines() -> None:
    from batty.core.board import note_of, parse

    board = parse("## Review\n\n## In Progress\n\n- [ ] T-1 Add things `P2`<br>Keep the name ^abc123\n"
                  "\tand add a test\n- [ ] T-2 Other\n")
    cards = {c.id: c for col in board.columns for c in col.cards}
    assert note_of(cards["T-1"]) == "Keep the name\nand add a test"
    assert note_of(cards["T-2"]) == ""
