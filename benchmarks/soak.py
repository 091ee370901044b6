"""`make soak` (issue 8): 1,000 tasks, 4 seats, test agents with a fault mix, run by ticks to idle.

    .venv/bin/python -m benchmarks.soak              # the real thing, figures into docs/BENCHMARKS.md
    .venv/bin/python -m benchmarks.soak --tasks 40   # a short trial (prints, writes nothing)

The fault mix, drawn per task with a fixed seed: 20% fail their tests on attempt 1, 5% stall
(silent until doctor respawns them), 5% die (wrapper and agent SIGKILLed, no exit record),
3% leave their scope on attempt 1, 2% conflict (they wait until the task before them has landed
on the same line of src/shared.py, so their merge conflicts); the others, and every attempt
after a fault, write their own module. An attempt after a fault starts again from the base
(what the feedback asks). Nobody touches the repository meanwhile: `batty tick` in a loop, as
cron would run it, without the minute between.

The packets are written by the person's editor, all at once, and committed (1,000 `batty task
add` would take minutes of their own); reconcile logs each as it first sees it.

Reported: the tasks done unattended, escalations per task done, self-heals by doctor action,
bad merges (a base the tests fail on, or one no gate passed: must be 0), lost tasks (neither
done nor blocked with an open escalation, or done but their module is not on the base: must be
0), the supervisor's overhead per task (the ticks' wall and CPU time, and the part of it that
was the gate's own test runs) and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks._report import write_section
from benchmarks._sandbox import BATTY, env, git, new_repo

SEED = 8
MIX = (("fails-once", 0.20), ("stall", 0.05), ("die", 0.05), ("scope", 0.03), ("conflict", 0.02))
SEATS = 4
COMMIT = "git add -A && (git commit -qm work || true)"
FAST_TEST = (f"{sys.executable} -c \"import sys; sys.path.insert(0, 'src'); import app; "
             "assert app.add(2, 3) == 5\"")
CONFIG = {"gates": {"test": FAST_TEST, "max_attempts": 3, "test_timeout_s": 120},
          "health": {"stall_after_s": 3, "respawn_cooldown_s": 1, "max_respawns": 2},
          "disk": {"min_free_mb": 64}}
STALL_GUARD_S = 900     # no task finished for this long: stop, and count what is left as lost


def draw_faults(n: int, rng: random.Random) -> dict[int, str]:
    """Task number -> its fault (or "clean"); a conflict needs a clean task just before it."""
    out: dict[int, str] = {}
    for i in range(1, n + 1):
        r, acc = rng.random(), 0.0
        out[i] = "clean"
        for kind, share in MIX:
            acc += share
            if r < acc:
                out[i] = kind
                break
    out[1] = "clean" if out[1] == "conflict" else out[1]
    for i in range(2, n + 1):
        if out[i] == "conflict":
            out[i - 1] = "clean"  # its partner: the same line, landing first
    return out


def once(mark: Path, then: str, otherwise: str) -> str:
    return f"if mkdir {mark} 2>/dev/null; then {then}; else {otherwise}; fi"


def script(i: int, fault: str, marks: Path, partner_of: dict[int, int]) -> list[str]:
    own = f"printf 'X{i} = {i}\\n' > src/t{i}.py && {COMMIT}"
    fresh = f"git reset -q --hard main && {own}"
    on_first = '[ "$BATTY_ATTEMPT" = 1 ]'
    if fault == "fails-once":
        return [f"if {on_first}; then echo 'raise SystemExit(1)' >> src/app.py && {COMMIT}; else {fresh}; fi"]
    if fault == "stall":
        return [once(marks / f"stall-{i}", "echo 'working on it' && sleep 86400", own)]
    if fault == "die":
        return [once(marks / f"die-{i}", "echo started && kill -9 $(ps -o ppid= -p $PPID) $PPID", own)]
    if fault == "scope":
        return [f"if {on_first}; then mkdir -p docs && echo {i} > docs/t{i}.md && {COMMIT}; else {fresh}; fi"]
    if fault == "conflict":
        # its change to the line is committed first, then it waits until its partner has landed
        # a change of the same line: its branch is older than the base's line, the merge conflicts
        j = i - 1
        edit = f"sed -i 's/^VALUE = .*/VALUE = {i}/' src/shared.py"
        wait = (f"for n in $(seq 600); do git show main:src/t{j}.py >/dev/null 2>&1 && break; "
                "echo 'waiting for the other change'; sleep 0.2; done")
        return [f"if {on_first}; then {edit} && {own} && touch {marks / f'edited-{i}'} && {wait}; "
                f"else git reset -q --hard main && {edit} && {own}; fi"]
    if i in partner_of:  # the clean partner: the same line, once the other one has edited it
        k = partner_of[i]
        wait = (f"for n in $(seq 600); do [ -e {marks / f'edited-{k}'} ] && break; "
                "echo 'waiting for the other edit'; sleep 0.2; done")
        return [f"{wait}; sed -i 's/^VALUE = .*/VALUE = {i}/' src/shared.py && {own}"]
    return [own]


def write_packets(root: Path, faults: dict[int, str], marks: Path) -> None:
    from batty.store.packets import render_new

    partner_of = {i - 1: i for i, f in faults.items() if f == "conflict"}
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for i, fault in faults.items():
        fields = {"id": f"T-{i}", "title": f"Module t{i} ({fault})", "status": "todo", "priority": 2,
                  "scope": ["src/**"], "script": script(i, fault, marks, partner_of), "created": now,
                  "updated": now}
        (root / "board" / "tasks" / f"T-{i}.yaml").write_text(render_new(fields))
    git(root, "add", "board/tasks")
    git(root, "commit", "-q", "-m", f"{len(faults)} tasks, written by hand")


class Log:
    """The event log read incrementally: each task's last status, counts by kind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.status: dict[str, str] = {}
        self.kinds: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.merged: list[str] = []
        self.test_s = 0.0

    def read(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self.offset += end
        for raw in data[:end].splitlines():
            try:
                e = json.loads(raw)
            except ValueError:
                continue
            kind, d = e.get("kind"), e.get("data") or {}
            self.kinds[kind] += 1
            if kind in ("task.status", "reconcile.state") and d.get("to"):
                self.status[e["task"]] = d["to"]
            elif kind == "doctor.action":
                self.actions[d.get("action")] += 1
            elif kind == "merge.merged":
                self.merged.append(d["sha"])
            elif kind == "verify.evidence" and d.get("duration_s"):
                self.test_s += float(d["duration_s"])

    def count(self, *statuses: str) -> int:
        return sum(1 for s in self.status.values() if s in statuses)


def bad_merges(root: Path, merged: list[str], base_moves: list[tuple[str, str]]) -> tuple[int, int]:
    """(trees batty landed whose tests fail, base moves that changed code onto a tree no merge
    tested): the tests run again on a fresh export of each tree."""
    def code(sha: str) -> str:
        return "\n".join(r for r in git(root, "ls-tree", sha).splitlines() if not r.endswith("\tboard"))

    failing = 0
    with tempfile.TemporaryDirectory(prefix="soak-oracle-") as tmp:
        for sha in merged:
            folder = Path(tmp) / sha[:12]
            folder.mkdir()
            archive = subprocess.run(["git", "archive", sha], cwd=root, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
            proc = subprocess.run(["bash", "-c", FAST_TEST], cwd=folder, capture_output=True)
            failing += proc.returncode != 0
    tested = {code(s) for s in merged}
    untested = sum(1 for old, new in base_moves if set(old) != {"0"} and code(new) != code(old)
                   and code(new) not in tested)
    return failing, untested


def lost(root: Path, n: int, log: Log) -> list[str]:
    from batty.store import packets as store
    from batty.store.paths import Paths

    out = []
    on_base = set(git(root, "ls-tree", "--name-only", "main", "src/").split())
    for p in store.load_all(Paths(root), use_cache=False):
        i = int(p.id.split("-")[1])
        if p.status.value == "done":
            if f"src/t{i}.py" not in on_base:
                out.append(f"{p.id} done, src/t{i}.py not on main")
        elif p.status.value == "blocked":
            if not any(e.get("state") == "open" for e in p.escalations):
                out.append(f"{p.id} blocked, nobody told")
        else:
            out.append(f"{p.id} left {p.status.value}")
    return out


def run(n: int, work: Path) -> dict[str, Any]:
    root = work / "repo"
    marks = work / "marks"
    marks.mkdir(parents=True)
    new_repo(root, seats=SEATS, test=FAST_TEST, config=CONFIG)
    (root / "src" / "shared.py").write_text("VALUE = 0\n")
    git(root, "add", "src/shared.py")
    git(root, "commit", "-q", "-m", "shared")
    faults = draw_faults(n, random.Random(SEED))
    write_packets(root, faults, marks)
    reflog_start = len((root / ".git" / "logs" / "refs" / "heads" / "main").read_text().splitlines())
    log = Log(root / ".batty" / "events.jsonl")
    start = time.monotonic()
    tick_wall = 0.0
    ticks = busy = 0
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    last_progress, last_done, reported = time.monotonic(), 0, 0
    while True:
        t = time.monotonic()
        proc = subprocess.run([*BATTY, "--repo", str(root), "--quiet", "tick"], cwd=root, env=env(),
                              capture_output=True, text=True)
        tick_wall += time.monotonic() - t
        ticks += 1
        if proc.returncode == 75:
            busy += 1
        elif proc.returncode != 0:
            raise RuntimeError(f"tick exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        log.read()
        done, blocked = log.count("done"), log.count("blocked")
        if done != last_done:
            last_progress, last_done = time.monotonic(), done
        if done - reported >= max(1, n // 20):
            reported = done
            print(f"soak: {done}/{n} done, {blocked} blocked, {ticks} ticks, "
                  f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
        if done + blocked >= n and log.count("in-progress", "review", "todo") == 0:
            break
        if time.monotonic() - last_progress > STALL_GUARD_S:
            print(f"soak: nothing finished for {STALL_GUARD_S} s; stopping", file=sys.stderr)
            break
        time.sleep(0.05)
    wall = time.monotonic() - start
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    moves = [(line.split(" ")[0], line.split(" ")[1]) for line in
             (root / ".git" / "logs" / "refs" / "heads" / "main").read_text().splitlines()[reflog_start:]]
    failing, untested = bad_merges(root, log.merged, moves)
    missing = lost(root, n, log)
    done = log.count("done")
    return {
        "tasks": n, "faults": Counter(faults.values()), "done": done, "blocked": log.count("blocked"),
        "escalations": log.kinds["escalation.raised"], "actions": log.actions, "ticks": ticks, "busy": busy,
        "bad_merges": failing + untested, "failing": failing, "untested": untested, "lost": missing,
        "wall": wall, "tick_wall": tick_wall,
        "tick_cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
        "test_s": log.test_s, "merged": len(log.merged), "kinds": log.kinds,
        "respawned": log.kinds["agent.respawned"], "conflicts": log.kinds["merge.conflict"],
        "verify_failed": log.kinds["verify.failed"],
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                                 capture_output=True, text=True).stdout.strip() or "?",
    }


def report(r: dict[str, Any]) -> str:
    per = max(1, r["done"])
    mix = ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items(), key=lambda kv: -kv[1]))
    heals = ", ".join(f"`{k}` {v}" for k, v in sorted(r["actions"].items(), key=lambda kv: -kv[1])) or "none"
    lost_n = len(r["lost"])
    return f"""## soak: 1,000 tasks unattended (issue 8)

`make soak`: {r["tasks"]} tasks, {SEATS} seats, the built-in scripted agent with a fault mix drawn per
task (seed {SEED}): {mix}. `batty tick` in a loop until idle, nothing else touching the
repository; this machine has {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end);
batty at commit {r["commit"]}.
The gate's test command is one interpreter start (`python -c "import app; ..."`).

| figure | value |
| --- | ---: |
| tasks done unattended | {r["done"]} of {r["tasks"]} |
| blocked and escalated | {r["blocked"]} |
| escalations per task done | {r["escalations"] / per:.3f} ({r["escalations"]} raised) |
| self-heals by doctor action | {heals} |
| agents respawned | {r["respawned"]} |
| verify failures sent back with feedback | {r["verify_failed"]} |
| merge conflicts sent back | {r["conflicts"]} |
| bad merges (must be 0) | {r["bad_merges"]} ({r["failing"]} failing trees of {r["merged"]} landed, {r["untested"]} untested moves) |
| lost tasks (must be 0) | {lost_n} |
| ticks | {r["ticks"]} ({r["busy"]} busy) |
| supervisor wall time per task done (the ticks) | {r["tick_wall"] / per * 1000:.0f} ms |
| of which the gate's own test runs in verify | {r["test_s"] / per * 1000:.0f} ms |
| supervisor CPU per task done (ticks and their git and tests) | {r["tick_cpu"] / per * 1000:.0f} ms |
| wall time | {r["wall"] / 60:.1f} min |
""" + (f"\nLost: {', '.join(r['lost'][:20])}\n" if lost_n else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the sandbox (its path is printed)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="batty-soak-"))
    try:
        r = run(args.tasks, work)
    finally:
        if args.keep:
            print(f"soak: the sandbox is {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    md = report(r)
    if args.tasks == 1000:
        write_section("soak", md)
    else:
        print(md)
    return 0 if r["bad_merges"] == 0 and not r["lost"] else 1


if __name__ == "__main__":
    sys.exit(main())
