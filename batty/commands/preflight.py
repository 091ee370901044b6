"""batty preflight: will the first unattended night work? (issue 16.3)"""

from __future__ import annotations

import json
import sys

import click

from batty.workflow.session import Session


@click.command()
@click.option("--no-test", "no_test", is_flag=True, help="Do not run the test command on the base.")
@click.option("--json", "as_json", is_flag=True, help="The checks as JSON.")
@click.pass_obj
def command(app: Session, no_test: bool, as_json: bool) -> None:
    """Check what an unattended night needs, and say what to fix where.

    The gate's test command passes on the base as it is (run in a scratch checkout);
    gates.trusted_tests covers the tests the runner collects; each seat's agent CLI starts and
    is logged in under cron's environment (cron's bare one, the crontab line's PATH and HOME,
    and the env file bin/batty-cron reads), not just your shell's; the crontab line is there
    and a cron daemon runs; the sandbox works; disk; a test notification reaches each URL.
    Exit 0 when nothing failed, 1 otherwise.
    """
    from batty.workflow.preflight import FAIL, run
    from batty.workflow.state import State

    st = State(app)
    checks = run(st, test=not no_test, on=app.say)
    if as_json:
        click.echo(json.dumps({"version": 1, "ok": not any(c.state == FAIL for c in checks),
                               "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        for c in checks:
            click.echo(c.line())
    failed = [c for c in checks if c.state == FAIL]
    if failed:
        app.warn(f"preflight: {len(failed)} check(s) failed; fix them before the first night")
        sys.exit(1)
    app.say("preflight: ready for an unattended night")
