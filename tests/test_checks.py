"""The gate's test runs (issues 15.2, 20, 21; SPEC 8, 14): a run proves it ran the suite, named
checks, flaky reruns and the quarantine, no test run twice on one tree, and the change's own
tests in a run of their own. Real git, real pytest, the scripted agent."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import git
from tests.project import PYTEST as SAMPLE_PYTEST
from tests.project import Project

COMMIT = "git add -A && git commit -qm change"
BREAK_ADD = "sed -i 's/return a + b/return a - b/' src/app.py"
# the sample project's pytest, without the venv's plugins (tests/project.py): these tests are
# about batty's checks, not the plugins; the runs with them are tests/scenarios/test_reward_hacking.py's
PYTEST = f"{SAMPLE_PYTEST} tests"


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj", seats=4)


def commit_file(proj: Project, path: str, text: str) -> None:
    (proj.root / path).parent.mkdir(parents=True, exist_ok=True)
    (proj.root / path).write_text(text)
    git(proj.root, "add", path)
    git(proj.root, "commit", "-qm", f"add {path}")


def verdict(proj: Project, tid: str) -> tuple[dict, dict]:
    proj.ok("dispatch")
    proj.wait_exited(tid)
    proj.ok("verify")
    p = proj.packet(tid)
    return p, json.loads((proj.root / p["verification"]["evidence"] / "result.json").read_text())


def put(path: str, text: str) -> str:
    return f"mkdir -p $(dirname {path}) && printf %s {shlex.quote(text)} > {path}"


def phases(proj: Project, tid: str) -> list[tuple[str, str]]:
    return [(e["data"]["phase"], e["data"]["result"]) for e in proj.events("verify.phase", tid)]


def counter_test(counter: Path) -> str:
    return f"echo run >> {counter}; {PYTEST}"


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


# ------------------------------------------------------------------ a run proves it ran the suite


def test_os_exit_0_at_import_fails_for_want_of_a_report(proj: Project) -> None:
    """The code under test ends the process with exit 0 before pytest can report: exit 0 alone
    passed before."""
    tid = proj.task("Exit at import", ["printf 'import os\\nos._exit(0)\\n' >> src/app.py", COMMIT])
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["phase"], v["reason"]) == ("fail", "test", "no-report"), v
    assert result["exit_code"] == 0 and result["counts"] is None
    assert "wrote no test report" in p["feedback"]


def test_a_collect_only_run_fails_as_no_test_run(proj: Project) -> None:
    """pytest --collect-only exits 0 and runs nothing: the report says so."""
    proj.configure({"gates": {"test": PYTEST + " --collect-only"}})
    tid = proj.task("Edit", "succeed")
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["reason"]) == ("fail", "no-tests"), v
    assert result["exit_code"] == 0 and result["counts"]["ran"] == 0
    assert "executed no test" in p["feedback"]


def test_addopts_collect_only_from_the_branch_is_refused(proj: Project) -> None:
    """An agent appends `addopts = --collect-only` and breaks the code. (Issue 15's runner files
    may refuse the pyproject.toml change before the test step; when the step runs, its report
    shows that nothing ran.)"""
    toml = '[tool.pytest.ini_options]\naddopts = "--collect-only"\n'
    before = proj.code()
    tid = proj.task("Collect only", [BREAK_ADD, put("pyproject.toml", toml), COMMIT], scope=[])
    p, _ = verdict(proj, tid)
    v = p["verification"]
    assert v["result"] == "fail" and proj.status(tid) == "in-progress", v
    if v["phase"] == "test":
        assert v["reason"] in ("no-tests", "tests"), v
    proj.ok("merge")
    assert proj.code() == before


def test_a_test_that_passed_on_the_base_and_is_skipped_now_fails(proj: Project) -> None:
    """The code under test skips a test from inside (pytest.skip): the run still exits 0 with the
    other test passing, but the base's last passing run of the command ran it."""
    first = proj.task("An honest change", "succeed")
    verdict(proj, first)
    proj.ok("merge")
    assert proj.status(first) == "done"
    skip_add = ("def add(a, b):\n    import pytest\n    pytest.skip('not today')\n")
    tid = proj.task("Skip the test of add", [put("src/app.py", skip_add), COMMIT])
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["reason"]) == ("fail", "fewer-tests"), v
    assert result["counts"]["skipped"] == 1 and result["counts"]["passed"] == 1
    assert "tests/test_app.py::test_add" in p["feedback"]


