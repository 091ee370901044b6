"""``batty digest``: the week in figures, in markdown or html."""

from __future__ import annotations

import click


@click.command()
@click.option("--since", metavar="WHEN", default="7d", show_default=True,
              help="The window: 7d, 2w (whole local days, today included), or a date.")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True,
              help="Markdown, or one self-contained html page with inline SVG charts.")
@click.pass_obj
def command(app, since: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    """A weekly report: tasks spawned, completed, failed and in flight, the success rate, each
    seat's completions and cost, escalations, self-heals, and the slowest and most retried
    tasks. Days are cut in telemetry.timezone; the html needs no network.
    """
    from batty.telemetry import digest

    found = digest.gather(app.paths, since)
    click.echo(digest.html(found) if fmt == "html" else digest.markdown(found), nl=False)
