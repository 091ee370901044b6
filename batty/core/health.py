"""What is wrong with one in-progress attempt, decided from observations (SPEC 9). No disk.

:mod:`batty.workflow.doctor` observes (run state, silence, runtime, the last respawn) and applies; this
module only decides, so that every rule of the respawn guard is a pure function with a test.

The respawn guard is what keeps a broken agent from a respawn loop (the classic failure of
supervisors): never twice inside ``respawn_cooldown_s``; not again until the respawned agent
has written output (a slow starter is not a stall); after ``max_respawns`` respawns of one task,
escalate instead of healing again. A respawned agent that dies without a word was not healed by
the respawn, so that is escalated at once rather than respawned blind.
"""

from __future__ import annotations

from dataclasses import dataclass

from batty.core.config import Health
from batty.core.kinds import DoctorAction
from batty.core.lifecycle import Status


@dataclass(frozen=True)
class AttemptView:
    """What doctor saw of one task's current attempt."""

    task: str
    status: Status
    attempt: int
    judged: bool                  # a gate (or doctor) already gave its verdict on this attempt
    state: str                    # runner.run_state: none | launching | running | exited | dead
    silent_s: float | None        # since the agent last wrote output
    runtime_s: float | None       # since the wrapper started the agent
    context_exhausted: bool       # the wrapper read "out of context" in the agent's output
    since_respawn_s: float | None  # since doctor last respawned this attempt; None: never
    output_since_respawn: bool    # the respawned agent has written something
    respawns: int                 # the packet's count, all attempts
    seat_known: bool              # the assignee is still a seat in the config
    has_worktree: bool
    has_branch: bool
    stopped_for: str | None = None  # the heal doctor stopped this (exited) agent for, if it did


@dataclass(frozen=True)
class Verdict:
    """``action`` None means nothing to do now (``reason`` says why doctor waits)."""

    action: DoctorAction | None
    reason: str                    # dead, stalled, overtime, context-exhausted, seat-gone, lost, ...
    detail: str
    escalate: bool = False         # heal no more: block the task and tell the human

    @property
    def heals(self) -> bool:
        return self.action is not None


def judge(v: AttemptView, health: Health, max_attempts: int) -> Verdict | None:
    """The one thing to do about attempt ``v`` (None: it is healthy, or not doctor's)."""
    if v.status is not Status.IN_PROGRESS:
        return None
    if not v.seat_known:
        return Verdict(DoctorAction.REQUEUE, "seat-gone",
                       "its seat is no longer in board/config.yaml")
    if not v.has_worktree and not v.has_branch:
        return Verdict(DoctorAction.REQUEUE, "lost", "no worktree and no branch to resume")
    if v.attempt == 0 or v.state in ("none", "launching") or v.judged:
        return None  # dispatch launches it, or verify / dispatch own the next step
    last = v.attempt >= max_attempts
    left = f"; no attempts left of {max_attempts}" if last else ""
    if v.state == "exited" and v.stopped_for is not None and not v.context_exhausted:
        # doctor stopped it for a heal that a crash cut short: that heal, not verify's verdict
        action = DoctorAction(v.stopped_for)
        return Verdict(action, {DoctorAction.KILL_OVERTIME: "overtime"}.get(action, "stopped"),
                       f"attempt {v.attempt} was stopped by doctor for {action.value}; completing it"
                       + left, escalate=last or action is DoctorAction.RESPAWN)
    if v.state in ("exited", "running") and v.context_exhausted:
        # a running agent that said so is out of context now, not a stall later (issue 5)
        return Verdict(DoctorAction.CONTEXT_RESET, "context-exhausted",
                       f"attempt {v.attempt} ran out of context" + left, escalate=last)
    if v.state == "exited":
        return None  # verify's
    if v.state == "running" and v.runtime_s is not None and v.runtime_s > health.max_runtime_s:
        return Verdict(DoctorAction.KILL_OVERTIME, "overtime",
                       f"running {v.runtime_s:.0f} s, over health.max_runtime_s {health.max_runtime_s}"
                       + left, escalate=last)
    if v.state == "dead":
        reason, detail = "dead", "the agent's wrapper is gone without an exit record"
    elif v.state == "running" and v.silent_s is not None and v.silent_s > health.stall_after_s:
        reason, detail = "stalled", (f"silent {v.silent_s:.0f} s, over health.stall_after_s "
                                     f"{health.stall_after_s}")
    else:
        return None
    if v.since_respawn_s is not None:
        if v.since_respawn_s < health.respawn_cooldown_s:
            return Verdict(None, "cooldown", f"{detail}; respawned {v.since_respawn_s:.0f} s ago, "
                           f"inside health.respawn_cooldown_s {health.respawn_cooldown_s}")
        if not v.output_since_respawn:
            if reason == "dead":
                return Verdict(DoctorAction.RESPAWN, reason, f"{detail}; the respawned agent died"
                               " without writing any output", escalate=True)
            return Verdict(None, "no-output-yet", f"{detail}; the respawned agent has not written"
                           " any output yet")
    if v.respawns >= health.max_respawns:
        return Verdict(DoctorAction.RESPAWN, reason, f"{detail}; respawned {v.respawns} time(s) "
                       f"already (health.max_respawns {health.max_respawns})", escalate=True)
    return Verdict(DoctorAction.RESPAWN, reason, detail)


def repeated(heals: int, since_last_s: float, max_respawns: int, window_s: float) -> bool:
    """SPEC 9 for every fault, not only an agent's: the same fault (one action on one subject)
    back after ``max_respawns`` heals in a row, each inside ``window_s`` of the one before, is
    escalated instead of healed again."""
    return heals >= max_respawns and since_last_s <= window_s
