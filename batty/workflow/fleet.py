"""What the fleet is doing: seats, their tasks and agents, the queue (read-only views)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batty.core import clock
from batty.core.lifecycle import Status

if TYPE_CHECKING:
    from batty.workflow.session import Session


def status_report(app: Session) -> dict[str, Any]:
    from batty import runner
    from batty.store.events import last_of
    from batty.workflow.state import State, board_order, ready

    st = State(app)
    cfg = st.config
    packets = st.packets
    from batty.runner import sandbox

    standing = sandbox.standing_warning(sandbox.policy(cfg))
    if standing:
        app.warn(standing)
    busy = {p.assignee: p for p in packets if p.status is Status.IN_PROGRESS and p.assignee}
    seats = []
    for seat in cfg.seats:
        p = busy.get(seat.name)
        state = "free"
        if p is not None:
            state = {"running": "running", "exited": "finished", "dead": "dead"}.get(
                runner.run_state(st.paths.run_dir(p.id, p.attempt)), "assigned") if p.attempt else "assigned"
        seats.append({"seat": seat.name, "agent": seat.agent, "role": seat.role,
                      "task": p.id if p else None, "state": state})
    counts = {s.value: 0 for s in Status}
    for p in packets:
        counts[p.status.value] += 1
    tick = last_of(st.paths.events, {"tick.finished"})
    from batty.workflow.escalations import open_escalations

    escalations = [{"id": e.get("id"), "task": ",".join(e.get("tasks") or []), "reason": e.get("reason"),
                    "at": e.get("at")} for e in open_escalations(st)]
    queue = ready(packets, board_order(st.paths))
    from batty.core.overlap import waiting

    return {
        "version": 1,
        "seats": seats,
        "ready": [p.id for p in queue],
        # ready tasks that wait for a task on the same files (SPEC 13)
        "waiting": [w.as_dict() for w in waiting(queue, packets.by_id, cfg.dispatch.overlap)],
        "counts": counts,
        "last_tick": {"ts": tick["ts"], "ago_s": clock.age_s(tick["ts"])} if tick else None,
        "escalations": escalations,
        "problems": [str(p) for p in packets.problems],
        "spend": _spend(st),
        "needs_you": [n.to_dict() for n in _notices(st)],
    }


def _spend(st: Any) -> dict[str, Any] | None:
    from batty.errors import BattyError
    from batty.workflow import budget

    try:
        return budget.report(st)
    except (BattyError, OSError) as e:  # spend is a view: never what makes status fail
        return {"error": str(e)}


def _notices(st: Any) -> list[Any]:
    from batty.workflow.attention import notices

    return notices(st)


def agents_report(app: Session) -> list[dict[str, Any]]:
    from batty import runner
    from batty.workflow.state import State

    st = State(app)
    busy = {p.assignee: p for p in st.packets if p.status is Status.IN_PROGRESS and p.assignee}
    rows = []
    for seat in st.config.seats:
        p = busy.get(seat.name)
        row: dict[str, Any] = {"seat": seat.name, "agent": seat.agent, "role": seat.role,
                               "task": p.id if p else None, "attempt": p.attempt if p else None,
                               "state": "free", "pid": None, "silent_s": None, "cost_usd": None}
        if p and p.attempt:
            run_dir = st.paths.run_dir(p.id, p.attempt)
            row["state"] = runner.run_state(run_dir)
            run = runner.read_run(run_dir) or {}
            row["pid"] = run.get("agent_pid")
            if row["state"] == "running":
                row["silent_s"] = runner.last_output_age(run_dir)
            row["cost_usd"] = (run.get("usage") or {}).get("cost_usd")
        rows.append(row)
    return rows
