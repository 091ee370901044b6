"""The doctor's frame: a :class:`Finding` (a fault and its fix), the :class:`Report`, and
:class:`Doctor`, which applies a heal, logs it once and escalates a fault that keeps coming back
(SPEC 9: after ``health.max_respawns`` heals of the same fault)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from batty import runner
from batty.core import health
from batty.core.kinds import DoctorAction, Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.errors import BattyError
from batty.store import atomic, failpoints

if TYPE_CHECKING:
    from batty.workflow.state import State
from batty.workflow.doctor.journal import Journal, _with_subject

LOCK = "doctor"
GIT_LOCK_AGE_S = 60          # an index.lock younger than this may belong to a git still starting
RESPAWN_FILE = runner.RESPAWN_FILE  # in the run dir: when doctor last respawned this attempt
ROTATED = ("run.json", "agent.log", "launch.json", "wrapper.log", "env.json")
A = DoctorAction


@dataclass
class Finding:
    """One fault. ``fix`` heals it and may return extra event data; ``wait`` means doctor saw
    it but holds off on purpose (a respawn cooldown): nothing to heal yet. ``subject`` is what
    the fault is about (a path, a branch, a lock): the same action on the same subject again is
    the same fault (SPEC 9: after ``health.max_respawns`` heals, escalate instead). ``done``
    runs once the heal's ``doctor.action`` is logged."""

    action: DoctorAction
    detail: str
    task: str | None = None
    attempt: int | None = None
    seat: str | None = None
    fix: Callable[[], dict[str, Any] | None] | None = None
    wait: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    done: Callable[[], None] | None = None

    @property
    def key(self) -> str:
        """The fault: its action (an escalation: the heal it gives up on) and its subject."""
        what = self.data.get("fault") if self.action is A.ESCALATE else None
        who = self.subject or (f"{self.task}#{self.attempt}" if self.attempt else self.task) or ""
        return f"{what or self.action.value}:{who}"

    def line(self) -> str:
        head = ("wait " if self.wait else "") + self.action.value
        return f"{head}{' ' + self.task if self.task else ''}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "task": self.task, "attempt": self.attempt,
                "detail": self.detail, "wait": self.wait, **self.data}


@dataclass
class Report:
    found: list[Finding] = field(default_factory=list)
    applied: list[Finding] = field(default_factory=list)
    failed: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def faults(self) -> list[Finding]:
        return [f for f in self.found if not f.wait]


REPEATABLE = (A.STALE_LOCK, A.GIT_LOCK, A.WORKTREE_PRUNE, A.WORKTREE_REPAIR, A.ORPHAN_BRANCH,
              A.ORPHAN_RUN)
HISTORY = "heals.json"  # .batty/doctor/: fault key -> count, last (epoch), escalation


