"""batty flaky: the quarantine list board/flaky.yaml (SPEC 14): add, list, remove."""

from __future__ import annotations

import click

from batty.workflow.session import Session

JSON_VERSION = 1


@click.group()
def command() -> None:
    """Quarantined tests: a listed test's failure does not block a check until its date."""


@command.command("add")
@click.argument("test")
@click.option("--until", "until", required=True, help="The last day it is quarantined (YYYY-MM-DD).")
@click.option("--why", default="", help="Why (shown with every run it excuses).")
@click.pass_obj
def add(app: Session, test: str, until: str, why: str) -> None:
    """Quarantine TEST (a node id like tests/test_x.py::test_y, or a file) until a date."""
    import datetime as dt

    from batty.errors import InvalidInput
    from batty.workflow.checks import flaky
    from batty.workflow.state import State

    try:
        day = dt.date.fromisoformat(until)
    except ValueError:
        raise InvalidInput(f"--until {until!r} is not a date", valid="YYYY-MM-DD") from None
    test = test.strip()
    if not test or any(ord(c) < 32 for c in test):
        raise InvalidInput(f"{test!r} is not a test id", valid="tests/test_x.py::test_y")
    st = State(app)
    entries = [e for e in flaky.read(st.paths.root) if e.test != test]
    entries.append(flaky.Entry(test, day, why))
    flaky.write(st.paths.root, entries)
    st.notes.append(f"quarantined {test} until {day.isoformat()}")
    st.finish()
    app.say(f"{test} quarantined until {day.isoformat()}")


@command.command("remove")
@click.argument("test")
@click.pass_obj
def remove(app: Session, test: str) -> None:
    """Take TEST off the quarantine list."""
    from batty.errors import NotFound
    from batty.workflow.checks import flaky
    from batty.workflow.state import State

    st = State(app)
    entries = flaky.read(st.paths.root)
    kept = [e for e in entries if e.test != test]
    if len(kept) == len(entries):
        raise NotFound(f"{test} is not quarantined", valid="batty flaky list")
    flaky.write(st.paths.root, kept)
    st.notes.append(f"{test} out of quarantine")
    st.finish()
    app.say(f"{test} is no longer quarantined")


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="The same as JSON.")
@click.pass_obj
def list_(app: Session, as_json: bool) -> None:
    """The quarantine list, with whether each entry is still active."""
    from batty.core import clock
    from batty.workflow.checks import flaky
    from batty.workflow.state import State, dumps

    st = State(app)
    today = clock.now().date()
    data = flaky.as_data(flaky.read(st.paths.root), today)
    if as_json:
        click.echo(dumps({"version": JSON_VERSION, "quarantined": data}))
        return
    if not data:
        app.say("no test is quarantined")
        return
    for e in data:
        state = "active" if e["active"] else "expired"
        click.echo(f"{e['test']}  until {e['until']} ({state})  {e['why']}")
