"""The board in Obsidian (issue 17), end to end through the real `batty` on a real repository:
each failure measured with the Kanban plugin's save format, replayed.

Measured before the fix: the plugin's `**Complete**` made batty call BOARD.md garbled (`not a
card: '**Complete**'`), new cards were ignored and the file was committed anyway; every render
flipped `kanban-plugin: board` to `basic`; the plugin's blank lines, Archive and settings block
were not the plugin's to batty; a byte-order mark was "text outside any column".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batty.store.packets import render_new
from batty.store.paths import Paths
from tests.conftest import Result, git

DATA = Path(__file__).resolve().parent.parent / "core" / "data" / "obsidian-kanban"


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def packets(repo: Paths, *specs: dict[str, Any]) -> None:
    """Packets written by a person and committed, then a reconcile renders them (batty's board)."""
    for spec in specs:
        repo.packet(spec["id"]).write_text(render_new({"priority": 2, **spec}))
    git(repo.root, "add", "board/tasks")
    git(repo.root, "commit", "-q", "-m", "tasks written by hand")


def statuses(batty) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {p["id"]: (p["status"], p["title"]) for p in json.loads(batty("task", "list", "--json").out)}


def committed_board(repo: Paths) -> bytes:
    return git(repo.root, "show", "HEAD:board/BOARD.md").encode() + b""


def head(repo: Paths) -> str:
    return git(repo.root, "rev-parse", "HEAD")


def problems(res: Result) -> list[str]:
    return [line for line in res.err.splitlines() if line.startswith("batty: board/BOARD.md")]


SAVED = ({"id": "T-1", "title": "Set up CI", "status": "done"},
         {"id": "T-2", "title": "Rate-limit logins", "status": "todo", "priority": 1},
         {"id": "T-3", "title": "Fix the flaky upload test", "status": "in-progress",
          "assignee": "eng-1", "attempt": 2},
         {"id": "T-4", "title": "Add an audit log", "status": "todo", "depends_on": ["T-2"]},
         {"id": "T-7", "title": "Write the docs", "status": "backlog", "priority": 3})


def test_a_board_saved_by_the_plugin_is_read_kept_and_committed(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    packets(repo, *SAVED)
    assert batty("reconcile").code == 0
    saved = fixture("saved-by-obsidian.md")  # the person moved T-4 to Backlog, typed a card
    repo.board_md.write_bytes(saved)
    res = batty("reconcile")
    assert res.code == 0 and not problems(res), res.err  # was: not a card: '**Complete**'
    tasks = statuses(batty)
    assert tasks["T-4"] == ("backlog", "Add an audit log")
    assert tasks["T-8"] == ("todo", "Cache the session lookups")
    expected = saved.replace(b"- [ ] Cache the session lookups", b"- [ ] T-8 Cache the session lookups `P2`")
    assert repo.board_md.read_bytes() == expected  # front matter `board`, blank lines, settings
    assert git(repo.root, "show", "HEAD:board/BOARD.md") == expected.decode().rstrip("\n")
    assert git(repo.root, "status", "--porcelain", "board") == ""
    # nothing to change: the same bytes, and no commit
    before = head(repo)
    assert batty("reconcile").code == 0 and batty("tick").code in (0, 1)
    assert repo.board_md.read_bytes().startswith(b"---\n\nkanban-plugin: board\n\n---\n\n")
    assert b'{"kanban-plugin":"board","list-collapse":[false,false,false,false,false,false]' in repo.board_md.read_bytes()
    assert batty("reconcile").code == 0
    assert git(repo.root, "log", "--format=%s", f"{before}..HEAD").count("board files updated") == 0


def test_card_extras_the_archive_and_complete_survive(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    packets(repo, {"id": "T-0", "title": "Old spike", "status": "archived"},
            {"id": "T-1", "title": "Set up CI", "status": "done"},
            {"id": "T-2", "title": "Rate-limit logins", "status": "todo", "priority": 1},
            {"id": "T-7", "title": "Write the docs", "status": "backlog", "priority": 3})
    assert batty("reconcile").code == 0
    board = fixture("card-extras-and-archive.md")
    repo.board_md.write_bytes(board)
    res = batty("reconcile")
    assert res.code == 0 and not problems(res), res.err  # was: not a card: '***'
    assert statuses(batty)["T-8"] == ("todo", "Spike: try a token bucket")
    assert repo.board_md.read_bytes() == board.replace(
        b"- [ ] Spike: try a token bucket<br>", b"- [ ] T-8 Spike: try a token bucket `P2`<br>")
    # archived by a person: the card goes to the Archive; Done keeps its Complete mark
    assert batty("task", "move", "T-1", "archived").code == 0
    text = repo.board_md.read_text()
    assert "## Done\n\n**Complete**\n\n\n***\n\n## Archive\n\n- [x] T-0 Old spike\n- [x] T-1 Set up CI\n\n%%" in text
    assert "- [ ] T-2 Rate-limit logins `P1` [[Auth notes]]<br>after the audit log ^a1b2c3\n" in text
    # a card dragged into the Archive in Obsidian archives its task
    repo.board_md.write_text(text.replace("- [ ] T-7 Write the docs #docs @{2026-12-20} `P3`\n", "")
                             .replace("- [x] T-1 Set up CI\n", "- [x] T-1 Set up CI\n- [ ] T-7 Write the docs #docs\n"))
    res = batty("reconcile")
    assert res.code == 0, res.err
    assert statuses(batty)["T-7"][0] == "archived"
    assert "## Archive\n\n- [x] T-0 Old spike\n- [x] T-1 Set up CI\n- [ ] T-7 Write the docs #docs\n" in repo.board_md.read_text()
    assert git(repo.root, "status", "--porcelain", "board") == ""


def test_a_board_with_a_byte_order_mark_reads(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    packets(repo, *SAVED)
    assert batty("reconcile").code == 0
    saved = fixture("saved-by-obsidian.md").replace(b"- [ ] Cache the session lookups\n", b"")
    repo.board_md.write_bytes(b"\xef\xbb\xbf" + saved)
    res = batty("reconcile")
    assert res.code == 0 and not problems(res), res.err  # was: text outside any column
    assert statuses(batty)["T-4"][0] == "backlog"
    assert repo.board_md.read_bytes() == b"\xef\xbb\xbf" + saved  # the person's mark stays


def test_a_board_batty_cannot_read_is_never_committed_and_said_once(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    packets(repo, *SAVED)
    assert batty("reconcile").code == 0
    good = committed_board(repo)
    text = repo.board_md.read_text()
    garbled = text.replace("## Review\n", "## Review\n\nhalf a thought\n")
    line = garbled.split("\n").index("half a thought") + 1
    repo.board_md.write_text(garbled)
    assert batty("task", "add", "another").code == 0
    assert committed_board(repo) == good  # was: committed with the task
    assert git(repo.root, "status", "--porcelain", "board/BOARD.md") == "M board/BOARD.md"
    said = [problems(batty("--quiet", "tick")) for _ in range(3)]
    expected = f"batty: board/BOARD.md:{line}: not a card: 'half a thought' (a card is `- [ ] T-1 Title`, or `- [ ] Title` for a new task)"
    assert said == [[expected], [], []]  # once under cron, not every minute
    res = batty("reconcile")
    assert res.code == 1 and problems(res) == [expected]  # at a terminal: every run, once
    assert repo.board_md.read_text() == garbled and committed_board(repo) == good
    # mended: read again, rendered and committed
    repo.board_md.write_text(garbled.replace("half a thought\n", ""))
    assert batty("reconcile").code == 0
    assert git(repo.root, "status", "--porcelain", "board") == ""
    assert " another `P2`" in git(repo.root, "show", "HEAD:board/BOARD.md")


def test_the_front_matter_is_never_flipped(batty, repo: Paths) -> None:  # type: ignore[no-untyped-def]
    packets(repo, *SAVED)
    assert batty("reconcile").code == 0
    # saved in Obsidian, a lane not marked complete: nothing batty cannot read
    saved = (fixture("saved-by-obsidian.md").replace(b"**Complete**\n", b"")
             .replace(b"- [ ] Cache the session lookups\n", b""))
    repo.board_md.write_bytes(saved)
    git(repo.root, "commit", "-qam", "saved in Obsidian")
    assert batty("reconcile").code == 0
    assert statuses(batty)["T-4"][0] == "backlog"
    assert repo.board_md.read_bytes() == saved  # was: kanban-plugin: basic, batty's blank lines
    assert git(repo.root, "status", "--porcelain", "board") == ""
    assert git(repo.root, "show", "HEAD:board/BOARD.md").startswith("---\n\nkanban-plugin: board\n\n---")