class Doctor:
    def __init__(self, st: State, *, check: bool) -> None:
        self.st = st
        self.check = check
        self.paths = st.paths
        self.root = st.paths.root
        self.report = Report()
        self.journal = Journal(self)
        self.seen: set[str] = set()  # the faults found by this run (their keys)
        self._history: dict[str, Any] | None = None

    @property
    def cfg(self):  # type: ignore[no-untyped-def]
        return self.st.config

    def apply(self, f: Finding) -> None:
        assert f.fix is not None
        heal = self.journal.begin(f)
        try:
            extra = f.fix() or {}
        except BattyError as e:
            self.journal.end(heal)
            self.st.app.warn(f"doctor: {f.line()}: not healed: {e}")
            self.report.failed.append((f, str(e)))
            return
        failpoints.point(f"doctor.{f.action.value}.after-heal")
        self.st.events.emit(Kind.DOCTOR_ACTION, task=f.task, attempt=f.attempt or None, seat=f.seat,
                            action=f.action.value, detail=f.detail,
                            **_with_subject({**f.data, **extra}, f.subject), heal=heal)
        failpoints.point("doctor.after-action-event")
        if f.done is not None:
            f.done()
        self.journal.end(heal, f.key)
        if f.action in REPEATABLE:
            self._count(f)
        self.report.applied.append(f)
        self.st.app.say(f"doctor: {f.line()}")

    # ------------------------------------------------------------------ the same fault again

    @property
    def history(self) -> dict[str, Any]:
        if self._history is None:
            self._history = atomic.read_json(self.paths.state / "doctor" / HISTORY) or {}
        return self._history

    def _save_history(self) -> None:
        window = self.cfg.escalations.window_s
        now = time.time()
        keep = {k: v for k, v in self.history.items()
                if v.get("escalation") or now - float(v.get("last", 0)) <= window}
        atomic.write_json(self.paths.state / "doctor" / HISTORY, keep)

    def _count(self, f: Finding) -> None:
        rec = self.history.get(f.key) or {}
        now = time.time()
        fresh = rec.get("escalation") or now - float(rec.get("last", 0)) > self.cfg.escalations.window_s
        self.history[f.key] = {"count": 1 if fresh else int(rec.get("count", 0)) + 1, "last": now}
        self._save_history()

    def guard(self, f: Finding) -> Finding:
        """SPEC 9: a fault healed ``health.max_respawns`` times in a row (each heal inside
        ``escalations.window_s`` of the last) is escalated instead of healed again; while that
        escalation is open the fault waits for a person."""
        if f.action not in REPEATABLE or f.wait:
            return f
        rec = self.history.get(f.key)
        if not rec:
            return f
        esc = rec.get("escalation")
        if esc:
            if _is_open(self.st, str(esc)):
                return Finding(f.action, f"{f.detail}; escalated as {esc}, healed no more until it"
                               " is resolved", task=f.task, subject=f.subject, wait=True)
            return f  # a person dealt with it: heal again, counting from one
        age = time.time() - float(rec.get("last", 0))
        limit = self.cfg.health.max_respawns
        if not health.repeated(int(rec.get("count", 0)), age, limit, self.cfg.escalations.window_s):
            return f
        count = int(rec.get("count", 0))
        detail = (f"{f.detail}; healed {count} time(s) in a row already (health.max_respawns "
                  f"{limit}): escalated instead")

        def fix() -> dict[str, Any]:
            record = self.escalate(None, tasks=[f.task] if f.task else [], reason="repeated-fault",
                                   text=f"doctor healed {f.action.value} on {f.subject or f.task} "
                                        f"{count} time(s) and it came back: {f.detail}. Find what "
                                        "causes it; resolve this escalation and doctor heals it again.")
            failpoints.point("doctor.repeat.after-escalate")
            if record is not None:
                self.history[f.key] = {**rec, "escalation": record["id"]}
                self._save_history()
            return {"escalation": record["id"] if record else None, "heals": count}

        return Finding(A.ESCALATE, detail, task=f.task, subject=f.subject, fix=fix,
                       data={"fault": f.action.value, "reason": "repeated"})

    # ------------------------------------------------------------------ giving up

    def escalate(self, p: Packet | None, *, reason: str, text: str,
                 tasks: list[str] | None = None) -> dict[str, Any] | None:
        try:
            from batty.workflow.escalations import raise_escalation
        except ImportError:  # pragma: no cover - the escalation module ships with batty
            return None
        return raise_escalation(self.st, tasks=tasks if tasks is not None else [p.id] if p else [],
                                reason=reason, text=text, source="doctor")

    def block(self, p: Packet, why: str, *, reason: str, text: str, **changes: Any) -> None:
        """Heal no more: the task is blocked and the human is told (SPEC 4, 9); told first, so
        that a crash in between never leaves a blocked task nobody was told of (verify.block)."""
        self.escalate(p, reason=reason, text=f"{why}\n\n{text}".strip())
        failpoints.point("doctor.escalate.after-escalate")
        self.st.transition(p, Status.BLOCKED, Actor.DOCTOR, why, **changes)


def _is_open(st: State, esc_id: str) -> bool:
    from batty.core import inbox
    from batty.workflow import escalations

    try:
        return inbox.state_of(escalations.find(st, esc_id)) == inbox.OPEN
    except BattyError:
        return False


# ================================================================== stages
