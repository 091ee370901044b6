"""dispatch at width (issues 3 and 14): 100 ready tasks to 100 seats with a no-op agent, one
`batty dispatch` (a real subprocess) on a fresh copy of the repository each run, against the
floor of 100 `git worktree add` in a shell loop on a copy of the same repository, same run,
and against the same dispatch with `sandbox.mode: none`.

The agent is an argv template, ``agents: {noop: {argv: [true], prompt: file}}``: batty's own
wrapper (``python -m batty.runner.wrap``) still starts for each attempt, detached, and records
it; the agent does nothing. Each run waits for every wrapper to finish before the next starts,
so one run's wrappers do not slow the next.

    .venv/bin/python -m benchmarks dispatch      (or: .venv/bin/python benchmarks/bench_dispatch.py [N])
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks._sandbox import (  # noqa: E402
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

RUNS = 5
N = 100
TARGET = 1.5
SANDBOX_TARGET = 1.3

FLOOR_SH = """set -e
for i in $(seq 1 "$1"); do
  git worktree add -q -b "batty/T-$i" ".batty/worktrees/T-$i" main
done
"""


def build(root: Path, n: int) -> None:
    seats = [{"name": f"eng-{i}", "agent": "noop"} for i in range(1, n + 1)]
    new_repo(root, seats=1, config={"seats": seats, "agents": {"noop": {"argv": ["true"], "prompt": "file"}},
                                    "disk": {"min_free_mb": 1}})
    tasks = root / "board" / "tasks"
    for i in range(1, n + 1):
        (tasks / f"T-{i}.yaml").write_text(
            f"id: T-{i}\ntitle: No-op task {i}\nstatus: todo\npriority: 2\nscope: [src/**]\n"
            f"description: |\n  Nothing to do: the agent is `true`.\n"
            f"created: '2026-01-01T00:00:00+00:00'\nupdated: '2026-01-01T00:00:00+00:00'\n")
    git(root, "add", "board/tasks")
    git(root, "commit", "-q", "-m", f"{n} tasks")
    batty(root, "reconcile")
    ready = json.loads(batty(root, "task", "list", "--ready", "--json").stdout)
    assert len(ready) == n, len(ready)


def one_dispatch(template: Path, work: Path, n: int) -> tuple[float, float]:
    root = copy_repo(template, work / "run")
    proc: list[subprocess.CompletedProcess] = []
    t = timed(lambda: proc.append(batty(root, "dispatch")))
    after = wait_exited(root, [f"T-{i}" for i in range(1, n + 1)])
    status = json.loads(batty(root, "task", "list", "--status", "in-progress", "--json").stdout)
    assert len(status) == n, f"{len(status)} of {n} dispatched:\n{proc[0].stderr[-2000:]}"
    _cleanup(root)
    return t, after


def one_floor(template: Path, work: Path, n: int) -> float:
    root = copy_repo(template, work / "floor")
    t = timed(lambda: subprocess.run(["bash", "-c", FLOOR_SH, "floor", str(n)], cwd=root, check=True,
                                     capture_output=True, env=env()))
    assert len(list((root / ".batty" / "worktrees").iterdir())) == n
    _cleanup(root)
    return t


def _cleanup(root: Path) -> None:
    shutil.rmtree(root)


def breakdown(template: Path, work: Path, n: int) -> tuple[dict, dict]:
    """One dispatch with its git calls timed, and one without starting any wrapper or agent."""
    out = []
    for no_agents in (False, True):
        root = copy_repo(template, work / "traced")
        out.append(traced(root, work / "trace.json", "dispatch", no_agents=no_agents))
        if not no_agents:
            wait_exited(root, [f"T-{i}" for i in range(1, n + 1)])
        _cleanup(root)
    return out[0], out[1]


def main() -> None:
    compile_batty()
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else N
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        work = Path(tmp)
        template = work / "template"
        build(template, n)
        unboxed = work / "template-none"
        copy_repo(template, unboxed)
        set_sandbox(unboxed, "none")
        one_floor(template, work, n)  # warm: git and the page cache
        ours, floors, settle, nones, settle_none = [], [], [], [], []
        for _ in range(RUNS):  # interleaved: the same load on the machine for all three
            floors.append(one_floor(template, work, n))
            t, after = one_dispatch(template, work, n)
            ours.append(t)
            settle.append(after)
            t, after = one_dispatch(unboxed, work, n)
            nones.append(t)
            settle_none.append(after)
        full, bare = breakdown(template, work, n)
    d, f, dn = median_of(ours), median_of(floors), median_of(nones)
    add = full["by_git"].get("read-tree", {"calls": 0, "s": 0.0})
    other_git = full["git_s"] - add["s"]
    bare_add = bare["by_git"].get("read-tree", {"s": 0.0})["s"]
    md = f"""## dispatch at width (issue 3)

