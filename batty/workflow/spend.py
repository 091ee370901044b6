"""Spend (SPEC 12, issue 18): what every agent run spent, read again from its records each time.

Derived, never accumulated: each time spend is needed it is read from the run records of
``.batty/runs/<ID>/<attempt>/`` (and their ``respawn.N/`` folders: one agent run each). An agent
run that exited has its usage and duration in run.json (the wrapper parsed the CLI's own report,
:mod:`batty.agents.usage`); one still running, or killed with kill -9 before its exit record, is read
from its agent.log as it stands, and its wall time runs from its start to now (or to the log's
last write). So a crash loses nothing and nothing is counted twice: there is no running total
to lose or to add to again. Runs of finished tasks that disk cleanup removed
(``disk.keep_runs_days`` under a week and a day) are read from their ``agent.exited`` events.

:mod:`batty.workflow.budget` decides what to do about it; :mod:`batty.core.budget` does the arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from batty import runner
from batty.core import budget as core
from batty.core import clock
from batty.core.budget import Spend
from batty.store import atomic

if TYPE_CHECKING:
    from batty.store.paths import Paths
    from batty.workflow.state import State

LOG_TAIL = 2 << 20  # how much of a live agent's log is read for its usage so far


@dataclass(frozen=True)
class AgentRun:
    """One agent run (an attempt, or the part of one before a respawn) and what it spent."""

    task: str
    attempt: int
    seat: str | None
    agent: str | None
    started: datetime
    spend: Spend
    live: bool = False  # still running: its spend grows
    reported: bool = False  # its agent reported usage (else wall time only)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def read_run(folder: Path, task: str, attempt: int, now_epoch: float) -> AgentRun | None:
    """One run folder's agent run, or None if it never started."""
    run = atomic.read_json(folder / "run.json")
    if not isinstance(run, dict):
        return None
    launch = atomic.read_json(folder / "launch.json") or {}
    agent = run.get("agent") or launch.get("agent")
    over = run.get("exit_code") is not None or bool(run.get("ended"))
    usage = run.get("usage") if isinstance(run.get("usage"), dict) and "duration_s" in run else None
    live = False
    if usage is None and agent:
        # running, killed before its exit record, or stopped by doctor: its log as it stands
        from batty.agents.usage import parse

        usage = parse(str(agent), atomic.tail(folder / "agent.log", LOG_TAIL), dict(launch.get("entry") or {}))
    usage = usage or {}
    if isinstance(run.get("duration_s"), int | float):
        wall = float(run["duration_s"])
    else:
        started = run.get("started_epoch")
        live = not over and runner.run_state(folder) == "running"
        end = now_epoch if live else _mtime(folder / "agent.log")
        wall = max(0.0, end - float(started)) if started and end else 0.0
    tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
    cost = float(usage.get("cost_usd") or 0.0)
    try:
        started_at = clock.parse(str(run.get("started")))
    except ValueError:
        started_at = datetime.fromtimestamp(float(launch.get("at_epoch") or now_epoch)).astimezone()
    return AgentRun(task, attempt, run.get("seat") or launch.get("seat"), agent, started_at,
                    Spend(wall, tokens, cost), live,
                    reported=usage.get("input_tokens") is not None or usage.get("cost_usd") is not None)


def attempt_runs(run_dir: Path, task: str, attempt: int, now_epoch: float) -> list[AgentRun]:
    """Every agent run of one attempt: the ones respawns set aside, then the current one."""
    folders = sorted((d for d in run_dir.glob("respawn.*") if d.is_dir()),
                     key=lambda d: int(d.name.split(".")[1]) if d.name.split(".")[1].isdigit() else 0)
    out = []
    for folder in [*folders, run_dir]:
        r = read_run(folder, task, attempt, now_epoch)
        if r is not None:
            out.append(r)
    return out


