"""Budgets (SPEC 12, issue 18): each kind crossed by the scripted agent's usage reports, the
pause and the resume at local midnight far from UTC, a kill -9 in the middle of an attempt, and
two dispatches racing at a spent budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from batty.agents.behaviours import usage
from tests.project import wait_for
from tests.scenarios.helpers import make, quiet, shared, started, statuses, tick, write

SLEEP = "sleep 600"


def spend(cost: float = 0.0, tokens: int = 0) -> str:
    return usage(input_tokens=tokens, output_tokens=0, cost_usd=cost)


def budget_events(proj: Any, kind: str) -> list[dict[str, Any]]:
    return [e["data"] | {"task": e.get("task"), "seat": e.get("seat")} for e in proj.events(kind)]


def escalations(proj: Any) -> list[dict[str, Any]]:
    out = {}
    for p in proj.paths.tasks.glob("T-*.yaml"):
        for e in (proj.packet(p.stem).get("escalations") or []):
            out[e["id"]] = e
    loose = proj.paths.state / "escalations.json"
    if loose.exists():
        for e in json.loads(loose.read_text())["escalations"]:
            out[e["id"]] = e
    return [out[k] for k in sorted(out)]


def status_json(proj: Any, env: dict[str, str] | None = None) -> dict[str, Any]:
    return json.loads(proj.ok("status", "--json", env=env).out)


def logged_usage(proj: Any, tid: str, attempt: int = 1) -> None:
    """Wait until the running agent's log holds its usage report."""
    log = proj.paths.run_dir(tid, attempt) / "agent.log"
    wait_for(lambda: log.exists() and "\nbatty-usage:" in "\n" + log.read_text(), 20, "a usage line")


# ------------------------------------------------------------------ attempt and task


def test_an_attempt_over_its_cost_budget_is_stopped_and_its_task_blocked(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"attempt": {"cost_usd": 2}}})
    tid = proj.task("Spends too much", [spend(cost=3.0), SLEEP])
    tick(proj, watch)
    started(proj, tid)
    logged_usage(proj, tid)
    tick(proj, watch)  # doctor's budget stage
    assert statuses(proj) == {tid: "blocked"}
    assert proj.run_state(tid, 1) == "exited"  # stopped, not left running
    exceeded = budget_events(proj, "budget.exceeded")
    assert exceeded == [{"scope": "attempt", "limit": 2.0, "spent": 3.0, "unit": "cost_usd",
                         "key": f"attempt:{tid}#1", "task": tid, "seat": "eng-1"}]
    [esc] = escalations(proj)
    assert esc["reason"] == "budget" and esc["tasks"] == [tid]
    assert "$3.00" in esc["text"]
    assert "budget" in proj.paths.inbox.read_text()
    assert [e["data"]["reason"] for e in proj.events("agent.stopped")] == ["budget"]
    # the next ticks neither relaunch it nor escalate again
    tick(proj, watch)
    assert statuses(proj) == {tid: "blocked"} and len(escalations(proj)) == 1
    assert len(proj.events("budget.exceeded")) == 1
    # in sight: the trace per attempt, stats, the digest
    trace = json.loads(proj.ok("trace", tid, "--json").out)
    assert [(a["attempt"], a["runs"], a["cost_usd"], a["budget"]) for a in trace["per_attempt"]] \
        == [(1, 1, 3.0, ["exceeded attempt.cost_usd"])]
    assert "exceeded attempt.cost_usd" in proj.ok("trace", tid).out
    stats = json.loads(proj.ok("stats", "--json").out)
    assert [r["cost_usd"] for r in stats["spend_by_day"]] == [3.0]
    assert [(r["kind"], r["scope"], r["spent"]) for r in stats["budgets"]] == [("budget.exceeded", "attempt", 3.0)]
    digest = proj.ok("digest").out
    assert "## Spend and burn rate" in digest and "$3.00" in digest.split("## Budgets")[1]


def test_an_attempt_over_its_wall_time_budget_is_stopped(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"attempt": {"wall_s": 1}}})
    tid = proj.task("Takes its time", ["echo working", SLEEP])  # reports nothing: wall time counts
    tick(proj, watch)
    run = started(proj, tid)
    import time

    wait_for(lambda: time.time() - run["started_epoch"] > 1.5, 10, "a second and a half")
    tick(proj, watch)
    assert statuses(proj) == {tid: "blocked"}
    [e] = budget_events(proj, "budget.exceeded")
    assert (e["scope"], e["unit"], e["limit"]) == ("attempt", "wall_s", 1.0) and e["spent"] > 1


