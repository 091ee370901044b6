"""No two agents on the same files (issue 19, SPEC 13): two tasks on one file, two on disjoint
files, real dispatch through ticks; when each was dispatched is read from the event log."""

from __future__ import annotations

import json
from pathlib import Path

from tests.project import PYTEST, Project


def write(path: str, text: str) -> list[str]:
    return [f"mkdir -p $(dirname {path}) && echo '{text}' >> {path}", f"git add {path}",
            f"git commit -qm 'write {path}'"]


def dispatched_at(proj: Project, tid: str) -> int:
    """Where in the log (appended in time order) the task was dispatched."""
    (at,) = [i for i, e in enumerate(proj.events()) if e["kind"] == "task.dispatched" and e["task"] == tid]
    return at


def done_at(proj: Project, tid: str) -> int:
    return next(i for i, e in enumerate(proj.events()) if e["kind"] == "task.status" and e["task"] == tid
                and e["data"]["to"] == "done")


def test_a_task_on_the_same_file_waits_and_disjoint_ones_run_together(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=4, config={"dispatch": {"overlap": "wait"}})
    first = proj.task("Edit app once", write("src/app.py", "# one"), scope=["src/app.py"])
    second = proj.task("Edit app twice", write("src/app.py", "# two"), scope=["src/app.py"])
    left = proj.task("Add a", write("src/a.py", "A = 1"), scope=["src/a.py"])
    right = proj.task("Add b", write("src/b.py", "B = 1"), scope=["src/b.py"])
    res = proj.ok("dispatch")
    assert f"{second} waits for {first}" in res.err
    assert {t: proj.status(t) for t in (first, second, left, right)} == {
        first: "in-progress", second: "todo", left: "in-progress", right: "in-progress"}
    # status and task list --ready say what it waits for
    report = json.loads(proj.ok("status", "--json").out)
    assert report["waiting"] == [{"task": second, "for": first, "status": "in-progress",
                                  "why": f"waits for {first} (in-progress): their scopes overlap"}]
    assert f"{second} waits for {first} (in-progress)" in proj.ok("status").out
    listing = proj.ok("task", "list", "--ready").out
    assert f"waits for {first} (in-progress): their scopes overlap" in listing
    proj.until(lambda: all(proj.status(t) == "done" for t in (first, second, left, right)),
               timeout=120, what="all four to land")
    # the log: the disjoint ones were dispatched beside the first, the second only after it landed
    assert max(dispatched_at(proj, t) for t in (first, left, right)) < done_at(proj, first)
    assert done_at(proj, first) < dispatched_at(proj, second)
    app = (proj.root / "src" / "app.py").read_text()
    assert "# one" in app and "# two" in app


def test_a_task_without_a_scope_waits_for_everything_unless_overlap_is_allowed(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=2, config={"dispatch": {"overlap": "wait"}})
    scoped = proj.task("Scoped", "succeed", scope=["src/app.py"])
    anything = proj.task("Anything", "succeed", scope=[])
    proj.ok("dispatch")
    assert proj.status(scoped) == "in-progress" and proj.status(anything) == "todo"
    (w,) = json.loads(proj.ok("status", "--json").out)["waiting"]
    assert w["task"] == anything and "has no scope" in w["why"]
    proj.configure({"dispatch": {"overlap": "allow"}})
    proj.ok("dispatch")
    assert proj.status(anything) == "in-progress"


def test_the_batch_merge_queue_keeps_overlapping_tasks_apart(tmp_path: Path) -> None:
    # the test runs count themselves in the folder their sandbox shows (tests/project.py)
    counter = tmp_path / "shared" / "runs.txt"
    test = f"echo run >> {counter}; {PYTEST} tests"
    # allow while they are worked on, so two on one file reach review together
    proj = Project(tmp_path / "proj", seats=4, config={"merge": {"batch": 4}, "gates": {"test": test}})
    assert counter.parent == proj.shared
    same1 = proj.task("One", write("src/app.py", "# one"), scope=["src/app.py"])
    same2 = proj.task("Two", write("src/app2.py", "X = 2"), scope=["src/app*.py"])
    a = proj.task("A", write("src/a.py", "A = 1"), scope=["src/a.py"])
    b = proj.task("B", write("src/b.py", "B = 1"), scope=["src/b.py"])
    ids = (same1, same2, a, b)
    proj.ok("dispatch")
    for t in ids:
        proj.wait_exited(t)
    proj.ok("verify")
    assert all(proj.status(t) == "review" for t in ids)
    proj.configure({"dispatch": {"overlap": "wait"}})
    before = len(counter.read_text().splitlines())
    proj.ok("merge")
    assert all(proj.status(t) == "done" for t in ids)
    assert len(counter.read_text().splitlines()) - before == 2  # [One, A, B], then [Two]
    merged = [e["task"] for e in proj.events("merge.merged")]
    assert merged.index(same2) == 3
