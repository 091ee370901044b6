"""dispatch (issue 3): ready tasks to free seats: worktree, branch, prompt, agent launched.

Crash-safe order for each assignment: the worktree (idempotent), the prompt, the claim (the
packet's todo -> in-progress, the commit point), then the launch. A crash after the claim and
before the launch leaves an in-progress attempt with no run, which the next dispatch launches:
run twice after a crash, still one agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty import runner
from batty.core import clock
from batty.core import dispatch_plan as planning
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.errors import BattyError
from batty.store import locks
from batty.workflow.attempt import (
    check_binaries,
    disk_pause,
    handoff_note,
    launch_one,
    relaunch_needed,
)

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State


def dispatch(app: Session, *, dry_run: bool = False) -> list[planning.Assign]:
    from batty.workflow.state import State

    st = State(app)
    done = run(st, dry_run=dry_run)
    st.finish()
    return done


def run(st: State, *, dry_run: bool = False) -> list[planning.Assign]:
    """The dispatch step on a shared State (tick commits once at the end)."""
    from batty.workflow.state import board_order
    from batty.workflow.state import ready as ready_queue

    app = st.app
    with locks.hold(app.paths.state, "dispatch", cmd=app.cmd, wait_s=st.step_wait):
        st.reload()  # plan from what is on disk now, under the lock
        cfg = st.config
        check_binaries(st)
        from batty.runner import sandbox

        sandbox.require(sandbox.policy(cfg))  # no boundary, no agent (SPEC 11): one line, no fallback
        paused = disk_pause(st)
        if paused:
            app.warn(f"dispatch paused: {paused}")
        from batty.workflow import budget

        spend = budget.gate(st, apply=not dry_run)  # SPEC 12: spent budgets close seats, or all
        if spend.paused and not paused:
            paused = spend.paused
            app.warn(f"dispatch paused: {paused}")
        queue = [p for p in ready_queue(st.packets, board_order(st.paths)) if p.id not in spend.spent_tasks]
        from batty.workflow.state import is_local

        mine = {tid: p for tid, p in st.packets.by_id.items() if is_local(p)}
        relaunch = {t: n for t, n in relaunch_needed(st).items() if t not in spend.spent_tasks}
        the_plan = planning.plan(cfg, mine, queue, relaunch, paused=paused, closed=spend.closed,
                                 everyone=st.packets.by_id)
        for tid, why in the_plan.waiting:
            if why.startswith("waits for "):  # an overlap (SPEC 13): say what it waits for
                (app.echo if dry_run else app.say)(f"{tid} {why}")
        if dry_run:
            for x in the_plan.preempt:
                app.echo(f"would preempt {x.task} on {x.seat} for {x.for_task}")
            for a in the_plan.assign:
                app.echo(f"would dispatch {a.task} attempt {a.attempt} to {a.seat}")
            return list(the_plan.assign)
        for x in the_plan.preempt:
            preempt(st, x)
        done: list[planning.Assign] = []
        for a in the_plan.assign:
            try:
                launch_one(st, a)
                done.append(a)
                app.say(f"{a.task} -> {a.seat} (attempt {a.attempt})")  # as it happens (issue 16.7)
            except BattyError as e:
                app.warn(f"{a.task}: {e}")
        return done


def preempt(st: State, x: planning.Preempt) -> None:
    """Stop a lower-priority task for a priority-0 one: it keeps its worktree and branch, goes
    back to todo with a hand-off note, and resumes on the same branch later."""
    p = st.packets.require(x.task)
    run_dir = st.paths.run_dir(p.id, p.attempt)
    runner.stop(run_dir)
    st.events.emit(Kind.AGENT_STOPPED, task=p.id, seat=x.seat, attempt=p.attempt, reason="preempted")
    note = handoff_note(st, p, why=f"stopped for {x.for_task} (priority 0)")
    st.transition(p, Status.TODO, Actor.DISPATCH, f"preempted by {x.for_task}", assignee=None,
                  preempted=True, handoff=note, verification={"attempt": p.attempt, "result": "preempted",
                                                               "at": clock.now_iso()})
