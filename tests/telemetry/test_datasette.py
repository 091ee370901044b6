"""telemetry serve: Datasette as a real subprocess on 127.0.0.1 answering every canned query
with the figures stats prints; immutable; arbitrary SQL only with --allow-sql (issue 6)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from batty.telemetry import figures
from tests.telemetry import story
from tests.telemetry.helpers import batty, done, ev, make_repo, stats_json, write


def repo_with_story(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "r")
    write(root / ".batty" / "events.jsonl", story.events())
    return root


def test_every_canned_query_answers_with_the_figures_stats_prints(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    root = repo_with_story(tmp_path)
    expected = stats_json(root)
    doc = expected.pop("_doc")
    server = serve(root)
    for q in figures.figures():
        rows = server.json(f"/telemetry/{q.name}.json?_shape=array")
        if q.shape == "rows":
            assert {r["seat"]: r["value"] for r in rows} == expected[q.name], q.name
        else:
            assert rows[0]["value"] == expected[q.name], q.name
    # with since, as the dashboard asks
    rows = server.json("/telemetry/tasks_completed.json?_shape=array&since=2026-11-21")
    assert rows == [{"value": story.EXPECTED_SINCE_21["tasks_completed"]}]
    # the supporting queries
    by_seat = server.json("/telemetry/usage_by_seat.json?_shape=array")
    assert by_seat == doc["usage"]["by_seat"]
    daily = server.json("/telemetry/daily_completions.json?_shape=array")
    assert daily == [{"day": "2026-11-20", "completions": 1}, {"day": "2026-11-21", "completions": 2}]
    trace = server.json("/telemetry/trace.json?_shape=array&task=T-4")
    assert {r["kind"] for r in trace[-2:]} == {"task.status", "escalation.raised"}
    for q in figures.all_queries():
        status, _ = server.get(f"/telemetry/{q.name}.json?_shape=array&task=T-1")
        assert status == 200, q.name


def test_since_means_in_datasette_what_it_means_to_stats_outside_utc(tmp_path: Path, serve,
                                                                      monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Audit gap 2: Datasette compared the raw since text with the UTC ts, while stats takes a
    date as its local midnight. Pacific/Kiritimati is UTC+14: 10:00 UTC is local midnight."""
    root = make_repo(tmp_path / "r", zone="Pacific/Kiritimati")
    write(root / ".batty" / "events.jsonl", story.events()
          + done("2026-11-20T09:59", "T-7") + done("2026-11-20T10:01", "T-8"))
    monkeypatch.setenv("BATTY_NOW", "2026-11-22T12:00:00Z")  # 02:00 on the 23rd, local
    # since -> tasks completed: T-8 lands at 00:01 local on the 21st and counts from that
    # date's local midnight, T-7 at 23:59 on the 20th does not; 2d is the 22nd and 23rd, local
    windows = {"": 5, "2026-11-21": 4, "2026-11-21T00:00": 4, "2026-11-20T10:00:00+00:00": 4,
               "2d": 2}
    expected = {}
    for since, completed in windows.items():
        got = stats_json(root, *(["--since", since] if since else []))
        doc = got.pop("_doc")
        assert got["tasks_completed"] == completed, since
        expected[since] = (doc, got)
    assert expected["2026-11-21"][0]["since"] == "2026-11-20T10:00:00.000000+00:00"
    server = serve(root)
    for since, (doc, figs) in expected.items():
        arg = "&since=" + quote(since)
        for q in figures.figures():
            rows = server.json(f"/telemetry/{q.name}.json?_shape=array{arg}")
            if q.shape == "rows":
                assert {r["seat"]: r["value"] for r in rows} == figs[q.name], (since, q.name)
            else:
                assert rows[0]["value"] == figs[q.name], (since, q.name)
        assert server.json(f"/telemetry/usage_by_seat.json?_shape=array{arg}") == doc["usage"]["by_seat"]
        assert server.json(f"/telemetry/usage_by_task.json?_shape=array{arg}") == doc["usage"]["by_task"]
    # text that is no window is an error, not a count of nothing
    status, _ = server.get("/telemetry/tasks_completed.json?_shape=array&since=last+tuesday")
    assert status >= 400


