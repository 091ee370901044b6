"""verify and merge (issue 4) against real git, real test runs, and hostile test agents."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import git
from tests.project import Project

BREAK_APP = "echo 'raise RuntimeError(\"broken\")' >> src/app.py"
COMMIT = "git add -A && git commit -qm change"


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj", seats=3)


def run_to_verdict(proj: Project, *ids: str) -> None:
    proj.ok("dispatch")
    for tid in ids:
        proj.wait_exited(tid)
    proj.ok("verify")


def test_a_good_change_lands_and_leaves_everything_clean(proj: Project, tmp_path: Path) -> None:
    tid = proj.task("Edit the app", "succeed")
    before = proj.base()
    run_to_verdict(proj, tid)
    p = proj.packet(tid)
    assert p["status"] == "review"
    v = p["verification"]
    assert v["result"] == "pass" and v["attempt"] == 1
    evidence = proj.root / v["evidence"]
    result = json.loads((evidence / "result.json").read_text())
    assert result["exit_code"] == 0 and result["sha"] == v["sha"] and result["command"].endswith("tests")
    assert "passed" in (evidence / "test.log").read_text()
    phases = [(e["data"]["phase"], e["data"]["result"]) for e in proj.events("verify.phase", tid)]
    assert phases == [("collect", "pass"), ("fence", "pass"), ("check:test", "pass"), ("test", "pass"),
                      ("evidence", "pass")]
    assert result["counts"]["ran"] == 2 and result["counts"]["passed"] == 2  # read from the run's report
    proj.ok("merge")
    p = proj.packet(tid)
    assert p["status"] == "done" and p["merge"]["sha"] == git(proj.root, "rev-parse", "main~1")
    assert p["merge"]["auto"] is True and 0 <= p["merge"]["confidence"] <= 1
    assert git(proj.root, "rev-parse", "main") != before
    assert "# edited by the succeed behaviour" in (proj.root / "src" / "app.py").read_text()
    assert git(proj.root, "status", "--porcelain") == ""  # the control checkout moved with the base
    assert not proj.paths.worktree(tid).exists()
    assert git(proj.root, "branch", "--list", f"batty/{tid}") == ""
    (merged,) = proj.events("merge.merged", tid)
    assert merged["data"]["auto"] is True and merged["seat"] == p["assignee"]
    assert proj.tests_pass_at(p["merge"]["sha"], tmp_path)


HOSTILE = {
    "edits board/": ("touch-board", None, "fence", "protected"),
    "edits its own packet's test command": (
        ["sed -i 's/^test:.*//' board/tasks/T-1.yaml", "echo 'test: \"true\"' >> board/tasks/T-1.yaml",
         BREAK_APP, COMMIT], [], "fence", "protected"),
    "touches a protected path": ("touch-protected", [], "fence", "protected"),
    "leaves its scope": ("leave-scope", None, "fence", "scope"),
    "edits a trusted test so a broken change passes": (
        [BREAK_APP, "printf 'def test_nothing():\\n    pass\\n' > tests/test_app.py", COMMIT], [], "test", "tests"),
    "deletes the tests": ([BREAK_APP, "git rm -rq tests", COMMIT], [], "test", "tests"),
    "plants a conftest.py that skips everything": (
        [BREAK_APP, "printf 'import pytest\\ndef pytest_collection_modifyitems(items):\\n    items.clear()\\n' > conftest.py",
         COMMIT], [], "fence", "gate-change"),  # the runner's own file (issue 15)
    "adds a symlink out of the worktree": (["ln -s /etc/passwd src/leak", COMMIT], None, "fence", "symlink"),
    "adds a symlink into board/": (["ln -s ../board/config.yaml src/cfg", COMMIT], None, "fence", "symlink"),
    "renames a protected file away": (["git mv .github/workflows/ci.yml ci.yml", COMMIT], [], "fence", "protected"),
    "makes a protected file executable": (["chmod +x board/BOARD.md", COMMIT], [], "fence", "protected"),
    "changes nothing": ("no-change", None, "collect", "no-change"),
    "leaves its change uncommitted and broken": ([BREAK_APP], None, "test", "tests"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_agent_is_refused_and_the_base_does_not_move(proj: Project, case: str) -> None:
    script, scope, phase, reason = HOSTILE[case]
    tid = proj.task(case, script, scope=scope)
    before = proj.code()
    run_to_verdict(proj, tid)
    p = proj.packet(tid)
    v = p["verification"]
    assert (v["result"], v["phase"], v["reason"]) == ("fail", phase, reason), v
    assert p["status"] == "in-progress" and f"The {phase} gate failed: {reason}" in p["feedback"]
    proj.ok("merge")
    assert proj.code() == before
    (failed,) = proj.events("verify.failed", tid)
    assert failed["data"]["reason"] == reason


def test_uncommitted_work_is_committed_on_the_branch(proj: Project) -> None:
    tid = proj.task("Leave it uncommitted", ["echo '# left uncommitted' >> src/app.py"])
    run_to_verdict(proj, tid)
    assert proj.status(tid) == "review"
    log = git(proj.root, "log", "--format=%an|%s", "-1", f"batty/{tid}")
    assert log == f"eng-1 (batty agent)|{tid}: uncommitted work of attempt 1"


def test_a_failure_goes_back_with_feedback_then_blocks_with_an_escalation(proj: Project) -> None:
    proj.configure({"gates": {"max_attempts": 2}})
    tid = proj.task("Always broken", [BREAK_APP, COMMIT])
    run_to_verdict(proj, tid)
    p = proj.packet(tid)
    assert p["status"] == "in-progress" and "RuntimeError" in p["feedback"]
    proj.ok("dispatch")  # the next attempt, on the same seat, with the feedback in its prompt
    assert proj.packet(tid)["attempt"] == 2
    prompt = (proj.paths.run_dir(tid, 2) / "prompt.md").read_text()
    assert "What the last attempt got back" in prompt and "RuntimeError" in prompt
    proj.wait_exited(tid)
    proj.ok("verify")
    p = proj.packet(tid)
    assert p["status"] == "blocked"
    assert p["escalations"] and p["escalations"][0]["state"] == "open"
    assert len(proj.events("escalation.raised", tid)) == 1
    assert tid in proj.paths.inbox.read_text()


def test_the_test_command_runs_as_the_base_has_it(proj: Project) -> None:
    """A person changes a packet's test on the base: that is what the gate runs."""
    tid = proj.task("Edit", "succeed", test="exit 7")
    run_to_verdict(proj, tid)
    v = proj.packet(tid)["verification"]
    assert v["reason"] == "tests"
    result = json.loads((proj.root / v["evidence"] / "result.json").read_text())
    assert result["command"] == "exit 7" and result["exit_code"] == 7


