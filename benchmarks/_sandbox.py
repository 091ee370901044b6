"""Shared by bench_board, bench_dispatch and bench_gates: sandbox repositories and batty as a
user runs it (a real subprocess, ``python -m batty --repo DIR ...``)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

BATTY = [sys.executable, "-m", "batty"]
# A person's commits in the sandboxes; no system or global git config reaches them.
GIT_ENV = {"GIT_AUTHOR_NAME": "Bench Person", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench Person", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("BATTY_", "GIT_"))}
    out.update(GIT_ENV)
    return out


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env())
    return proc.stdout.strip()


def batty(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*BATTY, "--repo", str(root), *args], cwd=root, capture_output=True,
                          text=True, env=env())
    if check and proc.returncode != 0:
        raise RuntimeError(f"batty {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def new_repo(root: Path, *, seats: int, test: str = "true", config: dict | None = None) -> Path:
    """A git repository with a little code, `batty init`, and ``config`` merged and committed."""
    root.mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_app.py").write_text("from app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    (root / "README.md").write_text("# sandbox\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "the project")
    batty(root, "init", "--agent", "shell", "--seats", str(seats), "--test", test)
    if config:
        path = root / "board" / "config.yaml"
        cfg = yaml.safe_load(path.read_text())
        for key, value in config.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key].update(value)
            else:
                cfg[key] = value
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        git(root, "add", "board/config.yaml")
        git(root, "commit", "-q", "-m", "config")
    return root


def set_sandbox(root: Path, mode: str) -> None:
    """``sandbox.mode`` of a sandbox repository, committed as a person would."""
    path = root / "board" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.setdefault("sandbox", {})["mode"] = mode
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    git(root, "add", "board/config.yaml")
    git(root, "commit", "-q", "-m", f"sandbox {mode}")


def copy_repo(src: Path, dst: Path) -> Path:
    """A fresh copy of a sandbox, its worktrees' links (absolute paths, both ways) pointed at
    the copy. (`git worktree repair` in the copy follows the copied links back to ``src`` and
    repairs the original instead.)"""
    if dst.exists():
        shutil.rmtree(dst)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    # the tasks' checkouts, repositories of their own, read the objects of the copy (issue 14)
    for alternates in (dst / ".batty" / "worktrees").glob("*/.git/objects/info/alternates"):
        alternates.write_text(alternates.read_text().replace(str(src), str(dst)))
    meta = dst / ".git" / "worktrees"
    for entry in meta.glob("*") if meta.exists() else ():
        for link in (entry / "gitdir", Path(entry.joinpath("gitdir").read_text().strip().replace(str(src), str(dst)))):
            if link.exists():
                link.write_text(link.read_text().replace(str(src), str(dst)))
    return dst


def wait_exited(root: Path, tasks: Sequence[str], timeout: float = 300) -> float:
    """Until every task's attempt-1 agent has its exit recorded in run.json: seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        done = 0
        for task in tasks:
            try:
                run = json.loads((root / ".batty" / "runs" / task / "1" / "run.json").read_text())
            except (OSError, ValueError):
                continue
            done += run.get("exit_code") is not None
        if done == len(tasks):
            return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError(f"the agents of {len(tasks)} tasks did not finish in {timeout}s")


def timed(fn: Callable[..., object], *args: object, **kw: object) -> float:
    """Wall seconds of one ``fn(*args, **kw)``."""
    start = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - start


def median_of(times: Sequence[float]) -> float:
    return statistics.median(times)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "–"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def compile_batty() -> None:
    """batty's bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE set (as on
    this machine) an editable install otherwise compiles every module it imports, every run."""
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "batty"), quiet=1)
