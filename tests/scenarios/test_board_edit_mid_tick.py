"""The board edited by a person while a tick runs: a card moved and a new card written in the
middle of a slow gate. Nothing the person wrote is lost, nothing batty did is undone: the edits
are applied by the same tick's end or the next reconcile."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.scenarios.helpers import FAST_TEST, make, packets, quiet, settle, shared, statuses, write


def test_a_person_edits_the_board_during_a_tick(tmp_path: Path) -> None:
    # the first gate run is long enough to edit the board meanwhile; the others are fast
    slow = f"(mkdir {shared(tmp_path) / 'slow'} 2>/dev/null && sleep 1.5; true) && {FAST_TEST}"
    proj, watch = make(tmp_path, test=slow)
    running = proj.task("Being verified", write("src/a.py", "A = 1"))
    parked = proj.task("Parked in backlog", write("src/b.py", "B = 1"), status="backlog")
    proj.ok("dispatch")
    quiet(proj)
    tick = subprocess.Popen([sys.executable, "-m", "batty", "--repo", str(proj.root), "tick"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(e["data"].get("phase") == "fence" for e in proj.events("verify.phase", running)):
        assert time.monotonic() < deadline and tick.poll() is None, "the tick never reached the gate"
        time.sleep(0.05)
    board = proj.paths.board_md
    text = board.read_text()
    card = next(line for line in text.splitlines() if line.startswith(f"- [ ] {parked} "))
    text = text.replace(card + "\n", "")
    text = text.replace("## Todo\n", f"## Todo\n\n{card}\n", 1)
    text = text.replace("## Backlog\n", "## Backlog\n\n- [ ] Written during a tick\n", 1)
    board.write_text(text)
    out, err = tick.communicate(timeout=60)
    assert tick.returncode == 0, err

    settle(proj, watch)
    titles = {p.title: p.id for p in packets(proj)}
    assert "Written during a tick" in titles
    new = titles["Written during a tick"]
    # moved to todo by the person, then ran; the new card is a backlog task of its own
    assert statuses(proj) == {running: "done", parked: "done", new: "backlog"}
    moved = [e for e in proj.events("task.status", parked) if e["data"]["by"] == "human"]
    assert [(e["data"]["from"], e["data"]["to"]) for e in moved] == [("backlog", "todo")]