def test_a_test_run_over_time_is_killed_with_its_process_group(proj: Project) -> None:
    marker = proj.root.parent / "grandchild-alive"
    slow = f"(sleep 30; touch {marker}) & sleep 30"
    proj.configure({"gates": {"test_timeout_s": 1}})
    tid = proj.task("Slow tests", "succeed", test=slow)
    run_to_verdict(proj, tid)
    v = proj.packet(tid)["verification"]
    assert v["reason"] == "timeout"
    import psutil

    assert not [p for p in psutil.process_iter(["cmdline"]) if "sleep 30" in " ".join(p.info["cmdline"] or [])
                and "touch" in " ".join(p.info["cmdline"] or [])]


def test_secrets_never_reach_the_code_under_test(proj: Project) -> None:
    out = proj.shared / "env-seen-by-tests.txt"
    tid = proj.task("Edit", "succeed", test=f"env > {out}")
    proj.ok("dispatch")
    proj.wait_exited(tid)
    proj.ok("verify", env={"ANTHROPIC_API_KEY": "sk-secret", "MY_TOKEN": "hunter2"})
    seen = out.read_text()
    assert "sk-secret" not in seen and "hunter2" not in seen and "PATH=" in seen


def test_a_planted_git_filter_never_runs_in_batty_git(proj: Project, tmp_path: Path) -> None:
    """An agent can write the shared .git/config from its worktree: a filter driver named in a
    .gitattributes would run inside batty's own `git add` and checkouts, unless blanked."""
    pwned = tmp_path / "pwned"
    tid = proj.task("Plant a filter", [
        f"git config filter.evil.clean 'touch {pwned}; cat'",
        f"git config filter.evil.smudge 'touch {pwned}; cat'",
        "echo '* filter=evil' > .gitattributes",
        "echo '# change' >> src/app.py"], scope=[])  # left uncommitted: verify's collect adds it
    run_to_verdict(proj, tid)
    assert not pwned.exists()
    proj.ok("merge")
    assert not pwned.exists()


