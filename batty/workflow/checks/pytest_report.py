"""batty's pytest plugin: the gate's proof that a run ran the suite (SPEC 8, 14).

This file imports nothing of batty: the gate copies it, under a name of its own for each run,
into a folder outside the checkout and loads it with ``-p`` (PYTEST_ADDOPTS), whatever
interpreter the test command uses. It reads its settings from the environment and removes
them at once (neither the code under test nor a pytest it starts sees them):

- ``BATTY_GATE_REPORT_DIR``: where it writes ``report-<pid>.json`` at the end of the session
  (one per pytest process of the command; none when the process dies first, as with
  ``os._exit`` at import: no report is a failure);
- ``BATTY_GATE_SELECT``: a file of node ids or file paths, one a line: only those tests run
  (the agent's own tests, or a rerun of the failed ones); the rest are deselected.

The report: every test's node id, its file relative to the working directory, and its outcome
(passed, failed, error, skipped, xfailed, xpassed), the tests selected after collection, the
deselected count, collection errors, whether the session was interrupted and its exit status.
"""

from __future__ import annotations

import json
import os
import sys

import pytest  # loaded by pytest: it is there

_REPORT_DIR = os.environ.pop("BATTY_GATE_REPORT_DIR", "")
_SELECT = os.environ.pop("BATTY_GATE_SELECT", "")
_ADDOPTS = os.environ.pop("BATTY_GATE_ADDOPTS", None)
if _ADDOPTS is not None:  # what PYTEST_ADDOPTS was before the gate added its own
    if _ADDOPTS:
        os.environ["PYTEST_ADDOPTS"] = _ADDOPTS
    else:
        os.environ.pop("PYTEST_ADDOPTS", None)

_CWD = os.getcwd()
# The gate runs Python in safe-path mode (PYTHONSAFEPATH=1, issue 15): `python -m pytest` no
# longer puts the checkout first on sys.path, so a `pytest.py` there cannot stand in for the
# runner. pytest is imported by now (this plugin is loaded by it), so the checkout goes back on
# sys.path here, where `python -m` would have put it: a real project whose tests import its
# package from the root (tabulate's, issue 16) works as it does for its own people, and nothing
# in the checkout can replace the runner any more. Not when this plugin is imported, though: it
# is loaded (with -p) before the installed plugins, and a root `typing_extensions.py` or
# `execnet.py` then stood in for what they import at start-up (a red team landed a broken library
# that way). The checkout goes on sys.path once they are loaded, before the conftests are.
_ROOT_BACK = bool(sys.argv and sys.argv[0].endswith("__main__.py"))


@pytest.hookimpl(trylast=True)  # after pytest's own pythonpath, before the conftests are loaded
def pytest_load_initial_conftests(early_config, parser, args):
    """The checkout behind the project's pythonpath folders, as `python -m pytest` has it (its
    root first when it starts, pythonpath put in front of it): a new root `lib/` stood in for
    src/lib ahead of them (a red team's fourth round)."""
    if not _ROOT_BACK or _CWD in sys.path:
        return
    try:
        extra = [str(p) for p in early_config.getini("pythonpath")]
    except (ValueError, KeyError):
        extra = []
    at = max((sys.path.index(p) + 1 for p in extra if p in sys.path), default=0)
    sys.path.insert(at, _CWD)

_state = {"outcomes": {}, "files": {}, "selected": 0, "deselected": 0, "collect_errors": 0}


def _wanted() -> set[str]:
    if not _SELECT:
        return set()
    with open(_SELECT, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip()}


def _file_of(item) -> str:
    try:
        return os.path.relpath(str(item.path), _CWD)
    except (AttributeError, ValueError):
        return item.nodeid.split("::")[0]


def pytest_collection_modifyitems(session, config, items):
    wanted = _wanted()
    if not _SELECT:
        return
    keep, drop = [], []
    for item in items:
        f = _file_of(item)
        (keep if item.nodeid in wanted or f in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_deselected(items):
    _state["deselected"] += len(items)


def pytest_collectreport(report):
    if report.failed:
        _state["collect_errors"] += 1


def pytest_collection_finish(session):
    _state["selected"] = len(session.items)
    for item in session.items:
        _state["files"][item.nodeid] = _file_of(item)


def pytest_runtest_logreport(report):
    out = _state["outcomes"]
    wasxfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if wasxfail:
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome  # passed | failed | skipped
        if out.get(report.nodeid) != "error":
            out[report.nodeid] = outcome
    elif report.failed:  # setup or teardown
        out[report.nodeid] = "error"
    elif report.skipped and report.nodeid not in out:
        out[report.nodeid] = "xfailed" if wasxfail else "skipped"


def pytest_sessionfinish(session, exitstatus):
    if not _REPORT_DIR:
        return
    data = {
        "version": 1,
        "pid": os.getpid(),
        "exitstatus": int(exitstatus),
        "interrupted": bool(getattr(session, "shouldstop", False) or getattr(session, "shouldfail", False)),
        "selected": _state["selected"],
        "deselected": _state["deselected"],
        "collect_errors": _state["collect_errors"],
        "tests": [{"id": k, "file": _state["files"].get(k, k.split("::")[0]), "outcome": v}
                  for k, v in _state["outcomes"].items()],
    }
    path = os.path.join(_REPORT_DIR, f"report-{os.getpid()}.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
