"""batty board: the kanban in the terminal."""

from __future__ import annotations

import click

from batty.workflow.session import Session


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Columns and card ids as JSON.")
@click.pass_obj
def command(app: Session, as_json: bool) -> None:
    """Show the kanban board in the terminal (from the packets, in board order)."""
    from batty.core import board as boardmod
    from batty.workflow.state import State, dumps

    st = State(app)
    try:
        on_disk: str | None = st.paths.board_md.read_text(encoding="utf-8")
        previous = boardmod.parse(on_disk)  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError):
        on_disk, previous = None, None
    text = boardmod.render(st.packets, previous if previous and not previous.problems else None)
    # a board in step with its packets (the usual case) renders as it stands: parsed once
    parsed = previous if text == on_disk and previous is not None else boardmod.parse(text)
    if as_json:
        click.echo(dumps({"version": 1, "columns": [
            {"name": c.name, "status": c.status.value if c.status else None,
             "cards": [card.id for card in c.cards]} for c in parsed.columns]}))
        return
    lines = []
    for col in parsed.columns:
        lines.append(click.style(f"{col.name} ({len(col.cards)})", bold=True))
        for card in col.cards:
            p = st.packets.get(card.id or "")
            if p is None:
                continue
            extra = f" @{p.assignee}" if p.assignee and p.status.value in ("in-progress", "review") else ""
            lines.append(f"  {p.id:<8} P{p.priority} {p.title}{extra}")
        lines.append("")
    click.echo("\n".join(lines).rstrip())