def test_a_filter_planted_by_the_code_under_test_never_runs_in_batty_git(proj: Project, tmp_path: Path) -> None:
    """The tests run the branch's code, which can write .git/config while batty's process runs:
    merge's second, trusted run starts from `git reset --hard` in the scratch checkout, where a
    smudge filter planted during the first run would have run, had batty kept the drivers it
    read before the tests. Since issue 14 the checkout is a repository of its own (and the run
    sandboxed): the plant never reaches the control's config."""
    pwned = tmp_path / "pwned"
    plant = (
        "import os, subprocess\n"
        "if '/scratch/merge-' in os.getcwd():\n"
        f"    subprocess.run(['git', 'config', 'filter.evil.smudge', 'touch {pwned}; cat'])\n"
        f"    subprocess.run(['git', 'config', 'filter.evil.clean', 'touch {pwned}; cat'])\n"
    )
    tid = proj.task("Plant a filter from the code under test", [
        f"printf %s {shlex.quote(plant)} > src/plant.py",
        "echo '* filter=evil' > .gitattributes",
        "printf 'def test_more():\\n    pass\\n' > tests/test_more.py",  # a trusted file differs: a second run
        "git add -A && git commit -qm plant"], scope=[])
    run_to_verdict(proj, tid)
    assert proj.status(tid) == "review", proj.packet(tid).get("verification")
    proj.ok("approve", tid)  # it edits tests/: the confidence score alone would hold it back
    (proj.root / "NOTES.md").write_text("a person's commit: merge tests the result, not reusing verify's run\n")
    git(proj.root, "add", "NOTES.md")
    git(proj.root, "commit", "-qm", "notes")
    proj.ok("merge")
    assert proj.status(tid) == "done"
    # planted in the scratch checkout's own config (a repository of its own), never the control's
    assert "filter.evil.smudge" not in git(proj.root, "config", "--list")
    assert not pwned.exists()


def test_reconcile_removes_the_worktree_of_a_finished_task(proj: Project) -> None:
    tid = proj.task("Edit", "succeed")
    run_to_verdict(proj, tid)
    proj.ok("task", "move", tid, "done", "--why", "landed by hand")
    assert proj.paths.worktree(tid).exists()
    proj.ok("reconcile")
    assert not proj.paths.worktree(tid).exists()
    # its work never reached the base: the branch stays, a person may want it back
    assert git(proj.root, "branch", "--list", f"batty/{tid}").strip() == f"batty/{tid}"
    (ev,) = proj.events("reconcile.worktree", tid)
    assert ev["data"]["action"] == "removed"
    proj.ok("reconcile")
    assert len(proj.events("reconcile.worktree", tid)) == 1


def test_an_evil_merge_cannot_smuggle_a_protected_edit_past_the_fence(proj: Project) -> None:
    """Review finding: the tree diff hid a board/ and .github/ edit that a side commit made and a
    merge undid; rebase would have replayed the side commit onto main."""
    tid = proj.task("Smuggle", [
        "git checkout -qb side",
        "echo '- [ ] touched by an agent' >> board/BOARD.md", "echo 'evil: 1' >> .github/workflows/ci.yml",
        "git commit -qam side",
        "git checkout -q batty/T-1",
        "git merge -q --no-ff -s ours side -m 'evil merge'",
        "echo '# fine' >> src/app.py", "git commit -qam fine"])
    before = proj.code()
    run_to_verdict(proj, tid)
    v = proj.packet(tid)["verification"]
    assert (v["result"], v["phase"], v["reason"]) == ("fail", "fence", "protected"), v
    proj.ok("merge")
    assert proj.code() == before
    assert "touched by an agent" not in git(proj.root, "show", "main:board/BOARD.md")


