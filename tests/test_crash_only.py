"""Crash-only, proven (issue 5): batty killed with SIGKILL at every failpoint, at its first hit
and again at its second, then ticked until idle, ends where a clean run ends; and 16 ticks at
once keep every invariant.

Each failpoint belongs to a scenario that reaches it: the work of three tasks (dispatch, verify,
merge, the runner, the board), the repository's faults (stale git and batty locks, worktrees
without folders or folders without worktrees, orphan branches and runs), tampered git settings,
tasks left in progress with something broken (requeue, re-add, repair, switch, restore), an agent
that stalls (respawn), agents out of context or failing (context reset, escalation) and one past
its runtime. A scenario's template is made once and copied for each case (the faults that hold
absolute paths, worktrees, are planted in the copy). Each case arms its point, ticks until the
point fired (a point never reached fails the case), arms its second hit and ticks on, then ticks
until idle and compares with the scenario's clean run: the packets' statuses, the base tree but
board/, the branches' trees, the worktrees, nothing left half done, no live agent, and no event
duplicated but the ones in flight at a crash (one a crash).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import psutil
import pytest

from batty.agents.behaviours import CONTEXT_MARKER
from batty.store import failpoints
from batty.store.paths import Paths
from tests.conftest import git
from tests.project import Project, agents_work

# the sweep's cases are among the longest: run first (tests/conftest.py)
pytestmark = pytest.mark.slow
# Between ticks the sweep waits this long at most while an agent works (tests/project.py): its
# out-of-context and stalled agents never exit by themselves, and only time shows a stall.
AGENT_WAIT_S = 1.0
FAST_TEST = f"{sys.executable} -c \"import sys; sys.path.insert(0, 'src'); import app; assert app.add(2, 3) == 5\""
OLD = time.time() - 600  # a stale lock's mtime (doctor.GIT_LOCK_AGE_S is a minute)


def commit(path: str, text: str, message: str) -> list[str]:
    return [f"mkdir -p {os.path.dirname(path) or '.'} && printf '{text}\\n' > {path}",
            f"git add -A && (git commit -qm '{message}' || true)"]


def in_progress(proj: Project, tid: str) -> None:
    """A packet left in progress with no attempt and no seat (by a crash, or a person's edit)."""
    path = proj.paths.packet(tid)
    path.write_text(path.read_text().replace("status: todo", "status: in-progress"))
    git(proj.root, "commit", "-qm", f"{tid} in progress", "--", str(path))


# ------------------------------------------------------------------ the scenarios


def work(root: Path) -> Project:
    """Three tasks: one lands, one fails once, one waits for the first."""
    proj = Project(root, seats=2, config={"gates": {"test": FAST_TEST, "max_attempts": 3},
                                          "health": {"stall_after_s": 5, "respawn_cooldown_s": 1}})
    proj.task("Greet", ["printf 'def greet():\\n    return 1\\n' > src/greet.py", "git add -A && (git commit -qm greet || true)"])
    proj.task("Fails once", ['if [ "$BATTY_ATTEMPT" = 1 ]; then echo "raise SystemExit(1)" >> src/app.py; '
                             'else git reset -q --hard main && printf "X = 1\\n" > src/once.py; fi',
                             "git add -A && (git commit -qm once || true)"])
    proj.task("Third", ["printf 'Y = 2\\n' > src/third.py", "git add -A && (git commit -qm third || true)"], depends="T-1")
    return proj


def dead_run(proj: Project, tid: str) -> None:
    run_dir = proj.paths.run_dir(tid, 1)
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"task": tid, "attempt": 1, "seat": "eng-1",
                                                  "agent": "shell", "pid": 4194000, "exit_code": None}))


def repo_faults(root: Path) -> Project:
    """No tasks; what is broken in the repository: stale git locks, orphan branches and runs,
    worktree metadata without a folder, folders without metadata, a leaked batty lock."""
    proj = Project(root, seats=1, config={"gates": {"test": FAST_TEST}})
    git(root, "branch", "batty/T-90")  # merged: deleted
    for tid in ("T-95", "T-96"):
        dead_run(proj, tid)
    for tid in ("T-97", "T-98"):
        (proj.paths.worktrees / tid).mkdir(parents=True)
        (proj.paths.worktrees / tid / "notes.txt").write_text(f"{tid}'s notes\n")
    return proj


