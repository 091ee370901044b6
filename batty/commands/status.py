"""batty status: seats, running agents, the ready queue, the last tick, open escalations."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The same as JSON.")
@click.pass_obj
def command(app: Session, as_json: bool) -> None:
    """Seats, running agents, the ready queue, the last tick, open escalations."""
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
    counts = " ".join(f"{k} {v}" for k, v in report["counts"].items() if v)
    click.echo(f"tasks: {counts or 'none'}")
    tick = report["last_tick"]
    click.echo(f"last tick: {tick['ts']} ({tick['ago_s']:.0f}s ago)" if tick else "last tick: never")
    esc = report["escalations"]
    click.echo(f"open escalations: {len(esc)}")
    for e in esc[:10]:
        click.echo(f"  {e['id']} {e['task']}: {e['reason']}")
