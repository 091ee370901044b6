"""``telemetry load``: JSONL event logs into ``.batty/telemetry.db`` (SPEC 7, issue 6).

Incremental: each log is known by its first line and read on from where the last load stopped
(``sources.offset``). Idempotent: the event id is the primary key, so a line loaded twice (the
same file passed again, a rotated copy, another host's log holding a copy) adds nothing. A line
that does not parse, or is no event (no id or kind, a ts that is no time), is skipped and
counted; an unfinished last line (a write in flight, or a crash mid-write) is left for the next
load, which sees it once the writer's next append ends it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from batty.core import clock
from batty.telemetry.zone import day_function

HEAD_MAX = 65536
COLUMNS = ("id", "ts", "day", "kind", "task", "seat", "attempt", "corr", "host", "cmd", "data")
INSERT = f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
# A load this large into an empty table drops the indexes first and builds them after.
BULK_ROWS = 100_000


@dataclass
class FileReport:
    path: str
    new: int = 0  # events inserted
    seen: int = 0  # events already in the database
    torn: int = 0  # complete lines that are not an event
    pending: bool = False  # an unfinished last line, left for the next load
    start: int = 0  # byte offset this load read from


@dataclass
class LoadReport:
    db: str
    zone: str
    rebuilt: bool = False
    redayed: bool = False  # the zone changed: every event's local day was recomputed
    migrations: list[str] = field(default_factory=list)
    files: list[FileReport] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(f.new for f in self.files)

    @property
    def seen(self) -> int:
        return sum(f.seen for f in self.files)

    @property
    def torn(self) -> int:
        return sum(f.torn for f in self.files)

    def as_json(self) -> dict[str, Any]:
        return {"version": 1, "db": self.db, "zone": self.zone, "rebuilt": self.rebuilt,
                "redayed": self.redayed, "migrations": self.migrations, "new": self.new,
                "seen": self.seen, "torn": self.torn,
                "files": [vars(f) for f in self.files]}


def default_files(state: Path) -> list[Path]:
    """This machine's log and its rotated copies (``events.jsonl.1``, ``events.jsonl.2.gz``),
    oldest first (by modification time, whatever the rotation's naming)."""
    live = state / "events.jsonl"
    rotated = sorted((p for p in state.glob("events.jsonl.*") if p.is_file()),
                     key=lambda p: (p.stat().st_mtime, p.name))
    return [p for p in (*rotated, live) if p.is_file()]


def _pending_migrations(conn: sqlite3.Connection) -> bool:
    from batty.telemetry.migrations import MIGRATIONS

    try:
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        return True
    return any(fn.__name__ not in done for fn in MIGRATIONS)


def load(db_path: Path, files: Iterable[Path], zone: ZoneInfo, *, rebuild: bool = False) -> LoadReport:
    """Load ``files`` into the database at ``db_path`` (created when missing).

    ``rebuild`` builds a fresh database from ``files`` and every log the old one had read that
    still exists, then swaps it in: a crash leaves the old database as it was.
    """
    report = LoadReport(db=str(db_path), zone=zone.key)
    target = db_path
    if rebuild or not db_path.exists():
        report.rebuilt = rebuild
        if rebuild and db_path.exists():
            files = [*_known_files(db_path), *files]
        target = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
        target.unlink(missing_ok=True)
    files = _once(files)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target)
    try:
        if _pending_migrations(conn):
            # sqlite-utils only when the schema moves: the every-minute load stays light
            import sqlite_utils

            from batty.telemetry.migrations import migrate

            report.migrations = migrate(sqlite_utils.Database(conn))
        _load_into(conn, files, zone, report)
        conn.close()
        if target != db_path:
            os.replace(target, db_path)
    except BaseException:
        conn.close()
        if target != db_path:
            target.unlink(missing_ok=True)
        raise
    return report


def _once(files: Iterable[Path]) -> list[Path]:
    """Each file once, by its resolved path, first spelling kept: ``--rebuild`` adds the logs the
    database knows (stored resolved) to this machine's, which are among them."""
    seen: dict[Path, Path] = {}
    for path in files:
        seen.setdefault(Path(path).resolve(), Path(path))
    return list(seen.values())


def _known_files(db_path: Path) -> list[Path]:
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT path FROM sources ORDER BY rowid").fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        conn.close()
    return [Path(r[0]) for r in rows if Path(r[0]).is_file()]


def _load_into(conn: sqlite3.Connection, files: list[Path], zone: ZoneInfo, report: LoadReport) -> None:
    from batty.telemetry import figures
    from batty.telemetry.migrations import INDEXES

    local_day = day_function(zone)
    sources = {row[0]: [row[1], row[2]] for row in
               conn.execute('SELECT key, "offset", torn FROM sources')}
    empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM events)").fetchone()[0]
    with conn:  # one transaction: a failed load adds nothing
        stored_zone = _meta(conn, "timezone")
        if stored_zone is not None and stored_zone != zone.key:
            # Days are local (SPEC 6): a new zone recomputes every stored day (docs/telemetry.md).
            conn.create_function("batty_local_day", 1, local_day, deterministic=True)
            conn.execute("UPDATE events SET day = batty_local_day(ts)")
            report.redayed = True
        _set_meta(conn, "timezone", zone.key)
        dropped = False
        for path in files:
            if empty and not dropped and _bigger_than(path, BULK_ROWS * 200):
                for name in INDEXES:
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
                dropped = True
            report.files.append(_load_file(conn, path, sources, local_day))
        if dropped:
            for name, columns in INDEXES.items():
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON events ({', '.join(columns)})")
        figures.install_views(conn)


