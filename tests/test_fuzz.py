"""The lifecycle as a state machine over the real commands (issue 8), and proof that its checks bite.

Three targets, each a hypothesis RuleBasedStateMachine over a sandbox repository driven by the
real CLI (`batty task add`, `batty tick`, a person's edits of BOARD.md, `batty escalations
resolve`) and real faults:

- happy: tasks that succeed, fail their tests once, wait on each other; a person moving cards;
- faults: besides, agents that stall, die, leave their scope, talk only, run out of context,
  conflict or touch protected paths; agents killed with SIGKILL; worktrees deleted or
  corrupted; branches deleted; stale index.lock files; packets turned to garbage and mended;
  the disk floor raised and lowered;
- restarts: besides, batty killed with SIGKILL at a failpoint, and three ticks at once.

After every step the ten invariants of tests/scenarios/invariants.py hold (those that hold only
after a reconcile or a doctor, when the last step was a tick that ran to its end); at the end
faults stop and ticks run to idle: nothing lost, every task done, or blocked with an open
escalation, or waiting on one that is.

Profiles: ``ci`` (the default; a few short, derandomized examples a target) and ``deep``
(``BATTY_FUZZ_PROFILE=deep``, what ``make fuzz`` runs: many long random ones).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from batty import runner
from batty.store import failpoints
from tests.conftest import GIT_ENV, git
from tests.scenarios.helpers import COMMIT, idle, make, on_attempt, once, packets, quiet, statuses
from tests.scenarios.invariants import Watch, load

# CI does not shrink (a failure prints its steps as found; `make fuzz` shrinks)
settings.register_profile("ci", max_examples=3, stateful_step_count=12, deadline=None, derandomize=True,
                          database=None, print_blob=True, phases=(Phase.explicit, Phase.generate),
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("deep", max_examples=40, stateful_step_count=30, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = os.environ.get("BATTY_FUZZ_PROFILE", "ci")

HAPPY = ("own-file", "fails-once", "depends")
FAULTY = HAPPY + ("stall-once", "die-once", "scope-once", "talk-once", "context-once", "conflict",
                  "protected")
DRAIN_TICKS = 40


def own(n: int) -> list[str]:
    return [f"printf 'X{n} = {n}\\n' > src/t{n}.py", COMMIT]


def script_for(kind: str, n: int, marks: Path) -> list[str]:
    """The agent script of a task of ``kind``; faults strike the first time only (``once``) or
    on attempt 1, and the next attempt starts again from the base (what the feedback asks)."""
    fresh = ["git reset -q --hard main", *own(n)]
    mark = marks / f"t{n}"
    if kind in ("own-file", "depends"):
        return own(n)
    if kind == "fails-once":
        return on_attempt(1, ["echo 'raise SystemExit(1)' >> src/app.py", COMMIT], fresh)
    if kind == "stall-once":
        return once(mark, ["echo 'working on it'", "sleep 86400"], own(n))
    if kind == "die-once":
        return once(mark, ["echo started", "kill -9 $(ps -o ppid= -p $PPID) $PPID"], own(n))
    if kind == "scope-once":
        return on_attempt(1, ["mkdir -p docs", f"echo {n} > docs/t{n}.md", COMMIT], fresh)
    if kind == "talk-once":
        return on_attempt(1, ["echo 'I would write it'"], fresh)
    if kind == "context-once":
        return on_attempt(1, ["echo 'BATTY: context exhausted'", "exit 3"], fresh)
    if kind == "conflict":
        edit = f"sed -i 's/return a + b.*/return a + b  # t{n}/' src/app.py"
        return on_attempt(1, [edit, COMMIT], ["git reset -q --hard main", edit, COMMIT])
    if kind == "protected":
        return ["echo '# touched' >> .github/workflows/ci.yml", COMMIT]
    raise AssertionError(kind)


class Lifecycle(RuleBasedStateMachine):
    """The happy target; the subclasses add faults and restarts."""

    kinds = HAPPY
    faults = False
    restarts = False

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="batty-fuzz-"))
        self.marks = self.tmp / "marks"
        self.marks.mkdir()
        self.proj, self.watch = make(self.tmp, seats=2, config={
            "gates": {"max_attempts": 2},
            "health": {"stall_after_s": 1, "respawn_cooldown_s": 0, "max_respawns": 1}})
        self.n = 0
        self.settled = True
        self.saved: dict[str, bytes] = {}   # garbled packets: what to mend them with
        self.disk_low = False
        self.crashes = 0

    # ------------------------------------------------------------------ helpers

    def batty(self, *args: str, env: dict[str, str] | None = None) -> Any:
        if os.environ.get("BATTY_FUZZ_TRACE"):
            print(f"{type(self).__name__} {self.tmp.name}: batty {' '.join(args[:3])} {env or ''}", flush=True)
        res = self.proj.batty(*args, env=env)
        assert "Traceback" not in res.err, res.err
        return res

    @staticmethod
    def pick(n: int, among: list[Any]) -> Any:
        """One of ``among`` by a drawn number: the draw is the same whatever the agents did
        meanwhile (a precondition or a draw from a list that timing changes would make
        hypothesis's replays flaky)."""
        return among[n % len(among)] if among else None

    def tasks(self, *statuses_: str) -> list[str]:
        return sorted(p.id for p in load(self.proj.paths) if not statuses_ or p.status.value in statuses_)

    def set_disk_floor(self, mb: int) -> None:
        """A person edits disk.min_free_mb (batty's next board commit takes the file along: a
        person's commit could fail on an index.lock a dead git left)."""
        import yaml

        path = self.proj.paths.config
        cfg = yaml.safe_load(path.read_text())
        cfg.setdefault("disk", {})["min_free_mb"] = mb
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def move_on_board(self, task: str, column: str) -> None:
        board = self.proj.paths.board_md
        text = board.read_text()
        card = next((line for line in text.splitlines() if line.startswith(("- [ ] ", "- [x] "))
                     and line.split()[3] == task), None)
        if card is None:
            return
        text = text.replace(card + "\n", "", 1)
        board.write_text(text.replace(f"## {column}\n", f"## {column}\n\n{card}\n", 1))
        self.settled = False

    # ------------------------------------------------------------------ the person

    @initialize()
    def first_task(self) -> None:
        self.add(self.kinds[0])

    @rule(kind=st.data())
    def add_task(self, kind: st.DataObject) -> None:
        self.add(kind.draw(st.sampled_from(self.kinds)))

    def add(self, kind: str) -> None:
        self.n += 1
        args = ["task", "add", f"t{self.n} {kind}"]
        for step in script_for(kind, self.n, self.marks):
            args += ["--script", step]
        args += ["--scope", "src/**"]
        if kind == "depends" and self.tasks():
            args += ["--depends", self.tasks()[-1]]
        res = self.batty(*args)
        assert res.code == 0, res.err

    @rule(pick=st.integers(0, 99))
    def person_moves_a_card(self, pick: int) -> None:
        task = self.pick(pick, self.tasks("todo", "backlog", "blocked"))
        if task is None:
            return
        status = statuses(self.proj)[task]
        self.move_on_board(task, {"todo": "Backlog", "backlog": "Todo", "blocked": "Todo"}[status])

    @rule()
    def person_resolves_an_escalation(self) -> None:
        listed = json.loads(self.batty("escalations", "--json").out)["escalations"]
        if listed:
            res = self.batty("escalations", "resolve", str(listed[0]["id"]), "--note", "try again")
            assert res.code == 0, res.err

    # ------------------------------------------------------------------ batty

    @rule()
    def tick(self) -> None:
        res = self.batty("tick", env=self.env())
        assert res.code in (0, 75), f"tick exited {res.code}: {res.err}"
        self.settled = res.code == 0

    @rule()
    def agents_work_then_tick(self) -> None:
        quiet(self.proj, 3)
        self.tick()

    @rule()
    def ticks_until_agents_rest(self) -> None:
        for _ in range(3):
            self.tick()
            if not self.settled:
                return
            quiet(self.proj, 3)

    def env(self) -> dict[str, str]:
        return {}

    # ------------------------------------------------------------------ the checks

    @invariant()
    def the_ten_invariants(self) -> None:
        self.check(settled=self.settled)

    def check(self, *, settled: bool, where: str = "") -> None:
        """The invariants; a failing sandbox is kept, with the processes that ran in it, for a
        look afterwards (a failure that depends on timing does not come back on replay)."""
        try:
            self.watch.check(settled=settled, where=where)
        except AssertionError as e:
            raise AssertionError(f"{e}\n(the sandbox is kept in {self.keep()})") from None

    def keep(self) -> Path:
        kept = Path(tempfile.gettempdir()) / f"batty-fuzz-failed-{self.tmp.name}"
        if not kept.exists():
            subprocess.run(["cp", "-a", str(self.tmp), str(kept)], check=False)
            ps = subprocess.run(["ps", "-eo", "pid,ppid,pgid,sid,lstart,args"], capture_output=True,
                                text=True).stdout
            (kept / "ps.txt").write_text("\n".join(line for line in ps.splitlines() if str(self.tmp) in line))
        return kept

    def teardown(self) -> None:
        try:
            if not getattr(self, "proj", None):
                return
            try:
                self.drain()
            except AssertionError as e:
                raise AssertionError(f"{e}\n(the sandbox is kept in {self.keep()})") from None
        finally:
            for run_json in self.tmp.rglob("run.json"):
                runner.stop(run_json.parent, grace_s=1)
            shutil.rmtree(self.tmp, ignore_errors=True)

    def drain(self) -> None:
        """Faults stop, ticks run to idle; then every task is accounted for."""
        for task, text in self.saved.items():
            self.proj.paths.packet(task).write_bytes(text)
        self.watch.garbled.clear()
        if self.disk_low:
            self.set_disk_floor(1)
        for _ in range(DRAIN_TICKS):
            res = self.batty("tick")
            assert res.code == 0, res.err
            self.check(settled=True, where="while draining")
            if idle(self.proj):
                break
            quiet(self.proj, 3)
        else:
            raise AssertionError(f"not idle after {DRAIN_TICKS} ticks: {statuses(self.proj)}")
        ps = packets(self.proj)
        for p in ps:
            if p.status.value == "blocked":
                assert any(e.get("state") == "open" for e in p.escalations), f"{p.id} blocked, nobody told"
            elif p.status.value == "done":
                n = int(p.title.split()[0][1:])
                if "conflict" in p.title or "protected" in p.title:
                    continue
                assert git(self.proj.root, "show", f"main:src/t{n}.py", check=False), f"{p.id}: its work is lost"
            else:
                assert p.status.value in ("backlog", "todo", "archived"), (p.id, p.status)


class Faults(Lifecycle):
    kinds = FAULTY
    faults = True

    def running(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for p in load(self.proj.paths):
            if p.status.value == "in-progress" and p.attempt:
                run = runner.read_run(self.proj.paths.run_dir(p.id, p.attempt)) or {}
                if run.get("exit_code") is None and run.get("pid") and run.get("agent_pid"):
                    out.append((p.id, run))
        return out

    @rule(pick=st.integers(0, 99))
    def kill_an_agent(self, pick: int) -> None:
        chosen = self.pick(pick, self.running())
        if chosen is None:
            return
        task, run = chosen
        for pid, group in ((run["pid"], False), (run["agent_pid"], True)):
            try:
                (os.killpg if group else os.kill)(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    @rule(pick=st.integers(0, 99), how=st.sampled_from(["delete", "corrupt", "branch"]))
    def break_a_worktree(self, pick: int, how: str) -> None:
        task = self.pick(pick, self.tasks("in-progress", "review"))
        if task is None:
            return
        wt = self.proj.paths.worktree(task)
        if how == "delete":
            shutil.rmtree(wt, ignore_errors=True)
        elif how == "corrupt":
            (wt / ".git").unlink(missing_ok=True)
        else:
            git(self.proj.root, "update-ref", "-d", f"refs/heads/batty/{task}", check=False)
        self.settled = False

    @rule(where=st.sampled_from(["control", "worktree"]))
    def a_git_dies_holding_its_lock(self, where: str) -> None:
        gitdir = self.proj.root / ".git"
        worktrees = sorted((gitdir / "worktrees").glob("T-*")) if where == "worktree" else []
        lock = (worktrees[0] if worktrees else gitdir) / "index.lock"
        lock.write_text("")
        old = time.time() - 120
        os.utime(lock, (old, old))

    @precondition(lambda self: not self.saved)
    @rule(pick=st.integers(0, 99))
    def garble_a_packet(self, pick: int) -> None:
        task = self.pick(pick, self.tasks())
        if task is None:
            return
        path = self.proj.paths.packet(task)
        self.saved[task] = path.read_bytes()
        path.write_bytes(b"id: " + task.encode() + b"\ntitle: [never closed\n\x00: :\n")
        self.watch.garbled.add(task)
        self.settled = False  # a person's edit: the board shows it after the next reconcile

    @precondition(lambda self: bool(self.saved))
    @rule()
    def mend_the_packet(self) -> None:
        for task, text in self.saved.items():
            self.proj.paths.packet(task).write_bytes(text)
            self.watch.garbled.discard(task)
        self.saved.clear()
        self.settled = False

    @rule()
    def disk_fills_or_frees(self) -> None:
        self.disk_low = not self.disk_low
        self.set_disk_floor((1 << 40) if self.disk_low else 1)


class Restarts(Faults):
    restarts = True

    @rule(point=st.sampled_from(failpoints.POINTS))
    def batty_is_killed_at(self, point: str) -> None:
        self.crashes += 1
        env = {"BATTY_FAILPOINT": point, "BATTY_FAILPOINT_ONCE": str(self.tmp / f"fired-{self.crashes}")}
        res = self.batty("tick", env=env)
        assert res.code in (0, 75, -signal.SIGKILL), f"tick exited {res.code}: {res.err}"
        self.settled = res.code == 0

    @rule()
    def three_ticks_at_once(self) -> None:
        cmd = [sys.executable, "-m", "batty", "--repo", str(self.proj.root), "tick"]
        procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode in (0, 75), err
            assert "Traceback" not in err, err
        self.settled = False  # each step of a tick may have been skipped as busy


TestHappy = Lifecycle.TestCase
TestFaults = Faults.TestCase
TestRestarts = Restarts.TestCase
TestHappy.settings = TestFaults.settings = TestRestarts.settings = settings.get_profile(PROFILE)


# ------------------------------------------------------------------ the checks bite


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sandbox where one task landed and one waits in todo: the state the bite tests break."""
    root = tmp_path_factory.mktemp("bite")
    env = {**os.environ, **GIT_ENV, "HOME": str(root)}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        proj, watch = make(root)
        proj.task("Lands", own(1))
        proj.task("Waits", own(2), status="backlog")
        for _ in range(10):
            proj.batty("tick")
            if statuses(proj).get("T-1") == "done":
                break
            quiet(proj)
        assert statuses(proj) == {"T-1": "done", "T-2": "backlog"}
        assert watch.violations() == []
    finally:
        os.environ.clear()
        os.environ.update(old)
    return proj.root


@pytest.fixture
def sandbox(finished: Path, tmp_path: Path) -> Watch:
    root = tmp_path / "proj"
    shutil.copytree(finished, root, symlinks=True)
    from batty.store.paths import Paths

    w = Watch(Paths(root), test=f"{sys.executable} -c \"import sys; sys.path.insert(0, 'src'); import app\"")
    assert w.violations() == []
    return w


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def event(w: Watch, **fields: Any) -> None:
    from batty.store.events import new_id

    with open(w.paths.events, "a") as f:
        f.write(json.dumps({"id": new_id(), "ts": "2026-01-01T00:00:00+00:00", "task": None, **fields}) + "\n")


def bites(w: Watch, number: int) -> list[str]:
    found = [v for v in w.violations() if v.startswith(f"({number})")]
    assert found, f"invariant ({number}) did not see the broken state"
    return found


def test_1_a_bad_packet_and_a_move_the_lifecycle_forbids(sandbox: Watch) -> None:
    sandbox.paths.packet("T-2").write_text("id: T-2\ntitle: [\n")
    assert any("T-2.yaml" in v for v in bites(sandbox, 1))
    sandbox.garbled.add("T-2")
    assert not [v for v in sandbox.violations() if v.startswith("(1)")]
    event(sandbox, kind="task.status", task="T-1", data={"from": "done", "to": "in-progress", "by": "dispatch"})
    assert any("does not allow" in v for v in bites(sandbox, 1))


def test_2_two_agents_in_one_worktree(sandbox: Watch) -> None:
    folder = sandbox.paths.worktree("T-2")
    folder.mkdir(parents=True)
    procs = [subprocess.Popen(["sleep", "30"], cwd=folder, start_new_session=True) for _ in range(2)]
    try:
        assert any("T-2" in v for v in bites(sandbox, 2))
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_3_one_seat_two_tasks(sandbox: Watch) -> None:
    for task in ("T-1", "T-2"):
        path = sandbox.paths.packet(task)
        text = path.read_text()
        status = next(line for line in text.splitlines() if line.startswith("status:"))
        text = text.replace(status, "status: in-progress")
        if "assignee:" not in text:
            text += "assignee: eng-1\n"
        path.write_text(text.replace("assignee: eng-2", "assignee: eng-1"))
    assert any("eng-1" in v for v in bites(sandbox, 3))


def test_4_the_base_moved_to_a_tree_no_gate_passed(sandbox: Watch) -> None:
    root = sandbox.paths.root
    (root / "src" / "app.py").write_text("raise SystemExit(1)\n")
    git(root, "commit", "-qam", "a person's broken commit on main")
    found = bites(sandbox, 4)
    assert any("no gate passed" in v for v in found) and any("tests fail" in v for v in found)


def test_5_done_without_its_evidence(sandbox: Watch) -> None:
    [result] = (sandbox.paths.state / "evidence" / "T-1").glob("*/result.json")
    data = json.loads(result.read_text())
    result.write_text(json.dumps({**data, "result": "fail"}))
    assert any("T-1" in v for v in bites(sandbox, 5))


def test_6_the_board_hides_a_packet(sandbox: Watch) -> None:
    board = sandbox.paths.board_md
    text = board.read_text()
    card = next(line for line in text.splitlines() if " T-2 " in line)
    board.write_text(text.replace(card + "\n", ""))
    assert any("T-2" in v for v in bites(sandbox, 6))


def test_7_a_status_without_its_event(sandbox: Watch) -> None:
    edit(sandbox.paths.packet("T-2"), "status: backlog", "status: todo")
    assert any("T-2 is todo" in v for v in bites(sandbox, 7))


def test_8_a_torn_log_and_an_id_used_twice(sandbox: Watch) -> None:
    with open(sandbox.paths.events, "a") as f:
        f.write('{"id": "torn once"\n')
    assert not [v for v in sandbox.violations() if v.startswith("(8)")]  # one torn line is allowed
    with open(sandbox.paths.events, "a") as f:
        f.write('{"id": "torn twice"\n')
    bites(sandbox, 8)
    lines = sandbox.paths.events.read_text().splitlines()
    with open(sandbox.paths.events, "a") as f:
        f.write(lines[0] + "\n")
    assert any("used twice" in v for v in bites(sandbox, 8))


def test_9_a_branch_and_a_run_without_a_task(sandbox: Watch) -> None:
    git(sandbox.paths.root, "branch", "batty/T-99", "main")
    (sandbox.paths.state / "runs" / "T-77").mkdir(parents=True)
    found = bites(sandbox, 9)
    assert any("batty/T-99" in v for v in found) and any("T-77" in v for v in found)


HOLDER = """
import os, subprocess, sys, time
from pathlib import Path
from batty.store import locks
with locks.hold(Path(sys.argv[1]), "merge", cmd="merge"):
    fd = next(int(n) for n in os.listdir("/proc/self/fd")
              if os.path.realpath(f"/proc/self/fd/{n}").endswith("merge.lock"))
    child = subprocess.Popen(["sleep", "60"], pass_fds=[fd], start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(60)
"""


def test_10_a_lock_held_after_its_taker_exited(sandbox: Watch) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(sandbox.paths.state)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    child = int(holder.stdout.readline())
    try:
        holder.kill()
        holder.wait()
        assert any("merge lock" in v for v in bites(sandbox, 10))
    finally:
        os.kill(child, signal.SIGKILL)
