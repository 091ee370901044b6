"""batty escalations: list what waits for the human, or resolve one (SPEC 1 INBOX.md, 5)."""

from __future__ import annotations

import click

from batty.workflow.session import Session

JSON_VERSION = 1  # --json output is versioned: scripts and agents parse it (STYLE 10)


@click.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also the demoted and resolved ones.")
@click.option("--json", "as_json", is_flag=True, help="The same as JSON.")
@click.pass_context
def command(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """List escalations: actionable first, newest first (board/INBOX.md shows the same)."""
    if ctx.invoked_subcommand is not None:
        return
    from batty.core import inbox
    from batty.workflow import escalations
    from batty.workflow.state import State, dumps

    app: Session = ctx.obj
    st = State(app)
    records = escalations.all_escalations(st) if show_all else escalations.open_escalations(st)
    if as_json:
        click.echo(dumps({"version": JSON_VERSION, "escalations": records}))
        return
    if not records:
        app.say("nothing waits for you" + ("" if show_all else " (--all shows closed ones)"))
        return
    from tabulate import tabulate

    tz = st.config.telemetry.timezone
    rows = [(r.get("id"), inbox.state_of(r), inbox.tasks_of(r), inbox.one_line(r.get("reason")),
             r.get("count") or 1, inbox.when(r.get("at"), tz), _short(r.get("text")))
            for r in records]
    click.echo(tabulate(rows, headers=["id", "state", "tasks", "reason", "seen", "raised", "text"],
                        tablefmt="plain"))


def _short(text: object, width: int = 60) -> str:
    from batty.core.inbox import one_line

    line = one_line(str(text or "").strip().split("\n", 1)[0])
    return line if len(line) <= width else line[: width - 3] + "..."


@command.command("resolve")
@click.argument("esc_id", metavar="ID")
@click.option("--note", default="", help="What was done (kept in the packet and the event).")
@click.pass_obj
def resolve(app: Session, esc_id: str, note: str) -> None:
    """Mark an escalation resolved; a blocked task of it goes back to todo."""
    from batty.workflow import escalations
    from batty.workflow.state import State

    st = State(app)
    record = escalations.resolve(st, esc_id, note=note)
    st.finish()
    if record.get("already"):
        app.say(f"{record['id']} was already resolved")
        return
    click.echo(f"{record['id']} resolved")
    for tid in record["unblocked"]:
        click.echo(f"{tid} blocked -> todo")
    for tid, holding in record["still_blocked"].items():
        app.warn(f"{tid} stays blocked: {', '.join(holding)} still open")
