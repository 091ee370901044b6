"""The gate's test step on one tree (SPEC 8, 14; issues 15.2, 20, 21), for verify and merge.

On a checkout of the exact commit:

1. the trusted run: the trusted files (``gates.trusted_tests``, the runner's files) and every
   test file the change added or changed are made what the base has (added ones removed), and
   each check runs in order, each its own phase ``check:<name>``; a required check that fails
   is rerun on the same tree (``gates.reruns``; with pytest, the failed tests only): a test that
   failed and then passed is flaky; a failing test quarantined in board/flaky.yaml does not
   block; an advisory check that fails is reported and does not block;
2. the change's own tests: in a new checkout of the same commit, with the runner's files as the
   base has them, the test files it added or changed run on their own, with the first pytest
   check, selected by batty's plugin: they must pass too.

A pytest run proves what it ran with batty's plugin (checks/report.py): no report, no test
executed, tests selected that never reported, or a test that passed in the base's last passing
run of the same command and did not run now (its file unchanged) is a failure.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core.checkspec import Check
from batty.core.globs import matches
from batty.workflow import gate
from batty.workflow.checks import baseline, flaky, report

if TYPE_CHECKING:
    from batty.core.config import Gates

# What pytest collects by default: a change's own test files, run apart from the trusted ones
TEST_PATTERNS = ("**/test_*.py", "**/*_test.py")
NAMES_SHOWN = 10


@dataclass
class CheckResult:
    check: Check
    passed: bool
    reason: str | None = None   # tests | timeout | no-tests | no-report | incomplete | fewer-tests | error
    detail: str = ""
    tail: str = ""
    exit_code: int | None = None
    duration_s: float = 0.0
    runs: int = 0
    counts: report.Counts | None = None
    flaky: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    short: list[str] = field(default_factory=list)   # passed on the base, did not run here
    logs: list[str] = field(default_factory=list)
    own: bool = False

    def record(self) -> dict[str, Any]:
        return {"check": self.check.name, "run": self.check.run, "required": self.check.required,
                "result": "pass" if self.passed else "fail", "reason": self.reason, "detail": self.detail,
                "exit_code": self.exit_code, "duration_s": self.duration_s, "runs": self.runs,
                "counts": self.counts.summary() if self.counts else None,
                "failed_tests": self.counts.failing[:50] if self.counts else [],
                "flaky": self.flaky, "quarantined": self.quarantined, "short_of_base": self.short[:50],
                "logs": self.logs}


@dataclass
class Verdict:
    passed: bool
    results: list[CheckResult]
    own: CheckResult | None = None
    own_files: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    checks: tuple[Check, ...] = ()

    @property
    def failed(self) -> CheckResult | None:
        for r in self.results:
            if not r.passed and r.check.required:
                return r
        if self.own is not None and not self.own.passed:
            return self.own
        return None

    def record(self) -> dict[str, Any]:
        return {"checks": [r.record() for r in self.results],
                "own_tests": self.own.record() if self.own else None,
                "own_test_files": self.own_files,
                "flaky": sorted({t for r in self.results for t in r.flaky}),
                "quarantined": sorted({t for r in self.results for t in r.quarantined})}

    def feedback(self) -> tuple[str, str, str]:
        """(reason, detail, tail) of the failure, naming the check and the tests."""
        r = self.failed
        assert r is not None
        if r.own:
            names = r.counts.failing if r.counts else []
            detail = ("a test the change brings failed: " + ", ".join(names[:NAMES_SHOWN]) if names
                      else f"the change's own tests ({', '.join(self.own_files[:NAMES_SHOWN])}) did not pass: "
                      + r.detail)
            return "own-tests", detail, r.tail
        return r.reason or "tests", f"check `{r.check.name}` failed: {r.detail}", r.tail


# ----------------------------------------------------------------------------- the checks


_gates_of: dict[bytes, Any] = {}


def base_checks(root: Path, base_sha: str, task_id: str, current: Gates) -> tuple[tuple[Check, ...], int]:
    """(the checks, gates.reruns) as the base has them: its config's gates (``current``'s when
    the base's does not validate), the packet's ``test`` as the run of the check "test"."""
    from batty.core.config import Gates as GatesCls
    from batty.core.config import _section

    packet_path, config_path = f"board/tasks/{task_id}.yaml", "board/config.yaml"
    blobs = gate.base_files(root, base_sha, [packet_path, config_path])
    gates = current
    blob = blobs[config_path]
    if blob is not None:
        if blob not in _gates_of:
            found = None
            try:
                import yaml

                from batty.core.yamlx import Loader

                data = yaml.load(blob, Loader=Loader) or {}
                found = _section(GatesCls, data.get("gates") if isinstance(data, dict) else None, "gates", True)
            except Exception:  # noqa: BLE001 (a base config that does not validate: the running one)
                found = None
            if len(_gates_of) > 64:
                _gates_of.clear()
            _gates_of[blob] = found
        gates = _gates_of[blob] or current
    packet_blob = blobs[packet_path]
    packet_test = gate._test_in(packet_blob, "packet") if packet_blob is not None else None
    if packet_test is not None and not packet_test.strip():
        packet_test = None
    from batty.core import checkspec as checks_mod

    return checks_mod.of(gates, packet_test), gates.reruns


def test_globs(trusted: Sequence[str]) -> tuple[str, ...]:
    """What the trusted run puts back as the base has it: the trusted files and test files."""
    return (*trusted, *TEST_PATTERNS)


def own_test_files(known: tuple[list[str], list[str]], tree: Path, trusted: Sequence[str]) -> list[str]:
    """The test files the change added or changed (not deleted), not the runner's own files."""
    added, restore = known
    out = []
    for f in sorted(set(added) | set(restore)):
        if not matches(f, TEST_PATTERNS) or matches(f, gate.ALWAYS_TRUSTED):
            continue
        if (tree / f).is_file() and not (tree / f).is_symlink():
            out.append(f)
    return out


