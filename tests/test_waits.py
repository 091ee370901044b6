"""No silent waits (issue 16.5) and a tick schedule that stopped (16.4).

Measured: a task waiting for `batty approve` (low confidence) or held back by uncommitted edits
in the control checkout showed only as "review 1": nothing in INBOX.md, no notification; with no
cron daemon running, `status` just showed the last tick getting older.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.project import Project


def drain(proj: Project, until: str, task: str) -> None:
    proj.until(lambda: proj.status(task) == until, timeout=120, what=f"{task} {until}")


def test_a_task_waiting_for_approval_is_in_the_inbox_in_status_and_told_once(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", config={"merge": {"mode": "approve"}})
    task = proj.task("waits for a person's approval", "succeed")
    drain(proj, "review", task)
    for _ in range(3):
        proj.ok("tick")
    inbox = proj.paths.inbox.read_text()
    assert f"batty approve {task}" in inbox and "waits for you" in inbox
    raised = [e for e in proj.events("escalation.raised") if e["task"] == task]
    assert len(raised) == 1, raised  # told once, however many ticks see it
    status = proj.ok("status").out
    assert "needs you: 1" in status and f"batty approve {task}" in status
    proj.ok("approve", task)
    drain(proj, "done", task)
    proj.ok("tick")  # doctor demotes it once the task is done
    assert f"batty approve {task}" not in proj.ok("status").out


def test_a_task_held_for_the_files_it_changes_is_in_the_inbox_whatever_its_score(tmp_path: Path) -> None:
    """Attention asked only merge.mode and the confidence: a task merge held for files a person
    must look at (gates.needs_approval, the runner's) with a score over the threshold waited in
    silence, and so did one whose packet a person set `approved: true` by hand (no approval:
    merge wants `batty approve`'s event)."""
    proj = Project(tmp_path / "p", config={"gates": {"needs_approval": ["src/**"]},
                                           "merge": {"min_confidence": 0.0}})
    task = proj.task("changes a file a person looks at", "succeed")
    drain(proj, "review", task)
    proj.ok("tick")
    assert proj.status(task) == "review"
    inbox = proj.paths.inbox.read_text()
    assert f"batty approve {task}" in inbox and "src/app.py" in inbox
    assert "needs you: 1" in proj.ok("status").out
    packet = proj.paths.packet(task)
    packet.write_text(packet.read_text() + "approved: true\n")
    proj.ok("tick")
    assert proj.status(task) == "review"  # merge still holds it
    status = proj.ok("status").out
    assert "needs you: 1" in status and f"batty approve {task}" in status
    proj.ok("approve", task)
    drain(proj, "done", task)


def test_uncommitted_edits_in_the_way_of_a_merge_are_named_with_the_fix(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    task = proj.task("edits the app", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(task)
    proj.ok("verify")
    assert proj.status(task) == "review"
    app = proj.root / "src" / "app.py"  # a person's edit in progress of the file the task changes
    app.write_text(app.read_text() + "# a person's edit in progress\n")
    proj.ok("tick")
    assert proj.status(task) == "review"
    assert any(e["data"]["reason"] == "dirty-base" for e in proj.events("merge.skipped"))
    status = proj.ok("status").out
    assert "uncommitted edits" in status and "commit or stash" in status
    assert "commit or stash" in proj.paths.inbox.read_text()
    proj.ok("tick")
    assert len(proj.events("escalation.raised")) == 1


def test_a_stopped_cron_is_said_by_status_and_the_next_tick_once(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p")
    mark = proj.paths.state / "cron.installed"  # `batty cron install` leaves it
    mark.touch()
    past = time.time() - 20 * 60
    os.utime(mark, (past, past))
    status = proj.ok("status").out
    assert "no tick for 20 minutes" in status and "cron daemon" in status
    res = proj.batty("tick")
    assert "no tick for 20 minutes" in res.err
    assert "no-tick" in proj.paths.inbox.read_text()
    assert len(proj.events("escalation.raised")) == 1
    proj.batty("tick")  # the gap is over: no second message
    assert len(proj.events("escalation.raised")) == 1
    assert "no tick for" not in proj.ok("status").out


def test_the_inbox_says_a_sentence_and_the_command_not_raw_json() -> None:
    from batty.core import inbox

    text = ("verify failed 3 times (last: tests)\n\nThe test gate failed: tests. exit 1\n\n"
            "Last lines of output:\n"
            '{"type":"result","subtype":"success","is_error":true,"result":"Not logged in"}\n'
            '{"type":"system","subtype":"init"}\n')
    rec = {"id": "E-4", "at": "2026-11-22T07:00:00+00:00", "reason": "verify-tests", "text": text,
           "state": "open", "source": "verify", "tasks": ["T-9"]}
    out = inbox.render([rec])
    assert '{"type"' not in out
    assert "(2 lines of the agent's JSON output: the run's agent.log)" in out
    assert "\nverify failed 3 times (last: tests)\n" in out
    assert "- to do: deal with it, then `batty escalations resolve E-4 --note TEXT`" in out
    wait = {**rec, "id": "E-5", "reason": "waits: approval",
            "text": "T-9 verified; merge.mode is approve, so it waits for you.\nTo move it on: batty approve T-9"}
    assert "- to do: `batty approve T-9`" in inbox.render([wait])
