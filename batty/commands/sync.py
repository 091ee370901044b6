"""batty sync (SPEC 10)."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.option("--remote", default="origin", show_default=True, help="The remote to sync with.")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.pass_obj
def command(app: Session, remote: str, dry_run: bool) -> None:
    """Share the board with the other machines through the repository's remote.

    Fetches the base branch; fast-forwards it when the remote is ahead, pushes when this clone
    is, and when both moved replays this clone's board commits on the remote's (the remote
    wins where both changed a file; a claim the remote does not have is dropped and its agent
    stopped; a colliding new id is renumbered). Code commits are rebased and tested first.
    """
    from batty.workflow.sync import sync

    result = sync(app, remote=remote, dry_run=dry_run)
    if not dry_run:
        app.say(f"sync: {result.case}" + (", pushed" if result.pushed else ""))
