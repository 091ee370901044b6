"""batty approve ID."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.argument("task_id")
@click.pass_obj
def command(app: Session, task_id: str) -> None:
    """Approve a reviewed task for merge (merge.mode approve, or a low confidence score)."""
    from batty.workflow.merge import approve
    from batty.workflow.state import State

    st = State(app)
    approve(st, task_id)
    st.finish()
    app.say(f"{task_id} approved; the next merge lands it")