def reviewed_then_broken_by_the_base(proj: Project, conftest: str) -> str:
    """A task whose branch adds a module using ``add``, a trusted test of its own and
    ``conftest`` (which runs in merge's first, untrusted test run), verified and in review; then
    a person renames ``add`` on main: the branch still rebases cleanly, but its module no
    longer imports, and the trusted test that imports every module fails on the merge result.
    (A conftest.py is the runner's own file: with gates.on_gate_change approve it passes verify,
    run as the base has it, and waits for the person's approval, issue 15.)"""
    proj.configure({"gates": {"on_gate_change": "approve"}})
    tid = proj.task("Use add from a new module", [
        "printf 'from app import add\\n\\nTWO = add(1, 1)\\n' > src/extra.py",
        f"printf %s {shlex.quote(conftest)} > conftest.py",
        "printf 'def test_sneaky():\\n    pass\\n' > tests/test_sneaky.py",
        COMMIT], scope=[])
    run_to_verdict(proj, tid)
    assert proj.status(tid) == "review", proj.packet(tid).get("verification")
    (proj.root / "src" / "app.py").write_text("def plus(a, b):\n    return a + b\n")
    test = proj.root / "tests" / "test_app.py"
    test.write_text(test.read_text().replace("app.add(2, 3)", "app.plus(2, 3)"))
    git(proj.root, "commit", "-qam", "rename add to plus")
    return tid


def test_a_branch_whose_tests_move_the_checkout_is_still_tested(proj: Project) -> None:
    """Review finding: merge's first test run executes the branch's own code, which moved the
    scratch checkout's HEAD to the base; batty then asked git which trusted files differ from
    the base *at HEAD*, found none, skipped the trusted run, and landed a merge result whose
    trusted tests fail (the branch imports what the base has just renamed)."""
    conftest = (
        "import os, subprocess\n"
        "def pytest_collection_modifyitems(items):\n"
        "    if '/scratch/merge-' in os.getcwd():\n"
        "        subprocess.run(['git', 'reset', '-q', '--hard', 'main'], check=True)\n"
        "    items[:] = [i for i in items if 'sneaky' in i.nodeid]\n"
    )
    tid = reviewed_then_broken_by_the_base(proj, conftest)
    proj.ok("approve", tid)
    proj.ok("merge")
    assert git(proj.root, "ls-tree", "--name-only", "main", "src/") == "src/app.py", \
        "a merge result whose trusted tests fail landed"
    assert proj.status(tid) == "in-progress"
    assert [e["data"]["reason"] for e in proj.events("merge.skipped", tid)] == ["tests-failed-on-merge"]


def test_what_one_task_s_test_run_leaves_never_reaches_the_next_one_s(proj: Project) -> None:
    """The next task's tests see its own commit exactly, whatever the last task's run wrote
    (untracked files, ignored ones, a nested repository, a tracked file changed or deleted).
    (One scratch checkout moved from task to task was tried and dropped: review found that git
    state the last run left, such as an index flag or a deleted .git file, outlived the move.)"""
    plant = (
        "import os, pathlib, subprocess\n"
        "here = pathlib.Path(__file__).resolve().parent\n"
        "if '/scratch/' in str(here):\n"
        "    (here / 'zz_planted.py').write_text('raise RuntimeError(\"left by T-1\")\\n')\n"
        "    (here / 'app.py').write_text('raise RuntimeError(\"changed by T-1\")\\n')\n"
        "    (here.parent / 'tests' / 'test_app.py').unlink()\n"
        "    (here.parent / 'build').mkdir(exist_ok=True)\n"
        "    (here.parent / 'build' / 'conftest.py').write_text('raise RuntimeError\\n')\n"
        "    subprocess.run(['git', 'init', '-q', str(here.parent / 'nested')])\n"
    )
    (proj.root / ".gitignore").write_text("build/\n")
    git(proj.root, "add", ".gitignore")
    git(proj.root, "commit", "-qm", "ignore build/")
    first = proj.task("Plant junk in the checkout", [f"printf %s {shlex.quote(plant)} > src/aaa_plant.py", COMMIT],
                      scope=[])
    second = proj.task("An honest change", "succeed")
    run_to_verdict(proj, first, second)
    assert proj.status(first) == "review", proj.packet(first).get("verification")
    assert proj.status(second) == "review", proj.packet(second).get("verification")
    log = (proj.root / proj.packet(second)["verification"]["evidence"] / "test.log").read_text()
    assert "passed" in log and "left by T-1" not in log and "changed by T-1" not in log
    scratch = proj.paths.state / "scratch"
    assert not scratch.exists() or not any(scratch.iterdir())  # each checkout removed after use


