"""batty task: add, show, list, move, edit and lint task packets (SPEC 2, 5)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from batty.workflow.session import Session

if TYPE_CHECKING:
    from batty.workflow.state import State

JSON_VERSION = 1  # --json output is versioned: scripts and agents parse it (STYLE 10)


@click.group()
def command() -> None:
    """Add, show, list, move, edit and lint task packets."""


def _status_choice() -> click.Choice:
    from batty.core.lifecycle import Status

    return click.Choice([s.value for s in Status])


STATUSES = ["backlog", "todo", "in-progress", "review", "done", "blocked", "archived"]


@command.command("add")
@click.argument("title")
@click.option("--priority", "-p", type=click.IntRange(0, 4), default=2, show_default=True,
              help="0 is the most urgent.")
@click.option("--depends", default="", help="Ids this task waits for, comma-separated.")
@click.option("--scope", multiple=True, help="A glob the change may touch (repeatable).")
@click.option("--test", "test_cmd", default=None, help="The test command (default: gates.test).")
@click.option("--status", type=click.Choice(["backlog", "todo"]), default="todo", show_default=True)
@click.option("--description", default=None, help="The brief for the agent, or - to read stdin.")
@click.option("--kind", type=click.Choice(["task", "epic"]), default="task", show_default=True)
@click.option("--seat", default=None, help="Pin to a seat or an agent name.")
@click.option("--script", multiple=True, help="A command for the built-in scripted agent (repeatable).")
@click.option("--setup", "setup_cmd", default=None,
              help="The set-up command of its checkouts (default: setup.command).")
@click.pass_obj
def add(app: Session, title: str, priority: int, depends: str, scope: tuple[str, ...],
        test_cmd: str | None, status: str, description: str | None, kind: str, seat: str | None,
        script: tuple[str, ...], setup_cmd: str | None) -> None:
    """Add a task; prints its id."""
    from batty.core.ids import check_id
    from batty.core.lifecycle import Status
    from batty.workflow.state import State

    if description == "-":
        description = sys.stdin.read()
    deps = [check_id(d.strip()) for d in depends.split(",") if d.strip()]
    st = State(app)
    for d in deps:
        st.packets.require(d)
    packet = st.create(title.strip(), status=Status(status), priority=priority, depends_on=deps,
                       kind=kind if kind != "task" else None, scope=list(scope), test=test_cmd,
                       description=description, seat=seat, script=list(script), setup=setup_cmd)
    st.finish()
    click.echo(packet.id)


@command.command("show")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="One packet as JSON.")
@click.pass_obj
def show(app: Session, task_id: str, as_json: bool) -> None:
    """Show one task's packet."""
    from batty.workflow.state import State, dumps

    st = State(app)
    packet = st.packets.require(task_id)
    if as_json:
        click.echo(dumps(packet.to_dict()))
        return
    click.echo(st.paths.packet(task_id).read_text(encoding="utf-8"), nl=False)


@command.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@click.option("--ready", is_flag=True, help="Only tasks ready to dispatch, in dispatch order.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of packets.")
@click.pass_obj
def list_(app: Session, status: str | None, ready: bool, as_json: bool) -> None:
    """List tasks."""
    from batty.store import views
    from batty.store.packets import RACY_NS
    from batty.workflow.state import State

    st = State(app)
    # the listing of unchanged packets and board is the one printed last time (issue 13)
    version = st.packets_version()
    want = views.key(version, views.stat_key(st.paths.board_md, RACY_NS), status, ready, as_json,
                     sys.stdout.isatty(),
                     # --ready says what waits on dispatch.overlap (SPEC 13): the config counts too
                     views.stat_key(st.paths.config, RACY_NS) if ready else None)
    text = views.get(st.paths.cache, "task-list", want)
    if text is None:
        text = _listing(st, status, ready, as_json)
        if st.packets.version == version:
            views.put(st.paths.cache, "task-list", want, text)
    if text:
        click.echo(text)


