"""batty answer ID TEXT (SPEC 13)."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.command()
@click.argument("task_id", metavar="ID")
@click.argument("text", metavar="TEXT")
@click.pass_obj
def command(app: Session, task_id: str, text: str) -> None:
    """Answer the question a task's agent asked (TEXT, or - to read stdin).

    The question's escalation is resolved and the task goes back to todo; the next dispatch
    resumes it with the question and TEXT in its prompt, on a fresh budget of attempts.
    """
    from batty.workflow.question import answer
    from batty.workflow.state import State

    if text == "-":
        text = sys.stdin.read()
    st = State(app)
    record = answer(st, task_id, text)
    st.finish()
    click.echo(f"{record['id']} answered")
    for tid in record.get("unblocked") or []:
        click.echo(f"{tid} blocked -> todo: the next dispatch resumes it with the answer")
    for tid, holding in (record.get("still_blocked") or {}).items():
        app.warn(f"{tid} stays blocked: {', '.join(holding)} still open")
