"""batty attach SEAT: the seat's tmux window (runner: tmux)."""

from __future__ import annotations

import os

import click

from batty.workflow.session import Session


@click.command()
@click.argument("seat")
@click.option("--print", "print_only", is_flag=True, help="Print the tmux command instead.")
@click.pass_obj
def command(app: Session, seat: str, print_only: bool) -> None:
    """Attach to a seat's tmux window (detach again with C-b d)."""
    import shlex

    from batty import runner
    from batty.errors import InvalidInput, NotFound
    from batty.workflow.state import State

    st = State(app)
    cfg = st.config
    if cfg.seat(seat) is None:
        raise NotFound(f"no seat {seat!r}", valid="one of " + ", ".join(s.name for s in cfg.seats))
    if cfg.runner != "tmux":
        raise InvalidInput("attach needs runner: tmux", file="board/config.yaml",
                           valid="set runner: tmux, or read .batty/runs/<ID>/<attempt>/agent.log")
    if seat not in runner.tmux_windows(st.paths.root):
        raise NotFound(f"seat {seat} has no window now (no agent running)", valid="see `batty agents`")
    argv = runner.tmux_attach_argv(st.paths.root, seat)
    if print_only:
        click.echo(shlex.join(argv))
        return
    os.execvp(argv[0], argv)
