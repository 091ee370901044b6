"""tick (issue 5): reconcile, doctor, verify, merge, dispatch — the pass cron runs every minute.

Each step holds its own lock; a step another run holds is skipped (the next tick takes it). One
State is shared by the steps, so a tick makes at most one board commit. ``tick.started`` and
``tick.finished`` are the heartbeat.

One broken step does not stop the others (issue 5 audit): a bug in doctor must not keep verify,
merge and dispatch from running on every tick. Each step is its own error boundary: a user error
is named on stderr, a bug gets a crash log under ``.batty/crash/`` as the CLI's boundary keeps
one, and the tick goes on with the next step. ``tick.finished`` names the steps that failed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from batty.core.kinds import Kind
from batty.core.lifecycle import Status
from batty.errors import BattyError, Busy

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State

BUSY = 75
BUG = 3


@dataclass(frozen=True)
class Step:
    """One step of a tick: a name (for its lock, its messages and ``tick.finished``) and what it
    does to the run's State, returning the exit code it contributes (0 when it did its work)."""

    name: str
    run: Callable[[State], int]


# Each step imports its module when it runs, not when tick is imported: cron starts batty every
# minute, and a tick whose reconcile fails still pays for nothing else (STYLE 7).
def _reconcile(st: State) -> int:
    from batty.workflow import reconcile

    return reconcile.run(st)


def _doctor(st: State) -> int:
    from batty.workflow import doctor

    doctor.run(st)
    return 0


def _verify(st: State) -> int:
    from batty.workflow import verify

    verify.run(st)
    return 0


def _merge(st: State) -> int:
    from batty.workflow import merge

    merge.run(st)
    return 0


def _dispatch(st: State) -> int:
    from batty.workflow import dispatch

    dispatch.run(st)
    return 0


def _commit(st: State) -> int:
    _waits(st)
    st.finish()
    return 0


#: The pass cron runs, in order; the board commit closes it (at most one a tick).
STEPS: tuple[Step, ...] = (Step("reconcile", _reconcile), Step("doctor", _doctor),
                           Step("verify", _verify), Step("merge", _merge),
                           Step("dispatch", _dispatch), Step("commit", _commit))


def worst(codes: Iterable[int]) -> int:
    """The tick's exit code from its steps': the worst failure (3 a bug, 2 bad usage, 1 an error
    a person can fix), else 75 when every step was busy (nothing was done: try again), else 0.
    Issue 16.8: eight ticks started together dispatched two tasks and every one exited 75,
    "nothing was done"; a tick that did work exits 0 and names the busy step on stderr."""
    codes = list(codes)
    failed = [c for c in codes if c not in (0, BUSY)]
    if failed:
        return max(failed)
    return BUSY if codes and all(c == BUSY for c in codes) else 0


def tick(app: Session) -> int:
    from batty.store import runscope
    from batty.workflow.state import State

    runscope.forget()  # what the tick before remembered (`batty run`): never a growing heap
    st = State(app)
    st.step_wait = 0.0
    start = time.monotonic()
    _tick_gap(app, st)
    st.events.emit(Kind.TICK_STARTED)
    steps: dict[str, int] = {}
    bugs: list[BaseException] = []
    for step in STEPS:
        name = step.name
        try:
            steps[name] = step.run(st)
        except Busy:
            steps[name] = BUSY
            app.say(f"{name}: busy (another run holds its lock); skipped")
        except BattyError as e:
            steps[name] = e.exit_code
            app.warn(f"{name}: {e}")
        except Exception as e:  # the step's error boundary: the next steps still run
            steps[name] = BUG
            bugs.append(e)
            where = crash_log(app, e, name)
            app.warn(f"{name}: internal error: {type(e).__name__}: {e}"
                     + (f" (crash log: {where})" if where else "") + "; the next steps run")
    rc = worst([c for n, c in steps.items() if n != "commit" or c not in (0, BUSY)])
    busy = [n for n, c in steps.items() if c == BUSY]
    took = f"{time.monotonic() - start:.1f} s"
    if busy and rc == 0:
        app.say(f"tick: done in {took}; {', '.join(busy)} busy (another run holds the lock), the next tick takes it")
    elif rc == 0:
        app.say(f"tick: done in {took}")
    failed = [n for n, c in steps.items() if c not in (0, BUSY)]
    st.events.emit(Kind.TICK_FINISHED, duration_s=round(time.monotonic() - start, 3), steps=steps, rc=rc,
                   failed=failed)
    if bugs and "pytest" in sys.modules:
        raise bugs[0]  # under tests, bugs never hide (STYLE 5); tick.finished is logged already
    return rc