def plant_repo_faults(proj: Project) -> None:
    root = proj.root
    for tid in ("T-91", "T-92"):  # not merged, uncommitted work in their worktrees: renamed
        wt = proj.paths.worktree(tid)
        git(root, "worktree", "add", "-q", "-b", f"batty/{tid}", str(wt), "main")
        (wt / "src" / f"{tid.lower().replace('-', '')}.py").write_text(f"WORK = '{tid}'\n")
    extra = root.parent / "extra"
    git(root, "worktree", "add", "-q", "--detach", str(extra), "main")
    shutil.rmtree(extra)  # its metadata is left: prunable
    for lock in (root / ".git" / "index.lock", root / ".git" / "worktrees" / "extra" / "index.lock"):
        lock.write_text("")
        os.utime(lock, (OLD, OLD))
    leak_lock(proj, "sweep-1")
    leak_lock(proj, "sweep-2")


LEAK = """
import os, subprocess, sys, time
from pathlib import Path
from batty.store import locks
with locks.hold(Path(sys.argv[1]), sys.argv[2], cmd="test"):
    fd = next(int(n) for n in os.listdir("/proc/self/fd")
              if os.path.realpath(f"/proc/self/fd/{n}").endswith(sys.argv[2] + ".lock"))
    child = subprocess.Popen(["sleep", "120"], pass_fds=[fd], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(child.pid, flush=True)
    os._exit(0)  # gone without letting go: the child holds the lock now
"""


def leak_lock(proj: Project, name: str) -> None:
    """A batty lock held by a child that outlived the process that took it."""
    out = subprocess.run([sys.executable, "-c", LEAK, str(proj.paths.state), name], cwd=proj.root,
                         capture_output=True, text=True, check=True, timeout=60)
    with open(proj.root.parent / "leaked.pid", "a") as f:
        f.write(out.stdout.strip() + "\n")


def tamper(root: Path) -> Project:
    """core.fsmonitor planted before the first tick; each task's agent plants an alias in the
    control repository's config, which an agent can reach only without the sandbox (its own
    repository's config is its own: issue 14)."""
    proj = Project(root, seats=1, config={"gates": {"test": FAST_TEST}, "disk": {"keep_runs_days": 0},
                                          "sandbox": {"mode": "none"}})
    for n in (1, 2):
        proj.task(f"Plants an alias {n}", [f"git --git-dir=../../../.git config alias.pwn{n} '!touch /tmp/pwned'",
                                           *commit(f"src/t{n}.py", f"T = {n}", f"t{n}")])
    git(root, "config", "core.fsmonitor", "touch /tmp/pwned")
    return proj


def left_broken(root: Path) -> Project:
    """Tasks left in progress, each with something broken: no worktree and no branch (requeue),
    a branch but no worktree (re-added), a folder without git metadata (repaired, keeping its
    files), a worktree on a detached HEAD with a commit (switched back), a deleted branch
    (restored). Each is then dispatched and lands."""
    proj = Project(root, seats=5, config={"gates": {"test": FAST_TEST}})
    names = ("requeued", "readded", "repaired", "switched", "restored")
    for name in names:
        proj.task(name.capitalize(), commit(f"src/{name}.py", f"N = '{name}'", name))
    for tid in ("T-2", "T-3", "T-4", "T-5"):
        git(root, "branch", f"batty/{tid}", "main")
    for n in range(1, 6):
        in_progress(proj, f"T-{n}")
    return proj


