"""Progress (issue 16.7): a line per action as it happens, quiet under --quiet (as cron runs it).
Measured: a 9.4 s tick that verified two attempts and merged one printed only its dispatch lines;
`batty merge` printed nothing when it landed a task."""

from __future__ import annotations

from pathlib import Path

from tests.project import Project


def test_tick_verify_and_merge_say_what_they_do_and_how_long(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    tid = proj.task("Edit", "succeed")
    res = proj.ok("dispatch")
    assert f"{tid} -> eng-" in res.err
    proj.wait_exited(tid)
    res = proj.ok("verify")
    assert f"{tid}: verifying attempt 1 (fence, tests) ..." in res.err
    assert f"{tid}: verify passed: review (" in res.err and " s)" in res.err
    res = proj.ok("merge")
    # the base has not moved since verify: its run stands for the merge result (SPEC 14)
    assert f"{tid}: the merge result is the tree verify tested: its run stands" in res.err
    sha = proj.events("merge.merged", tid)[0]["data"]["sha"]
    assert f"{tid}: landed on main at {sha[:12]} (confidence " in res.err

    other = proj.task("Another", "succeed")
    proj.ok("tick")
    proj.wait_exited(other)
    res = proj.ok("tick")
    for line in (f"{other}: verifying attempt 1", f"{other}: verify passed", f"{other}: landed on main",
                 "tick: done in "):
        assert line in res.err, (line, res.err)


def test_quiet_says_nothing_of_progress(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    tid = proj.task("Edit", "succeed")
    proj.ok("--quiet", "tick")
    proj.wait_exited(tid)
    res = proj.ok("--quiet", "tick")
    assert proj.status(tid) == "done"
    assert res.err == "", res.err
