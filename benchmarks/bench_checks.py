"""The gate on a real suite (issue 20): no test run twice on one tree, and what a flaky rerun
costs a green run.

16 tasks on one seat, each dispatched, verified and merged before the next is dispatched (the
base does not move between a task's verify and its merge but by batty's board commits), with a
real pytest suite of SUITE tests; test runs counted by a test command that appends a line to a file. "Before" is
batty at BEFORE (the commit before issue 20) run from a checkout of its own on a copy of the same
repository, interleaved.

    .venv/bin/python -m benchmarks checks
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._report import write_section  # noqa: E402
from benchmarks._sandbox import BATTY, batty, copy_repo, env, git, new_repo, timed, wait_exited  # noqa: E402
from benchmarks.bench_gates import feature, status  # noqa: E402

TASKS = 16
SUITE = 40
BEFORE = "365c4f8"  # main before issue 20: merge ran the suite again on the tree verify tested
ROOT = Path(__file__).resolve().parent.parent

SUITE_PY = f"""import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


@pytest.mark.parametrize("n", range({SUITE}))
def test_add(n):
    from app import add

    time.sleep(0.01)
    assert add(n, 1) == n + 1
"""


def run_as(version: Path | None, root: Path, *args: str) -> None:
    """batty, or the batty of the checkout ``version``, in ``root``."""
    extra = {"PYTHONPATH": str(version)} if version else {}
    proc = subprocess.run([*BATTY, "--repo", str(root), *args], cwd=root, capture_output=True, text=True,
                          env={**env(), **extra})
    if proc.returncode != 0:
        raise RuntimeError(f"batty {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")


def land_one_by_one(version: Path | None, template: Path, dst: Path, ids: list[str], counter: Path) -> tuple[float, int]:
    root = copy_repo(template, dst)
    counter.write_text("")

    def go() -> None:
        for t in ids:
            run_as(version, root, "dispatch")
            wait_exited(root, [t])
            run_as(version, root, "verify", t)
            run_as(version, root, "merge", t)

    took = timed(go)
    assert all(status(root, t) == "done" for t in ids), "not all landed"
    return took, len(counter.read_text().splitlines())


def green_verify(template: Path, dst: Path, ids: list[str], counter: Path, reruns: int) -> tuple[float, int]:
    root = copy_repo(template, dst)
    import yaml

    path = root / "board" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["gates"]["reruns"] = reruns
    cfg["seats"] = [{"name": f"eng-{i}", "agent": "shell"} for i in range(1, len(ids) + 1)]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(root, "commit", "-qam", "reruns")
    batty(root, "dispatch")
    wait_exited(root, ids)
    counter.write_text("")
    took = timed(batty, root, "verify")
    assert all(status(root, t) == "review" for t in ids)
    return took, len(counter.read_text().splitlines())


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(before), BEFORE], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            counter = work / "runs"
            template = work / "repo"
            test = f"echo run >> {counter}; {sys.executable} -m pytest -q -p no:cacheprovider tests"
            new_repo(template, seats=1, test=test, config={"disk": {"min_free_mb": 1}})
            (template / "tests" / "test_app.py").write_text(SUITE_PY)
            git(template, "add", "-A")
            git(template, "commit", "-qm", "a suite")
            ids = [batty(template, "task", "add", f"Feature {i}", "--scope", "src/**", "--script",
                         feature(i)).stdout.strip() for i in range(1, TASKS + 1)]
            rows = {"before": land_one_by_one(before, template, work / "b", ids, counter),
                    "now": land_one_by_one(None, template, work / "n", ids, counter)}
            green = {n: green_verify(template, work / f"g{n}", ids, counter, n) for n in (0, 1)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    (tb, rb), (tn, rn) = rows["before"], rows["now"]
    (g0, r0), (g1, r1) = green[0], green[1]
    md = f"""## the gate on a real suite: no test run twice on one tree (issue 20)

{TASKS} tasks (each adds a module) on one seat, a real pytest suite of {SUITE} tests (10 ms each),
each task `batty dispatch`, its agent's exit, `batty verify T` and `batty merge T` before the
next: the base does not move between a task's verify and its merge but by batty's board commits. Test runs counted by the test
command. "Before" is batty at `{BEFORE}` (merge ran the suite again on the tree verify had
tested), on a copy of the same repository; one run each, this machine ({os.cpu_count()} cores,
load average {load:.1f} at the start).

| | test runs | wall time to land {TASKS} | per task |
| --- | ---: | ---: | ---: |
| before (`{BEFORE}`) | {rb} | {tb:.1f} s | {tb / TASKS * 1000:.0f} ms |
| now: merge relies on verify's run (`reused: true`) | {rn} | {tn:.1f} s | {tn / TASKS * 1000:.0f} ms |

Test runs: {rn} against {rb} ({rn / rb:.0%}; target: half); wall time {tn / tb:.0%} of before
(the rest is batty's own processes and git, and the plugin that counts what ran).

The flaky rerun's cost on a green run: `batty verify` of the {TASKS} tasks at once.

| `gates.reruns` | test runs | wall time |
| ---: | ---: | ---: |
| 0 | {r0} | {g0:.1f} s |
| 1 | {r1} | {g1:.1f} s |

A rerun happens only after a failure: a green run costs the same test runs with or without it.
The test-run counts are exact; the wall times, one run each on a shared, loaded machine, vary by
tens of percent from run to run (the two green rows differ by load alone).
"""
    write_section("checks", md)


if __name__ == "__main__":
    main()
