"""The SPEC 7 figures and the dashboard's queries: one ``.sql`` file each, read by everyone.

``views/NN_name.sql`` are the headline figures, in the order ``batty stats`` prints them;
``queries/name.sql`` feed the charts, the usage tables and the digest. Each file opens with
``-- title:`` and ``-- description:`` (a sentence saying what it counts) and may say
``-- shape: rows`` (several rows instead of one ``value``) or ``-- format: percent``.

The SQL takes one parameter, ``:since``, always read through ``batty_since(:since)``: the
window's start as a stored UTC time (``''``: since the beginning). ``batty_since`` is a SQL
function batty defines on each connection (:func:`register`): it reads ``since`` as ``--since``
does (``zone.since_start``: a date is its local midnight in the database's zone, ``7d`` whole
local days, a time with an offset that instant), so that Datasette, handed the text a person
typed, counts what ``stats`` counts. The same text is a Datasette canned query (``since`` is its
form field; ``batty.telemetry.plugin`` defines the function there), the query ``stats`` runs,
and, with the window bound to ``''``, a view in the database named ``figure_NAME`` or
``query_NAME``, since a SQLite view cannot take parameters (the views call no batty function,
so any SQLite client can read them).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
SINCE_FUNCTION = "batty_since"
_HEADER = re.compile(r"^--\s*(title|description|shape|format|view):\s*(.*?)\s*$")


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    description: str
    sql: str
    figure: bool  # a headline figure of SPEC 7 (views/) or a supporting query (queries/)
    shape: str = "value"  # value: one row, its `value` column (and an optional `detail`); rows
    format: str | None = None
    has_view: bool = True  # false for a query with parameters other than :since (trace)

    @property
    def view(self) -> str:
        return f"{'figure' if self.figure else 'query'}_{self.name}"

    @property
    def view_sql(self) -> str:
        return re.sub(r":since\b", "''", self.sql.replace(f"{SINCE_FUNCTION}(:since)", "''"))


def _parse(path: Path, figure: bool) -> Query:
    meta: dict[str, str] = {}
    body: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _HEADER.match(line)
        if m and not body:
            meta[m.group(1)] = m.group(2)
        else:
            body.append(line)
    name = re.sub(r"^\d+_", "", path.stem)
    if "title" not in meta or "description" not in meta:
        raise ValueError(f"{path}: needs -- title: and -- description: lines")
    return Query(name=name, title=meta["title"], description=meta["description"],
                 sql="\n".join(body).strip().rstrip(";"), figure=figure,
                 shape=meta.get("shape", "value"), format=meta.get("format"),
                 has_view=meta.get("view", "yes") != "no")


@cache
def all_queries() -> tuple[Query, ...]:
    """Figures first, in their file order, then the supporting queries by name."""
    figures = [_parse(p, True) for p in sorted((HERE / "views").glob("*.sql"))]
    others = [_parse(p, False) for p in sorted((HERE / "queries").glob("*.sql"))]
    return (*figures, *others)


def figures() -> list[Query]:
    return [q for q in all_queries() if q.figure]


def query(name: str) -> Query:
    for q in all_queries():
        if q.name == name:
            return q
    raise KeyError(name)


def install_views(conn: Any) -> bool:
    """(Re)create one view per query when the package's SQL changed; True when it did."""
    digest = hashlib.sha256("\n".join(q.view + q.view_sql for q in all_queries()
                                      if q.has_view).encode()).hexdigest()
    row = conn.execute("SELECT value FROM meta WHERE key = 'views'").fetchone()
    if row and row[0] == digest:
        return False
    stale = conn.execute("SELECT name FROM sqlite_master WHERE type = 'view' AND "
                         "(name LIKE 'figure\\_%' ESCAPE '\\' OR name LIKE 'query\\_%' ESCAPE '\\')")
    for (name,) in stale.fetchall():
        conn.execute(f'DROP VIEW "{name}"')
    for q in all_queries():
        if q.has_view:
            conn.execute(f'CREATE VIEW "{q.view}" AS\n{q.view_sql}')
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('views', ?)", (digest,))
    return True


def stored_zone(conn: Any) -> ZoneInfo:
    """The zone the database's days were cut in (``meta.timezone``, set by every load to
    ``telemetry.timezone``); UTC for a database without one."""
    from zoneinfo import ZoneInfo

    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'timezone'").fetchone()
        return ZoneInfo(str(row[0])) if row and row[0] else ZoneInfo("UTC")
    except (sqlite3.Error, ValueError, KeyError):  # no meta table; a zone this machine lacks
        return ZoneInfo("UTC")


def since_function(zone: ZoneInfo) -> Callable[[Any], str]:
    """``batty_since(text)``: the start of the window ``text`` as a stored UTC time, '' for all.

    The text ``--since`` takes (``zone.since_start``), converted as ``stats`` converts it; a
    stored UTC time, which is what ``stats`` binds, comes back unchanged. Text that is no window
    raises, and SQLite reports the query failed rather than counting nothing.
    """
    from batty.core import clock
    from batty.telemetry.zone import since_start

    def batty_since(text: Any) -> str:
        if text is None:
            return ""
        start = since_start(str(text), zone, clock.now())
        return clock.iso(start) if start is not None else ""

    return batty_since


def register(conn: Any, zone: ZoneInfo | None = None) -> None:
    """Define ``batty_since`` on ``conn`` (in ``zone``; default: the database's own)."""
    # deterministic: SQLite evaluates it once a statement, not once a row, and keeps the
    # (kind, ts) index usable for the range
    conn.create_function(SINCE_FUNCTION, 1, since_function(zone or stored_zone(conn)),
                         deterministic=True)


def rows(conn: Any, name: str, since: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """The rows of query ``name`` over events at or after ``since`` (None: all of them): a
    stored UTC time, or any text ``--since`` takes."""
    register(conn)
    cur = conn.execute(query(name).sql, {"since": since or "", **params})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


@dataclass(frozen=True)
class Figure:
    query: Query
    value: Any  # a number, None (no data), or {seat: n} for shape rows
    detail: Any = None

    def as_json(self) -> dict[str, Any]:
        out = {"name": self.query.name, "title": self.query.title, "value": self.value}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


def compute(conn: Any, since: str | None = None) -> list[Figure]:
    """Every headline figure, in order."""
    out = []
    for q in figures():
        found = rows(conn, q.name, since)
        if q.shape == "rows":
            out.append(Figure(q, {r["seat"]: r["value"] for r in found}))
        else:
            first = found[0] if found else {}
            out.append(Figure(q, first.get("value"), first.get("detail")))
    return out
