"""Days and windows in telemetry.timezone; stored times stay UTC (SPEC 6, issues 6 and 7).

A completion just after local midnight counts for the new local day, in a zone far from UTC on
either side, and across both daylight-saving changes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batty.errors import InvalidInput
from batty.telemetry import figures
from batty.telemetry.zone import day_function, local_midnight, since_start
from tests.telemetry.helpers import batty, done, make_repo, stats_json, write


def digest_days(root: Path, now: str, since: str) -> dict[str, int]:
    """The "By day" table of the markdown digest: day -> completed."""
    res = batty(root, "digest", "--since", since, env={"BATTY_NOW": now})
    assert res.returncode == 0, res.stderr
    section = res.stdout.split("## By day")[1].split("##")[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| 20")]
    return {d.strip(): int(n) for d, n in rows}


def daily(root: Path) -> dict[str, int]:
    with sqlite3.connect(root / ".batty" / "telemetry.db") as conn:
        return {r["day"]: r["completions"] for r in figures.rows(conn, "daily_completions")}


def test_midnight_far_east_of_utc(tmp_path: Path) -> None:
    # Pacific/Kiritimati is UTC+14: 10:00 UTC is local midnight of the next day.
    root = make_repo(tmp_path / "r", zone="Pacific/Kiritimati")
    write(root / ".batty" / "events.jsonl",
          done("2026-11-20T09:59", "T-1") + done("2026-11-20T10:01", "T-2"))
    stats = stats_json(root)
    assert stats["peak_daily_completions"] == 1  # in UTC both would fall on 2026-11-20
    assert daily(root) == {"2026-11-20": 1, "2026-11-21": 1}
    # 23:00 local on the 21st; --since 1d is today only, from local midnight (10:00 UTC the 20th)
    assert digest_days(root, "2026-11-21T09:00:00Z", "1d") == {"2026-11-21": 1}
    got = stats_json(root, "--since", "1d", env={"BATTY_NOW": "2026-11-21T09:00:00Z"})
    assert got["tasks_completed"] == 1
    assert got["_doc"]["since"] == "2026-11-20T10:00:00.000000+00:00"
    # stored times stay UTC
    with sqlite3.connect(root / ".batty" / "telemetry.db") as conn:
        assert conn.execute("SELECT min(ts) FROM events").fetchone()[0].endswith("+00:00")


def test_midnight_far_west_of_utc(tmp_path: Path) -> None:
    # Pacific/Pago_Pago is UTC-11: 11:00 UTC is local midnight of the same date.
    root = make_repo(tmp_path / "r", zone="Pacific/Pago_Pago")
    write(root / ".batty" / "events.jsonl",
          done("2026-11-20T10:59", "T-3") + done("2026-11-20T11:01", "T-4"))
    # 23:30 local on the 20th
    assert digest_days(root, "2026-11-21T10:30:00Z", "2d") == {"2026-11-19": 1, "2026-11-20": 1}
    assert digest_days(root, "2026-11-21T10:30:00Z", "1d") == {"2026-11-20": 1}
    assert daily(root) == {"2026-11-19": 1, "2026-11-20": 1}


def test_across_the_spring_daylight_saving_change(tmp_path: Path) -> None:
    # New York moves from EST (-5) to EDT (-4) at 02:00 on 2026-03-08.
    root = make_repo(tmp_path / "r", zone="America/New_York")
    write(root / ".batty" / "events.jsonl",
          done("2026-03-08T04:55", "T-1")      # 23:55 EST on the 7th
          + done("2026-03-08T05:05", "T-2")    # 00:05 EST on the 8th
          + done("2026-03-09T03:50", "T-3")    # 23:50 EDT on the 8th
          + done("2026-03-09T04:10", "T-4"))   # 00:10 EDT on the 9th: the new day
    assert digest_days(root, "2026-03-09T15:00:00Z", "2d") == {"2026-03-08": 2, "2026-03-09": 1}
    assert daily(root) == {"2026-03-07": 1, "2026-03-08": 2, "2026-03-09": 1}


def test_across_the_autumn_daylight_saving_change(tmp_path: Path) -> None:
    # New York moves from EDT (-4) back to EST (-5) at 02:00 on 2026-11-01.
    root = make_repo(tmp_path / "r", zone="America/New_York")
    write(root / ".batty" / "events.jsonl",
          done("2026-11-02T04:30", "T-1")      # 23:30 EST on the 1st (00:30 by the old offset)
          + done("2026-11-02T05:10", "T-2"))   # 00:10 EST on the 2nd
    assert digest_days(root, "2026-11-02T12:00:00Z", "1d") == {"2026-11-02": 1}
    assert daily(root) == {"2026-11-01": 1, "2026-11-02": 1}


def test_a_zone_change_in_config_moves_the_days(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", zone="UTC")
    write(root / ".batty" / "events.jsonl", done("2026-11-20T10:30", "T-1"))
    assert stats_json(root)["_doc"]["timezone"] == "UTC"
    assert daily(root) == {"2026-11-20": 1}
    make_repo(root, zone="Pacific/Kiritimati")
    assert stats_json(root)["_doc"]["timezone"] == "Pacific/Kiritimati"
    assert daily(root) == {"2026-11-21": 1}


def test_an_unknown_zone_is_a_user_error(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", zone="Mars/Olympus")
    res = batty(root, "stats")
    assert res.returncode == 1
    assert res.stderr.startswith("batty: ") and "'Mars/Olympus'" in res.stderr
    assert "Traceback" not in res.stderr


def test_day_function_matches_zoneinfo_everywhere() -> None:
    for name in ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu",
                 "America/New_York", "Australia/Lord_Howe"):
        zone, day = ZoneInfo(name), day_function(ZoneInfo(name))
        for stamp in ("2026-03-08T06:59:59.999999", "2026-03-08T07:00:00.000000",
                      "2026-11-01T05:30:00.000000", "2026-10-04T13:30:00.000000",
                      "2026-12-31T18:14:00.000000", "2026-12-31T18:15:00.000000"):
            ts = stamp + "+00:00"
            expected = datetime.fromisoformat(ts).astimezone(zone).date().isoformat()
            assert day(ts) == expected, (name, ts)
            assert day(ts) == expected  # cached


def test_local_midnight_when_midnight_does_not_exist() -> None:
    # Chile skips from 00:00 to 01:00 on 2026-09-06: that day starts at 01:00 local.
    zone = ZoneInfo("America/Santiago")
    start = local_midnight(date(2026, 9, 6), zone)
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert start.astimezone(zone).hour == 1


def test_since_forms() -> None:
    zone = ZoneInfo("Europe/Paris")
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert since_start(None, zone, now) is None
    assert since_start("7d", zone, now) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 24th 00:00 CET
    assert since_start("1w", zone, now) == since_start("7d", zone, now)
    assert since_start("1d", zone, now) == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert since_start("12h", zone, now) == datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    assert since_start("2026-07-01", zone, now) == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # CEST
    assert since_start("2026-07-01T10:00:00Z", zone, now) == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        since_start("yesterday", zone, now)
    for empty in ("0d", "0w", "0h", "0m", " 00d "):  # audit gap 8: 0d was read as 1d, silently
        with pytest.raises(InvalidInput, match="is an empty window"):
            since_start(empty, zone, now)
