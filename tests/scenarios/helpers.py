"""What the scenarios share: a fast sandbox, ticks until idle with the invariants checked after
each one, and small scripts for the test agents."""

from __future__ import annotations

import atexit
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from batty import runner
from batty.core import clock
from batty.core.lifecycle import Status
from batty.store.paths import Paths
from tests.project import Project
from tests.scenarios.invariants import Read, Watch, load

# The gate's test command: one interpreter start, no pytest (a scenario runs it dozens of times).
FAST_TEST = (f"{sys.executable} -c \"import sys; sys.path.insert(0, 'src'); import app; "
             "assert app.add(2, 3) == 5\"")
COMMIT = "git add -A && (git commit -qm work || true)"
QUIET = (Status.DONE, Status.BLOCKED, Status.BACKLOG, Status.ARCHIVED)


_TEMPLATES: dict[int, Path] = {}


def _template(seats: int) -> Path:
    """A project after `batty init`, made once a session and copied for each scenario."""
    if seats not in _TEMPLATES:
        top = Path(tempfile.mkdtemp(prefix="batty-scenario-template-"))
        atexit.register(shutil.rmtree, top, True)
        Project(top / "proj", seats=seats)
        _TEMPLATES[seats] = top / "proj"
    return _TEMPLATES[seats]


class Scenario(Project):
    """tests.project.Project, made faster for the scenarios: the sandbox is a copy of one made
    by `batty init`, and packets are written and read the way a person's editor does (a `batty
    task add` or `task show` is a process start each; reconcile takes a new packet in at the
    next tick)."""

    def __init__(self, root: Path, *, seats: int = 2, config: dict[str, Any] | None = None) -> None:
        root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(_template(seats)), str(root)], check=True)
        self.root = root
        self.paths = Paths(root)
        self.configure(config or {})

    def task(self, title: str, script: list[str] | str, *, scope: list[str] | None = None,
             **fields: Any) -> str:
        from batty.agents.behaviours import script as behaviour
        from batty.store.packets import render_new
        from tests.conftest import git

        numbers = [int(f.stem.split("-")[1]) for f in self.paths.tasks.glob("T-*.yaml")]
        tid = f"T-{max(numbers, default=0) + 1}"
        now = clock.now_iso()
        packet: dict[str, Any] = {"id": tid, "title": title, "status": fields.pop("status", "todo"),
                                  "priority": int(fields.pop("priority", 2))}
        if "depends" in fields:
            packet["depends_on"] = str(fields.pop("depends")).split(",")
        packet["scope"] = ["src/**"] if scope is None else scope
        packet.update(fields)
        packet["script"] = behaviour(script) if isinstance(script, str) else script
        packet.update(created=now, updated=now)
        self.paths.packet(tid).write_text(render_new(packet))
        git(self.root, "add", str(self.paths.packet(tid)))
        git(self.root, "commit", "-q", "-m", f"{tid}: written by hand")
        return tid

    def packet(self, task_id: str) -> dict[str, Any]:
        return load(self.paths).by_id[task_id].to_dict()