{n} ready tasks, {n} seats, a no-op agent (`agents: {{noop: {{argv: [true], prompt: file}}}}`); one
`batty dispatch` as a new process on a fresh copy of the repository each run, median of {RUNS}.
The floor is {n} `git worktree add -b batty/T-i .batty/worktrees/T-i main` in a bash loop on a
copy of the same repository, median of {RUNS}, interleaved with batty's runs, this machine
({os.cpu_count()} cores, load average {load:.1f} at the start), this run.

| what | median | floor | ratio | target | |
| --- | ---: | ---: | ---: | ---: | --- |
| `batty dispatch`, {n} tasks to {n} seats | {d:.2f} s | {f:.2f} s | {ratio(d, f)} | ≤ {TARGET}× | {met(d <= TARGET * f)} |
| the same, against itself with `sandbox.mode: none` | {d:.2f} s | {dn:.2f} s | {ratio(d, dn)} | ≤ {SANDBOX_TARGET}× | {met(d <= SANDBOX_TARGET * dn)} |

Each task's checkout is a repository of its own (issue 14): batty writes its `.git/` by hand
(alternates to the control's objects, nothing copied) and fills it with one `git read-tree`,
where the floor's `git worktree add` links a worktree to the control repository. The sandbox
(bubblewrap) costs dispatch one `bwrap` probe and the argv it builds for each agent; the
agents start inside it after dispatch returned (below).

Per task: {d / n * 1000:.0f} ms for batty, {f / n * 1000:.0f} ms for the floor. Where the time goes, from one
more dispatch with batty's git calls timed (one run, so only a guide):

| part | time | |
| --- | ---: | --- |
| the whole `batty dispatch` (traced) | {full["total_s"]:.2f} s | |
| its {add["calls"]} `git read-tree` (each checkout's files) | {add["s"]:.2f} s | the floor's own work, done while {n} wrappers start beside it |
| its {full["git_calls"] - add["calls"]} other git calls (`rev-parse`, the board commit; each branch is written as git writes a ref, no process) | {other_git:.2f} s | |
| its {full["fsyncs"]} fsyncs (packets, prompts, launch files, events) | {full["fsync_s"]:.2f} s | |
| the rest: Python (packet writes, events, prompts, starting the wrappers) and waiting for the CPU | {full["total_s"] - full["git_s"] - full["fsync_s"]:.2f} s | |
| the same dispatch with no wrapper or agent started | {bare["total_s"]:.2f} s | {bare["git_s"]:.2f} s of it in git ({bare_add:.2f} s in `read-tree`), {bare["fsync_s"]:.2f} s in fsync |

Each attempt's wrapper (`python -m batty.runner.wrap`, detached) is a Python process of its own;
{n} of them start during the dispatch and share the machine's {os.cpu_count()} cores with it. After `dispatch`
returned, the wrappers took a further {median_of(settle):.2f} s (median; {median_of(settle_none):.2f} s with `sandbox.mode: none`)
to start every agent (in its sandbox), fetch its branch back and record its exit; that time is
not in the figure.
"""
    write_section("dispatch", md)


if __name__ == "__main__":
    main()
