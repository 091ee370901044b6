"""One error model (STYLE 5): library code raises these; only the CLI boundary prints them."""

from __future__ import annotations

from pathlib import Path


class BattyError(Exception):
    """An error the user can fix. Printed as one line ``batty: ...``; exit 1."""

    exit_code = 1

    def __init__(
        self,
        what: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        valid: str | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.file = str(file) if file is not None else None
        self.line = line
        self.valid = valid

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        hint = f" ({self.valid})" if self.valid else ""
        return f"{where}{self.what}{hint}"


class InvalidInput(BattyError):
    """A packet, board, config or argument that does not validate."""


class OffBase(InvalidInput):
    """The control checkout is not on the base branch: batty does not write from there."""


class NotFound(BattyError):
    """A task, seat or file that does not exist."""


class GitError(BattyError):
    """git refused or failed."""


class Busy(BattyError):
    """Another run holds the lock: nothing was done, try again (exit 75, EX_TEMPFAIL)."""

    exit_code = 75


class UsageError(BattyError):
    """Bad usage of a command (exit 2)."""

    exit_code = 2
