"""``batty trace``: one task's whole story, spawn to done, with the time between steps."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

JSON_VERSION = 1


@dataclass(frozen=True)
class Story:
    task: str
    zone: str
    events: list[dict[str, Any]]  # each with delta_s (since the previous) and elapsed_s

    @property
    def status(self) -> str | None:
        moves = [e for e in self.events if e["kind"] == "task.status" and e["task"] == self.task]
        return moves[-1]["data"].get("to") if moves else None

    @property
    def attempts(self) -> int:
        return max([e["attempt"] or 0 for e in self.events] or [0])

    @property
    def elapsed_s(self) -> float:
        return self.events[-1]["elapsed_s"] if self.events else 0.0

    def usage(self) -> dict[str, Any]:
        runs = [e["data"].get("usage") or {} for e in self.events if e["kind"] == "agent.exited"]

        def total(key: str) -> Any:
            values: list[float] = [u[key] for u in runs if u.get(key) is not None]
            return round(sum(values), 6) if values else None

        return {"runs": len(runs), "input_tokens": total("input_tokens"),
                "output_tokens": total("output_tokens"), "cost_usd": total("cost_usd")}


def _parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def gather(paths: Any, task: str) -> Story:
    """Refresh the database from this machine's log, then read every event of ``task``."""
    from batty.core.ids import check_id
    from batty.errors import NotFound
    from batty.telemetry import db, figures
    from batty.telemetry.zone import timezone_of

    check_id(task)
    db.refresh(paths, cmd="trace")
    conn = db.connect(paths.telemetry_db)
    try:
        found = figures.rows(conn, "trace", task=task)
    finally:
        conn.close()
    if not found:
        raise NotFound(f"no events for task {task}",
                       valid="see `batty task list`; `batty telemetry load FILE` takes other machines' logs")
    first = prev = _parse_ts(found[0]["ts"])
    for e in found:
        e["data"] = json.loads(e["data"]) if e["data"] else {}
        at = _parse_ts(e["ts"])
        e["delta_s"] = round((at - prev).total_seconds(), 6)
        e["elapsed_s"] = round((at - first).total_seconds(), 6)
        prev = at
    return Story(task, timezone_of(paths).key, found)


def table(story: Story) -> str:
    from tabulate import tabulate

    from batty.telemetry.report import number
    from batty.telemetry.text import detail, duration, local_time

    zone = ZoneInfo(story.zone)
    use = story.usage()
    head = (f"{story.task}: {story.status or 'no status yet'}, {story.attempts} attempt(s), "
            f"{duration(story.elapsed_s)} from first to last event; {use['runs']} agent run(s), "
            f"{number(use['input_tokens'])} tokens in, {number(use['output_tokens'])} out, "
            f"{number(use['cost_usd'], 'usd')}")
    rows = [[local_time(e["ts"], zone), "+" + duration(e["delta_s"]), e["kind"], e["attempt"] or "-",
             e["seat"] or "-", e["host"] or "-", detail(e["data"])] for e in story.events]
    return head + "\n\n" + tabulate(
        rows, headers=[f"time ({story.zone})", "step", "kind", "try", "seat", "host", "detail"],
        tablefmt="simple", disable_numparse=True)


def as_json(story: Story) -> str:
    return json.dumps({"version": JSON_VERSION, "task": story.task, "status": story.status,
                       "attempts": story.attempts, "elapsed_s": story.elapsed_s,
                       "usage": story.usage(), "events": story.events}, indent=2)
