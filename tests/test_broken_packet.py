"""A broken packet stays in sight (issue 16.6). Measured: a typo in a packet made the task
vanish: the next tick dropped its card from BOARD.md, `status` and `board` skipped it silently,
`escalations resolve` answered "no escalation"."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git
from tests.project import Project


def break_packet(proj: Project, tid: str) -> str:
    path = proj.paths.packet(tid)
    good = path.read_text()
    path.write_text(good.replace("priority:", "priority: [unclosed\npriorty:", 1))
    git(proj.root, "commit", "-qam", "a typo")
    return good


def test_a_broken_packet_keeps_its_card_and_shows_everywhere(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", config={"merge": {"mode": "approve"}})
    tid = proj.task("Rate-limit logins", "succeed")
    other = proj.task("Another task", "succeed")
    proj.ok("reconcile")
    assert f"{tid} Rate-limit logins" in proj.paths.board_md.read_text()
    break_packet(proj, tid)
    proj.batty("tick")
    board_md = proj.paths.board_md.read_text()
    line = next(x for x in board_md.splitlines() if f" {tid} " in x)
    assert "Rate-limit logins" in line and f"`broken: board/tasks/{tid}.yaml:" in line
    assert f"{other} Another task" in board_md
    board = proj.batty("board").out
    assert f"{tid}" in board and "BROKEN" in board and f"batty task edit {tid}" in board
    listed = proj.ok("task", "list").out
    assert f"{tid}" in listed and "BROKEN" in listed
    status = proj.ok("status").out
    assert f"{tid}: its packet does not load" in status and f"batty task edit {tid}" in status
    # the board still reads: the mark is decoration, the card no new task
    proj.batty("tick")
    assert len(list(proj.paths.tasks.glob("*.yaml"))) == 2
    assert "waits: broken-packet" in proj.paths.inbox.read_text()


def test_task_edit_reopens_the_editor_until_the_packet_parses(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    tid = proj.task("Edit me", "succeed")
    original = proj.paths.packet(tid).read_text()
    count = tmp_path / "count"
    editor = tmp_path / "editor.sh"
    # the first save has a typo, the second mends it
    editor.write_text(f"""#!/bin/sh
n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}
if [ $n -eq 1 ]; then sed -i 's/^title: .*/title: [unclosed/' "$1"; else sed -i 's/^title: .*/title: Edited title/' "$1"; fi
""")
    editor.chmod(0o755)
    res = proj.batty("task", "edit", tid, env={"EDITOR": str(editor), "VISUAL": str(editor)}, input="y\n")
    assert res.code == 0, res.err
    assert count.read_text().strip() == "2"
    assert "Edit it again?" in res.err
    assert "title: Edited title" in proj.paths.packet(tid).read_text()
    # giving up leaves the packet as it was: nothing of the task is lost
    count.unlink()
    before = proj.paths.packet(tid).read_text()
    res = proj.batty("task", "edit", tid, env={"EDITOR": str(editor), "VISUAL": str(editor)}, input="n\n")
    assert res.code == 1 and "was left as it was" in res.err
    assert proj.paths.packet(tid).read_text() == before != original


def test_resolving_an_escalation_kept_in_a_broken_packet_says_where(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", config={"gates": {"max_attempts": 1}})
    tid = proj.task("fails its tests", "fail-tests")
    proj.until(lambda: proj.status(tid) == "blocked", timeout=120, what="blocked")
    esc = proj.packet(tid)["escalations"][0]["id"]
    break_packet(proj, tid)
    res = proj.batty("escalations", "resolve", esc)
    assert res.code == 1
    assert f"{esc} is kept in {tid}'s packet, which does not load" in res.err
    assert f"batty task edit {tid}" in res.err
