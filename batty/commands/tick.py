"""batty tick."""

from __future__ import annotations

import sys

import click

from batty.cli import App


@click.command()
@click.pass_obj
def command(app: App) -> None:
    """Reconcile, doctor, verify, merge, dispatch: the pass cron runs every minute.

    Exit 0 when every step ran, 75 when a step was skipped because another run held its lock,
    1 when a step failed on something a person must fix (named on stderr).
    """
    from batty.tick import tick

    sys.exit(tick(app))
