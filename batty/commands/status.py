"""batty status: seats, running agents, the ready queue, the last tick, open escalations."""

from __future__ import annotations

from typing import Any

import click

from batty.workflow.session import Session


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The same as JSON.")
@click.pass_obj
def command(app: Session, as_json: bool) -> None:
    """Seats, running agents, the ready queue, the last tick, open escalations, and spend
    today and this week against the budgets (docs/budgets.md)."""
    from batty.workflow.fleet import status_report
    from batty.workflow.state import dumps

    report = status_report(app)
    if as_json:
        click.echo(dumps(report))
        return
    from tabulate import tabulate

    click.echo(tabulate([(s["seat"], s["agent"], s["role"], s["task"] or "-", s["state"])
                         for s in report["seats"]],
                        headers=["seat", "agent", "role", "task", "state"], tablefmt="plain"))
    ready = report["ready"]
    click.echo(f"\nready: {len(ready)}" + (": " + " ".join(ready[:10]) + (" ..." if len(ready) > 10 else "")
                                          if ready else ""))
    for w in report.get("waiting") or []:
        click.echo(f"  {w['task']} {w['why']}")
    counts = " ".join(f"{k} {v}" for k, v in report["counts"].items() if v)
    click.echo(f"tasks: {counts or 'none'}")
    tick = report["last_tick"]
    click.echo(f"last tick: {tick['ts']} ({tick['ago_s']:.0f}s ago)" if tick else "last tick: never")
    esc = report["escalations"]
    click.echo(f"open escalations: {len(esc)}")
    for e in esc[:10]:
        click.echo(f"  {e['id']} {e['task']}: {e['reason']}")
    for line in spend_lines(report.get("spend")):
        click.echo(line)
    needs = report["needs_you"]
    if needs:  # issue 16.5: every wait only a person can end, with what ends it
        click.echo(f"needs you: {len(needs)}")
        for n in needs:
            click.echo(f"  {(n['task'] + ': ') if n['task'] else ''}{n['what']} -> {n['do']}")


def money(s: dict[str, Any]) -> str:
    return f"${s['cost_usd']:,.2f}, {s['tokens']:,} tokens, {_wall(s['wall_s'])}"


def _wall(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def spend_lines(spend: dict[str, Any] | None) -> list[str]:
    if not spend:
        return []
    if "error" in spend:
        return [f"spend: unknown ({spend['error']})"]
    tz = spend["timezone"]
    out = [f"spend today ({spend['today']['day']} {tz}): {money(spend['today'])}",
           f"spend this week (from {spend['week']['from']}): {money(spend['week'])}"]
    for row in spend["budgets"]:
        if row["scope"] in ("attempt", "task") and row["state"] == "ok":
            continue  # every running task's budgets would crowd the screen: only those near it
        mark = {"ok": "", "warned": " WARNING", "spent": " SPENT"}[row["state"]]
        tail = ""
        if row.get("resumes"):
            who = f"seat {row['seat']}" if row["scope"] == "seat_day" else "every seat"
            tail = f": dispatch paused for {who}; {row['resumes']}"
        out.append(f"  {row['line']}{mark}{tail}")
    for seat in spend.get("partial") or []:
        out.append(f"  {seat['seat']} ({seat['agent']}) counts {', '.join(seat['counts'])} only: "
                   "its agent reports no more (docs/budgets.md)")
    return out
