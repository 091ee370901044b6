"""The SPEC 7 figures and the dashboard's queries: one ``.sql`` file each, read by everyone.

``views/NN_name.sql`` are the headline figures, in the order ``batty stats`` prints them;
``queries/name.sql`` feed the charts, the usage tables and the digest. Each file opens with
``-- title:`` and ``-- description:`` (a sentence saying what it counts) and may say
``-- shape: rows`` (several rows instead of one ``value``) or ``-- format: percent``.

The SQL takes one parameter, ``:since`` (a stored UTC time; ``''`` means since the beginning).
The same text is a Datasette canned query (``since`` is its form field), the query ``stats``
runs, and, with ``:since`` bound to ``''``, a view in the database named ``figure_NAME`` or
``query_NAME``, since a SQLite view cannot take parameters.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
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
        return re.sub(r":since\b", "''", self.sql)


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


def rows(conn: Any, name: str, since: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """The rows of query ``name`` over events at or after ``since`` (None: all of them)."""
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