# ----------------------------------------------------------------------------- one tree


@dataclass
class Context:
    root: Path
    state: Path
    gates: Gates
    base_sha: str
    head: str
    task_id: str
    log_dir: Path
    on_merge: bool = False
    phase: Callable[[str, str, str], None] = lambda *_: None      # (phase, result, detail)
    on_flaky: Callable[[str, list[str]], None] = lambda *_: None  # (check, tests)
    checkout: Callable[[], AbstractContextManager[Path]] | None = None  # a new checkout of head
    today: dt.date = field(default_factory=lambda: _today())
    pol: Any = None  # the test runs' sandbox (batty.runner.sandbox.Policy; SPEC 11)


def _today() -> dt.date:
    from batty.core import clock

    return clock.now().date()


def run_tree(ctx: Context, tree: Path, known: tuple[list[str], list[str]] | None) -> Verdict:
    """The test step on ``tree`` (a fresh checkout of ``ctx.head``). ``known``: the trusted and
    test files the change added and changed (:func:`gate.trusted_changes` with
    :func:`test_globs`), when the caller has them."""
    checks, reruns = base_checks(ctx.root, ctx.base_sha, ctx.task_id, ctx.gates)
    if ctx.on_merge:
        checks = tuple(c for c in checks if c.on_merge)
    globs = test_globs(ctx.gates.trusted_tests)
    if known is None:
        known = gate.trusted_changes(tree, ctx.base_sha, globs, ctx.head)
    own = own_test_files(known, tree, ctx.gates.trusted_tests)
    restored = gate.put_back_trusted(tree, ctx.base_sha, globs, known=known)
    quarantine = flaky.at_base(ctx.root, ctx.base_sha)
    verdict = Verdict(True, [], own_files=own, restored=restored, checks=checks)
    excused: set[str] | None = None
    for check in checks:
        base_entry = None
        if report.kind(check.report, check.run) == "pytest":
            base_entry = baseline.read(ctx.state, check.name, check.run)
            if base_entry is not None and excused is None:
                excused = _excused(ctx, base_entry["sha"], restored, known)
        res = run_check(ctx, tree, check, reruns=reruns, quarantine=quarantine, base_entry=base_entry,
                        excused=excused or set())
        verdict.results.append(res)
        ctx.phase(f"check:{check.name}", "pass" if res.passed else ("fail" if check.required else "advisory-fail"),
                  res.detail or (res.counts.text() if res.counts else f"{res.duration_s}s"))
        if res.flaky:
            ctx.on_flaky(check.name, res.flaky)
        if not res.passed and check.required:
            verdict.passed = False
            return verdict
    runner = next((c for c in checks if report.kind(c.report, c.run) == "pytest"), None)
    if own and runner is not None:
        # a new checkout of the same commit: the trusted run executed the branch's code, which
        # may have changed this checkout's files or git state; there, only the runner's own
        # files are put back as the base has them, and the change's test files are its own
        runner_files = ([f for f in known[0] if matches(f, gate.ALWAYS_TRUSTED)],
                        [f for f in known[1] if matches(f, gate.ALWAYS_TRUSTED)])
        assert ctx.checkout is not None, "the change's own tests need a checkout of their own"
        with ctx.checkout() as own_tree:
            gate.put_back_trusted(own_tree, ctx.base_sha, globs, known=runner_files)
            res = run_check(ctx, own_tree, runner, reruns=reruns, quarantine=quarantine, select=own, own=True)
        verdict.own = res
        ctx.phase("own-tests", "pass" if res.passed else "fail",
                  res.detail or (res.counts.text() if res.counts else ""))
        if res.flaky:
            ctx.on_flaky(runner.name, res.flaky)
        if not res.passed:
            verdict.passed = False
    return verdict


