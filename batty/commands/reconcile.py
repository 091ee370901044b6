"""batty reconcile: make board, packets, worktrees, branches and runs agree (SPEC 3, 5)."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.pass_obj
def command(app: Session, dry_run: bool) -> None:
    """Make the board, the packets, worktrees, branches and runs agree.

    Cards people moved on BOARD.md become status changes (when the lifecycle allows them), new
    lines become tasks, deleted cards are rendered back.
    """
    from batty.errors import OffBase
    from batty.workflow.reconcile import reconcile

    try:
        rc = reconcile(app, dry_run=dry_run)
    except OffBase:
        if app.quiet:  # the git hooks: a checkout of another branch is not batty's to act on
            sys.exit(0)
        raise
    sys.exit(rc)
