"""batty review ID --request-changes TEXT | --approve (SPEC 13)."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.command()
@click.argument("task_id", metavar="ID")
@click.option("--request-changes", "changes", default=None, metavar="TEXT",
              help="Send the task back to its agent with TEXT as its feedback (- reads stdin).")
@click.option("--approve", is_flag=True, help="Approve it for merge (the same as `batty approve ID`).")
@click.pass_obj
def command(app: Session, task_id: str, changes: str | None, approve: bool) -> None:
    """Review a task in review: request changes in words, or approve it.

    With --request-changes the task goes back to in-progress and its next attempt gets TEXT as
    the feedback of the review; with --approve the next merge lands it.
    """
    from batty.errors import UsageError
    from batty.workflow.state import State

    if (changes is None) == (not approve):
        raise UsageError("give one of --request-changes TEXT or --approve",
                         valid="batty review ID --request-changes TEXT, or batty review ID --approve")
    st = State(app)
    if approve:
        from batty.workflow.merge import approve as approve_task

        approve_task(st, task_id)
        st.finish()
        app.say(f"{task_id} approved; the next merge lands it")
        return
    from batty.workflow.review import request_changes

    text = sys.stdin.read() if changes == "-" else str(changes)
    st.sync_board()  # a card a person moved on the board first
    request_changes(st, task_id, text, by="review")
    st.finish()
    app.say(f"{task_id} review -> in-progress: the next dispatch hands its agent the requested changes")
