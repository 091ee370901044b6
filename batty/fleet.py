"""What the fleet is doing: seats, their tasks and agents, the queue (read-only views)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batty import clock
from batty.core.lifecycle import Status

if TYPE_CHECKING:
    from batty.cli import App


def status_report(app: App) -> dict[str, Any]:
    from batty.state import State, board_order, ready
    from batty.store import atomic
    from batty.store.events import last_of

    st = State(app)
    cfg = st.config
    packets = st.packets
    busy = {p.assignee: p for p in packets if p.status is Status.IN_PROGRESS and p.assignee}
    seats = []
    for seat in cfg.seats:
        p = busy.get(seat.name)
        state = "free"
        if p is not None:
            run = atomic.read_json(st.paths.run_dir(p.id, p.attempt) / "run.json") if p.attempt else None
            state = "running" if run and run.get("exit_code") is None else "finished" if run else "assigned"
        seats.append({"seat": seat.name, "agent": seat.agent, "role": seat.role,
                      "task": p.id if p else None, "state": state})
    counts = {s.value: 0 for s in Status}
    for p in packets:
        counts[p.status.value] += 1
    tick = last_of(st.paths.events, {"tick.finished"})
    escalations = [{"id": e.get("id"), "task": p.id, "reason": e.get("reason"), "at": e.get("at")}
                   for p in packets for e in p.escalations if e.get("state", "open") == "open"]
    return {
        "version": 1,
        "seats": seats,
        "ready": [p.id for p in ready(packets, board_order(st.paths))],
        "counts": counts,
        "last_tick": {"ts": tick["ts"], "ago_s": clock.age_s(tick["ts"])} if tick else None,
        "escalations": escalations,
        "problems": [str(p) for p in packets.problems],
    }
