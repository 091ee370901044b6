"""A crash at each failpoint: batty killed with SIGKILL between two writes, then ticked on, ends
where a clean run ends, every invariant holding after every crash.

This runs a representative subset, one sandbox for all of them (each tick arms the next point
not yet reached; each fires once): the full sweep of every point in batty.store.failpoints.POINTS,
one sandbox each, is tests/test_crash_only.py.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.scenarios.helpers import make, on_attempt, on_base, quiet, settle, statuses, write

# one point per kind of write: the wrapper's exit record, the claim, a verdict, a packet written
# without its event, both sides of the base's compare-and-swap, the board commit
POINTS = ("runner.before-exit-record", "dispatch.after-claim", "verify.before-verdict",
          "state.after-packet-write", "merge.before-cas", "merge.after-cas", "git.after-board-commit")


def test_a_crash_at_each_failpoint_converges(tmp_path: Path) -> None:
    proj, watch = make(tmp_path)
    a = proj.task("A module", write("src/a.py", "A = 1"))
    b = proj.task("Fails once", on_attempt(1, ["echo 'raise SystemExit(1)' >> src/app.py", "git commit -qam broken"],
                                           ["git reset -q --hard main", *write("src/b.py", "B = 1")]))
    c = proj.task("After A", write("src/c.py", "C = 1"), depends=a)
    marks = {point: tmp_path / f"fired-{point}" for point in POINTS}
    crashes = 0
    for _ in range(40):
        pending = [p for p in POINTS if not marks[p].exists()]
        if not pending:
            break
        env = {"BATTY_FAILPOINT": pending[0], "BATTY_FAILPOINT_ONCE": str(marks[pending[0]])}
        res = proj.batty("tick", env=env)
        assert res.code in (0, 75, -signal.SIGKILL), res.err
        assert "Traceback" not in res.err, res.err
        crashes += res.code == -signal.SIGKILL
        watch.check(settled=res.code == 0, where=f"after a tick armed at {pending[0]}")
        quiet(proj)
    assert [p for p in POINTS if not marks[p].exists()] == [], "points never reached"
    assert crashes >= len(POINTS) - 1  # the wrapper's point kills the wrapper, not the tick
    settle(proj, watch)
    assert statuses(proj) == {a: "done", b: "done", c: "done"}
    for name in "abc":
        assert on_base(proj, f"src/{name}.py") == f"{name.upper()} = 1"
    merged = [e["task"] for e in proj.events("merge.merged")]
    assert sorted(merged) == sorted({a, b, c})  # each landed once, crashes or not
