"""BOARD.md parse and render (SPEC 3), with hypothesis round-trips; the Obsidian Kanban plugin's
format in tests/core/test_board_obsidian.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from batty.core import board as b
from batty.core.lifecycle import Status
from batty.core.packet import Packet

SPEC_EXAMPLE = """---
kanban-plugin: basic
---

## Backlog

- [ ] T-7 Write the docs

## Todo

- [ ] T-12 Rate-limit logins `P1`
- [ ] T-13 Add an audit log `P2` needs T-12

## In Progress

- [ ] T-9 Fix flaky upload test `P2` @eng-1 (attempt 2)

## Review

## Done

- [x] T-3 Set up CI
"""


def test_parses_the_spec_example() -> None:
    board = b.parse(SPEC_EXAMPLE)
    assert not board.problems
    assert board.column_of() == {"T-7": Status.BACKLOG, "T-12": Status.TODO, "T-13": Status.TODO,
                                 "T-9": Status.IN_PROGRESS, "T-3": Status.DONE}
    titles = {c.id: c.title for col in board.columns for c in col.cards}
    assert titles["T-9"] == "Fix flaky upload test"  # decorations are not the title
    assert titles["T-13"] == "Add an audit log"


def test_new_lines_without_id_are_new_cards() -> None:
    board = b.parse("## Todo\n\n- [ ] Write the README\n- Plain item `P1`\n")
    assert [(s, c.title) for s, c in board.new_cards()] == [
        (Status.TODO, "Write the README"), (Status.TODO, "Plain item")]


def test_garbled_lines_are_problems_with_their_line() -> None:
    board = b.parse("## Todo\n\n- [ ] T-1 ok\nrandom words here\n")
    assert board.problems and board.problems[0][0] == 4


def test_unknown_columns_and_obsidian_settings_are_kept() -> None:
    text = SPEC_EXAMPLE.replace("## Review", "## Ideas\n\nfree text\n- [ ] T-99 x\n\n## Review")
    text += "\n%% kanban:settings\n```\n{\"kanban-plugin\":\"basic\"}\n```\n%%\n"
    board = b.parse(text)
    assert not board.problems
    packets = [Packet(id="T-12", title="Rate-limit logins", status=Status.TODO, priority=1)]
    out = b.render(packets, board)
    assert "## Ideas\n\nfree text\n- [ ] T-99 x" in out
    assert out.endswith("%%\n") and "kanban:settings" in out


def test_done_shows_the_newest_fifty() -> None:
    ps = [Packet(id=f"T-{i}", title=f"t{i}", status=Status.DONE, updated=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00")
          for i in range(1, 71)]
    out = b.render(ps)
    board = b.parse(out)
    done = next(c for c in board.columns if c.status is Status.DONE)
    assert len(done.cards) == 50 and done.cards[0].id == "T-70"
    assert "- [x] 20 more done tasks (`batty task list --status done`)" in out


def test_the_count_of_done_cards_not_shown_survives_a_save_in_obsidian() -> None:
    """Issue 17: the count was a `%% ... %%` line, which the plugin drops when it saves; batty put
    it back at the next render, and the two fought over it in every commit. It is a card now."""
    from tests.core import kanban_plugin as plugin

    ps = [Packet(id=f"T-{i}", title=f"t{i}", status=Status.DONE, updated=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00")
          for i in range(1, 71)]
    out = b.render(ps)
    saved = plugin.save(plugin.read(out))
    assert saved == out
    again = b.parse(saved)
    assert not again.problems and not any(c.id is None for col in again.columns for c in col.cards)
    assert b.render(ps, again) == out
    # a board an earlier batty wrote still reads: its comment line is batty's, not a task
    old = out.replace("- [x] 20 more done tasks (`batty task list --status done`)", "%% 20 more done tasks not shown %%")
    assert not b.parse(old).problems


def test_todo_keeps_the_order_people_gave_it() -> None:
    ps = [Packet(id=f"T-{i}", title=f"t{i}", status=Status.TODO) for i in (1, 2, 3)]
    previous = b.parse("## Todo\n\n- [ ] T-3 t3\n- [ ] T-1 t1\n- [ ] T-2 t2\n")
    out = b.render(ps, previous)
    assert [c.id for c in b.parse(out).columns[1].cards] == ["T-3", "T-1", "T-2"]


ids = st.integers(1, 500).map(lambda n: f"T-{n}")
titles = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                 max_size=40).map(str.strip).filter(bool)
packets = st.lists(st.builds(
    lambda i, t, s, p: Packet(id=i, title=t, status=s, priority=p),
    ids, titles, st.sampled_from(list(Status)), st.integers(0, 4)), unique_by=lambda p: p.id, max_size=30)


@settings(max_examples=200, deadline=None)
@given(packets)
def test_any_board_renders_parses_and_renders_again_the_same(ps: list[Packet]) -> None:
    text = b.render(ps)
    parsed = b.parse(text)
    assert not parsed.problems
    assert b.render(ps, parsed) == text
    placed = {p.id: p.status for p in ps if p.status in b.SHOWN or p.status is Status.ARCHIVED}
    assert parsed.column_of() == placed  # archived tasks are in the Archive


@settings(max_examples=100, deadline=None)
@given(packets, st.randoms())
def test_a_reordered_board_keeps_its_order(ps: list[Packet], rnd) -> None:  # type: ignore[no-untyped-def]
    text = b.render(ps)
    lines = text.split("\n")
    cards = [i for i, line in enumerate(lines) if line.startswith("- [")]
    # shuffle the cards inside Todo only
    todo = [i for i in cards if any(p.id == lines[i].split()[3] and p.status is Status.TODO for p in ps)]
    moved = [lines[i] for i in todo]
    rnd.shuffle(moved)
    for i, line in zip(todo, moved, strict=True):
        lines[i] = line
    edited = "\n".join(lines)
    again = b.render(ps, b.parse(edited))
    assert again == edited
