"""batty dispatch."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.option("--dry-run", is_flag=True, help="Print what would be dispatched; change nothing.")
@click.pass_obj
def command(app: Session, dry_run: bool) -> None:
    """Give ready tasks to free seats: worktree, branch, prompt, agent launched.

    The ready queue is every todo task whose dependencies are done, by priority, then board
    order, then id. Tasks sent back by the gate resume on their own seat first.
    """
    from batty.workflow.dispatch import dispatch

    dispatch(app, dry_run=dry_run)
