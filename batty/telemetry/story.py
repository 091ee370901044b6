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


    def per_attempt(self) -> list[dict[str, Any]]:
        """Each attempt's agent runs, tokens, dollars and agent time (issue 18), with the budget
        events said about it."""
        out: dict[int, dict[str, Any]] = {}
        for e in self.events:
            if e["kind"] not in ("agent.exited", "budget.warned", "budget.exceeded") or not e["attempt"]:
                continue
            row = out.setdefault(int(e["attempt"]), {"attempt": int(e["attempt"]), "runs": 0,
                                                     "tokens": None, "cost_usd": None,
                                                     "wall_s": 0.0, "budget": []})
            if e["kind"] != "agent.exited":
                d = e["data"]
                row["budget"].append(f"{e['kind'].split('.')[1]} {d.get('scope')}.{d.get('unit')}")
                continue
            u = e["data"].get("usage") or {}
            row["runs"] += 1
            row["wall_s"] = round(row["wall_s"] + float(e["data"].get("duration_s") or 0), 3)
            tokens = [u[k] for k in ("input_tokens", "output_tokens") if u.get(k) is not None]
            if tokens:
                row["tokens"] = (row["tokens"] or 0) + sum(tokens)
            if u.get("cost_usd") is not None:
                row["cost_usd"] = round((row["cost_usd"] or 0) + u["cost_usd"], 6)
        return [out[k] for k in sorted(out)]


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
    attempts = story.per_attempt()
    if attempts:
        head += "\n\n" + tabulate(
            [[a["attempt"], a["runs"], number(a["tokens"]), number(a["cost_usd"], "usd"),
              duration(a["wall_s"]), "; ".join(a["budget"]) or "-"] for a in attempts],
            headers=["attempt", "agent runs", "tokens", "cost", "agent time", "budget"],
            tablefmt="simple", disable_numparse=True)
    rows = [[local_time(e["ts"], zone), "+" + duration(e["delta_s"]), e["kind"], e["attempt"] or "-",
             e["seat"] or "-", e["host"] or "-", detail(e["data"])] for e in story.events]
    return head + "\n\n" + tabulate(
        rows, headers=[f"time ({story.zone})", "step", "kind", "try", "seat", "host", "detail"],
        tablefmt="simple", disable_numparse=True)


def as_json(story: Story) -> str:
    return json.dumps({"version": JSON_VERSION, "task": story.task, "status": story.status,
                       "attempts": story.attempts, "elapsed_s": story.elapsed_s,
                       "usage": story.usage(), "per_attempt": story.per_attempt(),
                       "events": story.events}, indent=2)
