"""What a test run proves it ran: the runner's report, read by the gate (SPEC 8, 14).

For pytest, batty's plugin (checks/pytest_report.py) is copied for each run under a name of
its own into a folder outside the checkout and loaded with ``-p`` through PYTEST_ADDOPTS, with
the folder on PYTHONPATH; it writes one JSON report per pytest process at the end of its
session. For other runners, a check's ``report: junit:PATH`` names the junit XML file the
command writes (the file is removed before the run, so a stale one counts for nothing).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLUGIN = Path(__file__).with_name("pytest_report.py")
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@dataclass
class Counts:
    """One run's counts, summed over every report it wrote."""

    ran: int = 0            # tests that executed (passed, failed, error, xfailed, xpassed)
    passed: int = 0
    failed: int = 0         # failed and error
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    deselected: int = 0
    selected: int = 0       # after collection and deselection
    collect_errors: int = 0
    reports: int = 0
    interrupted: bool = False
    outcomes: dict[str, str] = field(default_factory=dict)   # test id -> outcome
    files: dict[str, str] = field(default_factory=dict)      # test id -> its file

    @property
    def failing(self) -> list[str]:
        return sorted(t for t, o in self.outcomes.items() if o in ("failed", "error"))

    @property
    def missing(self) -> int:
        """Tests selected that never reported an outcome (the session stopped first)."""
        return max(0, self.selected - len(self.outcomes))

    def summary(self) -> dict[str, Any]:
        return {"ran": self.ran, "passed": self.passed, "failed": self.failed, "skipped": self.skipped,
                "xfailed": self.xfailed, "xpassed": self.xpassed, "deselected": self.deselected,
                "selected": self.selected, "collect_errors": self.collect_errors, "reports": self.reports,
                "interrupted": self.interrupted}

    def text(self) -> str:
        return (f"{self.ran} ran: {self.passed} passed, {self.failed} failed, {self.skipped} skipped, "
                f"{self.xfailed} xfailed, {self.deselected} deselected")

    def add(self, outcomes: dict[str, str], files: dict[str, str]) -> None:
        for test, outcome in outcomes.items():
            self.outcomes[test] = outcome
            if test in files:
                self.files[test] = files[test]
        self._recount()

    def _recount(self) -> None:
        vals = list(self.outcomes.values())
        self.passed = vals.count("passed")
        self.failed = vals.count("failed") + vals.count("error")
        self.skipped = vals.count("skipped")
        self.xfailed = vals.count("xfailed")
        self.xpassed = vals.count("xpassed")
        self.ran = self.passed + self.failed + self.xfailed + self.xpassed


def is_pytest(command: str) -> bool:
    """Whether a command line runs pytest (a word of it is pytest, py.test or ends in /pytest)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return any(w in ("pytest", "py.test") or w.endswith("/pytest") or w.startswith("pytest==") for w in words)


def kind(report: str, command: str) -> str:
    """``pytest``, ``junit`` or ``none`` for a check's ``report`` setting (``auto``: pytest
    when the command runs pytest, else none)."""
    if report in ("", "auto"):
        return "pytest" if is_pytest(command) else "none"
    if report.startswith("junit:"):
        return "junit"
    return report


class Setup:
    """The environment one run gets, and where its reports land. ``select``: only these tests
    (node ids or files) run."""

    def __init__(self, workdir: Path, report: str, command: str, select: Iterable[str] | None = None,
                 args: Iterable[str] = ()) -> None:
        self.kind = kind(report, command)
        self.report = report
        self.dir = workdir / f"run-{secrets.token_hex(4)}"
        self.dir.mkdir(parents=True)
        self.env: dict[str, str] = {}
        if self.kind != "pytest":
            return
        name = f"batty_gate_{secrets.token_hex(6)}"  # nothing in the checkout can shadow it
        plugin_dir = self.dir / "plugin"
        plugin_dir.mkdir()
        shutil.copyfile(PLUGIN, plugin_dir / f"{name}.py")
        (self.dir / "reports").mkdir()
        # the test environment has no PYTEST_ADDOPTS of its own (gate.test_env): the plugin
        # removes this one as it loads, so that no pytest the tests start writes a report
        self.env = {"PYTEST_ADDOPTS": " ".join(["-p", name, *(shlex.quote(a) for a in args)]),
                    "BATTY_GATE_ADDOPTS": "",
                    "PYTHONPATH": str(plugin_dir),
                    "BATTY_GATE_REPORT_DIR": str(self.dir / "reports")}
        chosen = list(select or [])
        if select is not None:
            (self.dir / "select.txt").write_text("".join(f"{s}\n" for s in chosen))
            self.env["BATTY_GATE_SELECT"] = str(self.dir / "select.txt")

    def prepare(self, tree: Path) -> None:
        """Remove a junit file the checkout holds already: only the run's own counts."""
        if self.kind == "junit":
            target = _inside(tree, self.report[len("junit:"):])
            if target is not None and (target.exists() or target.is_symlink()):
                target.unlink()

    def read(self, tree: Path) -> Counts | None:
        """The run's counts, or None when it wrote no report."""
        if self.kind == "pytest":
            return _read_pytest(self.dir / "reports")
        if self.kind == "junit":
            target = _inside(tree, self.report[len("junit:"):])
            if target is None or not target.is_file() or target.is_symlink():
                return None
            return _read_junit(target)
        return None

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _inside(tree: Path, rel: str) -> Path | None:
    path = os.path.normpath(os.path.join(str(tree), rel))
    if not path.startswith(str(tree) + os.sep):
        return None
    return Path(path)


def _read_pytest(folder: Path) -> Counts | None:
    found = sorted(folder.glob("report-*.json"))
    if not found:
        return None
    counts = Counts()
    for path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            tests = data["tests"]
            outcomes = {str(t["id"]): str(t["outcome"]) for t in tests if t.get("outcome") in OUTCOMES}
            files = {str(t["id"]): str(t.get("file") or "") for t in tests}
            counts.selected += int(data.get("selected") or 0)
            counts.deselected += int(data.get("deselected") or 0)
            counts.collect_errors += int(data.get("collect_errors") or 0)
            counts.interrupted = counts.interrupted or bool(data.get("interrupted"))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        counts.reports += 1
        counts.add(outcomes, files)
    return counts if counts.reports else None


def _read_junit(path: Path) -> Counts | None:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()  # noqa: S314 (a file the test command wrote, no DTD fetched)
    except (ET.ParseError, OSError):
        return None
    counts = Counts(reports=1)
    outcomes: dict[str, str] = {}
    files: dict[str, str] = {}
    for case in root.iter("testcase"):
        test = "::".join(p for p in (case.get("classname"), case.get("name")) if p)
        tags = {child.tag for child in case}
        if "failure" in tags:
            outcome = "failed"
        elif "error" in tags:
            outcome = "error"
        elif "skipped" in tags:
            outcome = "skipped"
        else:
            outcome = "passed"
        outcomes[test] = outcome
        files[test] = case.get("file") or ""
    counts.selected = len(outcomes)
    counts.add(outcomes, files)
    return counts
