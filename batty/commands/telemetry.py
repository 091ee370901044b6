"""``batty telemetry load`` and ``batty telemetry serve`` (issue 6)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def command() -> None:
    """Load the event log into SQLite (.batty/telemetry.db); serve it with Datasette."""


@command.command("load")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--rebuild", is_flag=True,
              help="Build the database afresh from every log it had read (and FILES).")
@click.option("--json", "as_json", is_flag=True, help="Print what was loaded as JSON.")
@click.pass_obj
def load_cmd(app, files: tuple[Path, ...], rebuild: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Load JSONL event logs into .batty/telemetry.db: incremental and idempotent.

    FILES default to .batty/events.jsonl and its rotated copies (events.jsonl.1, .2.gz ...).
    Pass the logs of other machines to take them into the same database; each file is read
    on from where the last load stopped, and an event already loaded (by id) adds nothing.
    Lines that do not parse are skipped and counted.
    """
    import json

    from batty.telemetry import db

    report = db.refresh(app.paths, files or None, rebuild=rebuild, cmd="telemetry")
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    for f in report.files:
        if f.torn:
            app.warn(f"{f.path}: skipped {f.torn} line(s) that are not events")
    done = "rebuilt" if report.rebuilt else "loaded"
    click.echo(f"{done} {report.new:,} new event(s) from {len(report.files)} file(s) into "
               f"{app.paths.rel(app.paths.telemetry_db)} ({report.seen:,} already there, "
               f"{report.torn:,} torn line(s) skipped; days in {report.zone})")


@command.command("serve")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8001, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--allow-sql", is_flag=True,
              help="Allow arbitrary SQL in the browser (off: only tables and canned queries).")
@click.option("--no-load", is_flag=True, help="Serve the database as it is, without loading first.")
@click.pass_obj
def serve_cmd(app, port: int, allow_sql: bool, no_load: bool) -> None:  # type: ignore[no-untyped-def]
    """Serve the telemetry database with Datasette on 127.0.0.1, with the dashboard at
    /dashboard: daily completions, per-seat completions, escalations and self-heals, merge
    confidence. The database is opened immutable.
    """
    import os

    from batty.telemetry import db, serve

    if not no_load or not app.paths.telemetry_db.exists():
        db.refresh(app.paths, cmd="telemetry")
    argv = serve.prepare(app.paths, port=port, allow_sql=allow_sql)
    app.say(f"serving {app.paths.rel(app.paths.telemetry_db)} on http://{serve.HOST}:{port}/ "
            f"(dashboard: /dashboard)")
    os.execv(argv[0], argv)
