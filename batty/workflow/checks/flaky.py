"""board/flaky.yaml (SPEC 14): the quarantined tests, each with an expiry date and a reason.

    - {test: tests/test_net.py::test_retry, until: 2026-12-31, why: "times out on CI"}

A quarantined test's failure does not block a check until its date has passed (the date
itself still counts). The gate reads the file as the base has it (board/ is protected: an agent
cannot quarantine its own failing test); ``batty flaky add/list/remove`` edits it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batty.errors import InvalidInput

FILE = "board/flaky.yaml"


@dataclass(frozen=True)
class Entry:
    test: str
    until: dt.date
    why: str

    def active(self, today: dt.date) -> bool:
        return today <= self.until

    def as_dict(self) -> dict[str, str]:
        return {"test": self.test, "until": self.until.isoformat(), "why": self.why}


def parse(text: str, file: str = FILE) -> list[Entry]:
    """The entries, or InvalidInput naming the line of the first bad one."""
    from batty.core import yamlx

    data = yamlx.load(text, file) if text.strip() else []
    if data is None:
        data = []
    if not isinstance(data, list):
        raise InvalidInput("the quarantine list must be a YAML list", file=file, line=1,
                           valid="- {test: ID, until: YYYY-MM-DD, why: TEXT}")
    where = yamlx.lines(text, file)
    out: list[Entry] = []
    for i, item in enumerate(data):
        line = where.get((i,))
        if not isinstance(item, dict) or set(item) - {"test", "until", "why"} or "test" not in item \
                or "until" not in item:
            raise InvalidInput("an entry must have test, until and why (nothing else)", file=file, line=line,
                               valid="- {test: ID, until: YYYY-MM-DD, why: TEXT}")
        test, until, why = item["test"], item["until"], item.get("why", "")
        if not isinstance(test, str) or not test.strip() or any(ord(c) < 32 for c in test):
            raise InvalidInput(f"test {test!r} is not a test id", file=file, line=line,
                               valid="a node id like tests/test_x.py::test_y")
        if isinstance(until, str):
            try:
                until = dt.date.fromisoformat(until)
            except ValueError:
                until = None
        if not isinstance(until, dt.date) or isinstance(until, dt.datetime):
            raise InvalidInput(f"until {item['until']!r} is not a date", file=file, line=line,
                               valid="until: YYYY-MM-DD")
        out.append(Entry(test.strip(), until, str(why or "")))
    return out


def dump(entries: list[Entry]) -> str:
    import json

    # one flow mapping a line, each value a JSON string (valid YAML, whatever the text holds)
    return "".join(f"- {{test: {json.dumps(e.test)}, until: {e.until.isoformat()}, why: {json.dumps(e.why)}}}\n"
                   for e in entries)


def read(root: Path) -> list[Entry]:
    path = root / FILE
    if not path.exists():
        return []
    return parse(path.read_text(encoding="utf-8"))


def write(root: Path, entries: list[Entry]) -> None:
    from batty.store import atomic

    atomic.write_text(root / FILE, dump(entries))


def at_base(root: Path, base_sha: str) -> list[Entry]:
    """The list as the base has it; a list that does not parse quarantines nothing."""
    from batty.workflow import gate

    blob = gate.base_files(root, base_sha, [FILE])[FILE]
    if not blob:
        return []
    try:
        return parse(blob.decode("utf-8", errors="replace"))
    except InvalidInput:
        return []


def quarantined(entries: list[Entry], tests: list[str], today: dt.date) -> tuple[list[str], list[str]]:
    """(the tests of ``tests`` an active entry covers, the rest). An entry names a test id, or a
    file (every test in it), or a test id's prefix up to a ``::``."""
    live = [e.test for e in entries if e.active(today)]
    covered, rest = [], []
    for t in tests:
        if any(t == q or t.startswith(q + "::") or t.startswith(q + "[") for q in live):
            covered.append(t)
        else:
            rest.append(t)
    return covered, rest


def as_data(entries: list[Entry], today: dt.date) -> list[dict[str, Any]]:
    return [{**e.as_dict(), "active": e.active(today)} for e in entries]
