"""Each SPEC 7 figure counts what its sentence says; views, queries and stats agree (issue 6)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batty.core.kinds import Kind
from batty.telemetry import figures
from batty.telemetry.loader import load
from tests.telemetry import story
from tests.telemetry.helpers import batty, stats_json, write

SPEC_7 = ["tasks_completed", "per_seat_completions", "tasks_auto_merged", "assignments_dispatched",
          "peak_daily_completions", "commits_landed", "verification_evidence",
          "verification_phases", "self_healing_actions", "escalations", "merge_confidence_scores",
          "worktree_reconciliations", "state_reconciliations", "heartbeats", "agent_respawns",
          "disk_cleanups", "tasks_spawned", "tasks_failed", "tasks_in_flight", "success_rate"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "e.jsonl"
    write(path, story.events())
    target = tmp_path / "t.db"
    load(target, [path], ZoneInfo("UTC"))
    return target


def values(db: Path, since: str | None = None) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        return {f.query.name: f.value for f in figures.compute(conn, since)}


def test_the_figures_are_spec_7_in_its_order() -> None:
    assert [q.name for q in figures.figures()] == SPEC_7


def test_every_query_says_what_it_counts_in_a_sentence() -> None:
    kinds = {k.value for k in Kind}
    for q in figures.all_queries():
        assert q.title and q.description.endswith("."), q.name
        assert ":since" in q.sql or q.name in ("trace", "tasks_in_flight"), q.name
        if q.figure and q.name not in ("success_rate", "peak_daily_completions", "tasks_completed"):
            assert any(k in q.description for k in kinds), f"{q.name} names no event kind"


def test_each_figure_counts_what_it_says(db: Path) -> None:
    assert values(db) == story.EXPECTED


def test_since_filters_by_ts(db: Path) -> None:
    assert values(db, "2026-11-21T00:00:00.000000+00:00") == story.EXPECTED_SINCE_21


def test_each_view_holds_its_query_over_all_events(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        figures.register(conn)  # the queries call batty_since(); the views call nothing of batty's
        for q in figures.all_queries():
            if not q.has_view:
                continue
            view = conn.execute(f'SELECT * FROM "{q.view}"').fetchall()
            query = conn.execute(q.sql, {"since": ""}).fetchall()
            assert view == query, q.name


def test_peak_daily_completions_names_its_day(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        peak = {f.query.name: f for f in figures.compute(conn)}["peak_daily_completions"]
    assert (peak.value, peak.detail) == (2, "2026-11-21")


def test_usage_and_cost_per_task_and_per_seat(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        by_task = {r["task"]: r for r in figures.rows(conn, "usage_by_task")}
        by_seat = {r["seat"]: r for r in figures.rows(conn, "usage_by_seat")}
    assert by_task["T-1"] == {"task": "T-1", "runs": 1, "input_tokens": 1000, "output_tokens": 100,
                              "cost_usd": 0.5}
    # a run that reported nothing adds a run and no tokens
    assert (by_task["T-2"]["runs"], by_task["T-2"]["input_tokens"], by_task["T-2"]["cost_usd"]) == (2, 2000, 0.25)
    assert (by_task["T-3"]["runs"], by_task["T-3"]["cost_usd"]) == (1, None)
    assert (by_seat["eng-1"]["runs"], by_seat["eng-1"]["cost_usd"]) == (2, 0.5)
    assert (by_seat["eng-2"]["runs"], by_seat["eng-2"]["output_tokens"]) == (2, 200)


def test_stats_prints_the_same_figures(tmp_path: Path) -> None:
    from tests.telemetry.helpers import make_repo

    root = make_repo(tmp_path / "r")
    write(root / ".batty" / "events.jsonl", story.events())
    got = stats_json(root)
    doc = got.pop("_doc")
    assert got == story.EXPECTED
    assert doc["timezone"] == "UTC" and doc["since"] is None
    assert {r["seat"] for r in doc["usage"]["by_seat"]} == {"eng-1", "eng-2"}
    since = stats_json(root, "--since", "2026-11-21")
    since.pop("_doc")
    assert since == story.EXPECTED_SINCE_21
    table = batty(root, "stats", "--usage")
    assert table.returncode == 0, table.stderr
    for q in figures.figures():
        assert f"| {q.title}" in table.stdout
    assert "| Success rate                      | 75.0%" in table.stdout
    assert "| eng-1 2, eng-2 1" in table.stdout.replace("Per-seat completions              ", "")
    assert "| T-1    |" in table.stdout and "$0.50" in table.stdout


def test_stats_on_an_empty_log(tmp_path: Path) -> None:
    from tests.telemetry.helpers import make_repo

    root = make_repo(tmp_path / "r")
    got = stats_json(root)
    assert got["tasks_completed"] == 0 and got["success_rate"] is None
    assert got["per_seat_completions"] == {}


def test_a_bad_since_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from tests.telemetry.helpers import make_repo

    res = batty(make_repo(tmp_path / "r"), "stats", "--since", "last tuesday")
    assert res.returncode == 1
    assert res.stderr.startswith("batty: --since 'last tuesday' is neither a duration nor a date")
    assert "Traceback" not in res.stderr
    json.dumps(res.stderr)


def test_since_0d_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from tests.telemetry.helpers import make_repo

    root = make_repo(tmp_path / "r")
    for cmd in ("stats", "digest"):
        res = batty(root, cmd, "--since", "0d")
        assert res.returncode == 1, cmd
        assert res.stderr == ("batty: --since '0d' is an empty window (1d is today from local "
                              "midnight, 12h the last twelve hours)\n"), cmd


def test_the_docs_list_every_query_with_its_sentence() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "telemetry.md").read_text()
    for q in figures.all_queries():
        assert f"| `{q.name}` | {q.title} | {q.description} |" in doc, q.name
