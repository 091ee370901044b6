"""The root command group, shared options, and the one error boundary (STYLE 5).

Subcommands are loaded lazily from :data:`COMMANDS` so that ``batty --help`` and the commands cron
runs every minute import only what they use (STYLE 7).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

import click

from batty import __version__

# name -> (module exposing `command`, one-line help shown by `batty --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("batty.commands.init", "Scaffold board/ and .batty/ in a git repository."),
    "task": ("batty.commands.task", "Add, show, list, move, edit and lint task packets."),
    "board": ("batty.commands.board", "Show the kanban board in the terminal."),
    "status": ("batty.commands.status", "Seats, running agents, the ready queue, last tick."),
    "reconcile": ("batty.commands.reconcile", "Make board, packets, worktrees and runs agree."),
    "dispatch": ("batty.commands.dispatch", "Give ready tasks to free seats and launch their agents."),
    "verify": ("batty.commands.verify", "Gate finished attempts: protected paths, scope, tests."),
    "merge": ("batty.commands.merge", "Land reviewed tasks one at a time, tested on the merge result."),
    "doctor": ("batty.commands.doctor", "Find and heal faults: stalls, dead agents, stale locks."),
    "tick": ("batty.commands.tick", "Reconcile, doctor, verify, merge, dispatch: the pass cron runs."),
    "preflight": ("batty.commands.preflight", "Will the first unattended night work? What to fix where."),
    "run": ("batty.commands.run", "Tick in a loop in the foreground."),
    "agents": ("batty.commands.agents", "Seats and their agents."),
    "attach": ("batty.commands.attach", "Attach to a seat's tmux window."),
    "approve": ("batty.commands.approve", "Approve a reviewed task for merge."),
    "review": ("batty.commands.review", "Request changes of a reviewed task in words, or approve it."),
    "answer": ("batty.commands.answer", "Answer the question a task's agent asked."),
    "flaky": ("batty.commands.flaky", "Quarantine flaky tests: add, list, remove (board/flaky.yaml)."),
    "escalations": ("batty.commands.escalations", "List or resolve what waits for the human."),
    "notify": ("batty.commands.notify", "Send a test notification."),
    "log": ("batty.commands.log", "Show events, optionally of one task, optionally following."),
    "trace": ("batty.commands.trace", "One task's whole story, spawn to done."),
    "stats": ("batty.commands.stats", "Headline figures from the telemetry database."),
    "digest": ("batty.commands.digest", "A weekly report in markdown or html."),
    "telemetry": ("batty.commands.telemetry", "Load the event log into SQLite; serve it with Datasette."),
    "hooks": ("batty.commands.hooks", "Install or uninstall batty's git hooks."),
    "cron": ("batty.commands.cron", "Install, uninstall or show batty's crontab line."),
    "sync": ("batty.commands.sync", "Share the board with other machines through the remote."),
    "demo": ("batty.commands.demo", "A sandbox repository run end to end with the scripted agent."),
}


# Commands that read the whole board and end: at 10,000 packets they make some 100,000 objects
# and next to no cyclic garbage, and the collector's passes over those cost more than the rest
# of a warm `task list` (issue 2's speed target). The process exit frees everything; `run` and
# `tick`, which go on working, keep the collector.
ONE_SHOT = frozenset({"task", "board", "reconcile", "status"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        try:
            module = importlib.import_module(entry[0])
        except ModuleNotFoundError as e:
            if e.name != entry[0]:
                raise
            return None  # registered but not built yet
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help from the registry keeps `batty --help` from importing every command.
        from importlib.util import find_spec

        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)
                if find_spec(COMMANDS[name][0]) is not None]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repo", type=click.Path(file_okay=False), default=None,
              help="The repository (default: found from the current directory upward).")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr (as under cron).")
@click.version_option(version=__version__, message="batty %(version)s")
@click.pass_context
def cli(ctx: click.Context, repo: str | None, quiet: bool) -> None:
    """batty supervises AI coding agents from inside a git repository.

    Work is a set of YAML task packets and a markdown kanban board under board/.
    """
    from batty.workflow.session import Session

    app = Session(repo, quiet, cmd=ctx.invoked_subcommand or "batty")
    ctx.obj = app
    if app.cmd in ONE_SHOT:
        gc.disable()
        ctx.call_on_close(gc.freeze)  # and the collection at interpreter exit skips them too


def _crash_log(exc: BaseException, argv: list[str] | None = None) -> str | None:
    """Keep a crash log under .batty/crash/ of the repository ``argv`` names (the command line's
    when None: batty run in-process, as the demo runs it, names its own) and return its path."""
    import traceback

    try:
        from batty.core import clock
        from batty.store.paths import find_root

        repo = None
        argv = sys.argv[1:] if argv is None else argv
        if "--repo" in argv and argv.index("--repo") + 1 < len(argv):
            repo = argv[argv.index("--repo") + 1]
        paths = find_root(repo, need_board=False)
        paths.crashes.mkdir(parents=True, exist_ok=True)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%f")
        path = paths.crashes / f"{stamp}-{os.getpid()}.log"
        path.write_text(
            f"argv: {argv!r}\n\n" + "".join(traceback.format_exception(exc)), encoding="utf-8"
        )
        return str(path)
    except Exception:
        return None


def main(argv: list[str] | None = None) -> None:
    """The error boundary: user errors exit 1 with one line, usage 2, busy 75, bugs 3."""
    from batty.errors import BattyError
    from batty.store import runscope

    try:
        with runscope.fresh():  # a command run in-process twice remembers nothing of the first
            rc = cli.main(args=argv, prog_name="batty", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("batty: aborted", err=True)
        sys.exit(1)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if isinstance(e, click.UsageError) else 1)
    except BattyError as e:
        click.echo(f"batty: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        if "pytest" in sys.modules:  # under tests, bugs never hide
            raise
        where = _crash_log(e, argv)
        click.echo(f"batty: internal error: {type(e).__name__}: {e}"
                   + (f" (crash log: {where})" if where else ""), err=True)
        sys.exit(3)
    sys.exit(rc if isinstance(rc, int) else 0)
