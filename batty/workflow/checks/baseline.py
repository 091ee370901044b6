"""The base's last passing run of each check (SPEC 8): what a later run must not fall short of.

``.batty/gate/baselines.json`` keeps, for each check (its name and command), the commit the
base landed on and every test's outcome in that commit's trusted run (merge writes it when it
moves the base). A later trusted run of the same command must run every test that passed
there, unless the test's file differs between that commit and the tree tested (a test the
base or the change added, removed or edited is not held against it): a test that passed on the
base and is now skipped, deselected, xfailed or gone fails the run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from batty.workflow.checks.report import Counts

FILE = "gate/baselines.json"
KEEP = 64  # checks remembered (commands change; old ones go)


def key(name: str, command: str) -> str:
    return hashlib.sha256(f"{name}\0{command}".encode()).hexdigest()[:24]


def _path(state: Path) -> Path:
    return state / FILE


def read(state: Path, name: str, command: str) -> dict[str, Any] | None:
    from batty.store import atomic

    data = atomic.read_json(_path(state)) or {}
    entry = data.get(key(name, command))
    return entry if isinstance(entry, dict) and isinstance(entry.get("outcomes"), dict) else None


def record(state: Path, name: str, command: str, sha: str, counts: Counts) -> None:
    from batty.core import clock
    from batty.store import atomic

    path = _path(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = atomic.read_json(path) or {}
    data[key(name, command)] = {"check": name, "command": command, "sha": sha, "at": clock.now_iso(),
                                "outcomes": dict(counts.outcomes), "files": dict(counts.files),
                                "counts": counts.summary()}
    if len(data) > KEEP:
        for old in sorted(data, key=lambda k: str(data[k].get("at")))[: len(data) - KEEP]:
            del data[old]
    atomic.write_json(path, data)


def short_of(entry: dict[str, Any], counts: Counts, excused: set[str]) -> list[str]:
    """The tests that passed in ``entry``'s run, whose file is not in ``excused``, and that did
    not run (pass or fail) in ``counts``: a test reported skipped, xfailed or xpassed now; a
    test not reported at all, when its file ran fewer tests than passed there (a test id that
    holds a changing value, a parameter's repr, is not held against a run that ran as many)."""
    files = entry.get("files") or {}
    ran_in: dict[str, int] = {}
    for test, outcome in counts.outcomes.items():
        if outcome in ("passed", "failed", "error"):
            f = counts.files.get(test) or test.split("::")[0]
            ran_in[f] = ran_in.get(f, 0) + 1
    passed_in: dict[str, list[str]] = {}
    for test, outcome in entry["outcomes"].items():
        if outcome == "passed":
            passed_in.setdefault(files.get(test) or test.split("::")[0], []).append(test)
    out = []
    for f, tests in passed_in.items():
        if f in excused:
            continue
        gone = [t for t in tests if counts.outcomes.get(t) not in ("passed", "failed", "error")]
        changed = [t for t in gone if t in counts.outcomes]  # reported, and not run
        missing = [t for t in gone if t not in counts.outcomes]
        out += changed
        if missing and ran_in.get(f, 0) < len(tests):
            out += missing
    return sorted(out)
