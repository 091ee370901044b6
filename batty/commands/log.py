"""``batty log``: the event log, of one task or all, optionally following it."""

from __future__ import annotations

import click


@click.command()
@click.option("--task", "task_id", metavar="ID", default=None,
              help="Only the events of task ID (ID and ID#attempt, and escalations naming it).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they are appended.")
@click.option("--lines", "-n", type=click.IntRange(min=0), default=None,
              help="Only the last N events (before following).")
@click.option("--json", "as_json", is_flag=True, help="Print each event as its JSON line.")
@click.pass_obj
def command(app, task_id: str | None, follow: bool, lines: int | None, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Show the events of .batty/events.jsonl (and its rotated copies), oldest first, times in
    telemetry.timezone. With --follow, wait for new events like `tail -F`, until interrupted.
    """
    import json
    import sys

    from batty.core.ids import check_id
    from batty.telemetry import tail
    from batty.telemetry.loader import default_files
    from batty.telemetry.text import event_line
    from batty.telemetry.zone import timezone_of

    if task_id is not None:
        check_id(task_id)
    zone = timezone_of(app.paths)

    def emit(e: dict) -> None:
        click.echo(json.dumps(e, separators=(",", ":"), ensure_ascii=False) if as_json else event_line(e, zone))
        if follow:
            sys.stdout.flush()

    for e in tail.existing(default_files(app.paths.state), task_id, lines):
        emit(e)
    if follow:
        sys.stdout.flush()
        tail.follow(app.paths.events, task_id, emit)
