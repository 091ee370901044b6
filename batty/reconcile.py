"""Reconcile: the board with the packets (SPEC 3); packets with git and runs (SPEC 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batty.core.kinds import Kind
from batty.store import locks

if TYPE_CHECKING:
    from batty.cli import App


def reconcile(app: App, *, dry_run: bool = False) -> int:
    from batty.state import State

    with locks.hold(app.paths.state, "reconcile", cmd="reconcile"):
        st = State(app)
        report = st.sync_board(dry_run=dry_run)
        for change in report.applied:
            app.say(("would apply: " if dry_run else "") + change)
            if not dry_run:
                st.events.emit(Kind.RECONCILE_BOARD, change=change)
        for warning in report.warnings:
            app.warn(warning)
        for problem in report.problems:
            app.warn(str(problem))
        if dry_run:
            if report.written:
                app.say("would re-render board/BOARD.md")
            return 1 if report.problems else 0
        if report.written and not st.notes:
            st.notes.append("board re-rendered")
            st._touched.add("board/BOARD.md")
        from batty.store.boardgit import commit_board

        try:
            base = st.config.base
        except Exception as e:  # a broken config is reported, the board still reconciled
            app.warn(str(e))
            return 1
        commit_board(st.paths.root, base, st.notes or ["board files updated"],
                     valid=st.valid_board_paths()) if (st.notes or _dirty(st)) else None
        return 1 if report.problems else 0


def _dirty(st: object) -> bool:
    from batty.store import git

    return bool(git.changed_paths(st.paths.root, ["board/"]))  # type: ignore[attr-defined]
