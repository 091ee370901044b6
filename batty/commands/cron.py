"""batty cron install | uninstall | show (issue 5): one crontab line per repository."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.group()
def command() -> None:
    """Install, uninstall or show the crontab line that ticks this repository every minute.

    The line runs bin/batty-cron REPO, which sets a PATH and a UTF-8 locale, runs `batty tick`
    and appends its output to .batty/cron.log; exit 75 (busy) counts as success.
    """


@command.command("install")
@click.option("--env/--no-env", "keep_env", default=True, show_default=True,
              help="Keep the variables the seats' CLIs log in with (and the notification URLs'), "
                   "as set in this shell, in ~/.config/batty/env (mode 0600) for cron.")
@click.pass_obj
def install_cmd(app: Session, keep_env: bool) -> None:
    """Add this repository's line to your crontab (replaces an older one; idempotent).

    cron gives a job none of your shell's variables: the agents' keys are kept in an env file
    outside the repository (BATTY_ENV_FILE, default ~/.config/batty/env, mode 0600) that
    bin/batty-cron reads before each tick. Only the names are printed, never the values.
    """
    from batty.services.cron import install

    text, changed = install(app.paths)
    app.say("crontab: " + ("installed" if changed else "installed already; nothing changed"))
    if keep_env:
        from batty.services.cron_env import keep
        from batty.store.config_file import load

        file, kept, missing = keep(load(app.paths))
        if kept:
            app.say(f"cron env: kept {', '.join(kept)} in {file} (mode 0600)")
        if missing:
            app.say(f"cron env: {', '.join(missing)} set nowhere: a seat logged in by its CLI's own "
                    f"store (~/.claude, ~/.codex) needs none; else add NAME=value lines to {file}")
    click.echo(text)


@command.command("uninstall")
@click.pass_obj
def uninstall_cmd(app: Session) -> None:
    """Remove this repository's line from your crontab; other lines are kept."""
    from batty.services.cron import uninstall

    app.say("crontab: " + ("removed" if uninstall(app.paths) else "no line for this repository"))


@command.command("show")
@click.pass_obj
def show_cmd(app: Session) -> None:
    """Print this repository's crontab line; exit 1 when there is none."""
    from batty.services.cron import installed

    text = installed(app.paths)
    if text is None:
        app.warn("no crontab line for this repository (batty cron install adds it)")
        sys.exit(1)
    click.echo(text)