def _excused(ctx: Context, since: str, restored: list[str], known: tuple[list[str], list[str]]) -> set[str]:
    """Files whose tests are not held to the baseline: what differs between the baseline's
    commit and the tree tested (the base's moves since, and what the change changed and the
    trusted run did not put back)."""
    out: set[str] = set()
    if since != ctx.base_sha:
        proc = gate.git.run(ctx.root, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff",
                            since, ctx.base_sha, check=False)
        if proc.returncode != 0:
            return {"*"}  # the baseline's commit is gone: nothing to compare with
        out |= {p for p in proc.stdout.split("\0") if p}
    changed = gate.git.out(ctx.root, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff",
                           ctx.base_sha, ctx.head).split("\0")
    out |= {p for p in changed if p} - set(restored)
    return out


def _log_name(check: Check, suffix: str = "") -> str:
    stem = "test" if check.name == "test" else f"check-{check.name}"
    return f"{stem}{suffix}.log"


def run_check(ctx: Context, tree: Path, check: Check, *, reruns: int, quarantine: list[flaky.Entry],
              base_entry: dict[str, Any] | None = None, excused: set[str] | None = None,
              select: list[str] | None = None, own: bool = False) -> CheckResult:
    """One check on ``tree``: a run, its report judged, reruns of what failed, the quarantine,
    the baseline. ``select``: only these files or tests (and, for ``own``, collected from them)."""
    timeout = check.timeout_s or ctx.gates.test_timeout_s
    res = CheckResult(check, False, own=own)
    suffix = "-own" if own else ""
    args = list(select or []) if own else []
    with tempfile.TemporaryDirectory(prefix="batty-gate-report-") as work:
        setup = report.Setup(Path(work), check.report, check.run, select=select, args=args)
        counts, run = _once(ctx, tree, check, setup, timeout, _log_name(check, suffix), res)
        ok, reason, detail = judge(run, counts, setup.kind, allow_empty=own)
        res.exit_code, res.duration_s, res.tail, res.counts = run.exit_code, run.duration_s, run.output_tail, counts
        rest: list[str] = []
        if not ok and reason == "tests" and check.required:
            failing = counts.failing if counts else []
            covered, rest = flaky.quarantined(quarantine, failing, ctx.today)
            complete = (counts is not None and not counts.interrupted and not counts.missing
                        and not counts.collect_errors)
            if failing and not rest and complete:
                ok, res.quarantined = True, covered
            for i in range(1, reruns + 1):
                if ok:
                    break
                # only the failed tests when the first run was whole (with -x, the tests after the
                # first failure never ran: all again)
                partial = setup.kind == "pytest" and complete and bool(rest)
                again = report.Setup(Path(work), check.report, check.run, select=rest if partial else select,
                                     args=args)
                counts2, run2 = _once(ctx, tree, check, again, timeout, _log_name(check, f"{suffix}-rerun{i}"), res)
                ok2, reason2, detail2 = judge(run2, counts2, again.kind, allow_empty=own and not partial)
                res.tail = run2.output_tail
                if partial:
                    if counts2 is None or reason2 not in (None, "tests"):
                        break  # the rerun proved nothing: the first verdict stands
                    assert counts is not None
                    now_pass = [t for t in rest if counts2.outcomes.get(t) == "passed"]
                    res.flaky += now_pass
                    counts.add({t: "passed" for t in now_pass}, {})
                    covered2, rest = flaky.quarantined(quarantine, [t for t in rest if t not in now_pass],
                                                       ctx.today)
                    if not rest:
                        ok, res.quarantined = True, covered + covered2
                elif ok2:
                    ok = True
                    res.flaky += ([t for t in failing if counts2 is None or counts2.outcomes.get(t) == "passed"]
                                  or [f"{check.name} (the whole run)"])
                    res.counts = counts2 or counts
                else:
                    reason, detail = reason2, detail2
                    if counts2 is not None:
                        counts = res.counts = counts2
                        failing = counts2.failing
                        covered, rest = flaky.quarantined(quarantine, failing, ctx.today)
            if not ok:
                names = rest or (counts.failing if counts else [])
                if names:
                    detail = f"{len(names)} failed: {', '.join(names[:NAMES_SHOWN])}" + \
                        (f" ({counts.text()})" if counts else "")
        if ok and base_entry is not None and res.counts is not None and not own and "*" not in (excused or ()):
            res.short = baseline.short_of(base_entry, res.counts, excused or set())
            if res.short:
                ok, reason = False, "fewer-tests"
                detail = (f"{len(res.short)} tests that passed on the base did not run: "
                          + ", ".join(res.short[:NAMES_SHOWN]))
        res.passed, res.reason = ok, None if ok else reason
        res.detail = detail if not ok else (res.counts.text() if res.counts else "")
        if ok and res.flaky:
            res.detail += f"; flaky (failed, then passed): {', '.join(res.flaky[:NAMES_SHOWN])}"
        if ok and res.quarantined:
            res.detail += f"; quarantined failures: {', '.join(res.quarantined[:NAMES_SHOWN])}"
    return res


