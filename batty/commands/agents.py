"""batty agents: seats and their agents."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The same as JSON.")
@click.pass_obj
def command(app: Session, as_json: bool) -> None:
    """Seats, their agents, what each one runs now (pid, attempt, silent for, usage)."""
    from batty.workflow.fleet import agents_report
    from batty.workflow.state import dumps

    rows = agents_report(app)
    if as_json:
        click.echo(dumps({"version": 1, "agents": rows}))
        return
    from tabulate import tabulate

    click.echo(tabulate([(r["seat"], r["agent"], r["task"] or "-", r["attempt"] or "-", r["state"],
                          r["pid"] or "-", "-" if r["silent_s"] is None else f"{r['silent_s']:.0f}s",
                          "-" if r["cost_usd"] is None else f"${r['cost_usd']:.2f}")
                         for r in rows],
                        headers=["seat", "agent", "task", "attempt", "state", "pid", "silent", "cost"],
                        tablefmt="plain"))