def _bigger_than(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size > size
    except OSError:
        return False


def open_log(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _load_file(conn: Any, path: Path, sources: dict[str, list[int]], local_day: Any) -> FileReport:
    rep = FileReport(path=str(path))
    try:
        f = open_log(path)
    except FileNotFoundError:
        from batty.errors import NotFound

        raise NotFound(f"no such event log: {path}") from None
    with f:
        head = f.readline(HEAD_MAX)
        if not head.endswith(b"\n"):
            rep.pending = bool(head)
            return rep  # no complete line yet: nothing to know the file by
        key = hashlib.sha1(head).hexdigest()
        offset, torn = sources.get(key, [0, 0])
        size = path.stat().st_size if path.suffix != ".gz" else -1
        if size >= 0 and offset > size:
            offset = 0  # truncated and rewritten with the same first line: read it all again
        rep.start = offset
        f.seek(offset)
        counter = _Counter(offset)
        before = conn.total_changes
        conn.executemany(INSERT, _rows(f, counter, local_day))
        rep.new = conn.total_changes - before
        rep.seen = counter.events - rep.new
        rep.torn = counter.torn
        rep.pending = counter.pending
        sources[key] = [counter.offset, torn + counter.torn]
        conn.execute(
            'INSERT OR REPLACE INTO sources (key, path, "offset", size, events, torn, loaded_at) '
            "VALUES (?, ?, ?, ?, coalesce((SELECT events FROM sources WHERE key = ?), 0) + ?, ?, ?)",
            (key, str(path.resolve()), counter.offset, size, key, rep.new, torn + counter.torn,
             clock.now_iso()),
        )
    return rep


class _Counter:
    __slots__ = ("offset", "events", "torn", "pending")

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.events = 0
        self.torn = 0
        self.pending = False


def _rows(f: IO[bytes], c: _Counter, local_day: Any) -> Iterator[tuple[Any, ...]]:
    """The row of every complete line from the current position; ``c`` counts as it goes.

    The hot loop of a million-event load (docs/BENCHMARKS.md), hence the local names, the
    per-minute day cache inlined, and ``data`` sliced out of the line as written rather than
    re-encoded when the line has batty's own compact shape.
    """
    # the C scanner behind json.loads, called directly: no encoding sniffing, no regex per line
    scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
    loads = json.loads
    dumps = json.dumps
    days: dict[str, str | None] = {}
    pos = c.offset
    events = torn = 0
    try:
        for raw in f:
            if not raw.endswith(b"\n"):
                c.pending = True  # unfinished: read again next time, from its start
                break
            pos += len(raw)
            try:
                line = raw.decode("utf-8")
                if line.startswith("{"):
                    e, end = scan(line, 0)
                    if end != len(line) - 1 and line[end:].strip():
                        raise ValueError("text after the object")
                else:
                    e = loads(line)
                eid = e["id"]
                kind = e["kind"]
            except (ValueError, TypeError, KeyError, StopIteration):
                if raw.strip():
                    torn += 1
                continue
            if eid.__class__ is not str or kind.__class__ is not str:
                torn += 1
                continue
            get = e.get
            ts = get("ts")
            # A ts that is no time ("garbage", a number, missing) makes the line no event: stored,
            # it would be NULL (outside every figure) or text sorting after every date (inside
            # every --since window). Skipped and counted with the torn lines.
            if ts.__class__ is str and len(ts) == 32 and ts.endswith("+00:00"):
                day = days.get(ts[:16])
                if day is None:
                    # checked once a minute: what follows a valid minute still sorts in it
                    day = local_day(ts) if _is_time(ts) else None
                    if day is None:
                        torn += 1
                        continue
                    days[ts[:16]] = day
            else:
                ts = _utc(ts)
                day = local_day(ts) if ts is not None else None
                if day is None:
                    torn += 1
                    continue
            i = line.find(',"data":')
            if (i > 0 and line.find("{", 1, i) < 0 and line.endswith("}\n")
                    and next(reversed(e)) == "data"):
                # a structural key (a quote cannot stand unescaped inside a string), the last
                # one, with nothing nested before it: the rest of the line is the data object
                data: str | None = line[i + 8:-2]
                if data == "null":
                    data = None
            else:
                value = get("data")
                data = None if value is None else dumps(value, separators=(",", ":"),
                                                        ensure_ascii=False)
            attempt = get("attempt")
            events += 1
            yield (eid, ts, day, kind, get("task"), get("seat"),
                   attempt if attempt.__class__ is int else None, get("corr"), get("host"),
                   get("cmd"), data)
    finally:
        c.offset = pos
        c.events = events
        c.torn = torn


def _utc(ts: Any) -> str | None:
    """A stored time in the one shape the figures compare: UTC, microseconds, +00:00; None
    when ``ts`` is no time."""
    if not isinstance(ts, str):
        return None
    try:
        return clock.iso(clock.parse(ts))
    except ValueError:
        return None


def _is_time(ts: str) -> bool:
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        return False
    return True


def _meta(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(conn: Any, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
