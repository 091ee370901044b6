"""batty tick."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.command()
@click.pass_obj
def command(app: Session) -> None:
    """Reconcile, doctor, verify, merge, dispatch: the pass cron runs every minute.

    Every step runs, whatever an earlier one did; each holds its own lock, and one another run
    holds is skipped (the next tick takes it). The exit code is the worst of the steps': 3 when
    a step hit a bug (a crash log is kept under .batty/crash/), 2 or 1 when a step failed on
    something a person must fix (named on stderr), else 75 when a step was busy, else 0.
    tick.finished names the steps that failed.
    """
    from batty.workflow.tick import tick

    sys.exit(tick(app))