def plant_left_broken(proj: Project) -> None:
    root = proj.root
    wt = proj.paths.worktree("T-3")  # files, no metadata
    git(root, "worktree", "add", "-q", str(wt), "batty/T-3")
    shutil.rmtree(root / ".git" / "worktrees" / "T-3")
    (wt / "src" / "wip.py").write_text("WIP = 3\n")
    wt = proj.paths.worktree("T-4")  # on a detached HEAD, a commit made there
    git(root, "worktree", "add", "-q", "--detach", str(wt), "batty/T-4")
    (wt / "src" / "detached.py").write_text("D = 4\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "made on a detached HEAD")
    wt = proj.paths.worktree("T-5")  # its branch deleted under it
    git(root, "worktree", "add", "-q", str(wt), "batty/T-5")
    (wt / "src" / "kept.py").write_text("K = 5\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-qm", "work on the branch that goes")
    git(root, "update-ref", "-d", "refs/heads/batty/T-5")


def stall(root: Path) -> Project:
    """An agent that stalls twice: respawned twice, the third agent does the work."""
    proj = Project(root, seats=1, config={"gates": {"test": FAST_TEST},
                                          "health": {"stall_after_s": 1, "respawn_cooldown_s": 0}})
    proj.task("Stalls twice", ['n=$(ls -d ../../runs/$BATTY_TASK/$BATTY_ATTEMPT/respawn.[0-9]* 2>/dev/null | wc -l); '
                               'if [ "$n" -lt 2 ]; then echo stalling; exec sleep 600; fi',
                               *commit("src/stalled.py", "S = 1", "stalled")])
    return proj


def exhausted(root: Path) -> Project:
    """Attempts run out: agents out of context on each attempt (reset twice, then escalated
    by doctor) and one whose tests always fail (escalated by verify)."""
    proj = Project(root, seats=3, config={"gates": {"test": FAST_TEST, "max_attempts": 3}})
    for n in (1, 2):
        proj.task(f"Out of context {n}", ["echo 'reading everything'", f"echo '{CONTEXT_MARKER}'",
                                          "exec sleep 600"])
    proj.task("Always fails", ["echo 'raise SystemExit(1)' >> src/app.py", "git commit -qam broken"])
    return proj


def overtime(root: Path) -> Project:
    """An agent past health.max_runtime_s on its first two attempts; the third one lands."""
    proj = Project(root, seats=1, config={"gates": {"test": FAST_TEST, "max_attempts": 3},
                                          "health": {"max_runtime_s": 1}})
    proj.task("Slow", ['if [ "$BATTY_ATTEMPT" -lt 3 ]; then while true; do echo busy; sleep 0.2; done; fi',
                       *commit("src/slow.py", "S = 3", "slow")])
    return proj


def over_budget(root: Path) -> Project:
    """Two agents that report $3 against an attempt budget of $2 and work on (issue 18): each is
    stopped and its task blocked. Two seats: both branch off the first base (a base the first
    block moved holds board/ timestamps, which differ from run to run)."""
    from batty.agents.behaviours import usage

    proj = Project(root, seats=2, config={"gates": {"test": FAST_TEST, "max_attempts": 3},
                                          "budgets": {"attempt": {"cost_usd": 2}}})
    for title in ("Spends", "Spends too"):
        proj.task(title, [usage(cost_usd=3.0), "while true; do echo busy; sleep 0.2; done"])
    return proj


@dataclass(frozen=True)
class Scenario:
    build: Callable[[Path], Project]
    points: tuple[str, ...]
    plant: Callable[[Project], None] | None = None


SCENARIOS: dict[str, Scenario] = {
    "work": Scenario(work, (
        "board.after-render", "dispatch.after-claim", "dispatch.after-launch", "dispatch.after-worktree",
        "git.after-board-commit", "merge.after-cas", "merge.after-done", "merge.after-test",
        "merge.before-cas", "runner.after-start", "runner.before-exit-record",
        "state.after-packet-write", "state.before-board-commit", "verify.after-collect",
        "verify.before-test", "verify.before-verdict",
        "merge.after-done>reconcile.after-worktree-remove")),
    "repo": Scenario(repo_faults, (
        "doctor.stale-lock.after-heal", "doctor.git-lock.after-heal",
        "doctor.worktree-prune.after-prune", "doctor.worktree-lose.after-move",
        "doctor.worktree-prune.after-heal", "doctor.orphan-branch.after-stop",
        "doctor.orphan-branch.after-commit", "doctor.orphan-branch.after-remove",
        "doctor.orphan-branch.after-heal", "doctor.orphan-run.after-stop",
        "doctor.orphan-run.after-heal", "doctor.after-action-event"), plant_repo_faults),
    "tamper": Scenario(tamper, (
        "doctor.tamper.after-intent", "doctor.tamper.after-escalate", "doctor.tamper-revert.after-heal",
        "escalations.raise.after-write", "escalations.raise.after-event",
        "escalations.demote.after-write", "doctor.escalation-demote.after-heal",
        "doctor.disk-cleanup.after-remove", "doctor.disk-cleanup.after-heal")),
    "left-broken": Scenario(left_broken, (
        "doctor.requeue.after-stop", "doctor.requeue.after-heal", "doctor.worktree-add.after-add",
        "doctor.worktree-repair.after-aside", "doctor.worktree-repair.after-add",
        "doctor.worktree-repair.after-restore", "doctor.worktree-switch.after-cas",
        "doctor.branch-restore.after-update", "doctor.worktree-repair.after-heal"), plant_left_broken),
    "stall": Scenario(stall, (  # the second hits of dispatch's points: inside a respawn's launch
        "dispatch.after-worktree", "dispatch.after-claim", "dispatch.after-launch",
        "doctor.respawn.after-intent", "doctor.respawn.after-stop", "doctor.respawn.after-rotate",
        "doctor.respawn.after-update", "doctor.respawn.after-event", "doctor.respawn.after-heal")),
    "exhausted": Scenario(exhausted, (
        "doctor.next-attempt.after-stop", "doctor.next-attempt.after-verdict",
        "doctor.context-reset.after-heal", "doctor.escalate.after-stop",
        "doctor.escalate.after-escalate", "doctor.escalate.after-heal")),
    "overtime": Scenario(overtime, ("doctor.kill-overtime.after-heal",)),
    "budget": Scenario(over_budget, ("doctor.budget-stop.after-stop", "doctor.budget-stop.after-exceeded",
                                     "doctor.budget-stop.after-heal")),
}

# Points no scenario of the sweep reaches, and where their crash is proven instead.
NOT_SWEPT = {
    "board.after-card-task": "a person's new card on BOARD.md, crashed at its first and second "
                             "hit by test_foundation_cli.py::test_a_crash_*_new_card_s_task_*",
    "doctor.repeat.after-escalate": "needs a fault back after max_respawns heals: "
                                    "test_doctor.py::test_a_fault_that_keeps_coming_back_*",
    "escalations.resolve.after-close": "a person's `batty escalations resolve`: "
                                       "test_a_crash_inside_a_resolve_converges below",
    "escalations.resolve.after-unblock": "a person's `batty escalations resolve`: "
                                         "test_a_crash_inside_a_resolve_converges below",
}

# Points without a second hit, and why: each such fault is in its scenario once, and once its
# heal is done the fault is gone, so the recovery from a crash there does not pass it again.
_ONCE = "one such fault in the scenario, and its recovery does not pass the point again"
ONE_HIT: dict[str, str] = {
    "doctor.worktree-prune.after-prune": "one `git worktree prune` for all the stale metadata",
    "doctor.requeue.after-heal": _ONCE,
    "doctor.worktree-add.after-add": _ONCE,
    "doctor.worktree-repair.after-aside": _ONCE + " (it goes on from the folder set aside)",
    "doctor.worktree-switch.after-cas": _ONCE,
    "doctor.branch-restore.after-update": _ONCE,
}

# Points whose second hit is not crashed, and why: that crash ends elsewhere by design.
NOT_TWICE = {
    # a respawned wrapper killed before its agent wrote a word is a respawn that did not heal:
    # escalated by the respawn guard (SPEC 9), so that end state is not the clean run's
    "runner.after-start": "a second wrapper death on one attempt is escalated by the respawn guard",
}

# One case of each scenario in turn, not a scenario's cases together: pytest-xdist hands cases
# out in this order, and four workers on the same scenario waited together (a stall to show, a
# template's clean run being made by one of them) while the cores idled.
CASES = [case for row in zip_longest(*([(name, point) for point in scn.points] for name, scn in SCENARIOS.items()))
         for case in row if case is not None]


# ------------------------------------------------------------------ running a case


def attach(root: Path) -> Project:
    proj = object.__new__(Project)
    proj.root = root
    proj.paths = Paths(root)
    return proj


def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest-xdist worker of this run sees (the workers' base folders' parent):
    a scenario's template and clean run are made once a run, not once a worker (with four
    workers, the clean runs were a third of the sweep)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    from filelock import FileLock

    def template(name: str) -> Path:
        root = shared(tmp_path_factory) / f"crash-template-{name}" / "proj"
        with FileLock(str(root.parent) + ".lock"):
            if not (root.parent / "made").exists():
                shutil.rmtree(root.parent, ignore_errors=True)  # a worker died building it
                SCENARIOS[name].build(root)
                (root.parent / "made").write_text("")
        return root

    return template