# ------------------------------------------------------------------ the change's own tests


NEW_TEST = "import sys\nsys.path.insert(0, 'src')\n\n\ndef test_{name}():\n    import app\n    assert {expr}\n"


def test_a_new_failing_test_is_refused_at_verify_and_named(proj: Project) -> None:
    tid = proj.task("Bring a failing test", [
        put("tests/test_new.py", NEW_TEST.format(name="wrong", expr="app.add(1, 1) == 3")), COMMIT], scope=[])
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["phase"], v["reason"]) == ("fail", "test", "own-tests"), v
    assert "tests/test_new.py::test_wrong" in p["feedback"]
    assert result["checks"][0]["result"] == "pass"  # the trusted suite passed
    assert result["own_tests"]["counts"]["failed"] == 1
    assert ("own-tests", "fail") in phases(proj, tid)


def test_a_new_passing_test_is_run_counted_and_credited(proj: Project) -> None:
    tid = proj.task("Bring a passing test", [
        "echo '# edited' >> src/app.py",
        put("src/test_more.py", NEW_TEST.format(name="more", expr="app.add(1, 1) == 2")), COMMIT])
    p, result = verdict(proj, tid)
    assert p["status"] == "review", p.get("feedback")
    assert result["own_test_files"] == ["src/test_more.py"]
    own = result["own_tests"]["counts"]
    assert own["ran"] == 1 and own["passed"] == 1
    assert result["counts"]["ran"] == 2  # the trusted run: the base's two tests, not the new one
    assert p["verification"]["own_tests"] == 1
    proj.ok("merge")
    p = proj.packet(tid)
    assert p["status"] == "done" and p["merge"]["parts"] == {"own_tests": 0.05}
    assert p["merge"]["confidence"] == 1.0


@pytest.mark.parametrize("where", ["tests/test_zz_patch.py", "src/test_patch.py"])
def test_a_new_test_module_patching_the_code_cannot_make_the_trusted_run_pass(proj: Project, where: str) -> None:
    patch = ("import sys\nsys.path.insert(0, 'src')\nimport app\napp.add = lambda a, b: a + b\n\n\n"
             "def test_fine():\n    pass\n")
    tid = proj.task("Break add, patch it back from a test", [BREAK_ADD, put(where, patch), COMMIT], scope=[])
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["reason"]) == ("fail", "tests"), v
    assert "tests/test_app.py::test_add" in p["feedback"]
    assert where in result["trusted_restored"]
    proj.ok("merge")
    assert "a - b" not in git(proj.root, "show", "main:src/app.py")


def test_a_new_conftest_is_part_of_neither_run(proj: Project) -> None:
    conftest = "def pytest_collection_modifyitems(items):\n    items.clear()\n"
    tid = proj.task("A conftest that empties the run", [
        put("tests/conftest.py", conftest),
        put("tests/test_new.py", NEW_TEST.format(name="wrong", expr="False")), COMMIT], scope=[])
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert v["result"] == "fail", v
    if v["phase"] == "test":  # (issue 15 may refuse a new conftest.py at the fence already)
        assert v["reason"] == "own-tests", v
        assert "tests/test_new.py::test_wrong" in p["feedback"]
        assert "tests/conftest.py" in result["trusted_restored"]


# ------------------------------------------------------------------ named checks


