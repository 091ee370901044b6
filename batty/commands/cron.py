"""batty cron install | uninstall | show (issue 5): one crontab line per repository."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.group()
def command() -> None:
    """Install, uninstall or show the crontab line that ticks this repository every minute.

    The line runs bin/batty-cron REPO, which sets a PATH and a UTF-8 locale, runs `batty tick`
    and appends its output to .batty/cron.log; exit 75 (busy) counts as success.
    """


@command.command("install")
@click.pass_obj
def install_cmd(app: Session) -> None:
    """Add this repository's line to your crontab (replaces an older one; idempotent)."""
    from batty.services.cron import install

    text, changed = install(app.paths)
    app.say("crontab: " + ("installed" if changed else "installed already; nothing changed"))
    click.echo(text)


@command.command("uninstall")
@click.pass_obj
def uninstall_cmd(app: Session) -> None:
    """Remove this repository's line from your crontab; other lines are kept."""
    from batty.services.cron import uninstall

    app.say("crontab: " + ("removed" if uninstall(app.paths) else "no line for this repository"))


@command.command("show")
@click.pass_obj
def show_cmd(app: Session) -> None:
    """Print this repository's crontab line; exit 1 when there is none."""
    from batty.services.cron import installed

    text = installed(app.paths)
    if text is None:
        app.warn("no crontab line for this repository (batty cron install adds it)")
        sys.exit(1)
    click.echo(text)
