"""A completion at local midnight: batty's clock pinned (BATTY_NOW) on either side of midnight in
telemetry.timezone, far from UTC. The stored times stay UTC; stats and the digest count each
completion on the local day it happened."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scenarios.helpers import make, quiet, statuses, tick, write

ZONE = "Pacific/Kiritimati"  # UTC+14: 10:00 UTC is local midnight of the next date


def at(stamp: str) -> dict[str, str]:
    return {"BATTY_NOW": stamp}


def test_completions_either_side_of_local_midnight(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, config={"telemetry": {"timezone": ZONE}})
    before = proj.task("Lands at 23:59:50 local", write("src/a.py", "A = 1"))
    after = proj.task("Lands at 00:00:10 local", write("src/b.py", "B = 1"), depends=before)
    tick(proj, watch, env=at("2026-11-20T09:58:00Z"))
    quiet(proj)
    tick(proj, watch, env=at("2026-11-20T09:59:50Z"))   # done before midnight; the next dispatched
    quiet(proj)
    assert statuses(proj) == {before: "done", after: "in-progress"}
    tick(proj, watch, env=at("2026-11-20T10:00:10Z"))   # and done just after it
    assert statuses(proj) == {before: "done", after: "done"}
    done = {e["task"]: e["ts"] for e in proj.events("task.status") if e["data"]["to"] == "done"}
    assert done == {before: "2026-11-20T09:59:50.000000+00:00", after: "2026-11-20T10:00:10.000000+00:00"}

    now = at("2026-11-21T09:00:00Z")  # 23:00 local on the 21st
    proj.ok("telemetry", "load")
    stats = json.loads(proj.ok("stats", "--json", env=now).out)
    figures = {f["name"]: f["value"] for f in stats["figures"]}
    assert figures["tasks_completed"] == 2 and figures["peak_daily_completions"] == 1
    today = {f["name"]: f["value"] for f in json.loads(
        proj.ok("stats", "--json", "--since", "1d", env=now).out)["figures"]}
    assert today["tasks_completed"] == 1  # today (local) began at 10:00 UTC on the 20th
    digest = proj.ok("digest", "--since", "2d", env=now).out
    section = digest.split("## By day")[1].split("##")[0]
    rows = {r.split("|")[1].strip(): int(r.split("|")[2]) for r in section.splitlines() if r.startswith("| 20")}
    assert rows == {"2026-11-20": 1, "2026-11-21": 1}