def _once(ctx: Context, tree: Path, check: Check, setup: report.Setup, timeout: int, log: str,
          res: CheckResult) -> tuple[report.Counts | None, gate.TestRun]:
    setup.prepare(tree)
    run = gate.run_tests(tree, check.run, timeout_s=timeout, log_path=ctx.log_dir / log, env=setup.env,
                         pol=ctx.pol, shared=[setup.dir])
    res.runs += 1
    res.logs.append(log)
    return setup.read(tree), run


def judge(run: gate.TestRun, counts: report.Counts | None, kind: str, *,
          allow_empty: bool = False) -> tuple[bool, str | None, str]:
    """(passed, reason, detail) of one run by its exit and its report. Fails closed."""
    if run.reason in ("timeout", "error"):
        detail = {"timeout": "ran past its timeout and was killed", "error": "could not start"}[run.reason]
        return False, run.reason, detail
    if kind != "none" and counts is None:
        return False, "no-report", (f"`{run.command}` exited {run.exit_code} and wrote no test report "
                                    "(the run did not finish: nothing proves a test ran)")
    if counts is not None and kind == "pytest":
        if counts.collect_errors and not counts.failed:
            return False, "tests", (f"`{run.command}` exited {run.exit_code}: {counts.collect_errors} "
                                    f"collection error(s) ({counts.text()})")
        if run.exit_code == 5 or (counts.ran == 0 and not counts.failed):
            if allow_empty and run.exit_code in (0, 5):
                return True, None, "no test"
            return False, "no-tests", f"the run executed no test ({counts.text()})"
        if (counts.missing or counts.interrupted) and not counts.failed:
            return False, "incomplete", (f"{counts.missing} of {counts.selected} selected tests never reported "
                                         f"(the session stopped early; {counts.text()})")
        if run.exit_code == 0 and (counts.failed or counts.collect_errors):
            return False, "tests", f"exit 0, but the report says {counts.text()}"
    if counts is not None and kind == "junit" and counts.ran == 0:
        return False, "no-tests", f"the run executed no test ({counts.text()})"
    if run.exit_code != 0:
        if run.exit_code == 5:
            return False, "no-tests", "the test command ran no test (pytest exit 5)"
        return False, "tests", f"`{run.command}` exited {run.exit_code}" + (f" ({counts.text()})" if counts else "")
    return True, None, ""


def evidence(verdict: Verdict, head: str, trusted: Sequence[str]) -> dict[str, Any]:
    """What result.json keeps of the test step: each check, both runs' counts, and what a later
    merge compares to reuse the run (``gate_key``)."""
    main = next((r for r in verdict.results if r.check.name == "test"), None) or \
        (verdict.results[0] if verdict.results else None)
    out: dict[str, Any] = verdict.record()
    own = verdict.own
    out.update(trusted_restored=verdict.restored,
               command=main.check.run if main else None, exit_code=main.exit_code if main else None,
               duration_s=round(sum(r.duration_s for r in verdict.results) + (own.duration_s if own else 0), 3),
               counts=main.counts.summary() if main and main.counts else None,
               own_tests_passed=(own.counts.passed if own and own.passed and own.counts else 0),
               gate_key={"sha": head, "checks": [c.key() for c in verdict.checks], "trusted": list(trusted)})
    return out
