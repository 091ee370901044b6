"""merge's test step (SPEC 8, 14): the checks on the merge result, or verify's run reused.

No test runs twice on one tree: when the merge result is the tree verify tested (the base has
not moved since, or only by batty's own board commits), the base's checks that run on merge
are those verify ran (same names, commands, reports) and the trusted globs are the same,
merge relies on verify's run and says which (``reused``). Otherwise the checks run on the
merge result as verify runs them (checks/suite.py), trusted run and the change's own tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.workflow import gate
from batty.workflow.checks import baseline, report, suite

if TYPE_CHECKING:
    from batty.workflow.state import State


@dataclass
class Landing:
    passed: bool
    verdict: suite.Verdict | None = None
    reused: str | None = None          # the evidence folder of the verify run relied on
    reason: str = ""
    detail: str = ""
    tail: str = ""


def reusable(st: State, task_id: str, verification: Mapping[str, Any], verified: str, result: str,
             base_sha: str) -> str | None:
    """The evidence folder of verify's run when merge may rely on it for ``result`` (the merge
    result of the branch at ``verified``), else None."""
    if verification.get("result") != "pass" or verification.get("sha") != verified or not verification.get("evidence"):
        return None
    folder = st.paths.root / str(verification["evidence"])
    try:
        record = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = record.get("gate_key") or {}
    if key.get("sha") != verified or record.get("result") != "pass":
        return None
    checks, _ = suite.base_checks(st.paths.root, base_sha, task_id, st.config.gates)
    now = [c.key() for c in checks if c.on_merge]
    then = [k for k in key.get("checks") or [] if k and k[-1]]  # the ones that run on merge
    if now != then or list(key.get("trusted") or []) != list(st.config.gates.trusted_tests):
        return None
    if result != verified:
        differ = gate.git.run(st.paths.root, "diff", "--name-only", "-z", "--no-renames", "--no-ext-diff",
                              verified, result, check=False)
        if differ.returncode != 0:
            return None
        if any(p and not p.startswith("board/") for p in differ.stdout.split("\0")):
            return None
    return str(verification["evidence"])


def run(st: State, tree: Path, base_sha: str, name: str, head: str, task_id: str,
        known: tuple[list[str], list[str]] | None, tasks: list[str]) -> Landing:
    """The checks that run on merge, on ``tree`` (a checkout of ``head``, the merge result)."""
    from batty.core.kinds import Kind

    first = tasks[0]

    def on_flaky(check: str, tests: list[str]) -> None:
        st.events.emit(Kind.VERIFY_FLAKY, task=first, check=check, tests=tests, where="merge", tasks=tasks)

    from batty.runner import sandbox

    pol = sandbox.policy(st.config)
    sandbox.require(pol)  # no boundary, no test run (SPEC 11): never a silent fallback
    ctx = suite.Context(st.paths.root, st.paths.state, st.config.gates, base_sha, head, task_id,
                        st.paths.state / "merge-logs" / name, on_merge=True, on_flaky=on_flaky,
                        checkout=lambda: gate.scratch(st.paths, f"{tree.name}-own", head), pol=pol)
    verdict = suite.run_tree(ctx, tree, known)
    if verdict.passed:
        return Landing(True, verdict)
    reason, detail, tail = verdict.feedback()
    return Landing(False, verdict, reason=reason, detail=detail, tail=tail)


def record_baseline(st: State, sha: str, landing: Landing | None) -> None:
    """The landed tree's trusted runs are the base's last passing runs of their commands."""
    if landing is None:
        return
    if landing.verdict is not None:
        for r in landing.verdict.results:
            if r.counts is not None and not r.own and r.passed:
                baseline.record(st.paths.state, r.check.name, r.check.run, sha, r.counts)
        return
    if landing.reused:
        saved = outcomes_of(st.paths.root / landing.reused)
        for name, entry in saved.items():
            counts = report.Counts()
            counts.add(entry.get("outcomes") or {}, entry.get("files") or {})
            baseline.record(st.paths.state, name, str(entry.get("run")), sha, counts)


OUTCOMES = "outcomes.json"


def write_outcomes(folder: Path, verdict: suite.Verdict) -> None:
    """Every test's outcome of each trusted run, beside result.json (merge's baseline when it
    reuses the run)."""
    from batty.store import atomic

    data = {r.check.name: {"run": r.check.run, "outcomes": r.counts.outcomes, "files": r.counts.files}
            for r in verdict.results if r.counts is not None and not r.own and r.passed}
    if data:
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_json(folder / OUTCOMES, data)


def outcomes_of(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / OUTCOMES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