def _tick_gap(app: Session, st: State) -> None:
    """Issue 16.4: with no cron daemon running, nothing warned. The first tick after a gap says
    so, and a person is told once (an escalation about no task)."""
    from batty.workflow.attention import tick_gap

    gap = tick_gap(st.paths)
    if gap is None:
        return
    app.warn(f"tick: {gap.what}")
    try:
        from batty.workflow.escalations import raise_escalation

        raise_escalation(st, tasks=[], reason="no-tick", text=f"{gap.what}\nCheck: {gap.do}",
                         source="tick")
    except BattyError as e:
        app.warn(f"tick: {e}")


def _waits(st: State) -> None:
    """Issue 16.5: each task only a person can move on is in INBOX.md, notified once."""
    from batty.workflow.attention import escalate_waits

    try:
        escalate_waits(st)
    except BattyError as e:
        st.app.warn(f"tick: {e}")


def crash_log(app: Session, exc: BaseException, step: str) -> str | None:
    """Keep a crash log under .batty/crash/ (as the CLI's error boundary does); its path."""
    import traceback

    from batty.core import clock

    try:
        folder = app.paths.crashes
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{clock.now().strftime('%Y%m%dT%H%M%S%f')}-{os.getpid()}-{step}.log"
        path.write_text(f"argv: {sys.argv!r}\nstep: {step}\n\n" + "".join(traceback.format_exception(exc)),
                        encoding="utf-8")
        return str(path)
    except OSError:
        return None


def idle(app: Session) -> str | None:
    """Why nothing can make progress without a person (``run --until-idle`` stops then), or None
    while a tick could still move something: an agent runs, an attempt waits for verify, a task
    for merge, a ready task or a next attempt for a seat. Work held back only by a paused dispatch
    (low disk) or by a person's approval does not count (issue 5 audit: `run --until-idle` never
    stopped while dispatch was paused)."""
    from batty.core import dispatch_plan as planning
    from batty.workflow.attempt import disk_pause, relaunch_needed
    from batty.workflow.state import State, is_local, ready

    st = State(app)
    packets = st.packets
    cfg = st.config
    review = [p for p in packets if p.status is Status.REVIEW]
    from batty.workflow.attention import waits_for_approval

    approval = [p for p in review if waits_for_approval(st, p, cfg)]
    if len(approval) < len(review):
        return None  # merge lands it or sends it back
    relaunch = relaunch_needed(st)
    live = [p for p in packets if p.status is Status.IN_PROGRESS]
    if any(p.id not in relaunch for p in live):
        return None  # an agent runs (or stalls: doctor heals it), or its attempt waits for verify
    from batty.workflow import budget

    spend = budget.gate(st, apply=False)  # a spent budget holds work back as low disk does
    relaunch = {t: n for t, n in relaunch.items() if t not in spend.spent_tasks}
    queue = [p for p in ready(packets) if p.id not in spend.spent_tasks]
    paused = (disk_pause(st) or spend.paused) if (queue or live) and cfg.seats else None
    mine = {p.id: p for p in packets if is_local(p)}
    if planning.plan(cfg, mine, queue, relaunch, paused=paused, closed=spend.closed).assign:
        return None  # dispatch gives a seat something
    why = []
    if queue or live:
        n = len(queue) + len(live)
        why.append(f"dispatch is paused ({paused}): {n} task(s) wait" if paused
                   else f"{n} task(s) wait for a seat that fits them (seats in board/config.yaml)")
    if approval:
        why.append(f"{len(approval)} task(s) in review wait for `batty approve`")
    blocked = sum(1 for p in packets if p.status is Status.BLOCKED)
    if blocked:
        why.append(f"{blocked} task(s) blocked, for a person (`batty escalations`)")
    return "; ".join(why) or "nothing left to do"
