"""batty verify."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.argument("task_id", required=False)
@click.option("--dry-run", is_flag=True, help="Print what would be verified; change nothing.")
@click.pass_obj
def command(app: Session, task_id: str | None, dry_run: bool) -> None:
    """Gate finished attempts: protected paths, scope, the real test run; evidence kept.

    Each attempt whose agent has exited is collected (uncommitted work committed on its
    branch), fenced (no protected path, nothing outside the scope, renames, deletions, modes
    and links included), and tested in a scratch checkout of the exact commit with the test
    command and the trusted tests as the base branch has them.
    """
    from batty.core.ids import check_id
    from batty.workflow.verify import verify

    if task_id:
        check_id(task_id)
    verify(app, task_id, dry_run=dry_run)
