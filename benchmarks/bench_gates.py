"""The supervisor's own cost per task (issue 4): `batty verify` + `batty merge` of one finished
task whose test command is `true`, against the same git operations scripted in bash, same run;
and the batch queue: 16 green tasks landed with `merge: {batch: 16}` against `batch: 1`.

Every run starts from a fresh copy of a prepared repository (agents already exited), so
batty and the floor act on the same state.

    .venv/bin/python -m benchmarks gates        (or: .venv/bin/python benchmarks/bench_gates.py)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks._sandbox import (  # noqa: E402
    BATTY,
    batty,
    compile_batty,
    copy_repo,
    env,
    git,
    median_of,
    met,
    new_repo,
    ratio,
    set_sandbox,
    timed,
    wait_exited,
)
from benchmarks._trace import traced  # noqa: E402

RUNS = 7
BATCH = 16
TICK_TASKS = 16
TARGET = 1.5
SANDBOX_TARGET = 1.3

# What verify + merge do, in git terms, for task T-1 whose agent left its work uncommitted.
FLOOR_SH = r"""set -e
root=$PWD; t=${2:-T-1}; wt=.batty/worktrees/$t; scratch=.batty/scratch
# verify: collect, fence, test in a scratch checkout with the trusted files put back
git -C "$wt" add -A
git -C "$wt" commit -q -m "$t: uncommitted work of attempt 1"
git fetch -q --no-tags "$wt/.git" "+refs/heads/batty/$t:refs/heads/batty/$t"
base=$(git rev-parse main); head=$(git rev-parse batty/$t)
mb=$(git merge-base "$base" "$head")
git diff --raw -z -M --no-abbrev "$mb" "$head" >/dev/null
git worktree add -q --detach -f "$scratch/verify-$t" "$head"
git -C "$scratch/verify-$t" checkout "$base" -- tests
(cd "$scratch/verify-$t" && bash -c "$1")
git worktree remove --force --force "$scratch/verify-$t"
# merge: rebase onto the base in a scratch checkout, test, fast-forward the base, clean up
git worktree add -q --detach -f "$scratch/merge-$t" "$base"
git -C "$scratch/merge-$t" rebase -q --onto "$base" "$mb" "$head"
new=$(git -C "$scratch/merge-$t" rev-parse HEAD)
(cd "$scratch/merge-$t" && bash -c "$1")
git merge --ff-only -q "$new"
git worktree remove --force --force "$scratch/merge-$t"
rm -rf "$wt"
git branch -q -D batty/$t
"""


def feature(i: int) -> str:
    return f"printf 'def feature_{i}():\\n    return {i}\\n' > src/feature_{i}.py"


def build(root: Path, tasks: int, *, test: str, config: dict | None = None) -> list[str]:
    """A repository whose ``tasks`` tasks were dispatched and whose agents have exited, each
    leaving one new file uncommitted."""
    new_repo(root, seats=tasks, test=test, config={"disk": {"min_free_mb": 1}, **(config or {})})
    ids = []
    for i in range(1, tasks + 1):
        ids.append(batty(root, "task", "add", f"Feature {i}", "--scope", "src/**",
                         "--script", feature(i)).stdout.strip())
    batty(root, "dispatch")
    wait_exited(root, ids)
    return ids


def configure(root: Path, **merge: object) -> None:
    path = root / "board" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["merge"].update(merge)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(root, "add", "board/config.yaml")
    git(root, "commit", "-q", "-m", "merge config")


def status(root: Path, task: str) -> str:
    return yaml.safe_load((root / "board" / "tasks" / f"{task}.yaml").read_text())["status"]


def per_task(work: Path) -> dict[str, float]:
    template = work / "one"
    build(template, 1, test="true")
    rows: dict[str, list[float]] = {"both": [], "verify": [], "merge": [], "floor": [], "help": []}
    for i in range(RUNS + 1):  # interleaved, so that both see the same load; round 0 warms up
        root = copy_repo(template, work / "floor")
        f = timed(subprocess.run, ["bash", "-c", FLOOR_SH, "floor", "true"], cwd=root, check=True,
                  capture_output=True, env=env())
        assert git(root, "log", "-1", "--format=%s", "main").startswith("T-1"), "the floor did not land"
        root = copy_repo(template, work / "ours")
        v = timed(batty, root, "verify")
        assert status(root, "T-1") == "review", batty(root, "log", "--task", "T-1").stdout[-2000:]
        m = timed(batty, root, "merge")
        assert status(root, "T-1") == "done", batty(root, "log", "--task", "T-1").stdout[-2000:]
        h = timed(subprocess.run, [*BATTY, "--help"], check=True, capture_output=True, env=env())
        if i:
            for key, t in (("both", v + m), ("verify", v), ("merge", m), ("floor", f), ("help", h)):
                rows[key].append(t)
    out = {key: median_of(ts) for key, ts in rows.items()}
    root = copy_repo(template, work / "traced")
    for cmd in ("verify", "merge"):
        trace = traced(root, work / "trace.json", cmd)
        out[f"{cmd}_git_calls"], out[f"{cmd}_git_s"] = trace["git_calls"], trace["git_s"]
        out[f"{cmd}_traced_s"] = trace["total_s"]
        out[f"{cmd}_fsyncs"], out[f"{cmd}_fsync_s"] = trace["fsyncs"], trace["fsync_s"]
    return out


def in_a_tick(work: Path) -> dict[str, float]:
    """The cost per task as cron pays it: one `batty tick` (one process: reconcile, doctor,
    verify, merge, dispatch) over TICK_TASKS finished tasks, against the floor script run once
    per task, on copies of the same repository, interleaved."""
    template = work / "tick"
    ids = build(template, TICK_TASKS, test="true")
    unboxed = work / "tick-none"  # the same, its test runs without the sandbox (issue 14)
    copy_repo(template, unboxed)
    set_sandbox(unboxed, "none")
    ours: list[float] = []
    floor: list[float] = []
    nones: list[float] = []
    for i in range(RUNS + 1):
        root = copy_repo(template, work / "tick-floor")
        script = "\n".join(f'bash -c "$FLOOR" floor true {t}' for t in ids)
        f = timed(subprocess.run, ["bash", "-c", script], cwd=root, check=True, capture_output=True,
                  env={**env(), "FLOOR": FLOOR_SH})
        root = copy_repo(template, work / "tick-ours")
        t = timed(batty, root, "tick")
        assert all(status(root, x) == "done" for x in ids), batty(root, "log").stdout[-2000:]
        root = copy_repo(unboxed, work / "tick-ours-none")
        n = timed(batty, root, "tick")
        assert all(status(root, x) == "done" for x in ids), batty(root, "log").stdout[-2000:]
        if i:
            ours.append(t)
            floor.append(f)
            nones.append(n)
    return {"ours": median_of(ours), "floor": median_of(floor), "none": median_of(nones)}


def batch_queue(work: Path) -> dict[int, tuple[float, int]]:
    shared = work / "shared"  # the test runs count themselves here: a folder their sandbox shows
    shared.mkdir()
    counter = shared / "test-runs"
    template = work / "batch"
    ids = build(template, BATCH, test=f"echo run >> {counter}", config={"sandbox": {"binds": [f"{shared}:rw"]}})
    batty(template, "verify")
    assert all(status(template, t) == "review" for t in ids)
    out: dict[int, tuple[float, int]] = {}
    times: dict[int, list[float]] = {1: [], BATCH: []}
    runs: dict[int, list[int]] = {1: [], BATCH: []}
    for _ in range(RUNS):
        for batch in (1, BATCH):
            root = copy_repo(template, work / f"batch-{batch}")
            configure(root, batch=batch)
            counter.write_text("")
            times[batch].append(timed(batty, root, "merge"))
            runs[batch].append(len(counter.read_text().splitlines()))
            assert all(status(root, t) == "done" for t in ids), f"batch {batch}: not all landed"
    for batch in (1, BATCH):
        out[batch] = (median_of(times[batch]), max(runs[batch]))
    return out


def main() -> None:
    compile_batty()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        work = Path(tmp)
        one = per_task(work)
        tick = in_a_tick(work)
        batch = batch_queue(work)
    (t1, runs1), (tb, runsb) = batch[1], batch[BATCH]
    both, floor = one["both"], one["floor"]
    floor_git = len(re.findall(r"(?:^|[\s($])git ", FLOOR_SH))
    md = f"""## the gates: the supervisor's cost per task (issue 4)

