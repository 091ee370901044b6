"""The gate's named checks (SPEC 14): ``gates.checks``, or ``gates.test`` as the one check "test".

    gates:
      checks:
        - {name: lint, run: "ruff check .", timeout_s: 300, required: false, on_merge: false}
        - {name: test, run: "pytest -q", required: true, on_merge: true, report: auto}
      reruns: 1

``report``: ``auto`` (batty's pytest plugin when the command runs pytest, else none),
``pytest``, ``junit:PATH`` (a junit XML file the command writes, relative to the checkout) or
``none`` (the check proves no test count: lint, a build).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from batty.core.packet import PacketProblem

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
KEYS = ("name", "run", "timeout_s", "required", "on_merge", "report")
REPORTS = ("auto", "pytest", "none")


@dataclass(frozen=True)
class Check:
    name: str
    run: str
    timeout_s: int | None = None   # None: gates.test_timeout_s
    required: bool = True
    on_merge: bool = True
    report: str = "auto"

    def key(self) -> list[Any]:
        """What a run of it depends on besides the tree (merge's reuse compares these)."""
        return [self.name, self.run, self.report, self.required, self.on_merge]


def parse(raw: Any, where: tuple = ("gates", "checks")) -> tuple[Check, ...]:
    """``gates.checks`` as written, or PacketProblem naming the key."""
    if not isinstance(raw, list) or not raw:
        raise PacketProblem(where, "gates.checks must be a non-empty list of checks",
                            "[{name: test, run: pytest -q}]")
    out: list[Check] = []
    for i, item in enumerate(raw):
        at = (*where, i)
        if not isinstance(item, dict):
            raise PacketProblem(at, "a check must be a mapping", "{name: lint, run: ruff check .}")
        for key in item:
            if key not in KEYS:
                raise PacketProblem((*at, key), f"unknown check key {key!r}", "one of " + ", ".join(KEYS))
        name, run = item.get("name"), item.get("run")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise PacketProblem((*at, "name"), f"check name {name!r} is not valid", "letters, digits, - _ .")
        if any(c.name == name for c in out):
            raise PacketProblem((*at, "name"), f"check {name} is listed twice", "unique names")
        if not isinstance(run, str) or not run.strip():
            raise PacketProblem((*at, "run"), f"check {name}: run must be a command", "run: pytest -q")
        timeout = item.get("timeout_s")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1):
            raise PacketProblem((*at, "timeout_s"), f"check {name}: timeout_s must be a whole number >= 1",
                                "timeout_s: 300")
        flags = {}
        for key in ("required", "on_merge"):
            value = item.get(key, True)
            if not isinstance(value, bool):
                raise PacketProblem((*at, key), f"check {name}: {key} must be true or false", "true or false")
            flags[key] = value
        report = check_report(item.get("report", "auto"), (*at, "report"))
        out.append(Check(name, run, timeout, flags["required"], flags["on_merge"], report))
    return tuple(out)


def check_report(report: Any, where: tuple) -> str:
    if not isinstance(report, str) or not (report in REPORTS or _junit_ok(report)):
        raise PacketProblem(where, f"report {report!r} is not valid",
                            "auto, pytest, none or junit:PATH inside the checkout")
    return report


def _junit_ok(report: str) -> bool:
    if not report.startswith("junit:"):
        return False
    path = report[len("junit:"):]
    return bool(path) and not path.startswith("/") and ".." not in path.split("/")


def of(gates: Any, test: str | None = None) -> tuple[Check, ...]:
    """The checks of a ``Gates`` config; ``test``: the test command as the base has it (the
    packet's ``test``, else ``gates.test``), which is the run of the check named "test"."""
    if gates.checks:
        return tuple(Check(c.name, test if c.name == "test" and test else c.run, c.timeout_s, c.required,
                           c.on_merge, c.report) for c in gates.checks)
    return (Check("test", test or gates.test, None, True, True, gates.report or "auto"),)
