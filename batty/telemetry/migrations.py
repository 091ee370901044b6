"""Append-only named migrations of the telemetry database (after llm's ``migrations.py``).

A migration runs once, in order, and its name is recorded in ``_migrations``. Never edit or
reorder one that has shipped: add the next. ``telemetry load --rebuild`` builds a fresh file
from the logs and runs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = Callable[[Any], None]
MIGRATIONS: list[Migration] = []

# Indexes the figures and `trace` read through. The bulk loader drops and re-creates them around
# a large load (faster than keeping them up to date row by row), so they are named here once.
INDEXES: dict[str, tuple[str, ...]] = {
    "idx_events_kind_ts": ("kind", "ts"),
    "idx_events_task_ts": ("task", "ts"),
}


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def migrate(db: Any) -> list[str]:
    """Apply the migrations ``db`` (a ``sqlite_utils.Database``) lacks; return their names."""
    from batty.core import clock

    db["_migrations"].create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ not in done:
            fn(db)
            db["_migrations"].insert({"name": fn.__name__, "applied_at": clock.now_iso()})
            applied.append(fn.__name__)
    return applied


@migration
def m001_events(db: Any) -> None:
    # One row per event (SPEC 7); `day` is the local day in telemetry.timezone, set at load.
    db["events"].create(
        {"id": str, "ts": str, "day": str, "kind": str, "task": str, "seat": str,
         "attempt": int, "corr": str, "host": str, "cmd": str, "data": str},
        pk="id",
    )


@migration
def m002_sources(db: Any) -> None:
    # How far each log was read. A file is known by its first line, not its name, so a rotated
    # log (events.jsonl -> events.jsonl.1) resumes where it was and a new events.jsonl starts at 0.
    db["sources"].create(
        {"key": str, "path": str, "offset": int, "size": int, "events": int, "torn": int,
         "loaded_at": str},
        pk="key",
    )


@migration
def m003_meta(db: Any) -> None:
    # timezone: the zone `events.day` was computed in; views: a hash of the installed view SQL.
    db["meta"].create({"key": str, "value": str}, pk="key")


@migration
def m004_indexes(db: Any) -> None:
    for name, columns in INDEXES.items():
        db["events"].create_index(columns, index_name=name, if_not_exists=True)