def test_a_branch_that_deletes_the_checkout_s_git_file_never_reaches_the_control_checkout(proj: Project) -> None:
    """Review finding: merge's first test run deleted the scratch checkout's .git file; batty's
    next git call there (`reset --hard`, before the trusted run) looked upward, found the
    control checkout, moved the base to the untested merge result and threw away a person's
    uncommitted edit."""
    conftest = (
        "import os\n"
        "def pytest_collection_modifyitems(items):\n"
        "    if '/scratch/merge-' in os.getcwd() and os.path.isfile('.git'):\n"
        "        os.remove('.git')\n"
        "    items[:] = [i for i in items if 'sneaky' in i.nodeid]\n"
    )
    tid = reviewed_then_broken_by_the_base(proj, conftest)
    proj.ok("approve", tid)
    (proj.root / "NOTES.txt").write_text("a person's work in progress\n")
    git(proj.root, "add", "NOTES.txt")
    git(proj.root, "commit", "-qm", "notes")
    (proj.root / "NOTES.txt").write_text("a person's work in progress, edited, not committed\n")
    proj.batty("merge")
    assert git(proj.root, "ls-tree", "--name-only", "main", "src/") == "src/app.py", \
        "a merge result whose trusted tests fail landed"
    assert git(proj.root, "symbolic-ref", "--short", "HEAD") == "main"
    assert (proj.root / "NOTES.txt").read_text() == "a person's work in progress, edited, not committed\n"
    assert proj.status(tid) == "in-progress"


def test_git_state_one_task_s_tests_leave_never_helps_the_next_task_pass(proj: Project) -> None:
    """Review finding (against a scratch checkout shared by a step's tasks): the first task's
    code marked the trusted test skip-worktree and replaced it with one that always passes; the
    next task, broken, passed verify. Each task's tests get a checkout of their own."""
    plant = (
        "import pathlib, subprocess\n"
        "here = pathlib.Path(__file__).resolve().parent.parent\n"
        "if '/scratch/' in str(here):\n"
        "    subprocess.run(['git', 'update-index', '--skip-worktree', 'tests/test_app.py'], cwd=here)\n"
        "    (here / 'tests' / 'test_app.py').write_text('def test_app():\\n    pass\\n')\n"
    )
    first = proj.task("Plant an index flag", [f"printf %s {shlex.quote(plant)} > src/aaa_plant.py", COMMIT],
                      scope=[])
    second = proj.task("A broken change", [BREAK_APP, COMMIT])
    run_to_verdict(proj, first, second)
    assert proj.status(first) == "review", proj.packet(first).get("verification")
    v = proj.packet(second)["verification"]
    assert (v["result"], v["phase"], v["reason"]) == ("fail", "test", "tests"), v


def test_a_distribution_installed_after_batty_last_looked_is_seen(tmp_path: Path) -> None:
    """What is installed (and what pytest's plugins import) is read once and kept in the control
    repository's .batty/cache (no sandbox shows it): 50 to 100 ms a verify of a new module
    otherwise. A distribution installed since, or finished in place, is seen by the next run:
    a new module in its name is a shadow of it. A kept list that says nothing is not taken."""
    import os
    import subprocess
    import sys

    site, cache, repo = tmp_path / "site", tmp_path / "repo" / ".batty" / "cache", tmp_path / "repo"
    site.mkdir()
    cache.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(site)}
    ask = ("import sys; from pathlib import Path; from batty.store import packets; packets.RACY_NS = 0\n"
           "from batty.workflow import runnerfiles as r; c = Path(sys.argv[1])\n"
           "print(r.shadows('fresh_dist', c), r.shadows('other_mod', c), r.shadows('sniffio', c))")

    def shadows() -> str:  # run in the repository, as cron runs batty: its folder first on sys.path
        return subprocess.run([sys.executable, "-c", ask, str(cache)], env=env, capture_output=True, text=True,
                              check=True, timeout=60, cwd=repo).stdout.strip()

    def kept() -> dict[str, str]:
        return {p.name: p.read_text() for p in cache.glob("*.json")}

    assert shadows() == "False False True"
    first = kept()
    assert sorted(first) == ["installed.json", "runner-imports.json"]
    (repo / "notes.txt").write_text("the repository's own files come and go\n")
    assert shadows() == "False False True"
    assert kept() == first, "read again: the key moved with the repository's folder"
    info = site / "fresh_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fresh-dist\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("fresh_dist\n")
    assert shadows() == "True False True"
    (info / "top_level.txt").write_text("fresh_dist\nother_mod\n")  # rewritten in place
    assert shadows() == "True True True"
    for name in first:  # a list that says nothing, under the right key: not taken
        data = json.loads((cache / name).read_text())
        (cache / name).write_text(json.dumps({"key": data["key"], "names": []}))
    assert shadows() == "True True True"
