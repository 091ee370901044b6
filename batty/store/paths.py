"""The one path resolver (STYLE 6). Nothing else builds paths from the working directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from batty.core.ids import SEAT_RE, check_id
from batty.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Paths:
    """Every file batty reads or writes, relative to one repository root."""

    root: Path

    # --- board/: the supervisor's and the human's, committed on the base branch
    @property
    def board(self) -> Path:
        return self.root / "board"

    @property
    def tasks(self) -> Path:
        return self.board / "tasks"

    @property
    def config(self) -> Path:
        return self.board / "config.yaml"

    @property
    def board_md(self) -> Path:
        return self.board / "BOARD.md"

    @property
    def inbox(self) -> Path:
        return self.board / "INBOX.md"

    def packet(self, task_id: str) -> Path:
        return self.tasks / f"{check_id(task_id)}.yaml"

    # --- .batty/: runtime, never committed
    @property
    def state(self) -> Path:
        return self.root / ".batty"

    @property
    def events(self) -> Path:
        return self.state / "events.jsonl"

    @property
    def telemetry_db(self) -> Path:
        return self.state / "telemetry.db"

    @property
    def locks(self) -> Path:
        return self.state / "locks"

    @property
    def cache(self) -> Path:
        return self.state / "cache"

    @property
    def crashes(self) -> Path:
        return self.state / "crash"

    @property
    def worktrees(self) -> Path:
        return self.state / "worktrees"

    @property
    def seats(self) -> Path:
        """Per-seat home/config folders, outside every worktree."""
        return self.state / "seats"

    def seat_home(self, seat: str) -> Path:
        if not SEAT_RE.match(seat):
            raise InvalidInput(f"invalid seat name {seat!r}", valid="letters, digits, - _ .")
        return self.seats / seat

    def worktree(self, task_id: str) -> Path:
        return self.worktrees / check_id(task_id)

    def runs_of(self, task_id: str) -> Path:
        return self.state / "runs" / check_id(task_id)

    def run_dir(self, task_id: str, attempt: int) -> Path:
        return self.runs_of(task_id) / str(int(attempt))

    def evidence_of(self, task_id: str) -> Path:
        return self.state / "evidence" / check_id(task_id)

    def evidence_dir(self, task_id: str, attempt: int) -> Path:
        return self.evidence_of(task_id) / str(int(attempt))

    def rel(self, path: Path) -> str:
        """A path as the user reads it: relative to the repository root when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def branch_of(task_id: str) -> str:
    return f"batty/{check_id(task_id)}"


def find_root(start: str | os.PathLike[str] | None = None, *, need_board: bool = True) -> Paths:
    """The repository from ``start`` (default: cwd) upward: the first folder with ``board/config.yaml``,
    or, when ``need_board`` is false, the first with ``.git``."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if need_board and (folder / "board" / "config.yaml").is_file():
            return Paths(folder)
        if not need_board and (folder / ".git").exists():
            return Paths(folder)
    if need_board:
        raise NotFound(
            f"no batty repository at or above {here}",
            valid="run `batty init` in a git repository, or pass --repo PATH",
        )
    raise NotFound(f"not a git repository: {here}", valid="run `git init` first")
