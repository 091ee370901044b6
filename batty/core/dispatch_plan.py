"""Who works on what next (issue 3): the dispatch plan, computed without touching disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from batty.core.config import Config, Seat
from batty.core.lifecycle import Status
from batty.core.packet import Packet, complexity


@dataclass(frozen=True)
class Assign:
    task: str
    seat: str
    attempt: int        # the attempt to launch
    claim: bool         # todo -> in-progress (a claim), else already in progress


@dataclass(frozen=True)
class Preempt:
    task: str
    seat: str
    for_task: str


@dataclass(frozen=True)
class Plan:
    assign: tuple[Assign, ...] = ()
    preempt: tuple[Preempt, ...] = ()
    waiting: tuple[tuple[str, str], ...] = ()   # (task, why it waits)


def wants_planner(p: Packet, cfg: Config) -> bool:
    return p.kind == "epic" and complexity(p) > cfg.planner.min_complexity


def seat_fits(seat: Seat, p: Packet, cfg: Config) -> bool:
    if p.seat and p.seat not in (seat.name, seat.agent):
        return False
    planner = wants_planner(p, cfg)
    if planner and any(s.role == "planner" for s in cfg.seats):
        return seat.role == "planner"
    return seat.role == "engineer" or planner


def plan(cfg: Config, packets: Mapping[str, Packet], queue: Sequence[Packet],
         relaunch: Mapping[str, int], *, paused: str | None = None,
         closed: Mapping[str, str] | None = None,
         everyone: Mapping[str, Packet] | None = None) -> Plan:
    """``queue``: ready todo tasks in dispatch order. ``relaunch``: in-progress tasks whose next
    attempt must start (task -> attempt). A seat is busy while an in-progress task names it;
    a ``closed`` seat (seat -> why: its budget is spent) starts nothing. ``everyone``: the
    tasks of every machine, whose scopes a ready task must not overlap (``dispatch.overlap:
    wait``; default ``packets``)."""
    from batty.core import overlap

    closed = closed or {}
    busy: dict[str, Packet] = {}
    for p in packets.values():
        if p.status is Status.IN_PROGRESS and p.assignee:
            busy.setdefault(p.assignee, p)
    free = [s for s in cfg.seats if s.name not in busy and s.name not in closed]
    assign: list[Assign] = []
    waiting: list[tuple[str, str]] = []
    if paused:
        return Plan(waiting=tuple((p.id, paused) for p in queue))
    # 1. work in progress on its own seat comes first
    for tid, attempt in sorted(relaunch.items()):
        p = packets[tid]
        if p.assignee and cfg.seat(p.assignee):
            if p.assignee in closed:
                waiting.append((tid, closed[p.assignee]))
                continue
            assign.append(Assign(tid, p.assignee, attempt, claim=False))
    # 2. work in progress that lost its seat (sent back by merge), then 3. the ready queue
    homeless = sorted((p for p in packets.values() if p.status is Status.IN_PROGRESS and
                       (not p.assignee or not cfg.seat(p.assignee)) and p.id in relaunch),
                      key=lambda p: (p.priority, p.id))
    preempts: list[Preempt] = []
    # no two agents on the same files (SPEC 13): what is at work or in review, and what this
    # pass claims, in the order a ready task is weighed against them
    active = [] if cfg.dispatch.overlap == "allow" else sorted(
        (q for q in (everyone or packets).values() if q.status in overlap.ACTIVE),
        key=lambda q: (q.priority, q.id))
    for p in [*homeless, *queue]:
        if p.status is Status.TODO and cfg.dispatch.overlap != "allow":
            other = overlap.blocker(p, active)
            if other is not None:
                waiting.append((p.id, overlap.why(p, other)))
                continue
        seat = next((s for s in free if seat_fits(s, p, cfg) and _can_run(s, p, cfg)), None)
        if seat is None:
            victim = _victim(cfg, p, busy, preempts) if cfg.dispatch.preempt and p.priority == 0 else None
            if victim is not None and victim.assignee in closed:
                victim = None  # its seat's budget is spent: nothing new starts there
            if victim is not None:
                preempts.append(Preempt(victim.id, victim.assignee or "", p.id))
                active.append(p)
                assign.append(Assign(p.id, victim.assignee or "", relaunch.get(p.id, p.attempt + 1),
                                     claim=p.status is Status.TODO))
                continue
            waiting.append((p.id, "no free seat" if any(seat_fits(s, p, cfg) for s in cfg.seats)
                            else "no seat fits (pin, role)"))
            continue
        free.remove(seat)
        claim = p.status is Status.TODO
        if claim:
            active.append(p)
        assign.append(Assign(p.id, seat.name, p.attempt + 1 if claim else relaunch[p.id], claim))
    return Plan(tuple(assign), tuple(preempts), tuple(waiting))


def _can_run(seat: Seat, p: Packet, cfg: Config) -> bool:
    """The scripted agent (``shell``) only runs a packet's script. Issue 16: a task without one
    went to such a seat while a seat that could do it sat free, and burned an attempt. It waits
    for a seat of another agent when the config has one that fits; only where none does is it
    sent to the scripted agent, whose failed attempt says why and escalates
    (tests/scenarios/test_unlaunchable_agent.py)."""
    if seat.agent != "shell" or p.script:
        return True
    return not any(s.agent != "shell" and seat_fits(s, p, cfg) for s in cfg.seats)


def _victim(cfg: Config, p: Packet, busy: Mapping[str, Packet], taken: Sequence[Preempt]) -> Packet | None:
    """The running task of the lowest priority (2 or more) on a seat ``p`` could use."""
    gone = {x.task for x in taken}
    candidates = [q for seat, q in busy.items() if q.priority >= 2 and q.id not in gone
                  and (s := cfg.seat(seat)) is not None and seat_fits(s, p, cfg)]
    if not candidates:
        return None
    return max(candidates, key=lambda q: (q.priority, q.id))
