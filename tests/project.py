"""A sandbox project for the gate, dispatch and scenario tests: code, tests, batty, test agents.

The gate's test command is the real pytest of this interpreter; agents are the built-in
scripted agent running named behaviours (batty.agents.behaviours) or explicit scripts.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from batty.agents.behaviours import script as behaviour
from batty.store.paths import Paths
from tests.conftest import Result, git, in_process, run_batty

APP = "def add(a, b):\n    return a + b\n"
TEST = '''import importlib
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))


def test_add():
    import app

    assert app.add(2, 3) == 5


def test_every_module_imports():
    for path in sorted(SRC.glob("*.py")):
        importlib.import_module(path.stem)
'''


# The sample project's gate: the real pytest of this interpreter, without the plugins installed in
# it (hypothesis, xdist: the venv's, not the project's), which cost 1-2 s of every gate run
# (issue 13: tests/test_merge.py 196 s -> 87 s)
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider --disable-plugin-autoload"


_templates: dict[int, Path] = {}
WARM = ("from pathlib import Path; from batty.workflow import runnerfiles as r; "
        "c = Path('.batty', 'cache').resolve(); r._installed(c); r._runner_imports(c)")


def _template(seats: int) -> Path:
    """The sample project after `batty init`, made once a process (a pytest-xdist worker) for each
    number of seats; each Project is a copy of it. A `batty init` and four git processes per test
    were a good part of the suite's time (issue 13); tests/test_foundation_cli.py still runs init
    itself."""
    if seats in _templates:
        return _templates[seats]
    top = Path(tempfile.mkdtemp(prefix="batty-template-"))
    atexit.register(shutil.rmtree, top, True)
    root = top / f"seats-{seats}"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "app.py").write_text(APP)
    (root / "tests" / "test_app.py").write_text(TEST)
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    res = run_batty(root, "init", "--agent", "shell", "--seats", str(seats), "--test", f"{PYTEST} tests")
    assert res.code == 0, res.err
    for leftover in (root / ".batty" / "locks").glob("*"):
        leftover.unlink()  # init's lock files: each copy makes its own
    # What is installed, read here as the first verify of a new top-level module in each copy
    # would read it (150 ms), by a process whose sys.path is a batty command's: kept in the
    # template's .batty/cache under the interpreter's key, as after a project's first verify.
    # tests/test_gates.py::test_a_distribution_installed_after_batty_last_looked_is_seen is
    # about that cache itself, in a repository of its own.
    subprocess.run([sys.executable, "-c", WARM], cwd=root, check=True, capture_output=True, timeout=120)
    _templates[seats] = root
    return root


class Project:
    def __init__(self, root: Path, *, seats: int = 2, config: dict[str, Any] | None = None) -> None:
        self.root = root
        self.paths = Paths(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(_template(seats), root, symlinks=True)
        # Its tasks share src/** by default: they run side by side, as before overlap waits
        # existed (SPEC 13); a test of the overlap rule configures `overlap: wait`
        config = dict(config or {})
        config["dispatch"] = {"overlap": "allow", **(config.get("dispatch") or {})}
        # agents and test runs see only their checkout (SPEC 11): what a test has them write for
        # it to read goes to one folder their sandbox shows writable
        self.shared.mkdir(parents=True, exist_ok=True)
        self.configure({"sandbox": {"binds": [f"{self.shared}:rw"]}, **config})

    @property
    def shared(self) -> Path:
        """The folder this project's agents and test runs share with the test (sandbox.binds)."""
        return self.root.parent / "shared"

    # ------------------------------------------------------------------ setup

    def configure(self, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into board/config.yaml and commit it (as a person would)."""
        cfg = yaml.safe_load(self.paths.config.read_text())
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key].update(value)
            else:
                cfg[key] = value
        self.paths.config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        git(self.root, "add", "board/config.yaml")
        git(self.root, "commit", "-q", "-m", "config", check=False)

    def task(self, title: str, script: list[str] | str, *, scope: list[str] | None = None,
             **fields: Any) -> str:
        """A packet written by hand and committed, with a behaviour's script or an explicit one."""
        steps = behaviour(script) if isinstance(script, str) else script
        args = ["task", "add", title]
        for s in steps:
            args += ["--script", s]
        for g in (["src/**"] if scope is None else scope):
            args += ["--scope", g]
        for key, value in fields.items():
            args += [f"--{key}", str(value)]
        res = in_process(self.root, *args)  # the set-up, not what the test is about
        assert res.code == 0, res.err
        return res.out.strip()

    # ------------------------------------------------------------------ acting

    def batty(self, *args: str, **kw: Any) -> Result:
        return run_batty(self.root, *args, **kw)

    def ok(self, *args: str, **kw: Any) -> Result:
        res = self.batty(*args, **kw)
        assert res.code == 0, f"batty {' '.join(args)}: {res.code}\n{res.err}"
        return res

    def packet(self, task_id: str) -> dict[str, Any]:
        """What `batty task show ID --json` prints, read in-process: the tests poll it, and a batty
        process per look was most of their wait (issue 13)."""
        from batty.store.packets import parse_file
        from batty.workflow.state import dumps

        packet = parse_file(self.paths.packet(task_id), f"board/tasks/{task_id}.yaml")
        return dict(json.loads(dumps(packet.to_dict())))

    def status(self, task_id: str) -> str:
        return str(self.packet(task_id)["status"])

    def events(self, kind: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        from batty.store import events

        return [e for e in events.read(self.paths.events)
                if (kind is None or e["kind"] == kind) and (task is None or e["task"] == task)]

    def run_state(self, task_id: str, attempt: int | None = None) -> str:
        from batty import runner

        attempt = attempt or int(self.packet(task_id)["attempt"])
        return runner.run_state(self.paths.run_dir(task_id, attempt))

    def wait_exited(self, task_id: str, timeout: float = 30) -> None:
        wait_for(lambda: self.run_state(task_id) == "exited", timeout, f"{task_id}'s agent to exit")

    def base(self) -> str:
        return git(self.root, "rev-parse", "main")

    def code(self) -> str:
        """The base's tree but board/ (batty's own commits there move the branch, not the code)."""
        rows = git(self.root, "ls-tree", "main").splitlines()
        return "\n".join(r for r in rows if not r.endswith("\tboard"))

    def until(self, cond: Callable[[], bool], *, timeout: float = 60, what: str = "", tick: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if tick:
                res = self.batty("tick")
                assert res.code in (0, 75), res.err
            if cond():
                return
            if not (tick and agents_work(self.paths, min(5.0, deadline - time.monotonic()))):
                time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def tests_pass_at(self, sha: str, tmp: Path) -> bool:
        """Check out ``sha`` in a folder of its own and run the project's tests there."""
        folder = tmp / f"check-{sha[:12]}"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(folder), sha], cwd=self.root,
                       check=True, capture_output=True, timeout=60)
        try:
            proc = subprocess.run([*PYTEST.split(), "tests"],
                                  cwd=folder, capture_output=True, timeout=300)
            return proc.returncode == 0
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=self.root,
                           capture_output=True, timeout=60)


def agents_work(paths: Paths, timeout: float) -> bool:
    """Wait (up to ``timeout``) while an agent of the project at ``paths`` works; True if one
    did. A tick while an agent works has nothing new to judge: waiting on its exit, not ticking
    every 0.2 s, took most of the suite's batty processes away (issue 13)."""
    from batty import runner

    def running() -> bool:
        return any(runner.run_state(d) in ("running", "launching") for d in paths.state.glob("runs/*/*")
                   if d.is_dir())

    if not running():
        return False
    deadline = time.monotonic() + max(timeout, 0.1)
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
