"""The budget room (SPEC 12, issue 18): attempts over their attempt or task budget.

An attempt whose agent runs (or lies dead) over its ``budgets.attempt`` or ``budgets.task``
budget is stopped and its task blocked, with an escalation (reason ``budget``) saying what the
attempt and the task spent; a task whose attempt was judged and whose task budget is spent is
blocked instead of getting another attempt. ``budget-stop.json`` in the run folder, written
before the stop, lets the next run complete a block a crash cut short. The arithmetic and the
spend are :mod:`batty.workflow.budget`'s. docs/budgets.md.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from batty import runner
from batty.core import clock
from batty.core.budget import SPENT, Crossing
from batty.core.kinds import DoctorAction, Kind
from batty.core.lifecycle import Status
from batty.store import atomic, failpoints, locks
from batty.workflow.budget import REASON, STOP_FILE, crossings, exceeded, spend_text
from batty.workflow.doctor.base import Doctor, Finding
from batty.workflow.spend import ledger


def budget_stage(doc: Doctor) -> list[Finding]:
    """Attempts over their attempt or task budget: stopped, the task blocked."""
    from batty.workflow.state import is_local

    st = doc.st
    b = st.config.budgets
    if not (b.task or b.attempt):
        return []
    now = clock.now()
    book = ledger(st, now)
    out = []
    for p in sorted(st.packets, key=lambda p: (p.priority, p.id)):
        if p.status is not Status.IN_PROGRESS or not is_local(p) or not p.attempt:
            continue
        run_dir = st.paths.run_dir(p.id, p.attempt)
        judged = int((p.verification or {}).get("attempt") or 0) == p.attempt
        state = runner.run_state(run_dir)
        stopping = atomic.read_json(run_dir / STOP_FILE)
        found = [c for c in crossings(st, book, now, tasks=[p.id]) if c.state == SPENT
                 and (c.scope == "task" or (c.scope == "attempt" and not judged))]
        if stopping and not judged and state == "exited":
            pass  # stopped for its budget, the block cut short: completed now
        elif not found:
            continue
        elif state in ("running", "dead"):
            pass  # over its budget while it works: stopped
        elif judged and any(c.scope == "task" for c in found):
            found = [c for c in found if c.scope == "task"]  # no next attempt
        else:
            continue  # exited over budget, not judged: verify judges what it did (spent already)
        spent = book.of(task=p.id, attempt=p.attempt)
        detail = "; ".join(c.line() for c in found) or str((stopping or {}).get("detail") or "over budget")
        out.append(Finding(DoctorAction.BUDGET_STOP, detail, task=p.id, attempt=p.attempt,
                           seat=p.assignee, data={"reason": REASON, **spent.to_dict()},
                           fix=partial(_stop_and_block, doc, p.id, found, detail)))
    return out


def _stop_and_block(doc: Doctor, task: str, found: list[Crossing], detail: str) -> dict[str, Any]:
    st = doc.st
    with locks.hold(st.paths.state, "dispatch", cmd=st.app.cmd, wait_s=getattr(st, "step_wait", None)):
        p = st.packets.require(task)
        if p.status is not Status.IN_PROGRESS:
            return {}
        run_dir = st.paths.run_dir(p.id, p.attempt)
        if runner.run_state(run_dir) in ("running", "dead"):
            atomic.write_json(run_dir / STOP_FILE, {"detail": detail, "at": clock.now_iso()})
            if runner.stop(run_dir):
                st.events.emit(Kind.AGENT_STOPPED, task=p.id, seat=p.assignee, attempt=p.attempt,
                               reason=REASON)
            _close_dead(run_dir)
        failpoints.point("doctor.budget-stop.after-stop")
        exceeded(st, found)
        failpoints.point("doctor.budget-stop.after-exceeded")
        book = ledger(st)
        attempt, whole = book.of(task=p.id, attempt=p.attempt), book.of(task=p.id)
        why = f"budget spent: {detail}"
        text = "\n".join([
            f"Attempt {p.attempt} spent {spend_text(attempt)}; the task, over "
            f"{p.attempt} attempt(s): {spend_text(whole)}.",
            "Raise budgets.task / budgets.attempt in board/config.yaml, or narrow the task, then"
            " resolve this escalation: the task goes back to todo.",
        ])
        doc.block(p, why, reason=REASON, text=text,
                  verification={"attempt": p.attempt, "result": REASON, "at": clock.now_iso()})
    return {"spent": whole.to_dict()}


def _close_dead(run_dir: Path) -> None:
    """A wrapper gone without an exit record: the record it could not write, so the attempt
    reads as over."""
    if runner.run_state(run_dir) != "dead":
        return
    run = runner.read_run(run_dir)
    if run is not None:
        run.update(ended=clock.now_iso(), stopped=True, stopped_by="budget")
        atomic.write_json(run_dir / "run.json", run)