def test_two_checks_one_advisory_failing(proj: Project) -> None:
    proj.configure({"gates": {"checks": [
        {"name": "lint", "run": "echo 'E501 line too long (LINT-MARK)'; exit 1", "required": False, "on_merge": False},
        {"name": "test", "run": PYTEST}]}})
    tid = proj.task("Edit", "succeed")
    p, result = verdict(proj, tid)
    assert p["status"] == "review", p.get("feedback")
    assert phases(proj, tid)[2:4] == [("check:lint", "advisory-fail"), ("check:test", "pass")]
    lint, test = result["checks"]
    assert (lint["check"], lint["result"], lint["required"], lint["exit_code"]) == ("lint", "fail", False, 1)
    assert test["result"] == "pass" and test["counts"]["passed"] == 2
    assert "LINT-MARK" in (proj.root / p["verification"]["evidence"] / "check-lint.log").read_text()


def test_a_required_check_failing_is_named_with_its_output(proj: Project) -> None:
    proj.configure({"gates": {"reruns": 0, "checks": [
        {"name": "typecheck", "run": "echo 'error: Incompatible types (TYPE-MARK)'; exit 1"},
        {"name": "test", "run": PYTEST}]}})
    tid = proj.task("Edit", "succeed")
    p, result = verdict(proj, tid)
    assert p["verification"]["reason"] == "tests"
    assert "check `typecheck` failed" in p["feedback"] and "TYPE-MARK" in p["feedback"]
    assert [c["check"] for c in result["checks"]] == ["typecheck"]  # the next checks did not run


# ------------------------------------------------------------------ flaky tests and the quarantine


FLAKY = '''from pathlib import Path

MARK = Path({mark!r})


def test_flaky():
    if {when} and not MARK.exists():
        MARK.write_text("failed once")
        raise AssertionError("flaky: fails the first time")
'''


def test_a_test_that_fails_once_then_passes_is_flaky(proj: Project, tmp_path: Path) -> None:
    commit_file(proj, "tests/test_flaky.py", FLAKY.format(mark=str(proj.shared / "mark"), when="True"))
    tid = proj.task("Edit", "succeed")
    p, result = verdict(proj, tid)
    assert p["status"] == "review", p.get("feedback")
    (ev,) = proj.events("verify.flaky", tid)
    assert ev["data"] == {"check": "test", "tests": ["tests/test_flaky.py::test_flaky"]}
    test = result["checks"][0]
    assert test["flaky"] == ["tests/test_flaky.py::test_flaky"] and test["runs"] == 2
    assert result["flaky"] == ["tests/test_flaky.py::test_flaky"]
    evidence = proj.root / p["verification"]["evidence"]
    assert "1 passed, 2 deselected" in (evidence / "test-rerun1.log").read_text()  # the failed test only
    rows = json.loads(proj.ok("stats", "--json").out)
    flaky = {r["test"]: r for r in rows["flaky_tests"]}
    assert flaky["tests/test_flaky.py::test_flaky"]["flakes"] == 1


def test_a_quarantined_test_does_not_block_until_its_date_passes(proj: Project) -> None:
    proj.configure({"gates": {"reruns": 0}})
    commit_file(proj, "tests/test_broken.py", "def test_broken():\n    assert False, 'BROKEN-MARK'\n")
    res = proj.ok("flaky", "add", "tests/test_broken.py::test_broken", "--until", "2026-12-31",
                  "--why", "fails since the upgrade")
    assert "quarantined until 2026-12-31" in res.out + res.err
    assert git(proj.root, "status", "--porcelain", "board/") == ""  # committed to the base
    listed = json.loads(proj.ok("flaky", "list", "--json").out)["quarantined"]
    assert [e["test"] for e in listed] == ["tests/test_broken.py::test_broken"]
    env = {"BATTY_NOW": "2026-12-31T12:00:00+00:00"}
    first = proj.task("Edit", "succeed")
    proj.ok("dispatch")
    proj.wait_exited(first)
    proj.ok("verify", env=env)
    p = proj.packet(first)
    assert p["status"] == "review", p.get("feedback")
    result = json.loads((proj.root / p["verification"]["evidence"] / "result.json").read_text())
    assert result["quarantined"] == ["tests/test_broken.py::test_broken"]
    assert ("check:test", "pass") in phases(proj, first)
    second = proj.task("Edit again", ["echo '# again' >> src/app.py", COMMIT])
    proj.ok("dispatch")
    proj.wait_exited(second)
    proj.ok("verify", env={"BATTY_NOW": "2027-01-01T00:00:01+00:00"})  # expired
    p = proj.packet(second)
    assert p["verification"]["reason"] == "tests"
    assert "tests/test_broken.py::test_broken" in p["feedback"] and "BROKEN-MARK" in p["feedback"]
    proj.ok("flaky", "remove", "tests/test_broken.py::test_broken")
    assert json.loads(proj.ok("flaky", "list", "--json").out)["quarantined"] == []


