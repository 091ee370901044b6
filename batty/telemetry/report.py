"""``batty stats``: the SPEC 7 figures over a window, as a table or as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batty.telemetry.figures import Figure

JSON_VERSION = 1


@dataclass(frozen=True)
class Window:
    """Events at or after ``start`` (UTC; None: all), days cut in ``zone``, up to ``now``."""

    start: datetime | None
    zone: str
    now: datetime

    @property
    def since(self) -> str:
        """The ``:since`` parameter: a stored UTC time, or '' for the whole log."""
        from batty.core import clock

        return clock.iso(self.start) if self.start else ""

    def describe(self) -> str:
        if self.start is None:
            return f"all events (days in {self.zone})"
        from zoneinfo import ZoneInfo

        local = self.start.astimezone(ZoneInfo(self.zone))
        return f"since {local:%Y-%m-%d %H:%M} {self.zone}"


@dataclass(frozen=True)
class Stats:
    window: Window
    figures: list[Figure]
    usage_by_seat: list[dict[str, Any]]
    usage_by_task: list[dict[str, Any]]
    burn: list[dict[str, Any]] = field(default_factory=list)  # spend per day (issue 18)
    budgets: list[dict[str, Any]] = field(default_factory=list)  # budget.warned / exceeded
    flaky_tests: list[dict[str, Any]] = field(default_factory=list)  # SPEC 14


def window(paths: Any, since: str | None) -> Window:
    from batty.core import clock
    from batty.telemetry.zone import since_start, timezone_of

    zone = timezone_of(paths)
    now = clock.now()
    return Window(since_start(since, zone, now), zone.key, now)


def gather(paths: Any, since: str | None, *, cmd: str = "stats") -> Stats:
    """Refresh the database from this machine's log, then compute every figure."""
    from batty.telemetry import db, figures

    win = window(paths, since)
    db.refresh(paths, cmd=cmd)
    conn = db.connect(paths.telemetry_db)
    try:
        return Stats(win, figures.compute(conn, win.since),
                     figures.rows(conn, "usage_by_seat", win.since),
                     figures.rows(conn, "usage_by_task", win.since),
                     figures.rows(conn, "burn_rate", win.since),
                     figures.rows(conn, "budget_events", win.since),
                     figures.rows(conn, "flaky_tests", win.since))
    finally:
        conn.close()


def number(value: Any, fmt: str | None = None) -> str:
    """A figure as a person reads it: 1,234 · 87.5% · 0.42 · '-' for no data."""
    if value is None:
        return "-"
    if fmt == "percent":
        return f"{value * 100:.1f}%"
    if fmt == "usd":
        return f"${value:,.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    if isinstance(value, (int, float)):
        return f"{int(value):,}"
    return str(value)


def figure_text(f: Figure) -> str:
    if isinstance(f.value, dict):
        return ", ".join(f"{seat} {number(n)}" for seat, n in f.value.items()) or "-"
    text = number(f.value, f.query.format)
    return f"{text} ({f.detail})" if f.detail else text


USAGE_HEADERS = ("runs", "input tokens", "output tokens", "cost")


def usage_rows(rows: list[dict[str, Any]], key: str) -> list[list[str]]:
    return [[r[key], number(r["runs"]), number(r["input_tokens"]), number(r["output_tokens"]),
             number(r["cost_usd"], "usd")] for r in rows]


def table(stats: Stats, *, usage: bool = False) -> str:
    from tabulate import tabulate

    out = [f"batty stats, {stats.window.describe()}", ""]
    out.append(tabulate([[f.query.title, figure_text(f)] for f in stats.figures],
                        headers=["Figure", "Value"], tablefmt="github", disable_numparse=True))
    if stats.usage_by_seat:
        out += ["", tabulate(usage_rows(stats.usage_by_seat, "seat"), headers=["Seat", *USAGE_HEADERS],
                             tablefmt="github", disable_numparse=True)]
    if stats.burn:
        out += ["", tabulate([[r["day"], number(r["cost_usd"], "usd"), number(r["tokens"]),
                               number(r["agent_hours"]), number(r["usd_per_agent_hour"], "usd")]
                              for r in stats.burn],
                             headers=["Day", "Spent", "Tokens", "Agent hours", "Per agent hour"],
                             tablefmt="github", disable_numparse=True)]
    if stats.budgets:
        warned = sum(1 for r in stats.budgets if r["kind"] == "budget.warned")
        out += ["", f"Budgets: {warned} warning(s), {len(stats.budgets) - warned} spent"
                    " (`batty digest` lists them)"]
    if stats.flaky_tests:
        out += ["", tabulate([[r["test"], r["check_name"], number(r["flakes"]), number(r["runs"]),
                               number(r["flake_rate"], "percent")] for r in stats.flaky_tests],
                             headers=["Flaky test", "check", "flakes", "runs", "flake rate"],
                             tablefmt="github", disable_numparse=True)]
    if usage and stats.usage_by_task:
        out += ["", tabulate(usage_rows(stats.usage_by_task, "task"), headers=["Task", *USAGE_HEADERS],
                             tablefmt="github", disable_numparse=True)]
    return "\n".join(out)


def as_json(stats: Stats) -> str:
    doc = {
        "version": JSON_VERSION,
        "since": stats.window.since or None,
        "timezone": stats.window.zone,
        "figures": [f.as_json() for f in stats.figures],
        "usage": {"by_seat": stats.usage_by_seat, "by_task": stats.usage_by_task},
        "spend_by_day": stats.burn,
        "budgets": stats.budgets,
        "flaky_tests": list(stats.flaky_tests),
    }
    return json.dumps(doc, indent=2)
