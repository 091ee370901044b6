"""batty demo [DIR]."""

from __future__ import annotations

import sys

import click

from batty.workflow.session import Session


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--timeout", type=click.FloatRange(10), default=120.0, show_default=True,
              help="Give up after this many seconds.")
@click.pass_obj
def command(app: Session, directory: str | None, timeout: float) -> None:
    """A sandbox repository, a board of tasks and the built-in scripted agent, run end to end.

    Builds a small git repository in DIR (default: a new temporary folder), runs batty ticks
    until the board drains, then prints the board, the figures and how to browse them.
    """
    import tempfile
    from pathlib import Path

    from batty.errors import InvalidInput
    from batty.workflow import demo

    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="batty-demo-"))
    if root.exists() and any(root.iterdir()):
        raise InvalidInput(f"{root} is not empty", valid="name a new or empty folder")
    click.echo(f"batty demo in {root}")
    click.echo("  5 tasks, 3 seats of the scripted agent: one fails its tests once, one stalls,")
    click.echo("  one leaves its scope, one depends on another.\n")
    demo.build(root.resolve())
    drained = demo.run(root.resolve(), timeout_s=timeout, echo=click.echo)
    b = [sys.executable, "-m", "batty", "--repo", str(root)]
    import subprocess

    def show(title: str, *args: str) -> None:
        out = subprocess.run([*b, *args], capture_output=True, text=True, timeout=120)
        click.echo(f"\n{title}\n" + (out.stdout.rstrip() or out.stderr.rstrip()))

    show("The board:", "board")
    subprocess.run([*b, "--quiet", "telemetry", "load"], capture_output=True, timeout=120)
    show("The figures (batty stats):", "stats")
    show("Waiting for a person (board/INBOX.md):", "escalations")
    log = subprocess.run(["git", "-C", str(root), "log", "--oneline", "-12", "main"], capture_output=True,
                         text=True, timeout=30).stdout
    click.echo("\nmain, newest first:\n" + log.rstrip())
    click.echo(f"""
Browse it:
  batty --repo {root} trace T-3          one task's story, spawn to done
  batty --repo {root} telemetry serve    the figures in Datasette, on 127.0.0.1
  batty --repo {root} digest --format html > digest.html""")
    if not drained:
        click.echo("\nbatty: the demo did not drain its board in time", err=True)
        sys.exit(1)