def test_a_task_budget_counts_every_attempt_and_allows_no_next_one(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"task": {"tokens": 2500}},
                                                  "gates": {"max_attempts": 5}})
    # each attempt reports 1,000 tokens and breaks the tests: attempt 3 reaches 3,000
    tid = proj.task("Never passes", [spend(tokens=1000), *write("src/app.py", "raise SystemExit(1)")])
    for _ in range(12):
        tick(proj, watch)
        quiet(proj)
        if statuses(proj)[tid] == "blocked":
            break
    assert statuses(proj) == {tid: "blocked"}
    assert sorted(int(d.name) for d in proj.paths.runs_of(tid).iterdir()) == [1, 2, 3]
    [e] = budget_events(proj, "budget.exceeded")
    assert (e["scope"], e["unit"], e["limit"], e["spent"]) == ("task", "tokens", 2500, 3000)
    [esc] = escalations(proj)
    assert esc["reason"] == "budget" and "3,000 tokens" in esc["text"]
    # resolved without a raise, it goes back to todo and waits: no fourth attempt
    proj.ok("escalations", "resolve", esc["id"], "--note", "look later")
    tick(proj, watch)
    assert statuses(proj) == {tid: "todo"}
    assert not (proj.paths.runs_of(tid) / "4").exists()
    assert f"budgets.task.tokens {tid}: 3,000 tokens of 2,500 tokens (120%) SPENT" in proj.ok("status").out
    # a person raises the budget: the next attempt starts
    proj.configure({"budgets": {"task": {"tokens": 10000}}})
    tick(proj, watch)
    assert (proj.paths.runs_of(tid) / "4").exists()


# ------------------------------------------------------------------ seat, day, week


def test_a_spent_seat_day_budget_closes_that_seat_only(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=2, config={"budgets": {"seat_day": {"tokens": 1000}}})
    first = proj.task("Spends the seat's day", [spend(tokens=1500), *write("src/a.py", "A = 1")])
    tick(proj, watch)
    quiet(proj)
    tick(proj, watch)  # verify, merge; the seat's budget is spent now
    assert statuses(proj)[first] in ("review", "done")
    a = proj.task("Next one", write("src/b.py", "B = 1"), priority=1)
    b = proj.task("And another", write("src/c.py", "C = 1"), priority=1)
    tick(proj, watch)
    seats = {p["assignee"] for p in (proj.packet(a), proj.packet(b)) if p["status"] == "in-progress"}
    assert seats == {"eng-2"}, "eng-1 spent its day: only eng-2 works"
    [e] = budget_events(proj, "budget.exceeded")
    assert (e["scope"], e["unit"], e["spent"]) == ("seat_day", "tokens", 1500)
    out = proj.ok("status").out
    assert "dispatch paused for seat eng-1" in out and "SPENT" in out
    [esc] = escalations(proj)
    assert esc["reason"] == "budget" and "seat eng-1" in esc["text"]


ZONE = "Asia/Tokyo"  # UTC+9: local midnight is 15:00 UTC of the day before


def at(stamp: str) -> dict[str, str]:
    return {"BATTY_NOW": stamp}