One finished task (its agent left one new file uncommitted), test command `true`:
`batty verify` then `batty merge`, each a new process, on a fresh copy of the repository each
run, median of {RUNS}. The floor is the same git work scripted in bash on a copy of the same
repository, median of {RUNS}, interleaved with batty's runs, this machine ({os.cpu_count()} cores, load
average {load:.1f} at the start), this run: commit the leftovers, merge-base and `diff --raw`
base..branch (after a `git fetch` of the branch from the task's checkout), a scratch `git worktree add --detach`, checkout of the trusted files (tests/) from
the base, `true`, worktree remove; then a scratch worktree of the base, `rebase --onto`, `true`,
`merge --ff-only` of the base, remove the scratch and the task's worktree and branch.

| what | median | floor | ratio | target | |
| --- | ---: | ---: | ---: | ---: | --- |
| per task, as cron runs it: one `batty tick` over {TICK_TASKS} finished tasks, divided by {TICK_TASKS} | {tick["ours"] / TICK_TASKS * 1000:.0f} ms | {tick["floor"] / TICK_TASKS * 1000:.0f} ms | {ratio(tick["ours"], tick["floor"])} | ≤ {TARGET}× | {met(tick["ours"] <= TARGET * tick["floor"])} |
| the same tick against itself with `sandbox.mode: none` (test runs outside bubblewrap) | {tick["ours"] / TICK_TASKS * 1000:.0f} ms | {tick["none"] / TICK_TASKS * 1000:.0f} ms | {ratio(tick["ours"], tick["none"])} | ≤ {SANDBOX_TARGET}× | {met(tick["ours"] <= SANDBOX_TARGET * tick["none"])} |
| one task alone: `batty verify` + `batty merge`, two processes | {both * 1000:.0f} ms | {floor * 1000:.0f} ms | {ratio(both, floor)} | | |
| of which `batty verify` | {one["verify"] * 1000:.0f} ms | | | | |
| of which `batty merge` | {one["merge"] * 1000:.0f} ms | | | | |

The first row is the supervisor's cost per task as it runs unattended: cron's `batty tick` is one
process that verifies and merges every finished task (and reconciles, heals and dispatches
around them), against the floor script run once per task in the same order. The second row is
the same work for a single task as two commands typed by hand; two Python processes start
there, which the floor does not pay ({one["help"] * 1000:.0f} ms each for `batty --help`, below).

Where the time goes, from one more run of each with batty's git calls and fsyncs timed:
`verify` ran {one["verify_git_calls"]:.0f} git commands ({one["verify_git_s"] * 1000:.0f} ms of its {one["verify_traced_s"] * 1000:.0f} ms) and {one["verify_fsyncs"]:.0f} fsyncs
({one["verify_fsync_s"] * 1000:.0f} ms); `merge` {one["merge_git_calls"]:.0f} git commands ({one["merge_git_s"] * 1000:.0f} ms of {one["merge_traced_s"] * 1000:.0f} ms) and {one["merge_fsyncs"]:.0f} fsyncs
({one["merge_fsync_s"] * 1000:.0f} ms); the floor runs {floor_git} git commands and no fsync. A batty process that does nothing,
`batty --help`, takes {one["help"] * 1000:.0f} ms here (median, same rounds): two of them are {2 * one["help"] / floor:.1f}× the floor
before any work. The rest is Python: imports (click, PyYAML), config and packets, the packet
writes, events and evidence, the board commit (one `fast-import`).

batty's scratch checkouts are repositories of their own it writes itself (their objects the
control's) and fills with one `git read-tree` (three git processes in `git worktree add`),
removed by removing their folder (one more in `git worktree remove`), and the branches landed
in one run are deleted by one `update-ref --stdin` (docs/gates.md); the floor keeps git's
porcelain, as a script would. An attempt's commits come back by one `git fetch` from its
checkout (a repository of its own since issue 14: the floor fetches too), and what it left
uncommitted is committed from the control side through a temporary index. Each test run starts
inside bubblewrap (one `bwrap` process, its namespaces and mounts).

The batch queue: {BATCH} verified green tasks, one `batty merge` (a new process) on a fresh copy
each run, median of {RUNS}; test runs counted by a test command that appends a line to a file.

| `merge.batch` | test runs | wall time | per task |
| ---: | ---: | ---: | ---: |
| 1 (one at a time) | {runs1} | {t1:.2f} s | {t1 / BATCH * 1000:.0f} ms |
| {BATCH} | {runsb} | {tb:.2f} s | {tb / BATCH * 1000:.0f} ms |

With `batch: {BATCH}`, {BATCH} green tasks cost {runsb} test run{'s' if runsb != 1 else ''} instead of {runs1}, and
{ratio(tb, t1)} the wall time of one at a time (with a `true` test; with a real suite the saving
is {runs1 - runsb} suite runs).
"""
    write_section("gates", md)


if __name__ == "__main__":
    main()