class Ledger:
    """Every agent run that counts, with its local day and week."""

    def __init__(self, runs: Iterable[AgentRun], tz: str) -> None:
        self.runs = list(runs)
        self.tz = tz
        self._day = [core.day_of(r.started, tz) for r in self.runs]
        self._week = [core.week_of(r.started, tz) for r in self.runs]

    def of(self, *, task: str | None = None, attempt: int | None = None, seat: str | None = None,
           day: str | None = None, week: str | None = None) -> Spend:
        return core.total([r.spend for i, r in enumerate(self.runs)
                           if (task is None or r.task == task)
                           and (attempt is None or r.attempt == attempt)
                           and (seat is None or r.seat == seat)
                           and (day is None or self._day[i] == day)
                           and (week is None or self._week[i] == week)])

    def by(self, what: str, *, day: str | None = None, week: str | None = None) -> dict[str, Spend]:
        out: dict[str, Spend] = {}
        for i, r in enumerate(self.runs):
            if (day is None or self._day[i] == day) and (week is None or self._week[i] == week):
                k = str(getattr(r, what) or "-")
                out[k] = out.get(k, Spend()) + r.spend
        return out


def ledger(st: State, now: datetime | None = None) -> Ledger:
    """What every agent run under .batty/runs/ spent (plus, where disk cleanup may have removed
    runs of this week, their agent.exited events)."""
    from batty.core.ids import ID_RE

    now = now or clock.now()
    now_epoch = time.time()
    tz = st.config.telemetry.timezone
    top = st.paths.state / "runs"
    runs: list[AgentRun] = []
    seen: set[tuple[str, int]] = set()
    try:
        tasks = sorted(d for d in top.iterdir() if d.is_dir() and ID_RE.match(d.name))
    except OSError:
        tasks = []
    # a finished task's runs older than this week count for nothing: not read (cron ticks
    # every minute; a run folder's mtime moves with each file put in it)
    from batty.core.lifecycle import Status

    # (the machine's clock, not BATTY_NOW: file times are the machine's)
    real = datetime.fromtimestamp(now_epoch).astimezone()
    week_start = core.next_start(core.week_of(real, tz), "day", tz).timestamp() - 86400 * 2
    finished = {p.id for p in st.packets if p.status in (Status.DONE, Status.ARCHIVED)}
    for tdir in tasks:
        for adir in tdir.iterdir():
            if not adir.name.isdigit() or not adir.is_dir():
                continue
            seen.add((tdir.name, int(adir.name)))
            if tdir.name in finished and _newest(adir) < week_start:
                continue
            runs += attempt_runs(adir, tdir.name, int(adir.name), now_epoch)
    if st.config.disk.keep_runs_days < 8 and _periodic(st):
        runs += _from_events(st.paths, seen, core.week_of(now, tz), tz)
    return Ledger(runs, tz)


def _newest(folder: Path) -> float:
    """The newest mtime of the folder and its run files (respawn folders included)."""
    times = [_mtime(folder) or 0.0, _mtime(folder / "run.json") or 0.0, _mtime(folder / "agent.log") or 0.0]
    return max(times)


def _periodic(st: State) -> bool:
    b = st.config.budgets
    return bool(b.seat_day or b.day or b.week)


def _from_events(paths: Paths, seen: set[tuple[str, int]], week: str, tz: str) -> list[AgentRun]:
    """agent.exited events of attempts whose run folder is gone (disk cleanup), this week."""
    from batty.store import events

    out = []
    for e in events.read(paths.events):
        if e.get("kind") != "agent.exited" or not e.get("task") or not e.get("attempt"):
            continue
        if (e["task"], int(e["attempt"])) in seen:
            continue
        data = e.get("data") or {}
        try:
            ended = clock.parse(str(e.get("ts")))
        except ValueError:
            continue
        started = ended - timedelta(seconds=float(data.get("duration_s") or 0))
        if core.week_of(started, tz) < week:
            continue
        usage = data.get("usage") or {}
        out.append(AgentRun(str(e["task"]), int(e["attempt"]), e.get("seat"), None, started,
                            Spend(float(data.get("duration_s") or 0),
                                  int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0),
                                  float(usage.get("cost_usd") or 0))))
    return out
