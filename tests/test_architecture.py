"""The house (issue 13): the layers hold, the generated map is current, a command runs in-process
twice with the same result, and `--dry-run` is a plan that changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batty import runner
from tests.conftest import git
from tests.project import Project, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def reaper(tmp_path: Path) -> Iterator[None]:
    yield
    for run_json in tmp_path.rglob("run.json"):
        runner.stop(run_json.parent, grace_s=1)


def test_the_import_contracts_hold() -> None:
    """The layers, no click below the commands, a pure core, no import loops: the contracts in
    pyproject.toml, checked by import-linter as `make lint` runs it."""
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 kept, 0 broken" in proc.stdout


def test_the_generated_architecture_page_is_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bin" / "architecture"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_doctor_room_is_small() -> None:
    rooms = sorted((ROOT / "batty" / "workflow" / "doctor").glob("*.py"))
    assert len(rooms) >= 8
    sizes = {p.name: p.read_text().count("\n") for p in rooms}
    assert max(sizes.values()) <= 320, sizes


def in_process(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """batty's own main(), in this process, as the demo runs it."""
    from batty.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--repo", str(root), *args])
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), capsys.readouterr().out


def test_a_command_runs_in_process_twice_with_the_same_result(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    proj = Project(tmp_path / "p", seats=1)
    done = proj.task("lands", "succeed")
    proj.until(lambda: proj.status(done) == "done", what="the first task to land")
    capsys.readouterr()
    first = in_process(proj.root, "task", "list", "--json", capsys=capsys)
    second = in_process(proj.root, "task", "list", "--json", capsys=capsys)
    assert first == second and first[0] == 0
    assert [t["id"] for t in json.loads(first[1])] == [done]
    # a tick in-process twice, as `batty run` does: the same answer, and nothing of the first
    # tick's memos decides the second (its base moved: a task landed)
    proj.task("lands too", "succeed")
    assert in_process(proj.root, "tick", capsys=capsys)[0] == 0
    assert in_process(proj.root, "tick", capsys=capsys)[0] == 0


def test_reconcile_dry_run_plans_the_git_part_and_changes_nothing(tmp_path: Path) -> None:
    """A dry run used to skip the git part of reconcile; and that part stopped a running agent
    before it asked whether the run was dry. Now it is a plan: printed, nothing done."""
    proj = Project(tmp_path / "p", seats=1)
    task = proj.task("dragged to Done while its agent runs", "stall")
    proj.ok("dispatch")
    wait_for(lambda: proj.run_state(task) == "running", 15, "the agent to start")  # dispatch does not wait
    proj.ok("task", "move", task, "done", "--why", "done by hand")
    before = (proj.paths.events.read_bytes(), proj.base(), git(proj.root, "status", "--porcelain"))
    res = proj.ok("reconcile", "--dry-run")
    assert f"{task} is done: its worktree would go" in res.err
    assert proj.run_state(task) == "running"  # the agent was not stopped
    assert proj.paths.worktree(task).exists()
    assert (proj.paths.events.read_bytes(), proj.base(),
            git(proj.root, "status", "--porcelain")) == before
    res = proj.ok("reconcile")
    assert f"{task} is done: its worktree goes" in res.err
    assert not proj.paths.worktree(task).exists()
    assert proj.run_state(task) == "exited"


def test_merge_dry_run_prints_the_plan_for_every_reviewed_task(tmp_path: Path) -> None:
    proj = Project(tmp_path / "p", seats=2, config={"merge": {"mode": "approve"}})
    task = proj.task("waits for a person", "succeed")
    proj.until(lambda: proj.status(task) == "review", what="review")
    before = (proj.paths.events.read_bytes(), proj.paths.packet(task).read_bytes())
    res = proj.ok("merge", "--dry-run")
    assert f"would skip {task} (not-approved)" in res.out
    assert (proj.paths.events.read_bytes(), proj.paths.packet(task).read_bytes()) == before

