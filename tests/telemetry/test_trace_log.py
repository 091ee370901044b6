"""batty trace ID (a task's story with the time between steps) and batty log [--task] [--follow]."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from batty.store.events import EventLog
from tests.telemetry import story
from tests.telemetry.helpers import batty, ev, make_repo, write


def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "r")
    write(root / ".batty" / "events.jsonl", story.events())
    return root


def test_trace_tells_one_task_spawn_to_done(tmp_path: Path) -> None:
    root = repo(tmp_path)
    res = batty(root, "trace", "T-2", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["version"], doc["task"], doc["status"], doc["attempts"]) == (1, "T-2", "done", 2)
    kinds = [e["kind"] for e in doc["events"]]
    assert kinds[0] == "task.created" and kinds[-1] == "reconcile.state"
    assert kinds.count("task.dispatched") == 2 and "agent.respawned" in kinds
    assert {e["task"] for e in doc["events"]} == {"T-2"}
    assert {e["corr"] for e in doc["events"]} == {"T-2", "T-2#1", "T-2#2"}
    stamps = [e["ts"] for e in doc["events"]]
    assert stamps == sorted(stamps)
    # the time between steps: created 20th 08:00, dispatched 09:00 ... reconciled 21st 16:00
    assert [e["delta_s"] for e in doc["events"][:2]] == [0, 3600]
    assert max(e["delta_s"] for e in doc["events"]) == 17 * 3600  # respawned 20th 17:00 -> exited 21st 10:00
    assert doc["elapsed_s"] == 32 * 3600
    assert doc["usage"] == {"runs": 2, "input_tokens": 2000, "output_tokens": 200, "cost_usd": 0.25}


def test_trace_names_the_escalations_of_a_task(tmp_path: Path) -> None:
    res = batty(repo(tmp_path), "trace", "T-4")
    assert res.returncode == 0, res.stderr
    assert "escalation.raised" in res.stdout and "T-4 is stuck" in res.stdout
    head, _, table = res.stdout.partition("\n\n")
    assert head.startswith("T-4: blocked, 1 attempt(s)")
    assert "+1h00m" in table or "+21h00m" in table


def test_trace_of_an_unknown_task_is_exit_1(tmp_path: Path) -> None:
    root = repo(tmp_path)
    res = batty(root, "trace", "T-99")
    assert (res.returncode, res.stderr.splitlines()[0][:30]) == (1, "batty: no events for task T-99")
    res = batty(root, "trace", "../etc")
    assert res.returncode == 1 and "invalid task id" in res.stderr


def test_log_lists_events_of_one_task(tmp_path: Path) -> None:
    root = repo(tmp_path)
    res = batty(root, "log", "--task", "T-4", "--json")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert {e["kind"] for e in events} >= {"task.created", "task.status", "escalation.raised"}
    assert all(e["task"] == "T-4" or "T-4" in e["data"].get("tasks", []) for e in events)
    res = batty(root, "log", "-n", "3")
    assert len(res.stdout.splitlines()) == 3 and "tick.finished" in res.stdout


def test_log_follow_prints_what_is_appended(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    path = root / ".batty" / "events.jsonl"
    write(path, [ev("2026-11-30T10:00", "tick.started")])
    proc = subprocess.Popen([sys.executable, "-m", "batty", "--repo", str(root), "log", "--follow",
                             "--task", "T-7"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        time.sleep(1.0)
        log = EventLog(path, root / ".batty" / "locks" / "events.lock", cmd="test")
        log.emit("tick.started")  # not T-7's
        with open(path, "a") as f:
            f.write('{"torn": ')  # a crash mid-write; the next append starts a fresh line
        log.emit("task.dispatched", task="T-7", seat="eng-1", attempt=1, agent="shell")
        log.emit("task.status", task="T-7", attempt=1, **{"from": "todo", "to": "in-progress"})
        deadline = time.monotonic() + 30
        while len(lines) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len(lines) == 2, (lines, proc.stderr.read())  # type: ignore[union-attr]
    assert "task.dispatched" in lines[0] and "T-7#1" in lines[0] and "agent=shell" in lines[0]
    assert "task.status" in lines[1] and "to=in-progress" in lines[1]
