"""board/ of this repository is batty's own roadmap, in batty's own format (issue 2)."""

from __future__ import annotations

from pathlib import Path

from batty.core import board as boardmod
from batty.store.config_file import load
from batty.store.packets import load_all
from batty.store.paths import Paths
from tests.conftest import run_batty

ROOT = Path(__file__).resolve().parent.parent


def test_the_roadmap_lints_clean() -> None:
    res = run_batty(ROOT, "task", "lint")
    assert res.code == 0, res.err


def test_the_roadmap_board_shows_exactly_the_packets() -> None:
    paths = Paths(ROOT)
    packets = load_all(paths, use_cache=False)
    assert len(packets) >= 7 and not packets.problems
    text = paths.board_md.read_text()
    board = boardmod.parse(text)
    assert not board.problems
    assert boardmod.render(packets, board) == text
    assert {tid for tid in board.column_of()} == {p.id for p in packets if p.status in boardmod.SHOWN}
    assert load(paths).base == "main"
