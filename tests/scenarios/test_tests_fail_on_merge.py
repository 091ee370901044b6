"""Tests failing on the merge result: two changes that pass alone and break together. The base
never holds the pair; the second is sent back, brings the base in, fixes its side, and lands."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.scenarios.helpers import (
    kinds,
    make,
    on_attempt,
    on_base,
    quiet,
    settle,
    statuses,
    tick,
    write,
)

# every module under src/ must import: a rename in one file breaks an import in another
IMPORT_ALL = (f"{sys.executable} -c \"import sys, pathlib, importlib; sys.path.insert(0, 'src'); "
              "[importlib.import_module(p.stem) for p in sorted(pathlib.Path('src').glob('*.py'))]\"")


def test_a_pair_that_breaks_together_never_reaches_the_base(tmp_path: Path) -> None:
    proj, watch = make(tmp_path, test=IMPORT_ALL, files={"src/util.py": "def double(x):\n    return 2 * x\n"})
    rename = proj.task("Rename double to twice", write("src/util.py", "def twice(x):\n    return 2 * x"))
    user = proj.task("Use double", on_attempt(
        1, write("src/extra.py", "from util import double"),
        ["git rebase -q main", *write("src/extra.py", "from util import twice")]))
    tick(proj, watch)
    quiet(proj)
    tick(proj, watch)   # both pass verify alone; merged together they fail
    assert statuses(proj) == {rename: "done", user: "in-progress"}
    [skip] = [e for e in kinds(proj, "merge.skipped", user) if e["data"]["reason"] == "tests-failed-on-merge"]
    assert "merged onto main" in proj.packet(user)["feedback"]
    settle(proj, watch)
    assert statuses(proj) == {rename: "done", user: "done"}
    assert on_base(proj, "src/extra.py") == "from util import twice"
    assert "def twice" in (on_base(proj, "src/util.py") or "")
    # every tree the base moved to passed the tests, run again here by the watch
    assert watch.moves_checked == 2 and all(watch.oracle.values())
