"""Named failpoints for the crash-only proof (issue 5).

``BATTY_FAILPOINT=NAME`` makes batty kill itself with SIGKILL when it reaches point NAME;
``BATTY_FAILPOINT=raise:NAME`` raises instead (a stand-in for a bug: exit 3 and a crash log).
``BATTY_FAILPOINT=NAME@N`` fires on the N-th time the point is reached in one process;
``BATTY_FAILPOINT_ONCE=PATH`` makes it fire only once across processes (the first to create PATH).
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}
REGISTRY: set[str] = set()


def point(name: str) -> None:
    spec = os.environ.get("BATTY_FAILPOINT")
    if not spec:
        return
    raise_it = spec.startswith("raise:")
    target = spec[6:] if raise_it else spec
    target, _, nth = target.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if nth and _hits[name] != int(nth):
        return
    once = os.environ.get("BATTY_FAILPOINT_ONCE")
    if once:  # fire once across every process that carries the variable (agents' wrappers too)
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return
    if raise_it:
        raise RuntimeError(f"failpoint {name}")
    os.kill(os.getpid(), signal.SIGKILL)


# Every point in batty, between two writes; the crash-only sweep kills batty at each one.
POINTS = (
    "board.after-card-task",
    "board.after-render",
    "dispatch.after-claim",
    "dispatch.after-launch",
    "dispatch.after-worktree",
    "git.after-board-commit",
    "merge.after-cas",
    "merge.after-done",
    "merge.after-test",
    "merge.before-cas",
    "runner.after-start",
    "runner.before-exit-record",
    "state.after-packet-write",
    "state.before-board-commit",
    "verify.after-collect",
    "verify.before-test",
    "verify.before-verdict",
)
