"""Synthetic event logs shaped like a real run (docs/events.md), for the benchmark and the tests.

Each task goes through a plausible lifecycle (created, dispatched, agent run with usage, the four
verify phases, a retry now and then, confidence, merge, done; or blocked and escalated), among
minute heartbeats, doctor heals and reconciliations. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 11, 1, tzinfo=UTC)


def _id(ms: int, rnd: random.Random) -> str:
    value = (ms << 80) | (0x7 << 76) | (rnd.getrandbits(12) << 64) | (0b10 << 62) | rnd.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event(ts: datetime, kind: str, rnd: random.Random, *, task: str | None = None,
          seat: str | None = None, attempt: int | None = None, host: str = "build-1",
          cmd: str = "tick", **data: Any) -> dict[str, Any]:
    """One event as EventLog writes it, at ``ts`` (UTC)."""
    ms = int(ts.timestamp() * 1000)
    corr = (f"{task}#{attempt}" if attempt else task) if task else None
    return {"id": _id(ms, rnd), "ts": ts.astimezone(UTC).isoformat(timespec="microseconds"),
            "kind": kind, "task": task, "seat": seat, "attempt": attempt, "corr": corr,
            "host": host, "cmd": cmd, "data": data}


def run(n_events: int, *, start: datetime = START, seats: int = 3, seed: int = 7,
        host: str = "build-1", prefix: str = "T",
        gap_s: tuple[int, int] = (20, 40)) -> Iterator[dict[str, Any]]:
    """Exactly ``n_events`` events, a new task every ``gap_s`` seconds (a million: 19 days)."""
    rnd = random.Random(seed)
    seat_names = [f"eng-{i + 1}" for i in range(seats)]
    t = start
    emitted = 0
    n = 0
    while emitted < n_events:
        n += 1
        task = f"{prefix}-{n}"
        batch = list(_task(task, t, rnd, seat_names[n % seats], host))
        # heartbeats and housekeeping between tasks
        batch.append(event(t, "tick.started", rnd, host=host))
        if n % 7 == 0:
            batch.append(event(t + timedelta(seconds=2), "doctor.action", rnd, host=host, cmd="doctor",
                               action=rnd.choice(["respawn", "stale-lock", "worktree-repair"]), detail=""))
        if n % 11 == 0:
            batch.append(event(t + timedelta(seconds=3), "reconcile.worktree", rnd, host=host,
                               cmd="reconcile", action="prune", path=f".batty/worktrees/{task}"))
        if n % 13 == 0:
            moved: dict[str, Any] = {"from": "in-progress", "to": "review", "why": "sync"}
            batch.append(event(t + timedelta(seconds=3), "reconcile.state", rnd, task=task, host=host,
                               cmd="reconcile", **moved))
        if n % 97 == 0:
            batch.append(event(t + timedelta(seconds=4), "disk.cleanup", rnd, host=host, removed=3, freed_mb=120))
        batch.append(event(t + timedelta(seconds=5), "tick.finished", rnd, host=host,
                           duration_s=4.2, steps={"verify": 0, "merge": 0}, rc=0))
        batch.sort(key=lambda e: e["ts"])
        yield from batch[: n_events - emitted]
        emitted += min(len(batch), n_events - emitted)
        t += timedelta(seconds=rnd.randint(*gap_s))


def _task(task: str, t: datetime, rnd: random.Random, seat: str, host: str) -> Iterator[dict[str, Any]]:
    s = lambda sec: t + timedelta(seconds=sec)  # noqa: E731
    yield event(s(0), "task.created", rnd, task=task, host=host, cmd="task", title=f"Task {task}",
                status="todo", by="human")
    attempts = 1 + (rnd.random() < 0.15) + (rnd.random() < 0.05)
    fails = rnd.random() < 0.06
    clock = 1.0
    for attempt in range(1, attempts + 1):
        yield event(s(clock), "task.dispatched", rnd, task=task, seat=seat, attempt=attempt, host=host,
                    cmd="dispatch", agent="claude", branch=f"batty/{task}", worktree=f".batty/worktrees/{task}")
        if attempt == 1:
            yield event(s(clock), "task.status", rnd, task=task, seat=seat, attempt=attempt, host=host,
                        cmd="dispatch", **{"from": "todo", "to": "in-progress", "by": "dispatch", "why": "dispatched"})
        yield event(s(clock + 0.5), "agent.started", rnd, task=task, seat=seat, attempt=attempt,
                    host=host, agent="claude", pid=4242, runner="process")
        if rnd.random() < 0.03:
            yield event(s(clock + 3), "agent.respawned", rnd, task=task, seat=seat, attempt=attempt,
                        host=host, cmd="doctor", reason="stalled", respawns=1)
        run_s = rnd.randint(5, 15)
        yield event(s(clock + run_s), "agent.exited", rnd, task=task, seat=seat, attempt=attempt,
                    host=host, exit_code=0, duration_s=float(run_s),
                    usage={"input_tokens": rnd.randint(2000, 90000), "output_tokens": rnd.randint(200, 9000),
                           "cost_usd": round(rnd.uniform(0.01, 0.9), 4)})
        clock += run_s + 1
        last = attempt == attempts
        for phase in ("collect", "fence", "test", "evidence"):
            yield event(s(clock), "verify.phase", rnd, task=task, seat=seat, attempt=attempt, host=host,
                        cmd="verify", phase=phase, result="pass" if last or phase != "test" else "fail", detail="")
            clock += 0.2
        yield event(s(clock), "verify.evidence", rnd, task=task, seat=seat, attempt=attempt, host=host,
                    cmd="verify", path=f".batty/evidence/{task}/{attempt}", sha="ab12cd3", exit_code=0 if last else 1,
                    duration_s=3.1)
        if not last:
            yield event(s(clock), "verify.failed", rnd, task=task, seat=seat, attempt=attempt, host=host,
                        cmd="verify", sha="ab12cd3", reason="tests")
            clock += 1
    attempt = attempts
    if fails:
        yield event(s(clock), "task.status", rnd, task=task, seat=seat, attempt=attempt, host=host,
                    cmd="verify", **{"from": "in-progress", "to": "blocked", "by": "verify", "why": "attempts spent"})
        yield event(s(clock), "escalation.raised", rnd, host=host, cmd="verify", escalation=f"E-{task}",
                    reason="attempts-exhausted", tasks=[task], text=f"{task} failed {attempts} times")
        return
    yield event(s(clock), "verify.passed", rnd, task=task, seat=seat, attempt=attempt, host=host,
                cmd="verify", sha="ab12cd3")
    yield event(s(clock), "task.status", rnd, task=task, seat=seat, attempt=attempt, host=host,
                cmd="verify", **{"from": "in-progress", "to": "review", "by": "verify", "why": "tests passed"})
    score = round(max(0.3, 1 - 0.1 * (attempts - 1) - rnd.uniform(0, 0.3)), 3)
    yield event(s(clock + 1), "merge.confidence", rnd, task=task, seat=seat, attempt=attempt, host=host,
                cmd="merge", score=score, parts={"retries": -0.1 * (attempts - 1)})
    yield event(s(clock + 2), "merge.merged", rnd, task=task, seat=seat, attempt=attempt, host=host,
                cmd="merge", sha="ef45ab6", base="main", strategy="rebase", auto=score >= 0.7,
                confidence=score, commits=rnd.randint(1, 4))
    yield event(s(clock + 2), "task.status", rnd, task=task, seat=seat, attempt=attempt, host=host,
                cmd="merge", **{"from": "review", "to": "done", "by": "merge", "why": "merged"})


def dumps(e: dict[str, Any]) -> str:
    """One line exactly as EventLog writes it."""
    return json.dumps(e, separators=(",", ":"), default=str, ensure_ascii=False) + "\n"


def write(path: Path, events: Any, *, mode: str = "w") -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, mode, encoding="utf-8") as f:
        for e in events:
            f.write(dumps(e))
            n += 1
    return n
