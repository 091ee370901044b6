"""Opening the telemetry database: refreshed from this machine's log, then read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from batty.telemetry.loader import LoadReport


def refresh(paths: Any, files: Iterable[Path] | None = None, *, rebuild: bool = False,
            cmd: str | None = None) -> LoadReport:
    """Load ``files`` (default: this machine's log and its rotated copies) under the telemetry lock."""
    from batty.store import locks
    from batty.telemetry.loader import default_files, load
    from batty.telemetry.zone import timezone_of

    zone = timezone_of(paths)
    chosen = list(files) if files else default_files(paths.state)
    with locks.hold(paths.state, "telemetry", cmd=cmd):
        return load(paths.telemetry_db, chosen, zone, rebuild=rebuild)


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection (the figures never write)."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
