"""batty run: tick in a loop in the foreground."""

from __future__ import annotations

import sys
import time

import click

from batty.workflow.session import Session


@click.command()
@click.option("--interval", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds between ticks.")
@click.option("--until-idle", is_flag=True,
              help="Stop when nothing can make progress without a person (and say why).")
@click.option("--max-ticks", type=click.IntRange(1), default=None, help="Stop after this many ticks.")
@click.pass_obj
def command(app: Session, interval: float, until_idle: bool, max_ticks: int | None) -> None:
    """Tick in a loop in the foreground, for a terminal (Ctrl-C stops it).

    With --until-idle it stops once no tick can move anything: the board is drained, or what is
    left waits for a person (blocked, an approval, a dispatch paused for low disk). Exits with
    the last tick's code, 0 for busy.
    """
    from batty.workflow.tick import BUSY, idle, tick

    n = 0
    rc = 0
    while True:
        rc = tick(app)
        n += 1
        # a tick with a busy step did not do everything: only a full one can find the board idle
        why = idle(app) if until_idle and rc != BUSY else None
        if why:
            app.say(f"idle after {n} tick{'s' if n != 1 else ''}: {why}")
            break
        if max_ticks and n >= max_ticks:
            break
        time.sleep(interval)
    sys.exit(0 if rc == BUSY else rc)
