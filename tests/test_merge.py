"""merge (issue 4): every skip reason, conflicts, approve, the batch queue, CAS, tested bases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tests.project import PYTEST, Project


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj", seats=4)


def write(path: str, text: str) -> list[str]:
    return [f"mkdir -p $(dirname {path}) && printf '%s\\n' '{text}' > {path}", "git add -A && git commit -qm change"]


def reviewed(proj: Project, *ids: str) -> None:
    proj.ok("dispatch")
    for tid in ids:
        proj.wait_exited(tid)
    proj.ok("verify")
    for tid in ids:
        assert proj.status(tid) == "review", proj.packet(tid).get("feedback")


def skips(proj: Project, tid: str) -> list[str]:
    return [e["data"]["reason"] for e in proj.events("merge.skipped", tid)]


def test_wrong_status_and_missing_packet(proj: Project) -> None:
    tid = proj.task("Not reviewed", "succeed")
    proj.ok("merge", tid)
    assert skips(proj, tid) == ["wrong-status"]
    proj.ok("merge", "T-99")
    assert skips(proj, "T-99") == ["missing-packet"]


def test_no_branch(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    shutil.rmtree(proj.paths.worktree(tid))
    git(proj.root, "branch", "-D", f"batty/{tid}")
    proj.ok("merge")
    assert skips(proj, tid) == ["no-branch"]
    assert proj.status(tid) == "review"


def test_stale_evidence_sends_it_back_to_verify(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    wt = proj.paths.worktree(tid)
    (wt / "src" / "app.py").write_text("def add(a, b):\n    return a - b\n")  # moved after verify
    git(wt, "commit", "-qam", "sneaky")
    before = proj.code()
    proj.ok("merge")
    assert skips(proj, tid) == ["stale-evidence"]
    assert proj.code() == before
    assert proj.status(tid) == "in-progress"
    proj.ok("verify")  # judged again as the branch is now: the tests fail
    assert proj.packet(tid)["verification"]["reason"] == "tests"


def test_not_approved_then_approved(proj: Project) -> None:
    proj.configure({"merge": {"mode": "approve"}})
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    proj.ok("merge")
    assert skips(proj, tid) == ["not-approved"] and proj.status(tid) == "review"
    proj.ok("approve", tid)
    proj.ok("merge")
    p = proj.packet(tid)
    assert p["status"] == "done" and p["merge"]["auto"] is False
    (merged,) = proj.events("merge.merged", tid)
    assert merged["data"]["auto"] is False


def test_low_confidence_waits_for_approve(proj: Project) -> None:
    proj.configure({"merge": {"min_confidence": 0.95}})
    tid = proj.task("No scope, big", "succeed", scope=[])  # no scope costs 0.1
    reviewed(proj, tid)
    proj.ok("merge")
    assert skips(proj, tid) == ["low-confidence"]
    p = proj.packet(tid)
    assert p["merge"]["confidence"] == 0.9 and p["merge"]["parts"] == {"outside_scope": -0.1}
    (conf,) = proj.events("merge.confidence", tid)
    assert conf["data"]["score"] == 0.9
    proj.ok("merge")  # the same sha: no second score written
    assert len(proj.events("merge.confidence", tid)) == 1
    proj.ok("approve", tid)
    proj.ok("merge")
    assert proj.status(tid) == "done"


def test_locked(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from filelock import FileLock;"
        f"l = FileLock({str(proj.paths.locks / 'merge.lock')!r}, is_singleton=False); l.acquire();"
        "print('held', flush=True); time.sleep(30)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # type: ignore[union-attr]
        res = proj.batty("merge", tid, env={"BATTY_LOCK_WAIT_S": "0.2"})
        assert res.code == 75
    finally:
        holder.kill()
        holder.wait()
    assert skips(proj, tid) == ["locked"] and proj.status(tid) == "review"


def test_dirty_base(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    app = proj.root / "src" / "app.py"
    app.write_text(app.read_text() + "# a person's edit in progress\n")
    before = proj.code()
    proj.ok("merge")
    assert skips(proj, tid) == ["dirty-base"]
    assert proj.code() == before and "a person's edit" in app.read_text()
    # the score of a task that did not land is in its packet, once for the commit it verified
    head = proj.packet(tid)["verification"]["sha"]
    assert proj.packet(tid)["merge"]["for_sha"] == head
    git(proj.root, "checkout", "src/app.py")
    proj.ok("merge")
    assert proj.status(tid) == "done"
    assert len(proj.events("merge.confidence", tid)) == 1
    merged = proj.packet(tid)["merge"]
    assert merged["for_sha"] == head and merged["confidence"] == proj.events("merge.confidence", tid)[0]["data"]["score"]


def test_two_tasks_that_conflict(proj: Project) -> None:
    a = proj.task("One way", write("src/app.py", "def add(a, b): return a + b  # one"))
    b = proj.task("Other way", write("src/app.py", "def add(a, b): return b + a  # other"))
    reviewed(proj, a, b)
    proj.ok("merge")
    assert proj.status(a) == "done"
    p = proj.packet(b)
    assert p["status"] == "in-progress" and p["assignee"] is None
    assert "conflicts with main in: src/app.py" in p["feedback"]
    assert skips(proj, b) == ["conflict"]
    (conflict,) = proj.events("merge.conflict", b)
    assert conflict["data"]["files"] == ["src/app.py"]
    proj.ok("dispatch")  # back to an agent, attempt 2, the feedback in its prompt
    p = proj.packet(b)
    assert p["attempt"] == 2 and p["assignee"]
    assert "conflicts with main" in (proj.paths.run_dir(b, 2) / "prompt.md").read_text()


def test_tests_failed_on_merge(proj: Project) -> None:
    """Each passes alone; together they break: the second is sent back."""
    a = proj.task("A flag", write("src/flag.py", "ENABLED = True"))
    b = proj.task("A check", write("src/check.py", "import importlib.util as u; assert u.find_spec(\"flag\") is None"))
    reviewed(proj, a, b)
    proj.ok("merge")
    assert proj.status(a) == "done"
    assert skips(proj, b) == ["tests-failed-on-merge"]
    p = proj.packet(b)
    assert p["status"] == "in-progress" and "tests fail on your branch merged onto main" in p["feedback"]
    assert not (proj.root / "src" / "check.py").exists()
    assert p["merge"]["for_sha"] == p["verification"]["sha"]  # its score, though it did not land
    (conf,) = proj.events("merge.confidence", b)
    assert p["merge"]["confidence"] == conf["data"]["score"]


@pytest.mark.parametrize("strategy", ["rebase", "squash", "merge"])
def test_strategies(proj: Project, strategy: str, tmp_path: Path) -> None:
    proj.configure({"merge": {"strategy": strategy}})
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    proj.ok("merge")
    sha = proj.packet(tid)["merge"]["sha"]
    parents = git(proj.root, "rev-list", "--parents", "-1", sha).split()
    assert len(parents) == (3 if strategy == "merge" else 2)
    assert proj.tests_pass_at(sha, tmp_path)
    author = git(proj.root, "log", "-1", "--format=%an", sha)
    assert author == "eng-1 (batty agent)"


def count_runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_batch_of_green_tasks_costs_one_test_run(proj: Project, tmp_path: Path) -> None:
    counter = proj.shared / "runs.txt"  # the test runs write it: a folder their sandbox shows
    proj.configure({"merge": {"batch": 4}, "gates": {
        "test": f"echo run >> {counter}; {PYTEST} tests"}})
    ids = [proj.task(f"Module {i}", write(f"src/m{i}.py", f"X = {i}")) for i in range(4)]
    reviewed(proj, *ids)
    verified = count_runs(counter)
    proj.ok("merge")
    assert [proj.status(t) for t in ids] == ["done"] * 4
    assert count_runs(counter) - verified == 1
    assert proj.tests_pass_at(proj.packet(ids[-1])["merge"]["sha"], tmp_path)


def test_a_failing_batch_is_bisected_to_its_culprit(proj: Project, tmp_path: Path) -> None:
    counter = proj.shared / "runs.txt"  # the test runs write it: a folder their sandbox shows
    proj.configure({"merge": {"batch": 4}, "gates": {
        "test": f"echo run >> {counter}; {PYTEST} tests"}})
    ids = [proj.task("A flag", write("src/flag.py", "ENABLED = True")),
           proj.task("A check", write("src/check.py", "import importlib.util as u; assert u.find_spec(\"flag\") is None")),
           proj.task("Module 2", write("src/m2.py", "X = 2")),
           proj.task("Module 3", write("src/m3.py", "X = 3"))]
    reviewed(proj, *ids)
    proj.ok("merge")
    assert [proj.status(t) for t in ids] == ["done", "in-progress", "done", "done"]
    assert skips(proj, ids[1]) == ["tests-failed-on-merge"]
    assert proj.tests_pass_at(proj.base(), tmp_path)


def test_every_commit_the_base_moved_to_passed(proj: Project, tmp_path: Path) -> None:
    """After a run with good, bad and conflicting work, every tree main pointed at passes."""
    ids = [proj.task("Good 1", write("src/g1.py", "A = 1")),
           proj.task("Bad", ["echo 'raise RuntimeError()' > src/bad.py", "git add -A && git commit -qm bad"]),
           proj.task("Conflict 1", write("src/app.py", "def add(a, b): return a + b  # x")),
           proj.task("Conflict 2", write("src/app.py", "def add(a, b): return a + b  # y"))]
    proj.configure({"gates": {"max_attempts": 2}})
    proj.until(lambda: all(proj.status(t) in ("done", "blocked") for t in ids), timeout=120,
               what="the board to settle")
    shas = git(proj.root, "rev-list", "--first-parent", "main").splitlines()
    code_trees = {}
    for sha in shas:
        tree = git(proj.root, "rev-parse", f"{sha}:src")
        code_trees.setdefault(tree, sha)
    for sha in code_trees.values():
        assert proj.tests_pass_at(sha, tmp_path), sha
    assert proj.status(ids[1]) == "blocked"


def test_dry_run_changes_nothing(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    before = (proj.base(), proj.paths.events.read_text())
    res = proj.ok("merge", "--dry-run")
    assert "would merge T-1" in res.out
    assert (proj.base(), proj.paths.events.read_text()) == before
    assert json.loads(proj.ok("task", "show", tid, "--json").out)["status"] == "review"


# ------------------------------------------------------------------ review findings, replayed


def test_an_approval_is_for_what_was_reviewed(proj: Project) -> None:
    """An approved task sent back to its agent must be approved again."""
    proj.configure({"merge": {"mode": "approve"}})
    a = proj.task("One way", write("src/app.py", "def add(a, b): return a + b  # one"))
    b = proj.task("Other way", write("src/app.py", "def add(a, b): return b + a  # other"))
    reviewed(proj, a, b)
    proj.ok("approve", a)
    proj.ok("approve", b)
    proj.ok("merge")
    assert proj.status(a) == "done"
    p = proj.packet(b)
    assert p["status"] == "in-progress" and not p.get("approved")


def test_a_change_already_in_the_base_is_done_not_stuck(proj: Project) -> None:
    tid = proj.task("Edit", write("src/extra.py", "X = 1"))
    reviewed(proj, tid)
    (proj.root / "src" / "extra.py").write_text("X = 1\n")  # a person landed the same change
    git(proj.root, "add", "src/extra.py")
    git(proj.root, "commit", "-qm", "by hand")
    proj.configure({"merge": {"strategy": "squash"}})
    proj.ok("merge")
    p = proj.packet(tid)
    assert p["status"] == "done"
    assert "in the base already" in proj.events("task.status", tid)[-1]["data"]["why"]


def test_batty_refuses_to_write_from_another_branch(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    proj.ok("task", "move", tid, "archived")
    git(proj.root, "checkout", "-qb", "old", "main~1")
    res = proj.batty("task", "move", tid, "backlog")
    assert res.code == 1 and "the control checkout is on old, not main" in res.err
    assert proj.batty("tick").code == 1
    git(proj.root, "checkout", "-q", "main")
    assert proj.status(tid) == "archived"


def test_a_task_that_conflicts_every_time_is_blocked_and_escalated(proj: Project) -> None:
    """Merge's failures spend gates.max_attempts: the task is blocked and a person is told (the
    escalation in its packet, `batty escalations`, escalation.raised, INBOX.md)."""
    proj.configure({"gates": {"max_attempts": 2}})
    tid = proj.task("Edit", "succeed")  # appends a line to src/app.py, each attempt again
    reviewed(proj, tid)
    app = proj.root / "src" / "app.py"
    app.write_text(app.read_text() + "# a person's line where the agent's goes\n")
    git(proj.root, "commit", "-qam", "by hand")  # the branch conflicts with main from now on
    proj.ok("merge")
    assert skips(proj, tid) == ["conflict"] and proj.status(tid) == "in-progress"
    assert proj.events("escalation.raised") == []  # one attempt of two: back to the agent
    proj.ok("dispatch")
    assert proj.packet(tid)["attempt"] == 2
    proj.wait_exited(tid)
    proj.ok("verify")
    assert proj.status(tid) == "review"  # it passes alone, again
    # attempt 2 started fresh from main (issue 15): a person's line lands under it again
    app.write_text(app.read_text() + "# a person's line where the agent's goes\n")
    git(proj.root, "commit", "-qam", "by hand, again")
    proj.ok("merge")
    assert skips(proj, tid) == ["conflict", "conflict"]
    p = proj.packet(tid)
    assert p["status"] == "blocked"
    [esc] = p["escalations"]
    assert (esc["reason"], esc["state"], esc["source"], esc["tasks"]) == (
        "merge-conflict", "open", "merge", [tid])
    assert "merge failed (conflict) after 2 attempts" in esc["text"] and "src/app.py" in esc["text"]
    (raised,) = proj.events("escalation.raised")
    assert raised["task"] == tid and raised["cmd"] == "merge"
    assert (raised["data"]["escalation"], raised["data"]["reason"]) == (esc["id"], "merge-conflict")
    moved = proj.events("task.status", tid)[-1]["data"]
    assert (moved["from"], moved["to"], moved["by"]) == ("review", "blocked", "merge")
    listed = proj.ok("escalations").out.splitlines()
    assert [line.split()[:4] for line in listed[1:]] == [[esc["id"], "open", tid, "merge-conflict"]]
    inbox = proj.paths.inbox.read_text(encoding="utf-8")
    assert f"### {esc['id']} · {tid} · merge-conflict" in inbox
    assert f"`batty escalations resolve {esc['id']}`" in inbox
    assert git(proj.root, "status", "--porcelain", "board/") == ""
    assert "a person's line" in app.read_text()  # main as the person left it


@pytest.mark.parametrize("point", ["merge.after-test", "merge.after-cas"])
def test_a_merge_killed_before_it_wrote_the_score_scores_the_commit_once(proj: Project, point: str) -> None:
    """merge.confidence is once per verified commit (docs/gates.md): a merge killed after the
    test run, before the landing wrote the score, must not leave the next run to score it again;
    one killed after the base moved leaves reconcile to write the score and its event."""
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    res = proj.batty("merge", env={"BATTY_FAILPOINT": point})
    assert res.code == -9
    proj.ok("reconcile")
    proj.ok("merge")
    assert proj.status(tid) == "done"
    (conf,) = proj.events("merge.confidence", tid)
    merged = proj.packet(tid)["merge"]
    assert merged["confidence"] == conf["data"]["score"]


def test_landing_keeps_a_branch_a_person_has_checked_out(proj: Project, tmp_path: Path) -> None:
    """A landed task's branch goes as `git branch -D` would take it: never from under a checkout
    of a person's that has it checked out (their HEAD would name a branch that is gone)."""
    tid = proj.task("Edit", "succeed")
    reviewed(proj, tid)
    look = tmp_path / "look"
    shutil.rmtree(proj.paths.worktree(tid))
    git(proj.root, "worktree", "add", "-q", str(look), f"batty/{tid}")
    proj.ok("merge")
    assert proj.status(tid) == "done"
    assert git(proj.root, "branch", "--list", f"batty/{tid}") != ""
    assert git(look, "symbolic-ref", "HEAD") == f"refs/heads/batty/{tid}"
    assert git(look, "rev-parse", "--verify", "-q", "HEAD", check=False) != ""
