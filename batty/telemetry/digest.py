"""``batty digest``: the week in figures (issue 7), in markdown or self-contained html.

Windows are whole local days in ``telemetry.timezone`` (``--since 7d``: today and the six days
before); each day's figures come from the stored local ``day`` of every event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from batty.telemetry.figures import Figure
from batty.telemetry.report import Window, number

HEADLINE = ("tasks_spawned", "tasks_completed", "tasks_failed", "tasks_in_flight", "success_rate",
            "escalations", "self_healing_actions", "tasks_auto_merged", "commits_landed")


@dataclass(frozen=True)
class Digest:
    window: Window
    figures: dict[str, Figure]
    days: list[dict[str, Any]]  # day, completions, escalations, self_heals, cost_usd: every day
    seats: list[dict[str, Any]]  # seat, completions, runs, cost_usd
    slowest: list[dict[str, Any]]
    most_retried: list[dict[str, Any]]
    burn: list[dict[str, Any]] = field(default_factory=list)  # day, cost_usd, tokens, agent_hours, ...
    budgets: list[dict[str, Any]] = field(default_factory=list)  # budget.warned / budget.exceeded
    reviews: list[dict[str, Any]] = field(default_factory=list)  # approvals, changes requested

    @property
    def cost_usd(self) -> float | None:
        costs = [s["cost_usd"] for s in self.seats if s["cost_usd"] is not None]
        return round(sum(costs), 4) if costs else None

    @property
    def period(self) -> str:
        if not self.days:
            return "no events"
        first, last = self.days[0]["day"], self.days[-1]["day"]
        return first if first == last else f"{first} to {last}"


def gather(paths: Any, since: str | None = "7d") -> Digest:
    """Refresh the database from this machine's log, then gather the window's figures."""
    from batty.telemetry import db, figures, report
    from batty.telemetry.zone import days_between

    win = report.window(paths, since)
    db.refresh(paths, cmd="digest")
    conn = db.connect(paths.telemetry_db)
    try:
        figs = {f.query.name: f for f in figures.compute(conn, win.since)}
        by_day: dict[str, dict[str, Any]] = {}

        def day(d: str) -> dict[str, Any]:
            return by_day.setdefault(d, {"day": d, "completions": 0, "escalations": 0,
                                         "self_heals": 0, "cost_usd": None})

        for r in figures.rows(conn, "daily_completions", win.since):
            day(r["day"])["completions"] = r["completions"]
        for r in figures.rows(conn, "daily_escalations_self_heals", win.since):
            day(r["day"]).update(escalations=r["escalations"], self_heals=r["self_heals"])
        for r in figures.rows(conn, "daily_cost", win.since):
            day(r["day"])["cost_usd"] = r["cost_usd"]
        usage = {r["seat"]: r for r in figures.rows(conn, "usage_by_seat", win.since)}
        slowest = figures.rows(conn, "slowest_tasks", win.since)
        retried = figures.rows(conn, "most_retried_tasks", win.since)
        burn = figures.rows(conn, "burn_rate", win.since)
        budgets = figures.rows(conn, "budget_events", win.since)
        reviews = figures.rows(conn, "reviews", win.since)
    finally:
        conn.close()
    if win.start is not None:
        from zoneinfo import ZoneInfo

        for d in days_between(win.start, win.now, ZoneInfo(win.zone)):
            day(d)
    completions = figs["per_seat_completions"].value or {}
    seats = [{"seat": seat, "completions": completions.get(seat, 0),
              "runs": usage.get(seat, {}).get("runs", 0),
              "cost_usd": usage.get(seat, {}).get("cost_usd")}
             for seat in sorted(set(completions) | set(usage))]
    return Digest(win, figs, [by_day[d] for d in sorted(by_day) if d], seats, slowest, retried,
                  burn, budgets, reviews)


def _headline(d: Digest) -> list[tuple[str, str]]:
    rows = [(d.figures[name].query.title, number(d.figures[name].value, d.figures[name].query.format))
            for name in HEADLINE]
    rows.append(("Cost", number(d.cost_usd, "usd")))
    return rows


def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _sections(d: Digest) -> list[tuple[str, list[str], list[list[Any]]]]:
    from zoneinfo import ZoneInfo

    from batty.telemetry.text import duration, local_time

    zone = ZoneInfo(d.window.zone)
    return [
        ("By day", ["Day", "Completed", "Escalations", "Self-heals", "Cost"],
         [[r["day"], r["completions"], r["escalations"], r["self_heals"], number(r["cost_usd"], "usd")]
          for r in d.days]),
        ("By seat", ["Seat", "Completed", "Agent runs", "Cost"],
         [[s["seat"], s["completions"], s["runs"], number(s["cost_usd"], "usd")] for s in d.seats]),
        ("Slowest tasks", ["Task", "Dispatch to done", "Done"],
         [[r["task"], duration(r["seconds"]), local_time(r["done_at"], zone)[:16]] for r in d.slowest]),
        ("Most retried tasks", ["Task", "Dispatches", "Latest status"],
         [[r["task"], r["dispatches"], r["status"] or "-"] for r in d.most_retried]),
        ("Spend and burn rate", ["Day", "Cost", "Tokens", "Agent hours", "Cost per agent hour"],
         [[r["day"], number(r["cost_usd"], "usd"), number(r["tokens"]), number(r["agent_hours"]),
           number(r["usd_per_agent_hour"], "usd")] for r in d.burn]),
        ("Budgets", ["When", "Event", "Budget", "Spent", "Limit", "Of"],
         [[local_time(r["ts"], zone)[:16], r["kind"], f"{r['scope']}.{r['unit']}",
           _amount(r["unit"], r["spent"]), _amount(r["unit"], r["limit"]),
           r["task"] or r["seat"] or "fleet"] for r in d.budgets]),
        ("Reviews", ["Task", "Decision", "By", "Words", "When"],
         [[r["task"], r["decision"], r["by_whom"] or "-", _words(r["text"]), local_time(r["ts"], zone)[:16]]
          for r in d.reviews]),
    ]


def _amount(unit: str | None, value: Any) -> str:
    return number(value, "usd" if unit == "cost_usd" else None)


def _words(text: str | None, width: int = 80) -> str:
    line = " ".join(str(text or "").split())
    line = line.replace("|", "\\|")  # a markdown table cell
    return "-" if not line else line if len(line) <= width else line[: width - 1] + "…"


def markdown(d: Digest) -> str:
    out = [f"# batty digest: {d.period} ({d.window.zone})", "",
           _md_table(["Figure", "Value"], [list(r) for r in _headline(d)])]
    for title, headers, rows in _sections(d):
        out += ["", f"## {title}", ""]
        out.append(_md_table(headers, rows) if rows else "None.")
    return "\n".join(out) + "\n"


CSS = """body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f4f6f8}td.n{text-align:right}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.5em}
svg.chart{display:block;margin:1em 0;max-width:100%;height:auto}svg text{fill:#444;font-family:sans-serif}"""


def _html_table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{escape(str(c))}</td>' if isinstance(c, (int, float)) or str(c)[:1].isdigit()
        and i else f"<td>{escape(str(c))}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html(d: Digest) -> str:
    """One self-contained page: inline CSS and SVG, no script, nothing fetched."""
    from batty.telemetry.svg import bars

    labels = [r["day"] for r in d.days]
    charts = []
    if d.days:
        charts.append(bars(labels, {"completed": [r["completions"] for r in d.days]},
                           title="Tasks completed per day"))
        charts.append(bars(labels, {"escalations": [r["escalations"] for r in d.days],
                                    "self-heals": [r["self_heals"] for r in d.days]},
                           title="Escalations and self-heals per day"))
    if d.seats:
        charts.append(bars([s["seat"] for s in d.seats], {"completed": [s["completions"] for s in d.seats]},
                           title="Completions per seat"))
    title = f"batty digest: {d.period} ({d.window.zone})"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{escape(title)}</h1>",
             _html_table(["Figure", "Value"], [list(r) for r in _headline(d)]), *charts]
    for name, headers, rows in _sections(d):
        parts += [f"<h2>{escape(name)}</h2>", _html_table(headers, rows)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
