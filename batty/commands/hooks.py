"""batty hooks install | uninstall (issue 5); `hooks run` is what the installed shims call."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.group()
def command() -> None:
    """Install or uninstall batty's git hooks (pre-commit, post-merge, post-checkout).

    pre-commit lints the board files as the commit holds them (the index, not the working
    tree) in the control checkout, and refuses a commit that touches board/ from an agent's
    worktree; post-merge and post-checkout run a quiet reconcile. A hook
    that was there already is kept as <hook>.legacy and still runs first.
    """


@command.command("install")
@click.pass_obj
def install_cmd(app: Session) -> None:
    """Install (or upgrade) the hooks in .git/hooks; idempotent."""
    from batty.workflow.hooks import install

    for line in install(app.paths) or ["hooks are installed already; nothing changed"]:
        app.say(line)


@command.command("uninstall")
@click.pass_obj
def uninstall_cmd(app: Session) -> None:
    """Remove batty's hooks; put back what was kept as <hook>.legacy."""
    from batty.workflow.hooks import uninstall

    for line in uninstall(app.paths) or ["no batty hooks here; nothing changed"]:
        app.say(line)


@command.command("run", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("hook", type=click.Choice(["pre-commit", "post-merge", "post-checkout"]))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_cmd(hook: str, args: tuple[str, ...]) -> None:
    """What an installed hook runs (git passes its arguments after --)."""
    from batty.workflow.hooks import run

    sys.exit(run(hook, list(args)))
