"""The board at scale (issues 2 and 13): 1,000, 10,000 and 100,000 packets; `task list --ready
--json`, `board`, a no-op `reconcile` and `--help`, each a real subprocess, warm, against the
floor of any tool that must notice a packet edited in place: a new Python process, and one
lstat per packet file (git's, in C, on every core: `git diff-index HEAD -- board/tasks/`),
measured in the same run. Then, at the largest size, k packets edited in place: what a load
reads, stats and parses (it follows k, not the packets that exist).

    .venv/bin/python -m benchmarks board        (or: .venv/bin/python benchmarks/bench_board.py [N ...])
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batty.store import packets as store  # noqa: E402
from batty.store.paths import Paths  # noqa: E402
from benchmarks._report import write_section  # noqa: E402
from benchmarks._sandbox import BATTY, batty, env, git, median_of, met, new_repo, ratio, timed  # noqa: E402

RUNS = 7
SIZES = (1_000, 10_000, 100_000)
SEATS = 8
TARGET_CMD_S = {1_000: 0.3, 10_000: 0.3, 100_000: 0.5}  # issue 2 (10,000), issue 13 (100,000)
TARGET_HELP_S = 0.15
EDITED = (0, 1, 10, 100, 1000)
SETTLE_S = 2.2  # past the racy window: an edit older than that is known only to git and stats

AREAS = ["auth", "billing", "search", "upload", "api", "cli", "reports", "notify", "cache", "db"]
VERBS = ["Add", "Fix", "Refactor", "Document", "Speed up", "Test", "Harden", "Remove", "Split", "Log"]
THINGS = ["rate limit", "retry loop", "audit log", "pagination", "flaky test", "timeout", "config flag",
          "error message", "index", "migration", "health check", "metrics"]
STATUS_WEIGHTS = [("done", 71), ("todo", 12), ("backlog", 10), ("archived", 5), ("blocked", 2)]


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def packet_text(i: int, status: str, rng: random.Random, n: int) -> str:
    """One packet as a person and batty would have written it: the fields of SPEC 2."""
    area = rng.choice(AREAS)
    title = f"{rng.choice(VERBS)} {rng.choice(THINGS)} in {area} ({i})"
    created = f"2026-{1 + i * 11 // n:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:07.123456+00:00"
    lines = [f"id: T-{i}", f"title: {title}", f"status: {status}", f"priority: {rng.choice([0, 1, 2, 2, 2, 3, 4])}"]
    if i > 10 and rng.random() < 0.3:
        deps = sorted(rng.sample(range(max(1, i - 200), i), k=rng.choice([1, 1, 2, 3])))
        lines.append("depends_on: [" + ", ".join(f"T-{d}" for d in deps) + "]")
    if rng.random() < 0.4:
        lines.append(f"complexity: {rng.randint(1, 5)}")
    lines.append(f"scope: [src/{area}/**, tests/test_{area}.py]")
    if rng.random() < 0.2:
        lines.append(f"test: pytest -q tests/test_{area}.py")
    lines.append("description: |")
    lines.append(f"  The {area} module needs this: {title.lower()}.")
    lines.append("  Keep the public interface as it is; add a test that fails before the change.")
    for k in range(rng.randint(1, 4)):
        lines.append(f"  - acceptance {k + 1}: `pytest -q tests/test_{area}.py` passes and covers case {k + 1}")
    lines.append(f"created: {_q(created)}")
    lines.append(f"updated: {_q(created)}")
    if status in ("done", "blocked", "in-progress", "review"):
        seat = f"eng-{1 + i % SEATS}"
        sha = f"{rng.getrandbits(160):040x}"
        lines += [f"assignee: {seat}", f"branch: batty/T-{i}", f"attempt: {rng.choice([1, 1, 1, 2, 3])}"]
        lines += ["verification:", "  attempt: 1", f"  sha: {sha}", f"  result: {'fail' if status == 'blocked' else 'pass'}",
                  "  phase: test", "  reason: null", f"  duration_s: {rng.uniform(2, 90):.3f}",
                  f"  evidence: .batty/evidence/T-{i}/1", f"  at: {_q(created)}"]
        if status == "done":
            lines += ["merge:", f"  sha: {rng.getrandbits(160):040x}", "  confidence: 0.85",
                      "  parts: {base: 1.0, retries: -0.1, diff_size: -0.05}", "  auto: true",
                      "  strategy: rebase", f"  for_sha: {sha}", f"  at: {_q(created)}"]
        if status == "blocked":
            lines += ["feedback: |", "  The test gate failed: tests. `pytest -q` exited 1", "",
                      "  Last lines of output:", "  FAILED tests/test_x.py::test_case - AssertionError"]
    return "\n".join(lines) + "\n"


def build(root: Path, n: int) -> None:
    new_repo(root, seats=SEATS)
    rng = random.Random(2)
    statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
    tasks = root / "board" / "tasks"
    live = list(range(n - 39, n + 1, 2))  # a live board: one task in progress per seat, a few in review
    in_progress, review = set(live[:SEATS]), set(live[SEATS:SEATS + 6])
    for i in range(1, n + 1):
        status = rng.choices(statuses, weights)[0]
        status = "in-progress" if i in in_progress else "review" if i in review else status
        (tasks / f"T-{i}.yaml").write_text(packet_text(i, status, rng, n))
    git(root, "add", "board/tasks")
    git(root, "commit", "-q", "-m", f"{n} tasks")
    batty(root, "reconcile")  # renders BOARD.md and commits it (batty's one commit)
    git(root, "status", "--porcelain")  # the index's stats of the packets, as a person's status records them
    problems = batty(root, "task", "lint", check=False)
    assert problems.returncode == 0, problems.stderr[-2000:]
    assert not git(root, "status", "--porcelain", "board"), "the board is not committed"


def floor_parse(tasks: Path) -> int:
    count = 0
    for entry in os.scandir(tasks):
        if entry.name.endswith(".yaml"):
            with open(entry.path, encoding="utf-8") as f:
                yaml.load(f.read(), Loader=yaml.CSafeLoader)
            count += 1
    return count


def compile_batty() -> None:
    """batty's bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE set (as on
    this machine) an editable install otherwise compiles every module it imports, every run."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "batty"), quiet=1)


