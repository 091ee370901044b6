"""A small log whose every figure is known by hand (the expectations in test_figures.py)."""

from __future__ import annotations

from typing import Any

from tests.telemetry.helpers import done, ev


def status(when: str, task: str, frm: str, to: str, by: str, **kw: Any) -> dict[str, Any]:
    return ev(when, "task.status", task=task, cmd=by, **kw, **{"from": frm, "to": to, "by": by, "why": ""})


def events() -> list[dict[str, Any]]:
    out = [ev("2026-11-20T08:00", "task.created", task=f"T-{i}", cmd="task", title=f"t{i}",
              status="todo", by="human") for i in range(1, 7)]
    for task, attempt, seat in [("T-1", 1, "eng-1"), ("T-2", 1, "eng-2"), ("T-2", 2, "eng-2"),
                                ("T-3", 1, "eng-1"), ("T-4", 1, "eng-3"), ("T-5", 1, "eng-2")]:
        out.append(ev("2026-11-20T09:00", "task.dispatched", task=task, seat=seat, attempt=attempt,
                      cmd="dispatch", agent="claude", branch=f"batty/{task}"))
        if attempt == 1:
            out.append(status("2026-11-20T09:00", task, "todo", "in-progress", "dispatch", seat=seat, attempt=1))
    out += [
        ev("2026-11-20T10:00", "agent.exited", task="T-1", seat="eng-1", attempt=1, exit_code=0,
           duration_s=5.0, usage={"input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.5}),
        ev("2026-11-20T10:00", "agent.exited", task="T-2", seat="eng-2", attempt=1, exit_code=0,
           duration_s=5.0, usage={"input_tokens": 2000, "output_tokens": 200, "cost_usd": 0.25}),
        ev("2026-11-21T10:00", "agent.exited", task="T-2", seat="eng-2", attempt=2, exit_code=0,
           duration_s=5.0, usage={"input_tokens": None, "output_tokens": None, "cost_usd": None}),
        ev("2026-11-21T10:00", "agent.exited", task="T-3", seat="eng-1", attempt=1, exit_code=0,
           duration_s=5.0, usage={}),
    ]
    out += [ev("2026-11-20T11:00", "verify.evidence", task="T-1", attempt=1, path="p", sha="s",
               exit_code=0, duration_s=1.0) for _ in range(3)]
    out += [ev("2026-11-21T11:00", "verify.evidence", task="T-2", attempt=2, path="p", sha="s",
               exit_code=0, duration_s=1.0)]
    out += [ev("2026-11-20T11:00", "verify.phase", task="T-1", attempt=1, phase=p, result="pass",
               detail="") for _ in range(2) for p in ("collect", "fence", "test", "evidence")]
    out += [ev("2026-11-21T11:00", "verify.phase", task="T-4", attempt=1, phase="test",
               result="fail", detail="")]
    out += [ev("2026-11-20T12:00", "merge.confidence", task=t, attempt=1, score=s, parts={})
            for t, s in (("T-1", 0.9), ("T-2", 0.6), ("T-3", 0.8))]
    out += done("2026-11-20T12:00", "T-1", "eng-1", auto=True, commits=2)
    out += done("2026-11-21T12:00", "T-2", "eng-2", auto=False, commits=3)
    out += done("2026-11-21T13:00", "T-3", "eng-1", auto=True, commits=1)
    out += [status("2026-11-21T14:00", "T-4", "in-progress", "blocked", "verify", attempt=1),
            ev("2026-11-21T14:00", "escalation.raised", escalation="E-1", reason="attempts",
               tasks=["T-4"], text="T-4 is stuck"),
            status("2026-11-22T09:00", "T-5", "in-progress", "review", "verify", attempt=1),
            status("2026-11-22T09:30", "T-6", "todo", "done", "human")]  # a manual completion
    out += [ev("2026-11-20T15:00", "doctor.action", action="respawn", detail=""),
            ev("2026-11-22T15:00", "doctor.action", action="stale-lock", detail=""),
            ev("2026-11-20T16:00", "reconcile.worktree", action="prune", path="x"),
            ev("2026-11-21T16:00", "reconcile.worktree", action="prune", path="y"),
            ev("2026-11-21T16:00", "reconcile.state", task="T-2", **{"from": "a", "to": "b", "why": ""}),
            ev("2026-11-20T17:00", "agent.respawned", task="T-2", attempt=1, reason="stalled", respawns=1),
            ev("2026-11-22T17:00", "disk.cleanup", removed=2, freed_mb=10)]
    out += [ev(f"2026-11-2{d}T18:00", "tick.finished", duration_s=1.0, steps={}, rc=0)
            for d in (0, 0, 1, 1, 2)]
    return out


EXPECTED = {
    "tasks_completed": 3, "per_seat_completions": {"eng-1": 2, "eng-2": 1},
    "tasks_auto_merged": 2, "assignments_dispatched": 6,
    "peak_daily_completions": 2, "commits_landed": 6, "verification_evidence": 4,
    "verification_phases": 9, "self_healing_actions": 2, "escalations": 1,
    "merge_confidence_scores": 3, "worktree_reconciliations": 2, "state_reconciliations": 1,
    "heartbeats": 5, "agent_respawns": 1, "disk_cleanups": 1, "tasks_spawned": 6,
    "tasks_failed": 1, "tasks_in_flight": 1, "success_rate": 0.75,
}

# --since 2026-11-21 (UTC): the first day falls away; in flight is a snapshot and stays.
EXPECTED_SINCE_21 = EXPECTED | {
    "tasks_completed": 2, "per_seat_completions": {"eng-1": 1, "eng-2": 1}, "tasks_auto_merged": 1,
    "assignments_dispatched": 0, "peak_daily_completions": 2, "commits_landed": 4,
    "verification_evidence": 1, "verification_phases": 1, "self_healing_actions": 1,
    "merge_confidence_scores": 0, "worktree_reconciliations": 1, "heartbeats": 3,
    "agent_respawns": 0, "tasks_spawned": 0, "success_rate": 0.6667,
}
