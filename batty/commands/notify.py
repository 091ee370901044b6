"""batty notify: send a test notification to every configured URL (SPEC 5, 6 `notify`)."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.group()
def command() -> None:
    """Notifications (apprise URLs named in board/config.yaml `notify:`)."""


@command.command("test")
@click.pass_obj
def test(app: Session) -> None:
    """Send a test notification to every configured URL; exit 1 unless all of them went."""
    from batty.errors import BattyError
    from batty.services.notify import send_test
    from batty.workflow.state import State

    st = State(app)
    if not st.config.notify:
        raise BattyError("no notification URLs configured",
                         valid="add notify: [{url_env: BATTY_NOTIFY_URL}] to board/config.yaml"
                               " and set BATTY_NOTIFY_URL to an apprise URL")
    outcomes = send_test(st)
    for o in outcomes:
        scheme = f" ({o.scheme})" if o.scheme else ""
        if o.sent:
            click.echo(f"sent: {o.url_env}{scheme}")
        else:
            click.echo(f"failed: {o.url_env}{scheme}: {o.error}")
    failed = [o for o in outcomes if not o.sent]
    if failed:
        what = "none could be sent" if len(failed) == len(outcomes) else \
            f"{len(failed)} of {len(outcomes)} could not be sent"
        raise BattyError(f"notify test: {what}: " + "; ".join(f"{o.url_env}: {o.error}" for o in failed))
