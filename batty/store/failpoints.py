"""Named failpoints for the crash-only proof (issue 5).

``BATTY_FAILPOINT=NAME`` makes batty kill itself with SIGKILL when it reaches point NAME;
``BATTY_FAILPOINT=raise:NAME`` raises instead (a stand-in for a bug: exit 3 and a crash log).
``BATTY_FAILPOINT=NAME:N`` (or ``NAME@N``) fires on the N-th time the point is reached.
``BATTY_FAILPOINT_ONCE=PATH`` makes it fire only once across processes (the first to create
PATH; ``PATH.fired<N>`` for the N-th hit), and counts the hits across every process that carries
the variable (a tick, the agents' wrappers, the next tick): ``PATH.hit1``, ``PATH.hit2``, ...
each made by the hit it numbers. So ``NAME`` and then ``NAME:2`` armed with the same PATH crash
at the first hit and again at the second. Without ONCE the hits are counted in this process.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def _claim(path: str) -> bool:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


def _nth_hit(counter: str, nth: int) -> bool:
    """True when this hit is the ``nth`` one across processes (the hit files number them)."""
    for n in range(1, nth + 1):
        if _claim(f"{counter}.hit{n}"):
            return n == nth
    return False  # hit nth is taken: it fired already, or is firing


def point(name: str) -> None:
    spec = os.environ.get("BATTY_FAILPOINT")
    if not spec:
        return
    raise_it = spec.startswith("raise:")
    target = spec[6:] if raise_it else spec
    for sep in ("@", ":"):
        if sep in target:
            target, _, count = target.partition(sep)
            break
    else:
        count = ""
    if target != name:
        return
    nth = int(count) if count else 1
    once = os.environ.get("BATTY_FAILPOINT_ONCE")
    if once:  # fire once across every process that carries the variable (agents' wrappers too)
        fired = once if nth == 1 else f"{once}.fired{nth}"
        if os.path.exists(fired) or not _nth_hit(once, nth) or not _claim(fired):
            return
    else:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] != nth:
            return
    if raise_it:
        raise RuntimeError(f"failpoint {name}")
    os.kill(os.getpid(), signal.SIGKILL)


# Every point in batty, between two writes; the crash-only sweep (tests/test_crash_only.py)
# kills batty at each one, at its first hit and at its second.
POINTS = (
    "board.after-card-task",
    "board.after-render",
    "dispatch.after-claim",
    "dispatch.after-launch",
    "dispatch.after-worktree",
    "doctor.after-action-event",
    "doctor.branch-restore.after-update",
    "doctor.budget-stop.after-exceeded",
    "doctor.budget-stop.after-stop",
    "doctor.disk-cleanup.after-remove",
    "doctor.escalate.after-escalate",
    "doctor.escalate.after-stop",
    "doctor.next-attempt.after-stop",
    "doctor.next-attempt.after-verdict",
    "doctor.orphan-branch.after-commit",
    "doctor.orphan-branch.after-remove",
    "doctor.orphan-branch.after-stop",
    "doctor.orphan-run.after-stop",
    "doctor.repeat.after-escalate",
    "doctor.requeue.after-stop",
    "doctor.respawn.after-event",
    "doctor.respawn.after-intent",
    "doctor.respawn.after-rotate",
    "doctor.respawn.after-stop",
    "doctor.respawn.after-update",
    "doctor.tamper.after-escalate",
    "doctor.tamper.after-intent",
    "doctor.worktree-add.after-add",
    "doctor.worktree-lose.after-move",
    "doctor.worktree-prune.after-prune",
    "doctor.worktree-repair.after-add",
    "doctor.worktree-repair.after-aside",
    "doctor.worktree-repair.after-restore",
    "doctor.worktree-switch.after-cas",
    # doctor.apply, after each heal and before its doctor.action: doctor.<action>.after-heal
    "doctor.budget-stop.after-heal",
    "doctor.context-reset.after-heal",
    "doctor.disk-cleanup.after-heal",
    "doctor.escalate.after-heal",
    "doctor.escalation-demote.after-heal",
    "doctor.git-lock.after-heal",
    "doctor.kill-overtime.after-heal",
    "doctor.orphan-branch.after-heal",
    "doctor.orphan-run.after-heal",
    "doctor.requeue.after-heal",
    "doctor.respawn.after-heal",
    "doctor.stale-lock.after-heal",
    "doctor.tamper-revert.after-heal",
    "doctor.worktree-prune.after-heal",
    "doctor.worktree-repair.after-heal",
    "escalations.demote.after-write",
    "escalations.raise.after-event",
    "escalations.raise.after-write",
    "escalations.resolve.after-close",
    "escalations.resolve.after-unblock",
    "git.after-board-commit",
    "merge.after-cas",
    "merge.after-done",
    "merge.after-test",
    "merge.before-cas",
    "reconcile.after-worktree-remove",
    "runner.after-start",
    "runner.before-exit-record",
    "state.after-packet-write",
    "state.before-board-commit",
    "verify.after-collect",
    "verify.before-test",
    "verify.before-verdict",
)
