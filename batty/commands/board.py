"""batty board: the kanban in the terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from batty.workflow.session import Session

if TYPE_CHECKING:
    from batty.workflow.state import State


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Columns and card ids as JSON.")
@click.pass_obj
def command(app: Session, as_json: bool) -> None:
    """Show the kanban board in the terminal (from the packets, in board order)."""
    import sys

    from batty.store import views
    from batty.store.packets import RACY_NS
    from batty.workflow.state import State

    st = State(app)
    # the board of unchanged packets and BOARD.md is the one shown last time (issue 13)
    version = st.packets_version()
    want = views.key(version, views.stat_key(st.paths.board_md, RACY_NS), as_json,
                     sys.stdout.isatty())
    text = views.get(st.paths.cache, "board", want)
    if text is None:
        text = _board(st, as_json)
        if st.packets.version == version:
            views.put(st.paths.cache, "board", want, text)
    click.echo(text)


def _board(st: State, as_json: bool) -> str:
    from batty.core import board as boardmod
    from batty.workflow.state import dumps

    try:
        on_disk: str | None = st.paths.board_md.read_text(encoding="utf-8")
        previous = boardmod.parse(on_disk)  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError):
        on_disk, previous = None, None
    from batty.store.broken import broken

    bad = broken(st.paths, st.packets)
    text = boardmod.render(st.packets, previous if previous and not previous.problems else None, bad)
    # a board in step with its packets (the usual case) renders as it stands: parsed once
    parsed = previous if text == on_disk and previous is not None else boardmod.parse(text)
    if as_json:
        return dumps({"version": 1, "columns": [
            {"name": c.name, "status": c.status.value if c.status else None,
             "cards": [card.id for card in c.cards]} for c in parsed.columns]})
    lines = []
    for col in parsed.columns:
        lines.append(click.style(f"{col.name} ({len(col.cards)})", bold=True))
        for card in col.cards:
            p = st.packets.get(card.id or "")
            if p is None:
                if card.id in bad:  # issue 16.6: a packet that does not load stays in sight
                    title, _, where = bad[card.id]
                    lines.append(f"  {card.id:<8} {click.style('BROKEN', fg='red')} {title}: {where}"
                                 f" (batty task edit {card.id})")
                continue
            extra = f" @{p.assignee}" if p.assignee and p.status.value in ("in-progress", "review") else ""
            lines.append(f"  {p.id:<8} P{p.priority} {p.title}{extra}")
        lines.append("")
    from batty.core.escape import shown

    return shown("\n".join(lines).rstrip())  # an escape sequence in a title is shown (issue 15)
