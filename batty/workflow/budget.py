"""Budgets (SPEC 12, issue 18): what dispatch and doctor do about what was spent.

Spend comes from :mod:`batty.workflow.spend` (read again from the run records each time: a crash loses
nothing, nothing counts twice); :mod:`batty.core.budget` says which budget is crossed.

- dispatch (:func:`gate`): a spent ``seat_day`` budget closes that seat, a spent ``day`` or
  ``week`` budget pauses every seat, until the local day (week) of ``telemetry.timezone`` ends
  or a person raises the budget: one escalation (reason ``budget``) a pause, resolved by batty
  when the pause lifts. A task whose ``task`` budget is spent gets no further attempt.
- doctor (its room :mod:`batty.workflow.doctor.budget`): an attempt over its ``attempt`` or
  ``task`` budget is stopped and its task blocked, with an escalation saying what was spent.
- warnings at ``budgets.warn_at`` of any budget: one ``budget.warned`` event each, notified once.

Which of a budget's events were said already is kept in ``.batty/budget.json`` (written after
the event) and looked for in the log's tail (a crash in between). docs/budgets.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from batty.core import budget as core
from batty.core import clock
from batty.core.budget import SPENT, WARNED, Crossing, Spend
from batty.core.kinds import Kind
from batty.core.lifecycle import Status
from batty.store import atomic
from batty.store.atomic import tail
from batty.workflow.spend import Ledger, ledger

if TYPE_CHECKING:
    from batty.store.paths import Paths
    from batty.workflow.state import State

STATE_FILE = "budget.json"     # .batty/: pauses (key -> escalation) and what was said
STOP_FILE = "budget-stop.json"  # in a run dir: doctor stops this attempt for its budget (write-ahead)
EVENTS_TAIL = 8 << 20          # how much of the event log is searched for a budget event said
REASON = "budget"


# ================================================================== where spend stands


def crossings(st: State, book: Ledger, now: datetime, *, tasks: Iterable[str] = ()) -> list[Crossing]:
    """Every configured budget against its spend: the fleet's and each seat's for the current
    period, and the task and current-attempt budgets of ``tasks`` (default: in progress)."""
    cfg = st.config
    b, tz = cfg.budgets, cfg.telemetry.timezone
    today, week = core.day_of(now, tz), core.week_of(now, tz)
    out: list[Crossing] = []
    if b.week:
        out += core.check(b.week, book.of(week=week), scope="week", key=f"week:{week}",
                          warn_at=b.warn_at, period=week)
    if b.day:
        out += core.check(b.day, book.of(day=today), scope="day", key=f"day:{today}",
                          warn_at=b.warn_at, period=today)
    if b.seat_day:
        for seat in cfg.seats:
            out += core.check(b.seat_day, book.of(seat=seat.name, day=today), scope="seat_day",
                              key=f"seat_day:{seat.name}:{today}", warn_at=b.warn_at,
                              seat=seat.name, period=today)
    if b.task or b.attempt:
        wanted = set(tasks) or {p.id for p in st.packets if p.status is Status.IN_PROGRESS}
        for tid in sorted(wanted):
            p = st.packets.get(tid)
            if p is None:
                continue
            if b.task:
                out += core.check(b.task, book.of(task=tid), scope="task", key=f"task:{tid}",
                                  warn_at=b.warn_at, task=tid, seat=p.assignee)
            if b.attempt and p.attempt and p.status is Status.IN_PROGRESS:
                out += core.check(b.attempt, book.of(task=tid, attempt=p.attempt), scope="attempt",
                                  key=f"attempt:{tid}#{p.attempt}", warn_at=b.warn_at, task=tid,
                                  attempt=p.attempt, seat=p.assignee)
    return out


@dataclass
class Gate:
    """What dispatch may do now: ``paused`` (every seat, why), ``closed`` seats (seat -> why),
    ``spent_tasks`` (task -> why: no further attempt)."""

    paused: str | None = None
    closed: dict[str, str] = field(default_factory=dict)
    spent_tasks: dict[str, str] = field(default_factory=dict)
    crossings: list[Crossing] = field(default_factory=list)


def _resumes(c: Crossing, tz: str) -> str:
    until = core.next_start(str(c.period), c.scope, tz)
    return f"resumes {until.strftime('%Y-%m-%d %H:%M')} {tz}, or when budgets.{c.scope} is raised"


def gate(st: State, *, apply: bool = True, now: datetime | None = None) -> Gate:
    """The budgets' say on dispatch (call under the dispatch lock). With ``apply``, also warn,
    escalate a new pause once, and lift (resolve) pauses whose period ended or budget rose."""
    cfg = st.config
    out = Gate()
    if not cfg.budgets:
        if apply:
            _lift(st, set())
        return out
    now = now or clock.now()
    tz = cfg.telemetry.timezone
    book = ledger(st, now)
    queued = {p.id for p in st.packets if p.status in (Status.TODO, Status.IN_PROGRESS) and p.attempt}
    found = crossings(st, book, now, tasks=queued | {p.id for p in st.packets
                                                     if p.status is Status.IN_PROGRESS})
    out.crossings = found
    spent = [c for c in found if c.state == SPENT]
    for c in spent:
        if c.scope in ("day", "week") and out.paused is None:
            out.paused = f"budget: {c.line()}; {_resumes(c, tz)}"
        elif c.scope == "seat_day" and c.seat and c.seat not in out.closed:
            out.closed[c.seat] = f"budget: {c.line()}; {_resumes(c, tz)}"
        elif c.scope == "task" and c.task:
            out.spent_tasks.setdefault(str(c.task), f"budget: {c.line()}")
    if apply:
        _warn(st, [c for c in found if c.state == WARNED])
        pauses = [c for c in spent if c.scope in core.PERIODIC]
        for key in dict.fromkeys(c.key for c in pauses):
            _pause(st, [c for c in pauses if c.key == key], book, now)
        _lift(st, {c.key for c in pauses})
    return out


def refusal(st: State, seat: str | None, task: str) -> str | None:
    """Why a budget forbids launching an attempt of ``task`` on ``seat`` now (None: it does not).
    doctor asks this before it starts a next attempt itself."""
    g = gate(st, apply=False)
    return g.paused or (g.closed.get(seat) if seat else None) or g.spent_tasks.get(task)


# ================================================================== said once


class _Said:
    """Which budget events were said: the state file, else the event log's tail."""

    def __init__(self, st: State) -> None:
        self.st = st
        self.path = st.paths.state / STATE_FILE
        self.data: dict[str, Any] = atomic.read_json(self.path) or {}
        self.data.setdefault("said", {})
        self.data.setdefault("pauses", {})
        self._logged: set[str] | None = None

    def has(self, tag: str) -> bool:
        if tag in self.data["said"]:
            return True
        if self._logged is None:
            self._logged = _logged_tags(self.st.paths)
        return tag in self._logged

    def note(self, tag: str) -> None:
        self.data["said"][tag] = time.time()  # the machine's clock: only for pruning
        self.save()

    def save(self) -> None:
        # keep a fortnight: the periods said about are over by then
        cutoff = time.time() - 14 * 86400
        said = self.data["said"]
        for tag in [t for t, at in said.items() if not isinstance(at, int | float) or at < cutoff]:
            del said[tag]
        atomic.write_json(self.path, self.data)


