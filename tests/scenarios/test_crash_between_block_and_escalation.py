"""A crash between blocking a task and telling the human (found by tests/test_fuzz.py, the
restarts target: batty killed at state.after-packet-write while verify blocked a task).

The packet said blocked, the escalation was never raised: no INBOX.md entry, no notification,
and nothing would ever raise it again (a blocked task is nobody's to judge). Now the escalation
is raised first and the task blocked after, so a crash in between leaves an open escalation
and an attempt the next verify judges again (its second escalation folds into the first).
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.scenarios.helpers import kinds, make, quiet, settle, statuses, tick


def test_a_crash_while_blocking_still_tells_the_human(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"gates": {"max_attempts": 1}})
    doomed = proj.task("Breaks the tests", "fail-tests")
    tick(proj, watch)   # dispatched
    quiet(proj)
    res = proj.batty("tick", env={"BATTY_FAILPOINT": "state.after-packet-write"})  # verify blocks it
    assert res.code == -signal.SIGKILL, res.err
    watch.check(settled=False)
    settle(proj, watch)
    assert statuses(proj) == {doomed: "blocked"}
    [record] = proj.packet(doomed)["escalations"]
    assert record["state"] == "open" and record["reason"] == "verify-tests"
    assert len(kinds(proj, "escalation.raised")) == 1
    assert doomed in proj.paths.inbox.read_text()