def copy(template: Path, dest: Path, scn: Scenario) -> Project:
    shutil.copytree(template, dest, symlinks=True)
    proj = attach(dest)
    if scn.plant is not None:
        scn.plant(proj)
    return proj


def settled(proj: Project) -> bool:
    """Every task done or blocked, and no agent left of those batty started (read from the
    files: a batty process and a look at every process on the machine a tick was a third of
    the sweep; check() looks at every process once, at the end)."""
    import yaml

    from batty import runner

    for path in proj.paths.tasks.glob("*.yaml"):
        try:
            status = (yaml.safe_load(path.read_text()) or {}).get("status")
        except (OSError, yaml.YAMLError):
            return False
        if status not in ("done", "blocked"):
            return False
    for run_json in proj.paths.state.glob("runs/*/*/run.json"):
        run = json.loads(run_json.read_text() or "{}")
        if any(runner.alive(run.get(k), run.get(f"{k}_started")) for k in ("pid", "agent_pid")):
            return False
    return True


def tick(proj: Project, env: dict[str, str] | None = None) -> bool:
    """One tick; True when it found nothing to do and nothing is left (idle)."""
    before = proj.paths.events.stat().st_size if proj.paths.events.exists() else 0
    res = proj.batty("tick", env=env or {})
    assert res.code in (0, 75, -signal.SIGKILL), res.err
    assert "Traceback" not in res.err, res.err
    if res.code != 0 or not settled(proj):
        return False
    with open(proj.paths.events, "rb") as f:
        f.seek(before)
        kinds = {json.loads(line)["kind"] for line in f if line.strip()}
    return kinds <= {"tick.started", "tick.finished"}  # a demotion or a cleanup is something


