"""Task and seat ids: what a valid one looks like. Pure: the core and the store both check ids."""

from __future__ import annotations

import re

from batty.errors import InvalidInput

ID_RE = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+\Z")  # \Z: `$` lets a trailing newline through
ID_VALID = "an id like T-12: ^[A-Z][A-Z0-9]*-[0-9]+$"
SEAT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def check_id(task_id: str) -> str:
    """Return ``task_id`` if it is a valid task id; refuse anything path-like."""
    if not isinstance(task_id, str) or not ID_RE.match(task_id):
        raise InvalidInput(f"invalid task id {task_id!r}", valid=ID_VALID)
    return task_id