def _listing(st: State, status: str | None, ready: bool, as_json: bool) -> str:
    from batty.workflow.state import board_order, dumps
    from batty.workflow.state import ready as ready_queue

    packets = list(st.packets)
    if ready:
        packets = ready_queue(packets, board_order(st.paths))
    else:
        packets.sort(key=lambda p: (p.id.rpartition("-")[0], int(p.id.rpartition("-")[2])))
    if status:
        packets = [p for p in packets if p.status.value == status]
    if as_json:
        return dumps([p.to_dict() for p in packets])
    from tabulate import tabulate

    from batty.core.escape import one_line

    rows = [(p.id, p.status.value, f"P{p.priority}", p.assignee or "", one_line(p.title)) for p in packets]
    if not ready:  # issue 16.6: a packet that does not load is listed, marked, not skipped
        from batty.store.broken import broken

        for tid, (title, was, where) in sorted(broken(st.paths, st.packets).items()):
            if status is None or (was is not None and was.value == status):
                rows.append((tid, "BROKEN", "", "", f"{title}: {where} (batty task edit {tid})"))
    if not rows:
        return ""
    waits: dict[str, str] = {}
    if ready:  # why a ready task is not dispatched: the task on its files (SPEC 13)
        from batty.core.overlap import waiting

        waits = {w.task: w.why for w in waiting(packets, st.packets.by_id, st.config.dispatch.overlap)}
    if waits:
        return tabulate([(*r, waits.get(r[0], "")) for r in rows],
                        headers=["id", "status", "pri", "seat", "title", "waits"], tablefmt="plain")
    return tabulate(rows, headers=["id", "status", "pri", "seat", "title"], tablefmt="plain")


@command.command("move")
@click.argument("task_id")
@click.argument("status", type=click.Choice(STATUSES))
@click.option("--why", default="", help="Why (kept in the task.status event).")
@click.pass_obj
def move(app: Session, task_id: str, status: str, why: str) -> None:
    """Move a task to another status, as a person (the lifecycle decides what is allowed)."""
    from batty.core.lifecycle import Actor, Status
    from batty.workflow.state import State

    st = State(app)
    st.sync_board()  # a card a person moved on the board first
    packet = st.packets.require(task_id)
    to = Status(status)
    if packet.status is to:
        app.say(f"{task_id} is {status} already")
        return
    if packet.status is Status.REVIEW and to is Status.IN_PROGRESS:  # changes requested (SPEC 13)
        from batty.workflow.review import request_changes

        request_changes(st, task_id, why, by="task move")
    else:
        st.transition(packet, to, Actor.HUMAN, why or "moved by a person")
    st.finish()
    app.say(f"{task_id} {packet.status.value} -> {status}")


@command.command("edit")
@click.argument("task_id")
@click.pass_obj
def edit(app: Session, task_id: str) -> None:
    """Open a task's packet in $EDITOR, then check it."""
    from batty.store.packets import parse_file
    from batty.workflow.state import State

    st = State(app)
    st.packets.require(task_id) if task_id not in st.packets.invalid_ids else None
    path = st.paths.packet(task_id)
    # as `crontab -e` does (issue 16.6): the editor works on a copy; a copy that does not parse
    # is offered to the editor again, and the packet is replaced only by one that does, so a
    # slip of the keyboard loses nothing of the task
    import shutil
    import tempfile

    from batty.errors import BattyError
    from batty.store import atomic

    with tempfile.TemporaryDirectory(prefix="batty-edit-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        before = copy.read_bytes()
        while True:
            click.edit(filename=str(copy))
            try:
                parse_file(copy, st.paths.rel(path), strict=True)
                break
            except BattyError as e:
                click.echo(f"batty: {e}", err=True)
                try:
                    again = click.confirm("Edit it again? (no: the packet stays as it was)",
                                          default=True, err=True)
                except click.Abort:  # no answer (end of input): as a no
                    again = False
                if not again:
                    raise BattyError(f"{st.paths.rel(path)} was left as it was",
                                     valid=f"run `batty task edit {task_id}` again") from None
        if copy.read_bytes() == before:
            app.say(f"{task_id}: no change")
            return
        atomic.write_bytes(path, copy.read_bytes())
    st._touched.add(st.paths.rel(path))
    st.finish()



@command.command("lint")
@click.pass_obj
def lint(app: Session) -> None:
    """Check every packet, the board and the config; report all problems; exit 1 if any."""
    from batty.workflow.lint import lint_all

    warnings: list[str] = []
    problems = lint_all(app.paths, warnings=warnings)
    for warning in warnings:
        click.echo(f"batty: warning: {warning}", err=True)
    for problem in problems:
        click.echo(f"batty: {problem}", err=True)
    if problems:
        sys.exit(1)
    app.say("all packets, the board and the config are valid")
