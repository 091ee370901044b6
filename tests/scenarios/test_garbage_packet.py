"""A packet turned to garbage while its task runs. Never fatal: every tick names the file and
goes on with the other tasks; the file is left as the person left it, its worktree and branch
are not taken for orphans; once the packet is mended the task carries on and lands."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import git
from tests.scenarios.helpers import kinds, make, on_base, quiet, settle, statuses, tick, write

GARBAGE = b"id: T-1\ntitle: [never closed\n\x00\xff: : :\n"


def test_a_garbled_packet_is_never_fatal(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    victim = proj.task("Its packet is garbled mid-run", ["sleep 0.5", *write("src/a.py", "A = 1")])
    other = proj.task("Carries on meanwhile", write("src/b.py", "B = 1"))
    tick(proj, watch)
    packet = proj.paths.packet(victim)
    saved = packet.read_bytes()
    packet.write_bytes(GARBAGE)
    watch.garbled.add(victim)
    for _ in range(3):
        res = proj.batty("tick")
        assert res.code == 0 and "board/tasks/T-1.yaml" in res.err and "Traceback" not in res.err
        watch.check()
        quiet(proj)
    assert statuses(proj) == {other: "done"}
    assert packet.read_bytes() == GARBAGE
    assert proj.paths.worktree(victim).exists() and git(proj.root, "rev-parse", f"batty/{victim}")
    assert len(kinds(proj, "packet.invalid")) == 1  # once per distinct problem, not every tick
    assert proj.batty("task", "lint").code == 1

    packet.write_bytes(saved)  # the person mends it
    watch.garbled.clear()
    settle(proj, watch)
    assert statuses(proj) == {victim: "done", other: "done"}
    assert on_base(proj, "src/a.py") == "A = 1" and on_base(proj, "src/b.py") == "B = 1"
