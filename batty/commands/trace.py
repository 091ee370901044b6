"""``batty trace ID``: every event of one task, spawn to done."""

from __future__ import annotations

import click


@click.command()
@click.argument("task_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (versioned) instead of a table.")
@click.pass_obj
def command(app, task_id: str, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """One task's whole story: every event by its correlation ids (ID and ID#attempt), from
    creation to done, with the time between steps, and the usage and cost of its agent runs.

    Reads the telemetry database after loading the new lines of .batty/events.jsonl, so the
    events of other machines loaded with `batty telemetry load FILE` are there too.
    """
    from batty.telemetry import story

    found = story.gather(app.paths, task_id)
    click.echo(story.as_json(found) if as_json else story.table(found))
