"""tick (issue 5): reconcile, doctor, verify, merge, dispatch — the pass cron runs every minute.

Each step holds its own lock; a step another run holds is skipped (the next tick takes it) and
the tick exits 75. One State is shared by the steps, so a tick makes at most one board commit.
``tick.started`` and ``tick.finished`` are the heartbeat.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from batty.core.kinds import Kind
from batty.core.lifecycle import Status
from batty.errors import BattyError, Busy

if TYPE_CHECKING:
    from batty.cli import App
    from batty.state import State

STEPS = ("reconcile", "doctor", "verify", "merge", "dispatch")


def _step(name: str) -> Callable[[State], Any]:
    import importlib

    module = importlib.import_module(f"batty.{name}")
    step: Callable[[State], Any] = module.run
    return step


def tick(app: App) -> int:
    from batty.state import State

    st = State(app)
    st.step_wait = 0.0
    start = time.monotonic()
    st.events.emit(Kind.TICK_STARTED)
    steps: dict[str, int] = {}
    for name in STEPS:
        try:
            out = _step(name)(st)
            steps[name] = out if isinstance(out, int) and name == "reconcile" else 0
        except Busy:
            steps[name] = 75
            app.say(f"{name}: busy (another run holds its lock); skipped")
        except BattyError as e:
            steps[name] = e.exit_code
            app.warn(f"{name}: {e}")
    try:
        st.finish()
    except Busy:
        steps["commit"] = 75
    except BattyError as e:
        app.warn(f"commit: {e}")
        steps["commit"] = 1
    codes = set(steps.values())
    rc = 1 if 1 in codes else 75 if 75 in codes else 0
    st.events.emit(Kind.TICK_FINISHED, duration_s=round(time.monotonic() - start, 3), steps=steps, rc=rc)
    return rc


def idle(app: App) -> bool:
    """Nothing in flight and nothing that could be dispatched."""
    from batty.state import State, ready

    st = State(app)
    packets = st.packets
    if any(p.status in (Status.IN_PROGRESS, Status.REVIEW) for p in packets):
        return False
    return not ready(packets) or not st.config.seats
