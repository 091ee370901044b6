"""Crash-only, proven (issue 5): batty killed with SIGKILL at every failpoint, then ticked until
idle, ends where a clean run ends; and 16 ticks at once keep every invariant."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil
import pytest

from batty import failpoints
from tests.conftest import git
from tests.project import Project

FAST_TEST = f"{sys.executable} -c \"import sys; sys.path.insert(0, 'src'); import app; assert app.add(2, 3) == 5\""


def scenario(root: Path) -> Project:
    proj = Project(root, seats=2, config={"gates": {"test": FAST_TEST, "max_attempts": 3},
                                          "health": {"stall_after_s": 5, "respawn_cooldown_s": 1}})
    proj.task("Greet", ["printf 'def greet():\\n    return 1\\n' > src/greet.py", "git add -A && (git commit -qm greet || true)"])
    proj.task("Fails once", ['if [ "$BATTY_ATTEMPT" = 1 ]; then echo "raise SystemExit(1)" >> src/app.py; '
                             'else printf "X = 1\\n" > src/once.py; fi', "git add -A && (git commit -qm once || true)"])
    proj.task("Third", ["printf 'Y = 2\\n' > src/third.py", "git add -A && (git commit -qm third || true)"], depends="T-1")
    return proj


def settle(proj: Project, env: dict[str, str] | None = None, limit: int = 80) -> None:
    for _ in range(limit):
        res = proj.batty("tick", env=env or {})
        assert res.code in (0, 75, -9), res.err
        if env:
            return
        if all(p["status"] in ("done", "blocked") for p in json.loads(proj.ok("task", "list", "--json").out)):
            res = proj.batty("tick")  # one more: reconcile and doctor see the end state
            return
        import time

        time.sleep(0.2)
    raise AssertionError("the board did not settle")


def end_state(proj: Project) -> dict:
    packets = json.loads(proj.ok("task", "list", "--json").out)
    files = sorted(git(proj.root, "ls-tree", "-r", "--name-only", "main", "src").splitlines())
    contents = {f: git(proj.root, "show", f"main:{f}") for f in files}
    return {"status": {p["id"]: p["status"] for p in packets}, "src": contents}


def live_agents(proj: Project) -> list[int]:
    out = []
    for p in psutil.process_iter(["cwd", "cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and str(proj.paths.worktrees) in (p.info["cwd"] or ""):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict:
    proj = scenario(tmp_path_factory.mktemp("clean") / "proj")
    settle(proj)
    return end_state(proj)


def test_every_failpoint_is_in_the_code() -> None:
    from batty.core.kinds import DoctorAction

    root = Path(__file__).resolve().parent.parent / "batty"
    found = set()
    for f in root.rglob("*.py"):
        text = f.read_text()
        found |= set(re.findall(r'failpoints\.point\("([^"]+)"\)', text))
        if 'failpoints.point(f"doctor.{f.action.value}.after-heal")' in text:  # doctor.apply
            found |= {f"doctor.{a.value}.after-heal" for a in DoctorAction}
    assert found == set(failpoints.POINTS)


@pytest.mark.parametrize("point", failpoints.POINTS)
def test_a_crash_at_each_failpoint_converges(point: str, tmp_path: Path, clean: dict) -> None:
    proj = scenario(tmp_path / "proj")
    mark = tmp_path / "fired"
    armed = {"BATTY_FAILPOINT": point, "BATTY_FAILPOINT_ONCE": str(mark)}
    for _ in range(40):  # tick with the failpoint armed until batty has died there once
        res = proj.batty("tick", env=armed)
        assert res.code in (0, 75, -9), res.err
        if mark.exists():
            break
    assert mark.exists(), f"the failpoint {point} was never reached"
    settle(proj)
    assert end_state(proj) == clean
    assert live_agents(proj) == []
    events = proj.events()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    merged = Counter(e["task"] for e in events if e["kind"] == "merge.merged")
    assert all(n == 1 for n in merged.values()), merged
    dispatched = Counter((e["task"], e["attempt"]) for e in events if e["kind"] == "task.dispatched")
    assert all(n == 1 for n in dispatched.values()), dispatched
    assert proj.ok("task", "lint").code == 0


def test_sixteen_ticks_at_once(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=3, config={"gates": {"test": FAST_TEST}})
    for i in range(6):
        proj.task(f"Module {i}", [f"printf 'X = {i}\\n' > src/m{i}.py", "git add -A && git commit -qm m"])
    for _round in range(4):
        procs = [subprocess.Popen([sys.executable, "-m", "batty", "--repo", str(proj.root), "tick"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(16)]
        codes = [(p.wait(timeout=300), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
        assert all(code in (0, 75) for code, _ in codes), [c for c in codes if c[0] not in (0, 75)]
        packets = json.loads(proj.ok("task", "list", "--json").out)
        assert len(packets) == 6 and proj.ok("task", "lint").code == 0
        seats = Counter(p["assignee"] for p in packets if p["status"] == "in-progress" and p["assignee"])
        assert all(n == 1 for n in seats.values()), seats
        dispatched = Counter((e["task"], e["attempt"]) for e in proj.events("task.dispatched"))
        assert all(n == 1 for n in dispatched.values()), dispatched
        started = Counter((e["task"], e["attempt"]) for e in proj.events("agent.started"))
        assert all(n == 1 for n in started.values()), started
    from batty.store import locks

    for lock in proj.paths.locks.glob("*.lock"):
        assert not locks.is_held(proj.paths.state, lock.stem), lock