def settle(proj: Project, limit: int = 60) -> None:
    for _ in range(limit):
        if tick(proj):
            return
        agents_work(proj.paths, AGENT_WAIT_S)
    raise AssertionError(f"the board did not settle: {proj.ok('task', 'list').out}")


def arm(proj: Project, spec: str, once: Path, fired: Path, *, limit: int = 40) -> bool:
    """Tick with ``spec`` armed until it fired (in the tick or in an agent's wrapper), or until
    batty is idle; True when it fired."""
    env = {"BATTY_FAILPOINT": spec, "BATTY_FAILPOINT_ONCE": str(once)}
    for _ in range(limit):
        idle = tick(proj, env)
        if fired.exists():
            return True
        if idle:
            return False
        agents_work(proj.paths, AGENT_WAIT_S)
    return False


def run_case(proj: Project, tmp: Path, point: str) -> int:
    """Crash at each point of ``point`` (a>b: a, then b), first and second hits, then tick until
    idle; the crashes."""
    crashes = 0
    chain = point.split(">")
    for i, name in enumerate(chain):
        once = tmp / f"fired-{i}"
        assert arm(proj, name, once, once), f"the failpoint {name} was never reached"
        crashes += 1
    if len(chain) == 1 and point not in NOT_TWICE:
        if arm(proj, f"{point}:2", once, Path(f"{once}.fired2")):
            assert point not in ONE_HIT, f"{point} has a second hit now: take it out of ONE_HIT"
            crashes += 1
        else:
            assert point in ONE_HIT, f"the failpoint {point} was reached once only"
    settle(proj)
    return crashes


# ------------------------------------------------------------------ what must hold at the end


