"""telemetry load: incremental, idempotent, several files and hosts, rotation, torn lines,
migrations, rebuild (issue 6). Real files, real SQLite."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batty.store.events import EventLog
from batty.telemetry import synth
from batty.telemetry.loader import default_files, load
from batty.telemetry.migrations import MIGRATIONS, migrate
from tests.telemetry.helpers import batty, ev, write

UTC = ZoneInfo("UTC")


def count(db: Path, sql: str = "SELECT count(*) FROM events", *args: object) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchone()[0]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / ".batty" / "events.jsonl"
    write(path, list(synth.run(200)))
    return path


def test_loading_twice_adds_nothing(tmp_path: Path, log: Path) -> None:
    db = tmp_path / "t.db"
    first = load(db, [log], UTC)
    again = load(db, [log], UTC)
    assert (first.new, first.seen) == (200, 0)
    assert (again.new, again.seen) == (0, 0)  # read on from the stored offset: nothing to read
    assert count(db) == 200


def test_a_second_load_reads_only_the_new_lines(tmp_path: Path, log: Path) -> None:
    db = tmp_path / "t.db"
    load(db, [log], UTC)
    write(log, list(synth.run(5, seed=2, prefix="N")), mode="a")
    rep = load(db, [log], UTC)
    assert rep.new == 5 and rep.seen == 0
    assert rep.files[0].start > 0
    assert count(db, 'SELECT "offset" FROM sources') == log.stat().st_size
    assert count(db) == 205


def test_the_same_events_in_another_file_are_keyed_by_id(tmp_path: Path, log: Path) -> None:
    db = tmp_path / "t.db"
    load(db, [log], UTC)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(b"\n" + log.read_bytes())  # another first line: another file, same events
    rep = load(db, [copy], UTC)
    assert (rep.new, rep.seen) == (0, 200)
    assert count(db) == 200


def test_a_rotated_log_resumes_and_the_new_log_starts_at_zero(tmp_path: Path, log: Path) -> None:
    db = tmp_path / "t.db"
    load(db, [log], UTC)
    write(log, [ev("2026-11-30T10:00", "tick.started")], mode="a")  # not yet loaded
    rotated = log.with_name("events.jsonl.1")
    log.rename(rotated)
    write(log, [ev("2026-11-30T11:00", "tick.finished")])
    rep = load(db, default_files(log.parent), UTC)
    by_path = {Path(f.path).name: f for f in rep.files}
    assert by_path["events.jsonl.1"].start > 0  # known by its first line: read on from its offset
    assert (by_path["events.jsonl.1"].new, by_path["events.jsonl.1"].seen) == (1, 0)
    assert (by_path["events.jsonl"].start, by_path["events.jsonl"].new) == (0, 1)
    assert count(db) == 202


def test_gzipped_rotated_logs_load(tmp_path: Path, log: Path) -> None:
    gz = log.with_name("events.jsonl.2.gz")
    with gzip.open(gz, "wb") as f:
        f.write(log.read_bytes())
    log.unlink()
    db = tmp_path / "t.db"
    assert load(db, default_files(log.parent), UTC).new == 200
    assert load(db, [gz], UTC).new == 0


def test_several_hosts_into_one_database(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write(a, list(synth.run(50, host="build-1", prefix="A")))
    write(b, list(synth.run(70, host="build-2", prefix="B", seed=3)))
    db = tmp_path / "t.db"
    rep = load(db, [a, b], UTC)
    assert rep.new == 120
    with sqlite3.connect(db) as conn:
        hosts = dict(conn.execute("SELECT host, count(*) FROM events GROUP BY host"))
    assert hosts == {"build-1": 50, "build-2": 70}


def test_a_torn_line_is_skipped_and_counted_and_an_unfinished_one_waits(tmp_path: Path) -> None:
    path = tmp_path / ".batty" / "events.jsonl"
    write(path, [ev("2026-11-30T10:00", "tick.started")])
    with open(path, "a") as f:
        f.write('{"id": "x", "kind": "tick.fin\n')  # torn mid-file: a crash, then a later append
        f.write("[1, 2]\n")  # valid JSON, not an event
    write(path, [ev("2026-11-30T10:01", "tick.started")], mode="a")
    with open(path, "a") as f:
        f.write('{"id": "0193-half", "ts": "2026-')  # a write in flight: no newline yet
    db = tmp_path / "t.db"
    rep = load(db, [path], UTC)
    assert (rep.new, rep.torn, rep.files[0].pending) == (2, 2, True)
    # The writer's next append starts on a fresh line: the fragment becomes a torn line.
    EventLog(path, tmp_path / "events.lock", cmd="test").emit("tick.finished", duration_s=1.0)
    rep = load(db, [path], UTC)
    assert (rep.new, rep.torn, rep.files[0].pending) == (1, 1, False)
    assert count(db) == 3
    assert count(db, "SELECT torn FROM sources") == 3


def test_a_line_whose_ts_is_no_time_is_skipped_and_counted(tmp_path: Path) -> None:
    """Audit gap 5: "ts":"garbage" was stored as is (and counted in every --since window, as
    text sorts after any date), a numeric or missing ts stored NULL."""
    from tests.telemetry.helpers import make_repo

    root = make_repo(tmp_path / "r")
    path = root / ".batty" / "events.jsonl"
    good = ev("2026-11-30T10:00", "tick.finished", duration_s=1.0, steps={}, rc=0)
    bad = [{**good, "id": f"bad-{i}", "ts": ts} for i, ts in enumerate(
        ["garbage", 1764496800, None, "2026-13-45T99:99:99.999999+00:00", "", ["2026-11-30"]])]
    bad.append({k: v for k, v in {**good, "id": "bad-no-ts"}.items() if k != "ts"})
    write(path, [good, *bad])
    res = batty(root, "telemetry", "load")
    assert res.returncode == 0, res.stderr
    assert "loaded 1 new event(s)" in res.stdout and "7 torn line(s) skipped" in res.stdout
    assert "skipped 7 line(s) that are not events" in res.stderr
    db = root / ".batty" / "telemetry.db"
    assert count(db) == 1
    assert count(db, "SELECT torn FROM sources") == 7
    # the window holds only the good event, and "all" holds no NULL time
    assert count(db, "SELECT count(*) FROM events WHERE ts IS NULL OR ts NOT LIKE '2026-%'") == 0
    got = json.loads(batty(root, "stats", "--json", "--since", "2027-01-01").stdout)
    assert {f["name"]: f["value"] for f in got["figures"]}["heartbeats"] == 0
    got = json.loads(batty(root, "stats", "--json").stdout)
    assert {f["name"]: f["value"] for f in got["figures"]}["heartbeats"] == 1


def test_the_cli_reports_torn_lines(tmp_path: Path) -> None:
    from tests.telemetry.helpers import make_repo

    root = make_repo(tmp_path / "r")
    path = root / ".batty" / "events.jsonl"
    write(path, [ev("2026-11-30T10:00", "tick.started")])
    with open(path, "a") as f:
        f.write("not json\n")
    res = batty(root, "telemetry", "load")
    assert res.returncode == 0, res.stderr
    assert "loaded 1 new event(s) from 1 file(s)" in res.stdout
    assert "1 torn line(s) skipped" in res.stdout
    assert "skipped 1 line(s) that are not events" in res.stderr
    doc = json.loads(batty(root, "telemetry", "load", "--json").stdout)
    assert (doc["version"], doc["new"], doc["torn"]) == (1, 0, 0)


def test_data_is_stored_as_the_event_had_it(tmp_path: Path) -> None:
    tricky = {"why": 'a "quoted" ,"data": {not json}', "nested": {"data": [1, {"x": None}]},
              "text": "é ünïcode", "n": 3}
    path = tmp_path / "e.jsonl"
    log = EventLog(path, tmp_path / "lock", cmd="test")
    log.emit("task.status", task="T-1", attempt=1, **tricky)
    log.emit("tick.started")
    with open(path, "a") as f:  # another writer's spacing and key order: the slow path
        f.write(json.dumps({"data": {"a": 1}, "kind": "tick.started", "id": "other-1",
                            "ts": "2026-11-30T12:00:00+02:00"}) + "\n")
    db = tmp_path / "t.db"
    load(db, [path], UTC)
    with sqlite3.connect(db) as conn:
        rows = {r[0]: r[1:] for r in conn.execute("SELECT kind, data, ts, day FROM events")}
        first = conn.execute("SELECT data FROM events WHERE task = 'T-1'").fetchone()[0]
        other = conn.execute("SELECT data, ts, day FROM events WHERE id = 'other-1'").fetchone()
    assert json.loads(first) == tricky
    assert json.loads(other[0]) == {"a": 1}
    assert other[1] == "2026-11-30T10:00:00.000000+00:00"  # stored times are UTC
    assert other[2] == "2026-11-30"
    assert len(rows) == 2


def test_migrations_run_once_in_order_and_a_missing_one_is_applied(tmp_path: Path, log: Path) -> None:
    import sqlite_utils

    db = tmp_path / "t.db"
    load(db, [log], UTC)
    names = [fn.__name__ for fn in MIGRATIONS]
    with sqlite3.connect(db) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")] == names
        # a database made before the last migration existed
        conn.execute("DELETE FROM _migrations WHERE name = ?", (names[-1],))
        conn.execute("DROP INDEX idx_events_kind_ts")
        conn.execute("DROP INDEX idx_events_task_ts")
    assert migrate(sqlite_utils.Database(db)) == [names[-1]]
    assert migrate(sqlite_utils.Database(db)) == []
    with sqlite3.connect(db) as conn:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_events_kind_ts", "idx_events_task_ts"} <= indexes


def test_rebuild_reads_every_known_log_afresh(tmp_path: Path, log: Path) -> None:
    other = tmp_path / "elsewhere" / "build-2.jsonl"
    write(other, list(synth.run(30, host="build-2", prefix="B", seed=5)))
    db = tmp_path / "t.db"
    load(db, [log, other], UTC)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM events WHERE rowid % 2 = 0")  # damage
    assert load(db, [log, other], UTC).new == 0  # offsets say there is nothing new
    rep = load(db, [], UTC, rebuild=True)
    assert rep.rebuilt and rep.new == 230
    assert count(db) == 230
    assert not list(tmp_path.glob(".t.db.*"))  # the temporary build was swapped in


def test_rebuild_reads_this_machines_log_once(tmp_path: Path) -> None:
    """Audit gap 6: --rebuild took the known files plus the default ones, so events.jsonl was
    read twice and reported as "from 2 file(s)"."""
    from tests.telemetry import story
    from tests.telemetry.helpers import make_repo, stats_json

    root = make_repo(tmp_path / "r")
    write(root / ".batty" / "events.jsonl", story.events())
    before = stats_json(root)
    before.pop("_doc")
    res = batty(root, "telemetry", "load", "--rebuild")
    assert res.returncode == 0, res.stderr
    assert f"rebuilt {len(story.events())} new event(s) from 1 file(s)" in res.stdout
    doc = json.loads(batty(root, "telemetry", "load", "--rebuild", "--json").stdout)
    assert [Path(f["path"]).name for f in doc["files"]] == ["events.jsonl"]
    assert (doc["rebuilt"], doc["new"], doc["seen"]) == (True, len(story.events()), 0)
    # named again on the command line, and by another spelling of its path: still once
    other = root / ".batty" / ".." / ".batty" / "events.jsonl"
    doc = json.loads(batty(root, "telemetry", "load", "--rebuild", "--json", str(other)).stdout)
    assert len(doc["files"]) == 1 and doc["new"] == len(story.events())
    after = stats_json(root)
    after.pop("_doc")
    assert after == before == story.EXPECTED  # nothing doubled
    assert count(root / ".batty" / "telemetry.db") == len(story.events())


def test_a_new_zone_recomputes_every_day(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    write(path, [ev("2026-11-20T10:30", "tick.started")])
    db = tmp_path / "t.db"
    load(db, [path], UTC)
    assert count(db, "SELECT count(*) FROM events WHERE day = '2026-11-20'") == 1
    rep = load(db, [path], ZoneInfo("Pacific/Kiritimati"))  # UTC+14: 00:30 the next day
    assert rep.redayed
    assert count(db, "SELECT count(*) FROM events WHERE day = '2026-11-21'") == 1


def test_a_failed_load_changes_nothing(tmp_path: Path, log: Path) -> None:
    db = tmp_path / "t.db"
    load(db, [log], UTC)
    snapshot = tmp_path / "snap.db"
    shutil.copy(db, snapshot)
    write(log, list(synth.run(3, seed=9, prefix="Z")), mode="a")
    with pytest.raises(Exception, match="no such event log"):
        load(db, [log, tmp_path / "missing.jsonl"], UTC)
    assert count(db) == 200
    assert load(db, [log], UTC).new == 3