def _tag(kind: str, c: Crossing) -> str:
    # the limit too: a budget a person raised and that is crossed again is said again
    return f"{kind}|{c.key}|{c.unit}|{c.limit:g}"


def _logged_tags(paths: Paths) -> set[str]:
    out: set[str] = set()
    for line in tail(paths.events, EVENTS_TAIL).splitlines():
        if '"budget.' not in line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        data = e.get("data") or {}
        if isinstance(data, dict) and data.get("key") and isinstance(data.get("limit"), int | float):
            out.add(f"{e.get('kind')}|{data['key']}|{data.get('unit')}|{data['limit']:g}")
    return out


def _emit(st: State, kind: str, c: Crossing) -> None:
    st.events.emit(kind, task=c.task, attempt=c.attempt, seat=c.seat, **c.data())


def _warn(st: State, found: list[Crossing]) -> None:
    if not found:
        return
    said = _Said(st)
    for c in found:
        tag = _tag(Kind.BUDGET_WARNED, c)
        if said.has(tag):
            continue
        _emit(st, Kind.BUDGET_WARNED, c)
        said.note(tag)
        st.app.warn(f"budget warning: {c.line()}")
        _notify_warning(st, c)


def _notify_warning(st: State, c: Crossing) -> None:
    """Sent to every notify entry that takes budget.warned, or escalation.raised: a person told
    of escalations hears of the spend before it becomes one."""
    from batty.services.notify import Policy, send_one

    wants = [n for n in st.config.notify if Kind.BUDGET_WARNED in n.on or Kind.ESCALATION_RAISED in n.on]
    policy = Policy.from_env()
    for n in wants:
        send_one(st, n.url_env, Kind.BUDGET_WARNED, title=f"batty: budget at {c.share:.0%}: "
                 f"budgets.{c.scope}.{c.unit}", body=f"{c.line()}\nin {st.paths.root.name}",
                 task=c.task, policy=policy)


def _exceeded(st: State, said: _Said, found: Iterable[Crossing]) -> None:
    from batty.services.notify import notify

    for c in found:
        tag = _tag(Kind.BUDGET_EXCEEDED, c)
        if not said.has(tag):
            _emit(st, Kind.BUDGET_EXCEEDED, c)
            said.note(tag)
            # to the entries that ask for it by name; the escalation goes to escalation.raised
            notify(st, Kind.BUDGET_EXCEEDED, title=f"batty: budget spent: budgets.{c.scope}.{c.unit}",
                   body=f"{c.line()}\nin {st.paths.root.name}", task=c.task)