def test_a_bad_quarantine_entry_is_refused_in_one_line(proj: Project) -> None:
    res = proj.batty("flaky", "add", "tests/x.py::t", "--until", "someday")
    assert res.code == 1 and res.err.strip() == "batty: --until 'someday' is not a date (YYYY-MM-DD)"


def test_a_batch_with_one_flaky_failure_lands_every_task(proj: Project, tmp_path: Path) -> None:
    """The flaky test fails once in the merge run only: no task is evicted, one run and a rerun."""
    commit_file(proj, "tests/test_flaky.py",
                FLAKY.format(mark=str(proj.shared / "mark"), when="'/scratch/merge-' in str(Path.cwd())"))
    counter = proj.shared / "runs.txt"
    proj.configure({"merge": {"batch": 4}, "gates": {"test": counter_test(counter)}})
    ids = [proj.task(f"Module {i}", [put(f"src/m{i}.py", f"X = {i}\n"), COMMIT]) for i in range(4)]
    proj.ok("dispatch")
    for t in ids:
        proj.wait_exited(t)
    proj.ok("verify")
    assert [proj.status(t) for t in ids] == ["review"] * 4
    verified = runs(counter)
    proj.ok("merge")
    assert [proj.status(t) for t in ids] == ["done"] * 4
    assert proj.events("merge.skipped") == []
    assert runs(counter) - verified == 2  # the batch's run and the rerun of the flaky test
    (ev,) = proj.events("verify.flaky")
    assert ev["data"]["where"] == "merge" and ev["data"]["tests"] == ["tests/test_flaky.py::test_flaky"]


# ------------------------------------------------------------------ no test run twice on one tree


def test_merge_reuses_verify_s_run_when_the_base_did_not_move(proj: Project, tmp_path: Path) -> None:
    counter = proj.shared / "runs.txt"
    proj.configure({"gates": {"test": counter_test(counter)}})
    tid = proj.task("Edit", "succeed")
    verdict(proj, tid)
    proj.ok("task", "add", "A board commit meanwhile")  # batty's own board commit moves the base
    verified = runs(counter)
    proj.ok("merge")
    p = proj.packet(tid)
    assert p["status"] == "done"
    assert runs(counter) == verified  # no second run
    (merged,) = proj.events("merge.merged", tid)
    assert merged["data"]["reused"] is True
    assert merged["data"]["relied_on"] == p["verification"]["evidence"] == p["merge"]["reused"]


def test_merge_runs_again_when_the_base_moved(proj: Project, tmp_path: Path) -> None:
    counter = proj.shared / "runs.txt"
    proj.configure({"gates": {"test": counter_test(counter)}})
    tid = proj.task("Edit", "succeed")
    verdict(proj, tid)
    commit_file(proj, "src/other.py", "Y = 1\n")  # a person's change to the code
    verified = runs(counter)
    proj.ok("merge")
    assert proj.status(tid) == "done"
    assert runs(counter) == verified + 1
    (merged,) = proj.events("merge.merged", tid)
    assert "reused" not in merged["data"]


def test_merge_runs_again_when_the_test_command_changed(proj: Project, tmp_path: Path) -> None:
    counter = proj.shared / "runs.txt"
    proj.configure({"gates": {"test": counter_test(counter)}})
    tid = proj.task("Edit", "succeed")
    verdict(proj, tid)
    proj.configure({"gates": {"test": counter_test(counter) + " -q"}})
    verified = runs(counter)
    proj.ok("merge")
    assert proj.status(tid) == "done" and runs(counter) == verified + 1