def live_agents(proj: Project) -> list[int]:
    out = []
    for p in psutil.process_iter(["cwd", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and str(proj.paths.worktrees) in (p.info["cwd"] or ""):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out


def end_state(proj: Project) -> dict[str, Any]:
    import yaml

    packets = [yaml.safe_load(p.read_text()) for p in sorted(proj.paths.tasks.glob("*.yaml"))]
    root = proj.root
    tree = [row for row in git(root, "ls-tree", "-r", "main").splitlines()
            if not row.split("\t", 1)[1].startswith("board/")]
    branches = {}
    for ref in git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads/").splitlines():
        if ref != "main":  # its tree is the base's, above (board/ holds timestamps)
            # its code: a retry starts fresh from the base as it is at dispatch (issue 15), whose
            # board/ holds that moment's timestamps
            branches[ref] = [row for row in git(root, "ls-tree", "-r", ref).splitlines()
                             if not row.split("\t", 1)[1].startswith("board/")]
    listing = git(root, "worktree", "list", "--porcelain")
    worktrees = sorted(os.path.relpath(line[9:], root) for line in listing.splitlines()
                       if line.startswith("worktree "))
    state = proj.paths.state
    half_done = sorted(str(p.relative_to(state)) for p in [
        *(state / "doctor" / "journal").glob("*.json"), *(state / "escalations.outbox").glob("*.json"),
        *(state / "worktrees").glob(".repair*")])
    for heal in (state / "tamper" / "quarantine").glob("*/heal.json"):
        if not json.loads(heal.read_text()).get("done"):
            half_done.append(str(heal.relative_to(state)))
    for record in (state / "runs").glob("*/*/respawn.json"):
        if json.loads(record.read_text()).get("phase") not in (None, "done"):
            half_done.append(str(record.relative_to(state)))
    return {"status": {p["id"]: p["status"] for p in packets}, "base": tree, "branches": branches,
            "worktrees": worktrees, "half done": half_done}


def _key(e: dict[str, Any]) -> tuple | None:
    """Events that happen once for what they are about: that, or None for the others."""
    kind, d = e["kind"], e.get("data") or {}
    if kind == "task.status":
        return (kind, e["task"], e.get("attempt"), d.get("from"), d.get("to"))
    if kind in ("task.dispatched", "verify.passed", "verify.failed"):
        return (kind, e["task"], e.get("attempt"))
    if kind == "agent.started":  # one a respawn more
        return (kind, e["task"], e.get("attempt"), d.get("pid"))
    if kind == "merge.merged":
        return (kind, e["task"])
    if kind == "escalation.raised":
        return (kind, d.get("reason"), tuple(d.get("tasks") or []), d.get("text"))
    if kind in ("escalation.demoted", "escalation.resolved"):
        return (kind, d.get("escalation"))
    if kind == "agent.respawned":
        return (kind, e["task"], e.get("attempt"), d.get("respawns"))
    if kind == "doctor.action" and d.get("action") not in ("disk-cleanup", "escalation-demote"):
        return (kind, d.get("action"), e["task"], e.get("attempt"), d.get("subject"), d.get("kept"),
                d.get("quarantine"))
    return None


def in_flight(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last event of each tick that was killed (no tick.finished before the next tick):
    what it was writing when it died, the one event its recovery may write again."""
    out = []
    last: dict[str, Any] | None = None
    running = False
    for e in events:
        if e.get("cmd") != "tick":
            continue  # an agent's wrapper, running beside the ticks
        if e["kind"] == "tick.started":
            if running and last is not None:
                out.append(last)
            running, last = True, None
        elif e["kind"] == "tick.finished":
            running = False
        else:
            last = e
    if running and last is not None:
        out.append(last)
    return out


def duplicated(proj: Project) -> dict[tuple, int]:
    """What happened more often than once, but for an event in flight at a crash (once each)."""
    events = proj.events()
    counts = Counter(k for e in events if (k := _key(e)) is not None)
    allowed = Counter(k for e in in_flight(events) if (k := _key(e)) is not None)
    out = {k: n - 1 - allowed[k] for k, n in counts.items() if n - 1 > allowed[k]}
    # a second agent for one attempt is a double launch unless a respawn came between
    agents = Counter((e["task"], e.get("attempt")) for e in events if e["kind"] == "agent.started")
    respawns = Counter((e["task"], e.get("attempt")) for e in {_key(e): e for e in events
                                                                 if e["kind"] == "agent.respawned"}.values())
    for (task, attempt), n in agents.items():
        if n > 1 + respawns[(task, attempt)]:
            out[("agents", task, attempt)] = n - 1 - respawns[(task, attempt)]
    return out


def unannounced(proj: Project) -> list[str]:
    """Open escalations without their escalation.raised: nobody was told."""
    import yaml

    raised = {e["data"]["escalation"] for e in proj.events("escalation.raised")}
    records = list((json.loads((proj.paths.state / "escalations.json").read_text()) or {})
                   .get("escalations") or []) if (proj.paths.state / "escalations.json").exists() else []
    for packet_file in proj.paths.tasks.glob("*.yaml"):
        records += (yaml.safe_load(packet_file.read_text()) or {}).get("escalations") or []
    return sorted({str(r.get("id")) for r in records} - raised)


def check(proj: Project, clean: dict[str, Any]) -> None:
    assert end_state(proj) == clean
    assert live_agents(proj) == []
    assert duplicated(proj) == {}
    assert unannounced(proj) == []
    from batty.workflow.lint import lint_all

    assert lint_all(proj.paths) == []  # `batty task lint`


@pytest.fixture(scope="module")
def clean(templates: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict]:
    from filelock import FileLock

    def of(name: str) -> dict:
        kept = shared(tmp_path_factory) / f"crash-clean-{name}.json"
        with FileLock(f"{kept}.lock"):
            if not kept.exists():
                scn = SCENARIOS[name]
                proj = copy(templates(name), tmp_path_factory.mktemp(f"clean-{name}") / "proj", scn)
                try:
                    settle(proj)
                    check(proj, end_state(proj))
                    kept.write_text(json.dumps(end_state(proj)))
                finally:
                    reap(proj)
            return json.loads(kept.read_text())

    return of


def reap(proj: Project) -> None:
    from batty import runner

    for run_json in proj.paths.state.rglob("run.json"):
        runner.stop(run_json.parent, grace_s=1)
    leaked = proj.root.parent / "leaked.pid"
    for pid in leaked.read_text().split() if leaked.exists() else []:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


# ------------------------------------------------------------------ the tests


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


def test_every_failpoint_is_swept_or_says_where_it_is_proven() -> None:
    swept = {name for _, point in CASES for name in point.split(">")}
    assert swept.isdisjoint(NOT_SWEPT)
    assert sorted(set(failpoints.POINTS) - swept - set(NOT_SWEPT)) == []


@pytest.mark.parametrize(("scenario", "point"), CASES, ids=[f"{s}:{p}" for s, p in CASES])
def test_a_crash_at_each_failpoint_converges(scenario: str, point: str, tmp_path: Path,
                                             templates: Callable[[str], Path],
                                             clean: Callable[[str], dict]) -> None:
    expected = clean(scenario)
    proj = copy(templates(scenario), tmp_path / "proj", SCENARIOS[scenario])
    try:
        run_case(proj, tmp_path, point)
        check(proj, expected)
    finally:
        reap(proj)


@pytest.mark.parametrize("point", ["escalations.resolve.after-close", "escalations.resolve.after-unblock"])
def test_a_crash_inside_a_resolve_converges(point: str, tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=1, config={"gates": {"test": FAST_TEST, "max_attempts": 1}})
    tid = proj.task("Fails", ["echo 'raise SystemExit(1)' >> src/app.py", "git commit -qam broken"])
    settle(proj)
    [raised] = proj.events("escalation.raised")
    esc = raised["data"]["escalation"]
    res = proj.batty("escalations", "resolve", esc, "--note", "fixed", env={"BATTY_FAILPOINT": point})
    assert res.code == -signal.SIGKILL, res.err
    if point == "escalations.resolve.after-close":  # the person runs it again, or the next tick
        assert proj.batty("escalations", "resolve", esc, "--note", "fixed").code == 0
    else:
        assert proj.batty("tick").code in (0, 75)
    assert proj.status(tid) in ("todo", "in-progress")
    assert len(proj.events("escalation.resolved")) == 1
    unblocked = [e for e in proj.events("task.status", tid) if e["data"]["from"] == "blocked"]
    assert len(unblocked) == 1
    assert list((proj.paths.state / "escalations.outbox").glob("*.json")) == []


def test_sixteen_ticks_at_once(tmp_path: Path) -> None:
    proj = Project(tmp_path / "proj", seats=3, config={"gates": {"test": FAST_TEST}})
    for i in range(6):
        proj.task(f"Module {i}", [f"printf 'X = {i}\\n' > src/m{i}.py", "git add -A && git commit -qm m"])
    from tests import forkserver

    for _round in range(4):  # 16 processes forked at once (or started at once, without the fork server)
        ticks = forkserver.batty_many([["--repo", str(proj.root), "tick"]] * 16, cwd=proj.root,
                                      env=dict(os.environ))
        codes = [(t.returncode, t.stderr) for t in ticks]
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