def exceeded(st: State, found: Iterable[Crossing]) -> None:
    """``budget.exceeded`` for each of ``found`` not said yet (doctor's budget room)."""
    _exceeded(st, _Said(st), found)


def spend_text(s: Spend) -> str:
    return f"${s.cost_usd:,.2f}, {s.tokens:,} tokens, {s.wall_s:,.0f} s of agent time"


def _pause(st: State, found: list[Crossing], book: Ledger, now: datetime) -> None:
    """A spent seat_day / day / week budget: one escalation, then the events."""
    from batty.workflow.escalations import raise_escalation

    said = _Said(st)
    c = found[0]
    if c.key not in said.data["pauses"]:
        tz = st.config.telemetry.timezone
        who = f"seat {c.seat}" if c.scope == "seat_day" else "every seat"
        period = {"seat_day": "today", "day": "today", "week": "this week"}[c.scope]
        spent = book.of(seat=c.seat, day=c.period) if c.scope == "seat_day" else \
            book.of(day=c.period) if c.scope == "day" else book.of(week=c.period)
        text = "\n".join([
            f"Dispatch is paused for {who}: " + "; ".join(x.line() for x in found) + ".",
            f"Spent {period}: {spend_text(spent)}.",
            f"It {_resumes(c, tz)} in board/config.yaml; running agents go on.",
        ])
        record = raise_escalation(st, tasks=[], reason=REASON, text=text, source="dispatch")
        said.data["pauses"][c.key] = {"escalation": record["id"], "scope": c.scope, "seat": c.seat,
                                      "period": c.period, "at": clock.now_iso()}
        said.save()
        st.app.warn(f"dispatch paused for {who}: {found[0].line()} ({record['id']})")
    _exceeded(st, said, found)


def _lift(st: State, spent_keys: set[str]) -> None:
    """Pauses whose budget is no longer spent (a new day, or a raised budget): resolved."""
    path = st.paths.state / STATE_FILE
    data = atomic.read_json(path) or {}
    pauses = data.get("pauses") or {}
    gone = [k for k in pauses if k not in spent_keys]
    if not gone:
        return
    from batty.errors import BattyError
    from batty.workflow import escalations

    held = {str(pauses[k].get("escalation")) for k in pauses if k not in gone}
    for key in gone:
        rec = pauses[key]
        who = f"seat {rec.get('seat')}" if rec.get("scope") == "seat_day" else "every seat"
        note = f"dispatch resumed for {who}: budgets.{rec.get('scope')} is no longer spent"
        if str(rec.get("escalation")) not in held:  # another pause folded into it goes on
            try:
                escalations.resolve(st, str(rec.get("escalation")), note=note)
            except BattyError:
                pass  # gone from the board: nothing to resolve
        said = _Said(st)
        said.data["pauses"].pop(key, None)
        said.save()
        st.app.say(note)


# ================================================================== in sight


def report(st: State, now: datetime | None = None) -> dict[str, Any]:
    """For `status`: spend today and this week, every budget against it, and what is paused."""
    now = now or clock.now()
    tz = st.config.telemetry.timezone
    book = ledger(st, now)
    today, week = core.day_of(now, tz), core.week_of(now, tz)
    rows = []
    # in progress, and todo after attempts (one whose task budget is spent waits there)
    tasks = {p.id for p in st.packets if p.status is Status.IN_PROGRESS
             or (p.status is Status.TODO and p.attempt)}
    for c in crossings(st, book, now, tasks=tasks):
        rows.append({**c.data(), "state": c.state, "share": round(c.share, 4), "task": c.task,
                     "attempt": c.attempt, "seat": c.seat, "line": c.line(),
                     "resumes": _resumes(c, tz) if c.state == SPENT and c.scope in core.PERIODIC else None})
    return {
        "timezone": tz,
        "today": {"day": today, **book.of(day=today).to_dict()},
        "week": {"from": week, **book.of(week=week).to_dict()},
        "seats_today": {k: v.to_dict() for k, v in book.by("seat", day=today).items()},
        "budgets": rows,
        "partial": partial_seats(st) if st.config.budgets else [],
    }


def units_of(agent: str, entry: dict[str, Any]) -> tuple[str, ...]:
    """What a budget can see of an agent's runs: wall time always, tokens and dollars when its
    adapter reports them (batty.agents.usage.REPORTS; a cost only where the CLI says it or a price is
    known for its model)."""
    from batty.agents.usage import REPORTS, price_of

    if agent not in REPORTS:
        return ("wall_s",)
    if agent in ("claude", "aider", "shell") or price_of(entry, None) is not None:
        return ("wall_s", "tokens", "cost_usd")
    return ("wall_s", "tokens")


def partial_seats(st: State) -> list[dict[str, Any]]:
    """The seats whose agent reports less than tokens and dollars: what their budgets count."""
    out = []
    for seat in st.config.seats:
        units = units_of(seat.agent, dict(st.config.agent_entry(seat.agent)))
        if units != core.UNITS:
            out.append({"seat": seat.name, "agent": seat.agent, "counts": list(units)})
    return out