def test_metadata_titles_and_descriptions(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(repo_with_story(tmp_path))
    meta = server.json("/-/metadata.json")
    queries = meta["databases"]["telemetry"]["queries"]
    for q in figures.all_queries():
        assert queries[q.name]["title"] == q.title
        assert queries[q.name]["description"] == q.description
    tables = meta["databases"]["telemetry"]["tables"]
    assert tables["figure_tasks_completed"]["title"] == "Tasks completed end-to-end"
    page = server.get("/telemetry/tasks_completed")[1].decode()
    assert "Tasks completed end-to-end" in page and "Distinct tasks that merge moved to done" in page


def test_the_database_is_immutable_and_sql_is_off(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(repo_with_story(tmp_path))
    dbs = server.json("/-/databases.json")
    assert [(d["name"], d["is_mutable"]) for d in dbs] == [("telemetry", False)]
    status, _ = server.get("/telemetry.json?sql=select+count(*)+from+events")
    assert status == 403
    assert server.json("/telemetry/events.json?_shape=array&kind=escalation.raised")[0]["task"] is None


def test_allow_sql_turns_arbitrary_sql_on(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(repo_with_story(tmp_path), "--allow-sql")
    rows = server.json("/telemetry.json?sql=select+count(*)+as+n+from+events&_shape=array")
    assert rows == [{"n": len(story.events())}]


def test_the_dashboard_loads_nothing_from_elsewhere(tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(repo_with_story(tmp_path))
    status, body = server.get("/dashboard")
    page = body.decode()
    assert status == 200 and "batty dashboard" in page
    assets = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in ("/batty-static/dashboard.js", "/batty-static/dashboard.css"):
        status, body = server.get(asset)
        assert status == 200
        text = body.decode()
        # the one absolute URL allowed is the SVG namespace, which is never fetched
        assert re.findall(r"https?://[^\"' ]+", text.replace("http://www.w3.org/2000/svg", "")) == []


def test_a_task_blocked_then_landed_is_a_success_in_stats_datasette_and_digest(
        tmp_path: Path, serve) -> None:  # type: ignore[no-untyped-def]
    """Audit gap 1: a blocked task resolved and then merged counted as completed and failed."""
    root = make_repo(tmp_path / "r")
    write(root / ".batty" / "events.jsonl", [
        ev("2026-11-20T08:00", "task.created", task="T-1", cmd="task", title="t", status="todo",
           by="human"),
        story.status("2026-11-20T09:00", "T-1", "todo", "in-progress", "dispatch", attempt=1),
        story.status("2026-11-20T10:00", "T-1", "in-progress", "blocked", "verify", attempt=1),
        story.status("2026-11-20T11:00", "T-1", "blocked", "todo", "human", attempt=1),
        story.status("2026-11-20T12:00", "T-1", "todo", "in-progress", "dispatch", attempt=2),
        story.status("2026-11-20T13:00", "T-1", "in-progress", "review", "verify", attempt=2),
        *done("2026-11-20T14:00", "T-1"),
    ])
    got = stats_json(root)
    assert (got["tasks_completed"], got["tasks_failed"], got["success_rate"]) == (1, 0, 1.0)
    server = serve(root)
    for name in ("tasks_completed", "tasks_failed", "success_rate"):
        [row] = server.json(f"/telemetry/{name}.json?_shape=array")
        assert row["value"] == got[name], name
    res = batty(root, "digest", "--since", "2026-11-20", env={"BATTY_NOW": "2026-11-21T00:00:00Z"})
    assert res.returncode == 0, res.stderr
    assert "| Tasks failed | 0 |" in res.stdout and "| Success rate | 100.0% |" in res.stdout