def test_a_spent_day_pauses_dispatch_until_local_midnight(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"day": {"cost_usd": 4}, "warn_at": 0.5},
                                                  "telemetry": {"timezone": ZONE}})
    late = at("2026-03-10T14:30:00Z")  # 23:30 in Tokyo
    first = proj.task("Spends the day", [spend(cost=5.0), *write("src/a.py", "A = 1")])
    tick(proj, watch, env=late)
    quiet(proj)
    second = proj.task("Waits for tomorrow", write("src/b.py", "B = 1"))
    for _ in range(3):
        tick(proj, watch, env=late)
        quiet(proj)
    assert statuses(proj) == {first: "done", second: "todo"}
    [esc] = escalations(proj)
    assert esc["reason"] == "budget" and esc["state"] == "open" and "every seat" in esc["text"]
    assert "2026-03-11 00:00 Asia/Tokyo" in esc["text"]
    assert esc["id"] in proj.paths.inbox.read_text()
    assert [(e["scope"], e["spent"], e["period"]) for e in budget_events(proj, "budget.exceeded")] \
        == [("day", 5.0, "2026-03-10")]
    assert budget_events(proj, "budget.warned") == []  # past the warning at once: exceeded says it
    out = proj.ok("status", env=late).out
    assert "dispatch paused for every seat" in out and "$5.00" in out

    # 00:00:10 in Tokyo, still the 10th in UTC: a new local day
    tomorrow = at("2026-03-10T15:00:10Z")
    tick(proj, watch, env=tomorrow)
    assert statuses(proj)[second] == "in-progress"
    [esc] = escalations(proj)
    assert esc["state"] == "resolved" and "resumed" in esc["note"]
    day = status_json(proj, env=tomorrow)["spend"]["today"]
    assert (day["day"], day["cost_usd"]) == ("2026-03-11", 0.0)


def test_a_spent_week_resumes_when_a_person_raises_the_budget(tmp_path: Path) -> None:
    from tests.test_notify import FAST, Endpoint

    hook = Endpoint()
    try:
        proj, watch = make(tmp_path, seats=1, config={
            "budgets": {"week": {"cost_usd": 1}},
            "notify": [{"url_env": "BUDGET_HOOK", "on": ["budget.exceeded"]}]})
        env = {"BUDGET_HOOK": hook.url(), **FAST}
        first = proj.task("Spends the week", [spend(cost=1.0), *write("src/a.py", "A = 1")])
        tick(proj, watch, env=env)
        quiet(proj)
        second = proj.task("Waits", write("src/b.py", "B = 1"))
        tick(proj, watch, env=env)
        tick(proj, watch, env=env)
        assert statuses(proj) == {first: "done", second: "todo"}
        assert [e["scope"] for e in budget_events(proj, "budget.exceeded")] == ["week"]
        assert ["budgets.week.cost_usd" in json.dumps(r["body"]) for r in hook.received] == [True]
        proj.configure({"budgets": {"week": {"cost_usd": 3}}})
        tick(proj, watch, env=env)
        assert statuses(proj)[second] == "in-progress"
        assert [e["state"] for e in escalations(proj)] == ["resolved"]
    finally:
        hook.close()


def test_a_warning_is_said_and_notified_once(tmp_path: Path) -> None:
    from tests.test_notify import FAST, Endpoint

    hook = Endpoint()
    try:
        proj, watch = make(tmp_path, seats=1, config={
            "budgets": {"day": {"cost_usd": 10}},
            "notify": [{"url_env": "BUDGET_HOOK", "on": ["escalation.raised"]}]})
        env = {"BUDGET_HOOK": hook.url(), **FAST}
        proj.task("Spends most of the day", [spend(cost=8.5), *write("src/a.py", "A = 1")])
        for _ in range(4):
            tick(proj, watch, env=env)
            quiet(proj)
        [e] = budget_events(proj, "budget.warned")
        assert (e["scope"], e["spent"], e["limit"]) == ("day", 8.5, 10.0)
        said = [r for r in hook.received if "budget" in json.dumps(r["body"])]
        assert len(said) == 1, hook.received
        assert "WARNING" in proj.ok("status").out
    finally:
        hook.close()


# ------------------------------------------------------------------ crashes and races


