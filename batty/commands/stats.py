"""``batty stats``: the headline figures of SPEC 7 as a table."""

from __future__ import annotations

import click


@click.command()
@click.option("--since", metavar="WHEN", default=None,
              help="Only events since WHEN: 7d, 2w (whole local days, today included), 12h, "
                   "or a date. Default: the whole log.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (versioned) instead of a table.")
@click.option("--usage", is_flag=True, help="Also list usage and cost per task.")
@click.pass_obj
def command(app, since: str | None, as_json: bool, usage: bool) -> None:  # type: ignore[no-untyped-def]
    """Headline figures from the telemetry database: tasks completed, per-seat completions,
    merges, escalations, self-heals, the success rate, and usage and cost per seat.

    Loads the new lines of .batty/events.jsonl first; days are cut in telemetry.timezone.
    Every figure is one SQL file in batty/telemetry/views/, the same query Datasette serves.
    """
    from batty.telemetry import report

    stats = report.gather(app.paths, since)
    click.echo(report.as_json(stats) if as_json else report.table(stats, usage=usage))