def make(tmp_path: Path, *, seats: int = 2, config: dict[str, Any] | None = None,
         test: str = FAST_TEST, files: dict[str, str] | None = None) -> tuple[Project, Watch]:
    """A sandbox project with the fast gate and quick health limits, and its invariant watch.
    ``files`` are committed to the base by the person before anything runs."""
    # agents and test runs see only their checkout (SPEC 11): the marks a scenario keeps across
    # attempts live in one folder shown to them writable (shared(tmp_path))
    shared(tmp_path).mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {"gates": {"test": test, "max_attempts": 3},
                           "health": {"stall_after_s": 600, "respawn_cooldown_s": 1, "max_respawns": 3},
                           "sandbox": {"binds": [f"{shared(tmp_path)}:rw"]}}
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    proj = Scenario(tmp_path / "proj", seats=seats, config=cfg)
    if files:
        from tests.conftest import git

        for rel, text in files.items():
            (proj.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (proj.root / rel).write_text(text)
        git(proj.root, "add", *files)
        git(proj.root, "commit", "-q", "-m", "the person's files")
    return proj, Watch(proj.paths, test=test)


def shared(tmp_path: Path) -> Path:
    """The folder a scenario's agents and test runs share with it across attempts (a mark that
    says a fault happened once): the one path outside their checkout their sandbox shows."""
    return tmp_path / "shared"


def write(path: str, text: str) -> list[str]:
    """An agent script that writes ``text`` to ``path`` and commits it."""
    return [f"mkdir -p {shlex.quote(str(Path(path).parent))}",
            f"printf '%s\\n' {shlex.quote(text)} > {shlex.quote(path)}", COMMIT]


def on_attempt(n: int, then: list[str], otherwise: list[str]) -> list[str]:
    """``then`` on attempt ``n``, ``otherwise`` on every other attempt (one bash line each)."""
    a = " && ".join(f"({c})" for c in then) or "true"
    b = " && ".join(f"({c})" for c in otherwise) or "true"
    return [f'if [ "$BATTY_ATTEMPT" = {n} ]; then {a}; else {b}; fi']


def once(mark: Path, then: list[str], otherwise: list[str]) -> list[str]:
    """``then`` the first time any attempt runs it (``mark`` is made then), ``otherwise`` after:
    a fault that a respawn of the same attempt does not meet again."""
    a = " && ".join(f"({c})" for c in then) or "true"
    b = " && ".join(f"({c})" for c in otherwise) or "true"
    return [f"if mkdir {shlex.quote(str(mark))} 2>/dev/null; then {a}; else {b}; fi"]


def started(proj: Project, task: str, attempt: int = 1, timeout: float = 10,
            line: str | None = None) -> dict[str, Any]:
    """Wait until the attempt's agent runs and has written output (``line``: that line, not only
    the echo of the step that prints it); its run.json."""
    run_dir = proj.paths.run_dir(task, attempt)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = runner.read_run(run_dir) or {}
        log = run_dir / "agent.log"
        if run.get("agent_pid") and run.get("exit_code") is None and log.exists() and log.stat().st_size \
                and (line is None or line in log.read_text(errors="replace").splitlines()):
            return run
        time.sleep(0.05)
    raise AssertionError(f"{task} attempt {attempt} did not start")


def packets(proj: Project) -> Read:
    return load(proj.paths)


def statuses(proj: Project) -> dict[str, str]:
    return {p.id: p.status.value for p in packets(proj)}


def quiet(proj: Project, timeout: float = 5.0) -> None:
    """Wait (up to ``timeout``) until no attempt's agent runs: the next tick has its verdicts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [p for p in packets(proj) if p.status is Status.IN_PROGRESS and p.attempt and
                runner.run_state(proj.paths.run_dir(p.id, p.attempt)) in ("running", "launching")]
        if not busy:
            return
        time.sleep(0.05)


def tick(proj: Project, watch: Watch | None = None, env: dict[str, str] | None = None) -> int:
    res = proj.batty("tick", env=env)
    assert res.code in (0, 75), f"tick exited {res.code}:\n{res.err}"
    assert "Traceback" not in res.err, res.err
    if watch is not None:
        watch.check(settled=res.code == 0, where="after a tick")
    return res.code


def idle(proj: Project) -> bool:
    ps = packets(proj)
    by_id = ps.by_id
    for p in ps:
        if p.status in QUIET:
            continue
        if p.status is Status.TODO and any(by_id.get(d) is None or by_id[d].status is not Status.DONE
                                           for d in p.depends_on):
            continue  # waits on a task that is not done: nothing to dispatch
        return False
    return True


def settle(proj: Project, watch: Watch | None = None, *, limit: int = 40, wait: float = 5.0) -> int:
    """Tick until nothing is in flight, the invariants after every tick (each tick ran reconcile
    and doctor, and ended with the board rendered). Returns the number of ticks."""
    for n in range(1, limit + 1):
        tick(proj, watch)
        if idle(proj):
            return n
        quiet(proj, wait)
    raise AssertionError(f"not idle after {limit} ticks: {statuses(proj)}")


def kinds(proj: Project, kind: str, task: str | None = None) -> list[dict[str, Any]]:
    return proj.events(kind, task)


def actions(proj: Project, action: str) -> list[dict[str, Any]]:
    return [e for e in proj.events("doctor.action") if e["data"].get("action") == action]


def on_base(proj: Project, path: str) -> str | None:
    from tests.conftest import git

    out = git(proj.root, "show", f"main:{path}", check=False)
    return out or None
