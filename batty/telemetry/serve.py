"""``telemetry serve``: Datasette over the telemetry database, on 127.0.0.1 only.

The database is opened immutable (Datasette never writes it and may cache counts), arbitrary
SQL is off unless asked for, and the canned queries, titles and descriptions come from the
same ``.sql`` files ``batty stats`` runs, their ``since`` read as ``--since`` is (plugin.py).
The dashboard is a Datasette custom page (``datasette/templates/pages/dashboard.html``) drawing
its charts with a local script: no CDN.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "datasette"
STATIC_MOUNT = "batty-static"
HOST = "127.0.0.1"


def metadata(db_name: str, zone: str) -> dict[str, Any]:
    """Datasette metadata: titles, descriptions and one canned query per ``.sql`` file."""
    from batty.telemetry.figures import all_queries

    tables: dict[str, Any] = {
        "events": {
            "title": "Events",
            "description": "Every line of the event logs, one row per event id (SPEC 7). ts is "
                           f"UTC; day is the local day in {zone}; data is the kind's JSON "
                           "fields (docs/events.md).",
            "sort_desc": "ts",
            "facets": ["kind", "host", "seat"],
        },
        "sources": {"title": "Logs read",
                    "description": "Each log file loaded, known by its first line, and how far "
                                   "it was read (offset, in bytes)."},
        "meta": {"hidden": True},
        "_migrations": {"hidden": True},
    }
    queries: dict[str, Any] = {}
    for q in all_queries():
        if q.has_view:
            tables[q.view] = {"title": q.title, "description": q.description + " (all events)"}
        queries[q.name] = {"title": q.title, "description": q.description, "sql": q.sql + "\n"}
    return {
        "title": "batty telemetry",
        "description_html": ("The event log of batty's supervised agents, loaded by "
                             "<code>batty telemetry load</code>. "
                             '<a href="/dashboard">The dashboard</a> charts completions, '
                             "seats, escalations, self-heals and merge confidence. Each canned "
                             "query takes <code>since</code> as <code>batty stats --since</code> "
                             f"does: a date such as 2026-11-01 (its local midnight in {zone}), "
                             "7d or 12h, or a time with its offset."),
        "databases": {db_name: {"title": "Telemetry", "tables": tables, "queries": queries}},
    }


def argv(db_path: Path, metadata_path: Path, *, port: int, allow_sql: bool) -> list[str]:
    """The Datasette command line: the venv's own Datasette, with batty's plugin registered
    (``python -m batty.telemetry.plugin``: ``batty_since()``, which the canned queries call)."""
    return [
        sys.executable, "-m", "batty.telemetry.plugin", "serve",
        "--immutable", str(db_path),
        "--host", HOST,
        "--port", str(port),
        "--metadata", str(metadata_path),
        "--template-dir", str(HERE / "templates"),
        "--static", f"{STATIC_MOUNT}:{HERE / 'static'}",
        "--setting", "default_allow_sql", "on" if allow_sql else "off",
        "--setting", "sql_time_limit_ms", "20000",
        "--setting", "max_returned_rows", "10000",
        "--setting", "facet_time_limit_ms", "1000",
    ]


def prepare(paths: Any, *, port: int, allow_sql: bool) -> list[str]:
    """Write the metadata under ``.batty/cache/datasette/`` and return the argv to exec."""
    from batty.store.atomic import write_text
    from batty.telemetry.zone import timezone_of

    meta = metadata(paths.telemetry_db.stem, timezone_of(paths).key)
    target = paths.cache / "datasette" / "metadata.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, json.dumps(meta, indent=2))
    return argv(paths.telemetry_db, target, port=port, allow_sql=allow_sql)
