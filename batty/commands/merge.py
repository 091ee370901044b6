"""batty merge."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.argument("task_id", required=False)
@click.option("--dry-run", is_flag=True, help="Print what would be merged; change nothing.")
@click.pass_obj
def command(app: Session, task_id: str | None, dry_run: bool) -> None:
    """Land reviewed tasks, one at a time, tested on the merge result.

    The merge result is built in a scratch worktree (merge.strategy), the gate's test step runs
    on that exact tree, and only then does the base branch move there (compare-and-swap).
    """
    from batty.core.ids import check_id
    from batty.workflow.merge import merge

    if task_id:
        check_id(task_id)
    merge(app, task_id, dry_run=dry_run)