def cpu() -> float:
    """CPU seconds (user and system) of the children waited for so far: batty and its git."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sweep(root: Path) -> None:
    """The floor's stat of every packet file: git's lstat of each, in C, on every core."""
    subprocess.run(["git", "diff-index", "--name-only", "HEAD", "--", "board/tasks/"], cwd=root,
                   check=True, capture_output=True, env=env())


def measure(n: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        root = Path(tmp) / "repo"
        build(root, n)
        head = git(root, "rev-parse", "HEAD")
        base = [*BATTY, "--repo", str(root)]
        ready = json.loads(batty(root, "task", "list", "--ready", "--json").stdout)
        commands = [
            ("`batty task list --ready --json`", [*base, "task", "list", "--ready", "--json"], TARGET_CMD_S[n]),
            ("`batty board`", [*base, "board"], TARGET_CMD_S[n]),
            ("`batty reconcile` (no-op)", [*base, "reconcile"], TARGET_CMD_S[n]),
            ("`batty --help`", [*BATTY, "--help"], TARGET_HELP_S),
        ]
        startup_argv = [sys.executable, "-c", "pass"]
        times: dict[str, list[float]] = {what: [] for what, _, _ in commands}
        cpus: dict[str, list[float]] = {what: [] for what, _, _ in commands}
        floors, startups, sweeps, floor_cpus = [], [], [], []
        for i in range(runs + 2):  # interleaved, so that all see the same load; rounds 0-1 warm up
            c0 = cpu()
            s = timed(subprocess.run, startup_argv, check=True)
            w = timed(sweep, root)
            fc = cpu() - c0
            for what, argv, _ in commands:
                c0 = cpu()
                t = timed(subprocess.run, argv, cwd=root, env=env(), check=True, capture_output=True)
                if i > 1:
                    times[what].append(t)
                    cpus[what].append(cpu() - c0)
            if i > 1:
                floors.append(s + w)
                startups.append(s)
                sweeps.append(w)
                floor_cpus.append(fc)
        out = {"n": n, "runs": runs, "ready": len(ready), "floor": median_of(floors),
               "startup": median_of(startups), "sweep": median_of(sweeps),
               "floor_cpu": median_of(floor_cpus),
               "rows": [(what, median_of(times[what]), target, median_of(cpus[what]))
                        for what, _, target in commands]}
        paths = Paths(root)
        out["packet_bytes"] = sum(p.stat().st_size for p in paths.tasks.glob("*.yaml"))
        out["cache_bytes"] = sum(p.stat().st_size for p in paths.cache.glob("packets*"))
        if n <= 10_000:  # a cold load of 100,000 packets takes minutes
            out["parse_floor"] = median_of([timed(floor_parse, paths.tasks) for _ in range(3)])
        assert git(root, "rev-parse", "HEAD") == head, "a no-op reconcile made a commit"
        assert not git(root, "status", "--porcelain", "board"), "a no-op reconcile changed the board"
        if n == max(SIZES_RUN):
            out["edited"] = edited(root, paths, n)
        return out


def edited(root: Path, paths: Paths, n: int) -> list[tuple[int, float, int, int, float]]:
    """k packets edited in place (the size kept), settled; then one load in this process and
    one `task list --ready --json`: (k, load s, packets parsed, packet files stat'ed by Python,
    command s)."""
    rows = []
    rng = random.Random(13)
    for k in EDITED:
        for i in rng.sample(range(1, n + 1), k):
            f = paths.packet(f"T-{i}")
            f.write_text(_same_size_edit(f.read_text()))
        time.sleep(SETTLE_S)
        load, parsed, stats = counted_load(paths)
        command = timed(batty, root, "task", "list", "--ready", "--json")
        rows.append((k, load, parsed, stats, command))
    return rows


def counted_load(paths: Paths) -> tuple[float, int, int]:
    """One load as a new process does it: (seconds, packets parsed, packet files stat'ed)."""
    counts = {"stat": 0, "parse": 0}
    real_stat, real_parse = os.stat, store.parse_file

    def counting_stat(path, *a, **kw):  # type: ignore[no-untyped-def]
        if str(path).endswith(".yaml"):
            counts["stat"] += 1
        return real_stat(path, *a, **kw)

    def counting_parse(*a, **kw):  # type: ignore[no-untyped-def]
        counts["parse"] += 1
        return real_parse(*a, **kw)

    store._texts.clear()  # a new process remembers no text
    os.supports_dir_fd.add(counting_stat)  # stats relative to the folder, as with os.stat
    os.stat, store.parse_file = counting_stat, counting_parse  # type: ignore[assignment]
    try:
        seconds = timed(store.load_all, paths)
    finally:
        os.stat, store.parse_file = real_stat, real_parse  # type: ignore[assignment]
        os.supports_dir_fd.discard(counting_stat)
    return seconds, counts["parse"], counts["stat"]


def _same_size_edit(text: str) -> str:
    """The title's first letter in the other case: an edit in place that keeps the size."""
    at = text.index("title: ") + 7
    c = text[at]
    return text[:at] + (c.lower() if c.isupper() else c.upper()) + text[at + 1:]


SIZES_RUN: tuple[int, ...] = SIZES


def main() -> None:
    global SIZES_RUN
    SIZES_RUN = tuple(int(a) for a in sys.argv[1:] if a.isdigit()) or SIZES
    load = os.getloadavg()[0]
    compile_batty()
    results = [measure(n, RUNS if n <= 10_000 else 5) for n in SIZES_RUN]
    write_section("board", report(results, load))


def report(results: list[dict], load: float) -> str:
    lines = []
    for r in results:
        for what, t, target, c in r["rows"]:
            lines.append(f"| {r['n']:,} | {what} | {t * 1000:.0f} ms | {r['floor'] * 1000:.0f} ms | "
                         f"{ratio(t, r['floor'])} | ≤ {target * 1000:.0f} ms | {met(t <= target)} | "
                         f"{c * 1000:.0f} ms | {r['floor_cpu'] * 1000:.0f} ms |")
    table = "\n".join(lines)
    parts = "; ".join(f"{r['n']:,}: {r['startup'] * 1000:.0f} ms + {r['sweep'] * 1000:.0f} ms" for r in results)
    sizes = "; ".join(f"{r['n']:,}: {r['packet_bytes'] / 1e6:.1f} MB of packets, {r['cache_bytes'] / 1e6:.1f} MB of cache, "
                      f"{r['ready']:,} ready" + (f", parsing every packet with PyYAML's C loader {r['parse_floor']:.2f} s"
                                                 if "parse_floor" in r else "") for r in results)
    big = results[-1]
    edits = "\n".join(f"| {k:,} | {load_s * 1000:.0f} ms | {parsed:,} | {stats:,} | {cmd * 1000:.0f} ms |"
                       for k, load_s, parsed, stats, cmd in big.get("edited", []))
    return f"""## board at scale (issues 2 and 13)

Packets as board/tasks/*.yaml with the fields of SPEC 2 (by status, about
{", ".join(f"{w}% {s}" for s, w in STATUS_WEIGHTS)}, {SEATS} in progress and 6 in review; dependencies,
scopes, briefs with acceptance items, batty's verification and merge records), BOARD.md
rendered by one `batty reconcile`, all committed; machine: {os.cpu_count()} cores, load average {load:.1f} at the
start. Each command is a new process (`python -m batty --repo DIR ...`), median of {results[0]['runs']} warm runs
(5 at 100,000; two runs before to warm up: the packet cache, packets.scan and the kept outputs under
.batty/cache/; batty's bytecode compiled, as an install has it). The floor is what any tool pays
that must notice a packet edited in place by any editor, with no daemon watching: a new Python
process (`python -c pass`) and one lstat of each packet file (`git diff-index HEAD --
board/tasks/`: git's own, in C, on every core), medians interleaved with the commands' runs, this
machine, this run ({parts}).

| packets | what | median | floor | ratio | target | | CPU | floor's CPU |
| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |
{table}

CPU is the median user and system time of the process and its children (git), from
`getrusage(RUSAGE_CHILDREN)`: on a machine shared with other work it moves less than wall time.

Sizes: {sizes}.

What follows the packets that changed, at {big['n']:,} packets: k packets edited in place (each
keeps its size), left to settle past the racy window, then one load in a process of its own
(`store.load_all`, as `task list` does when its kept output no longer matches) and one
`batty task list --ready --json` after it (one run each, so only a guide). Python parses the k
packets and stats only the files git lists; git's lstat of every file is in both. The command
comes after the load has cached the edits: it reads the cache, builds every packet object and the
ready queue again, as its kept output was for the packets before (the runs after it print what
it kept).

| k edited | load | packets parsed | packet files stat'ed by Python | `task list --ready --json` after |
| ---: | ---: | ---: | ---: | ---: |
{edits}

How batty knows what changed: docs/state.md.
"""


if __name__ == "__main__":
    main()
