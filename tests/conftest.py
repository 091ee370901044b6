"""Shared fixtures: real git repositories in tmp_path, a seeded board, a CLI runner (STYLE 8)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from batty.store.paths import Paths

pytest_plugins = ["tests.standin.fixture"]

# pytest keeps each test module it rewrote for its asserts as bytecode, unless Python may not
# write any: with PYTHONDONTWRITEBYTECODE set (as on our machines), every worker rewrote every
# test module on every run (about 2 s of CPU a worker). This process only: what the tests start
# keeps the environment as it is.
sys.dont_write_bytecode = False

BATTY = [sys.executable, "-m", "batty"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Person",
    "GIT_AUTHOR_EMAIL": "person@example.com",
    "GIT_COMMITTER_NAME": "Test Person",
    "GIT_COMMITTER_EMAIL": "person@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests (marked slow) first: started last, the real library's end-to-end test
    (with its wait for cron's minute) was the tail of the run, one worker busy and the other idle
    (issue 13). The others spread out, each module's tests over the whole of the rest of the run:
    pytest-xdist hands tests out in this order, and four workers on one module's tests waited
    together (on git's racy window, on a stall to show) while the cores idled. A module whose
    tests share a module-scoped fixture keeps them together (the fixture is made once a worker)."""
    sizes = Counter(item.nodeid.split("::", 1)[0] for item in items)
    seen: Counter[str] = Counter()

    def key(item: pytest.Item) -> tuple[int, float]:
        mark = item.get_closest_marker("slow")
        rank = 2 if mark is None else 0 if mark.kwargs.get("first") else 1
        module = item.nodeid.split("::", 1)[0]
        place = seen[module] / sizes[module]
        seen[module] += 1
        if rank != 2 or _shares_a_module_fixture(item):
            place = 0.0
        return rank, place

    keys = {id(item): key(item) for item in items}
    items.sort(key=lambda item: keys[id(item)])


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", {}) or {}
    return any(d.scope in ("module", "class", "package") for ds in defs.values() for d in ds)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "_home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("BATTY_LOCK_WAIT_S", "2")
    for key in ("BATTY_NOW", "BATTY_QUIET", "BATTY_FAILPOINT"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def _reap(tmp_path: Path) -> Iterator[None]:
    """Every agent a test started is stopped when it ends, whatever the test did: a stalled agent
    (`sleep 86400`) left running outlived the suite, one per test that dispatched it."""
    yield
    from batty import runner

    for run_json in tmp_path.rglob("run.json"):
        if ".batty" in run_json.parts:
            runner.stop(run_json.parent, grace_s=1)


def git(cwd: Path, *args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=check, capture_output=True, text=True,
                         timeout=60)
    return out.stdout.strip()


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_batty(root: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> Result:
    """batty as a user runs it: a real subprocess in the repository."""
    from tests import forkserver

    proc = forkserver.batty(["--repo", str(root), *args], cwd=root, env={**os.environ, **(env or {})},
                            input=input, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def in_process(root: Path, *args: str) -> Result:
    """batty's own main() in this process, as the demo and `batty run` run commands: for the set-up
    a test is not about (adding its tasks), where a new Python process each time was a large part
    of the suite's time (issue 13). What a test is about runs as a real process (run_batty)."""
    import contextlib
    import io

    from batty.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--repo", str(root), *args])
        except SystemExit as e:
            code = e.code
    return Result(code if isinstance(code, int) else (0 if code is None else 1), out.getvalue(), err.getvalue())


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# sandbox\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "initial")
    return root


@pytest.fixture(scope="session")
def _inited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`batty init --agent shell --seats 2` in a new repository, once a process (a pytest-xdist
    worker): each test's ``repo`` is a copy (issue 13; tests/test_foundation_cli.py runs init)."""
    root = tmp_path_factory.mktemp("template") / "repo"
    root.mkdir()
    env = {**os.environ, **GIT_ENV, "HOME": str(root.parent)}
    for args in (["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-q", "-m", "initial"]):
        if args[0] == "add":
            (root / "README.md").write_text("# sandbox\n")
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env, timeout=60)
    res = run_batty(root, "init", "--agent", "shell", "--seats", "2", env=env)
    assert res.code == 0, res.err
    for leftover in (root / ".batty" / "locks").glob("*"):
        leftover.unlink()  # init's lock files: each copy makes its own
    return root


@pytest.fixture
def repo(tmp_path: Path, _inited: Path) -> Paths:
    """A git repository with `batty init` done (two `shell` seats)."""
    root = tmp_path / "repo"
    shutil.copytree(_inited, root, symlinks=True)
    return Paths(root)


@pytest.fixture
def batty(repo: Paths) -> Callable[..., Result]:
    def run(*args: str, **kw: object) -> Result:
        return run_batty(repo.root, *args, **kw)  # type: ignore[arg-type]

    return run


@pytest.fixture
def tmp_cwd(tmp_path: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)