# ------------------------------------------------------------------ other runners, bad config


JUNIT = ("<testsuite><testcase classname='suite' name='ok'/>"
         "<testcase classname='suite' name='broken'><failure message='no'/></testcase></testsuite>")


def test_a_junit_report_names_the_failed_test_and_a_missing_one_fails(proj: Project) -> None:
    write = f"printf %s {shlex.quote(JUNIT)} > build/junit.xml; exit 1"
    proj.configure({"gates": {"reruns": 0, "checks": [
        {"name": "unit", "run": f"mkdir -p build; {write}", "report": "junit:build/junit.xml"}]}})
    tid = proj.task("Edit", "succeed")
    p, result = verdict(proj, tid)
    assert p["verification"]["reason"] == "tests"
    assert "suite::broken" in p["feedback"]
    assert result["checks"][0]["counts"]["ran"] == 2
    # a command that exits 0 and writes no report proves nothing
    proj.configure({"gates": {"checks": [{"name": "unit", "run": "true", "report": "junit:build/junit.xml"}]}})
    second = proj.task("Edit again", ["echo '# again' >> src/app.py", COMMIT])
    p, _ = verdict(proj, second)
    assert p["verification"]["reason"] == "no-report"


def test_a_bad_check_is_refused_in_one_line_with_its_line(proj: Project) -> None:
    proj.configure({"gates": {"checks": [{"name": "lint"}]}})
    lines = proj.paths.config.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "name: lint" in text)
    res = proj.batty("task", "lint")
    assert res.code == 1, res.err
    assert res.err.strip() == f"batty: board/config.yaml:{line}: check lint: run must be a command (run: pytest -q)"


def test_a_module_that_fails_at_import_is_a_test_failure(proj: Project) -> None:
    """A test module that cannot be imported: pytest's collection error, reason tests (not
    no-tests), its error in the feedback."""
    tid = proj.task("Break at import", ["echo 'raise ImportError(\"IMPORT-MARK\")' > src/app.py", COMMIT])
    proj.configure({"gates": {"reruns": 0}})
    commit_file(proj, "tests/test_top.py", "import sys\nsys.path.insert(0, 'src')\nimport app  # noqa\n\n\n"
                "def test_top():\n    pass\n")
    p, result = verdict(proj, tid)
    assert p["verification"]["reason"] == "tests", p["verification"]
    assert "collection error" in p["feedback"] and "IMPORT-MARK" in p["feedback"]
    assert result["counts"]["collect_errors"] == 1


def test_a_session_ended_early_with_exit_0_is_incomplete(proj: Project) -> None:
    """The code under test calls pytest.exit(returncode=0) in the middle of the run: pytest
    reports, but a test it selected never ran."""
    tid = proj.task("End the session", [
        put("src/zz_exit.py", "import pytest\n\npytest.exit('done early', returncode=0)\n"), COMMIT])
    p, result = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["reason"]) == ("fail", "incomplete"), v
    assert result["exit_code"] == 0 and result["counts"]["ran"] == 1 and result["counts"]["selected"] == 2


def test_what_the_trusted_run_leaves_never_reaches_the_own_tests_run(proj: Project) -> None:
    """The code under test, run by the trusted suite, plants a conftest.py that empties every
    later run in its checkout: the change's own (failing) test still runs, in a checkout of its
    own."""
    plant = ("from pathlib import Path\n"
             "if '/scratch/' in str(Path.cwd()):\n"
             "    Path('conftest.py').write_text('def pytest_collection_modifyitems(items):\\n"
             "    for i in items:\\n        i.add_marker(__import__(\"pytest\").mark.skip)\\n')\n")
    tid = proj.task("Plant a conftest from the code", [
        put("src/zz_plant.py", plant),
        put("tests/test_new.py", NEW_TEST.format(name="wrong", expr="False")), COMMIT], scope=[])
    p, _ = verdict(proj, tid)
    v = p["verification"]
    assert (v["result"], v["reason"]) == ("fail", "own-tests"), v
    assert "tests/test_new.py::test_wrong" in p["feedback"]
