"""BOARD.md in the Obsidian Kanban plugin's own format (issue 17): what the plugin writes, batty
reads and keeps; what batty writes, the plugin saves unchanged.

The three boards in data/obsidian-kanban/ are the plugin's (a copy of the shared fixtures, with
the README that states the format); tests/core/kanban_plugin.py models the plugin's save.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from batty.core import board as b
from batty.core.lifecycle import Status
from batty.core.packet import Packet
from tests.core import kanban_plugin as plugin

DATA = Path(__file__).parent / "data" / "obsidian-kanban"


def fixture(name: str) -> str:
    return (DATA / name).read_bytes().decode("utf-8")


# The tasks behind saved-by-obsidian.md: a person moved T-4 to Backlog and typed a card in Todo
SAVED = [Packet(id="T-7", title="Write the docs", status=Status.BACKLOG, priority=3),
         Packet(id="T-4", title="Add an audit log", status=Status.BACKLOG, depends_on=("T-2",)),
         Packet(id="T-2", title="Rate-limit logins", status=Status.TODO, priority=1),
         Packet(id="T-3", title="Fix the flaky upload test", status=Status.IN_PROGRESS,
                assignee="eng-1", attempt=2),
         Packet(id="T-1", title="Set up CI", status=Status.DONE)]
EXTRAS = [Packet(id="T-7", title="Write the docs", status=Status.BACKLOG, priority=3),
          Packet(id="T-2", title="Rate-limit logins", status=Status.TODO, priority=1),
          Packet(id="T-1", title="Set up CI", status=Status.DONE),
          Packet(id="T-0", title="Old spike", status=Status.ARCHIVED)]


def test_a_board_saved_by_the_plugin_reads() -> None:
    board = b.parse(fixture("saved-by-obsidian.md"))
    assert not board.problems  # was: BOARD.md:26: not a card: '**Complete**'
    assert board.column_of() == {"T-7": Status.BACKLOG, "T-4": Status.BACKLOG, "T-2": Status.TODO,
                                 "T-3": Status.IN_PROGRESS, "T-1": Status.DONE}
    assert [(s, c.title) for s, c in board.new_cards()] == [(Status.TODO, "Cache the session lookups")]
    assert board.front == ("kanban-plugin: board",)
    assert [c.complete for c in board.columns] == [None] * 5 + ["**Complete**"]
    assert json.loads(board.trailer.split("\n")[2])["list-collapse"] == [False] * 6


def test_cards_with_extras_and_the_archive_read() -> None:
    board = b.parse(fixture("card-extras-and-archive.md"))
    assert not board.problems
    assert board.column_of() == {"T-7": Status.BACKLOG, "T-2": Status.TODO, "T-1": Status.DONE,
                                 "T-0": Status.ARCHIVED}
    titles = {c.id: c.title for col in board.columns for c in col.cards}
    assert titles["T-2"] == "Rate-limit logins `P1` [[Auth notes]]"  # its first line, as typed
    # a new card's title is its first line; what follows a <br> is the card's, not the title
    assert [c.title for _, c in board.new_cards()] == ["Spike: try a token bucket"]
    assert board.archive is not None and [c.id for c in board.archive.cards] == ["T-0"]


def test_a_new_board_the_plugin_created_reads_and_gets_its_lanes() -> None:
    text = fixture("new-empty-board.md")
    board = b.parse(text)
    assert not board.problems and not board.columns
    out = b.render([Packet(id="T-1", title="First", status=Status.TODO)], board)
    assert out.startswith(text + "## Backlog\n\n\n\n## Todo\n\n- [ ] T-1 First `P2`\n\n\n")
    assert out.endswith('%% kanban:settings\n```\n{"kanban-plugin":"board"}\n```\n%%')


def _with_id(text: str, board: b.Board, task_id: str) -> b.Board:
    (_, card), = board.new_cards()
    return board.with_ids({card.line: task_id})


def test_the_plugins_board_renders_byte_for_byte_once_the_new_card_has_its_id() -> None:
    text = fixture("saved-by-obsidian.md")
    packets = [*SAVED, Packet(id="T-8", title="Cache the session lookups", status=Status.TODO)]
    out = b.render(packets, _with_id(text, b.parse(text), "T-8"))
    assert out == text.replace("- [ ] Cache the session lookups", "- [ ] T-8 Cache the session lookups `P2`")
    assert b.render(packets, b.parse(out)) == out  # nothing to change: the same bytes
    assert plugin.save(plugin.read(out)) == out    # and a save in Obsidian changes nothing


def test_extras_on_cards_the_archive_and_settings_survive_a_render() -> None:
    text = fixture("card-extras-and-archive.md")
    packets = [*EXTRAS, Packet(id="T-8", title="Spike: try a token bucket", status=Status.TODO)]
    out = b.render(packets, _with_id(text, b.parse(text), "T-8"))
    assert out == text.replace("- [ ] Spike: try a token bucket<br>",
                               "- [ ] T-8 Spike: try a token bucket `P2`<br>")
    assert b.render(packets, b.parse(out)) == out
    assert plugin.save(plugin.read(out)) == out


def test_extras_stay_when_batty_changes_its_part_of_a_card() -> None:
    text = fixture("card-extras-and-archive.md")
    board = b.parse(text)
    running = [p if p.id != "T-2" else Packet(id="T-2", title="Rate-limit logins", priority=1,
                                              status=Status.IN_PROGRESS, assignee="eng-1", attempt=3)
               for p in EXTRAS]
    out = b.render(running, board)
    assert ("## In Progress\n\n- [ ] T-2 Rate-limit logins `P1` @eng-1 (attempt 3) [[Auth notes]]"
            "<br>after the audit log ^a1b2c3\n") in out
    renamed = [p if p.id != "T-7" else Packet(id="T-7", title="Write the user guide", priority=3,
                                              status=Status.BACKLOG) for p in EXTRAS]
    assert "- [ ] T-7 Write the user guide #docs @{2026-12-20} `P3`\n" in b.render(renamed, board)


def test_archived_tasks_go_to_the_archive_and_the_done_lane_keeps_complete() -> None:
    text = fixture("saved-by-obsidian.md")
    packets = [p if p.id != "T-1" else Packet(id="T-1", title="Set up CI", status=Status.ARCHIVED)
               for p in SAVED]
    out = b.render(packets, b.parse(text))
    assert "## Done\n\n**Complete**\n\n\n***\n\n## Archive\n\n- [x] T-1 Set up CI\n\n%% kanban:settings" in out
    assert b.parse(out).column_of()["T-1"] is Status.ARCHIVED
    assert plugin.save(plugin.read(out)) == out


def test_a_byte_order_mark_and_crlf_are_the_persons() -> None:
    text = fixture("saved-by-obsidian.md").replace("- [ ] Cache the session lookups\n", "")
    for variant in ("\ufeff" + text, text.replace("\n", "\r\n"), "\ufeff" + text.replace("\n", "\r\n")):
        board = b.parse(variant)
        assert not board.problems  # was: BOARD.md:1: text outside any column
        assert board.column_of()["T-4"] is Status.BACKLOG
        assert b.render(SAVED, board) == variant


def test_the_front_matter_is_the_persons() -> None:
    text = fixture("saved-by-obsidian.md").replace("- [ ] Cache the session lookups\n", "")
    assert b.render(SAVED, b.parse(text)).startswith("---\n\nkanban-plugin: board\n\n---\n\n## Backlog")
    # batty's boards before issue 17 said basic: it is kept, in the plugin's layout
    old = b.render(SAVED, b.parse("---\nkanban-plugin: basic\n---\n\n## Todo\n"))
    assert old.startswith("---\n\nkanban-plugin: basic\n\n---\n\n")
    assert old.endswith('{"kanban-plugin":"basic"}\n```\n%%')
    assert plugin.save(plugin.read(old)) == old


def test_lanes_keep_the_persons_names_order_and_unknown_lanes() -> None:
    text = b.render(SAVED).replace("## In Progress", "## Doing")
    head, _, rest = text.partition("## Review")
    review, _, rest = rest.partition("## Blocked")
    blocked, _, done = rest.partition("## Done")
    text = head + "## Ideas\n\n- [ ] maybe someday #later\n\n\n## Blocked" + blocked + "## Review" + review + "## Done" + done
    board = b.parse(text)
    assert not board.problems
    assert b.render(SAVED, board) == text
    assert plugin.save(plugin.read(text)) == text


def test_a_card_dragged_into_the_archive_is_archived() -> None:
    text = b.render(SAVED)
    line = "- [ ] T-7 Write the docs `P3`"
    text = text.replace(line + "\n", "").replace("\n\n%% kanban:settings", f"***\n\n## Archive\n\n{line}\n\n%% kanban:settings")
    board = b.parse(text)
    assert not board.problems and board.column_of()["T-7"] is Status.ARCHIVED
    assert board.new_cards() == []
    # a card without an id in the Archive is a person's note: never a task, and kept
    noted = b.parse(text.replace(line, line + "\n- [x] an idea we dropped"))
    assert noted.new_cards() == []
    archived = [p if p.id != "T-7" else Packet(id="T-7", title="Write the docs", status=Status.ARCHIVED,
                                               priority=3) for p in SAVED]
    assert "## Archive\n\n- [ ] T-7 Write the docs\n- [x] an idea we dropped\n\n%%" in b.render(archived, noted)


def test_a_card_the_plugin_archived_with_its_date_is_archived_and_keeps_the_date() -> None:
    # the plugin's archive-with-date setting puts the date in front of an archived card
    text = fixture("card-extras-and-archive.md").replace(
        "- [x] T-0 Old spike", "- [x] 2026-12-07 10:00 T-0 Old spike\n- [x] 2026-12-06 09:00 a dropped idea")
    board = b.parse(text)
    assert not board.problems and board.column_of()["T-0"] is Status.ARCHIVED
    assert [c.id for c in board.archive.cards] == ["T-0", None] and not board.new_cards()[1:]
    packets = [*EXTRAS, Packet(id="T-8", title="Spike: try a token bucket", status=Status.TODO)]
    out = b.render(packets, _with_id(text, board, "T-8"))
    assert "## Archive\n\n- [x] 2026-12-07 10:00 T-0 Old spike\n- [x] 2026-12-06 09:00 a dropped idea\n" in out


def test_text_that_is_no_card_is_still_a_problem_with_its_line() -> None:
    text = fixture("saved-by-obsidian.md")
    board = b.parse(text.replace("- [ ] T-2 Rate-limit", "random words\n- [ ] T-2 Rate-limit"))
    assert [(line, what) for line, what, _ in board.problems] == [(15, "not a card: 'random words'")]
    # a lane has one Complete mark; more bold text among its cards is not a card
    board = b.parse(text.replace("- [x] T-1 Set up CI", "- [x] T-1 Set up CI\n**Complete**"))
    assert [line for line, _, _ in board.problems] == [36]


# ---------------------------------------------------------------- properties

ids = st.integers(1, 400).map(lambda n: f"T-{n}")
titles = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1,
                 max_size=30).map(str.strip).filter(bool)
packets = st.lists(st.builds(
    lambda i, t, s, p, seat, attempt, stamp: Packet(
        id=i, title=t, status=s, priority=p, attempt=attempt, updated=f"2026-12-01T00:00:{stamp:02d}+00:00",
        assignee=seat if s in (Status.IN_PROGRESS, Status.REVIEW) else None),
    ids, titles, st.sampled_from(list(Status)), st.integers(0, 4), st.sampled_from(["eng-1", "eng-2"]),
    st.integers(0, 3), st.integers(0, 59)), unique_by=lambda p: p.id, max_size=25)
# what a person adds to a card in Obsidian: tags, a date, links, more lines, a block id
extras = st.lists(st.sampled_from([" #docs", " @{2026-12-20}", " [[Auth notes]]", " [spec](SPEC.md)",
                                   "<br>after the audit", "<br>see [[Rate limits]] #research"]),
                  max_size=3).map("".join)
block_ids = st.one_of(st.just(""), st.from_regex(r"\A \^[a-z0-9]{6}\Z"))
notes = st.lists(st.from_regex(r"\A[a-z][a-z ]{0,20}[a-z]\Z"), max_size=3)


@st.composite
def plugin_saved(draw: st.DrawFn) -> tuple[list[Packet], str]:
    """Packets, and their board as a person left it after working on it in Obsidian with nothing
    batty has to change: extras on cards, lanes marked complete, collapsed lanes, the lane width,
    notes in the Archive; then saved by the plugin."""
    ps = draw(packets)
    kanban = plugin.read(b.render(ps))
    for lane in [*kanban.lanes, None]:
        items = lane.items if lane is not None else kanban.archive
        for i, item in enumerate(items):
            items[i] = item + draw(extras) + draw(block_ids)
        if lane is not None:
            lane.complete = draw(st.booleans())
    kanban.archive += [f"- [x] {note}" for note in draw(notes)]
    kanban.settings.update({"list-collapse": draw(st.lists(st.booleans(), min_size=6, max_size=6)),
                            "lane-width": draw(st.integers(200, 400))})
    return ps, plugin.save(kanban)


@settings(max_examples=150, deadline=None)
@given(packets)
def test_a_batty_render_saved_in_obsidian_is_unchanged(ps: list[Packet]) -> None:
    text = b.render(ps)
    assert plugin.save(plugin.read(text)) == text


@settings(max_examples=150, deadline=None)
@given(plugin_saved(), st.booleans())
def test_a_plugin_saved_board_with_nothing_to_change_renders_byte_identical(
        case: tuple[list[Packet], str], bom: bool) -> None:
    ps, text = case
    text = ("\ufeff" if bom else "") + text
    board = b.parse(text)
    assert not board.problems
    assert board.column_of() == {p.id: p.status for p in ps if p.status in b.SHOWN | {Status.ARCHIVED}}
    assert b.render(ps, board) == text


@settings(max_examples=150, deadline=None)
@given(plugin_saved(), st.randoms())
def test_parse_render_parse_gives_the_same_board(case: tuple[list[Packet], str], rnd) -> None:  # type: ignore[no-untyped-def]
    ps, text = case
    # a person moves cards between lanes in Obsidian: batty's render of that parses as it read
    kanban = plugin.read(text)
    moved = [item for lane in kanban.lanes for item in lane.items]
    assume(moved)
    for lane in kanban.lanes:
        lane.items.clear()
    for item in moved:
        rnd.choice(kanban.lanes).items.append(item)
    board = b.parse(plugin.save(kanban))
    assert not board.problems
    again = b.parse(b.render(ps, board))
    assert not again.problems
    out = b.render(ps, again)
    assert b.parse(out) == again and b.render(ps, b.parse(out)) == out