def test_a_kill_in_the_middle_of_an_attempt_loses_nothing_and_counts_nothing_twice(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"day": {"cost_usd": 100}},
                                                  "health": {"stall_after_s": 600}})
    mark = shared(tmp_path) / "killed-once"  # seen by every attempt: the one folder their sandbox shows
    # the first agent reports $3 and is killed with its wrapper; the respawned one reports $3 and ends
    tid = proj.task("Killed once", [spend(cost=3.0),
                                    f"if mkdir {mark} 2>/dev/null; then sleep 600; fi",
                                    *write("src/a.py", "A = 1")])
    tick(proj, watch)
    run = started(proj, tid)
    logged_usage(proj, tid)
    wait_for(mark.exists, 10, "the agent's mark")  # killed before it, the respawn would sleep too
    os.killpg(os.getpgid(run["pid"]), signal.SIGKILL)   # the wrapper: no exit record
    os.killpg(os.getpgid(run["agent_pid"]), signal.SIGKILL)
    wait_for(lambda: proj.run_state(tid, 1) == "dead", 10, "the run to read as dead")
    assert status_json(proj)["spend"]["today"]["cost_usd"] == 3.0  # read from the log it left
    for _ in range(30):
        tick(proj, watch)
        quiet(proj)
        if statuses(proj)[tid] == "done":
            break
    assert statuses(proj) == {tid: "done"}
    assert [e["data"]["reason"] for e in proj.events("agent.respawned")] == ["dead"]
    assert (proj.paths.run_dir(tid, 1) / "respawn.1" / "agent.log").exists()
    assert status_json(proj)["spend"]["today"]["cost_usd"] == 6.0  # each agent run once


def test_two_dispatches_racing_at_a_spent_budget_start_nothing(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=2, config={"budgets": {"day": {"cost_usd": 2}}})
    first = proj.task("Spends the day", [spend(cost=2.0), *write("src/a.py", "A = 1")])
    tick(proj, watch)
    quiet(proj)
    tick(proj, watch)
    waiting = [proj.task(f"Waits {i}", write(f"src/w{i}.py", "W = 1")) for i in range(3)]
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-m", "batty", "dispatch"], cwd=proj.root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode in (0, 75) for p in procs), outs
    assert {statuses(proj)[t] for t in waiting} == {"todo"}
    assert [e["task"] for e in proj.events("task.dispatched")] == [first]
    assert len([e for e in escalations(proj) if e["reason"] == "budget"]) == 1
    assert len(proj.events("budget.exceeded")) == 1
    assert not any(proj.paths.runs_of(t).exists() for t in waiting)


def test_a_crash_between_the_stop_and_the_block_is_completed_by_the_next_tick(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"attempt": {"cost_usd": 2}}})
    tid = proj.task("Spends too much", [spend(cost=3.0), SLEEP])
    tick(proj, watch)
    started(proj, tid)
    logged_usage(proj, tid)
    res = proj.batty("tick", env={"BATTY_FAILPOINT": "doctor.budget-stop.after-stop"})
    assert res.code == -signal.SIGKILL, res.err
    assert proj.run_state(tid, 1) == "exited" and statuses(proj) == {tid: "in-progress"}
    tick(proj, watch)  # the stopped attempt is the budget's, not verify's
    assert statuses(proj) == {tid: "blocked"}
    assert proj.packet(tid)["verification"]["result"] == "budget"
    assert proj.events("verify.failed") == [] and not proj.paths.run_dir(tid, 2).exists()
    assert len(proj.events("budget.exceeded")) == 1


def test_run_until_idle_stops_when_only_a_spent_budget_holds_the_work(tmp_path: Path) -> None:
    proj, _ = make(tmp_path, seats=1, config={"budgets": {"day": {"cost_usd": 1}}})
    first = proj.task("Spends the day", [spend(cost=2.0), *write("src/a.py", "A = 1")])
    second = proj.task("Waits for tomorrow", write("src/b.py", "B = 1"), depends=first)
    res = proj.batty("run", "--interval", "0.2", "--until-idle", "--max-ticks", "60", timeout=180)
    assert res.code == 0, res.err
    assert statuses(proj) == {first: "done", second: "todo"}
    assert "dispatch is paused (budget: budgets.day.cost_usd" in res.err and "1 task(s) wait" in res.err


def test_spend_of_runs_disk_cleanup_removed_is_read_from_the_log(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, seats=1, config={"budgets": {"week": {"cost_usd": 10}},
                                                  "disk": {"keep_runs_days": 0}})
    tid = proj.task("Spends and lands", [spend(cost=3.0, tokens=500), *write("src/a.py", "A = 1")])
    for _ in range(10):
        tick(proj, watch)
        quiet(proj)
        if statuses(proj)[tid] == "done" and not proj.paths.runs_of(tid).exists():
            break
    assert not proj.paths.runs_of(tid).exists(), "disk cleanup took the finished task's runs"
    week = status_json(proj)["spend"]["week"]
    assert (week["cost_usd"], week["tokens"]) == (3.0, 500)
