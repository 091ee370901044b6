"""batty doctor [--check]: find and heal faults (SPEC 9)."""

from __future__ import annotations

import json
import sys

import click

from batty.workflow.session import Session

JSON_VERSION = 1


@click.command()
@click.option("--check", is_flag=True, help="Only report what needs healing; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="The findings as JSON (with --check, or after healing).")
@click.option("--accept", is_flag=True,
              help="Take the current .git/config settings and git hooks as the tamper baseline "
                   "(after you changed them on purpose).")
@click.pass_obj
def command(app: Session, check: bool, as_json: bool, accept: bool) -> None:
    """Find and heal faults: dead or stalled agents (respawn), agents out of context, agents
    past the runtime limit, stale locks, worktrees, orphan branches, tasks with nothing to
    resume, old runs, stale escalations, and git settings or hooks an agent planted.

    Each heal is one doctor.action event. With --check nothing changes: exit 0 when healthy,
    1 when something needs healing. Without it: exit 0 when every fault found was healed, 1
    when one could not be. See docs/doctor.md.
    """
    from batty.workflow.doctor import doctor

    report = doctor(app, check=check, accept=accept)
    if as_json:
        click.echo(json.dumps({"version": JSON_VERSION, "check": check,
                               "healthy": not report.faults,
                               "findings": [f.to_dict() for f in report.found],
                               "applied": [f.to_dict() for f in report.applied],
                               "failed": [{**f.to_dict(), "error": e} for f, e in report.failed]},
                              indent=2))
    elif check:
        for f in report.found:
            click.echo(f.line())
        if not report.faults:
            app.say("doctor: healthy")
        # the config against the repository and this machine (issue 15.3, 16): said, not healed
        from batty.store.config_file import load
        from batty.workflow.attention import config_notices

        for n in config_notices(app.paths, load(app.paths)):
            click.echo(f"warning: {n.line()}")
    if check:
        sys.exit(1 if report.faults else 0)
    sys.exit(1 if report.failed else 0)
