"""What verify and merge share: the fence, scratch trees, the trusted test run, evidence.

The test step never runs in the agent's worktree: it runs in a scratch checkout of the exact
commit, so nothing the agent left uncommitted or ignored (a planted sitecustomize.py, a
.pth file, a stray conftest.py) can reach it, with the trusted tests put back as the base has
them, under the test command as the base has it, with no secret in its environment, killed
with its whole process group when over time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batty.core.globs import matches
from batty.core.prompt import ALWAYS_PROTECTED
from batty.paths import Paths
from batty.store import git

# Files that configure the test runner itself are trusted whatever gates.trusted_tests says:
# a new conftest.py can make every test pass.
ALWAYS_TRUSTED = ("**/conftest.py", "pytest.ini", "**/pytest.ini")
TEST_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TERM", "TZ")
OUTPUT_TAIL = 40


@dataclass(frozen=True)
class Change:
    status: str          # A M D R C T (type change)
    path: str
    old_path: str | None
    old_mode: str
    new_mode: str


@dataclass
class Fence:
    ok: bool
    reason: str | None = None     # protected | scope | symlink | submodule
    detail: str = ""
    files: list[str] = field(default_factory=list)


@dataclass
class TestRun:
    passed: bool
    reason: str | None            # tests | timeout | no-tests | error
    exit_code: int | None
    duration_s: float
    output_tail: str
    command: str
    log: Path | None = None


def changes(root: Path, a: str, b: str) -> list[Change]:
    """Every change from ``a`` to ``b``: renames (both names), deletions, mode changes, links."""
    return changes_and_lines(root, a, b, lines=False)[0]


def changes_and_lines(root: Path, a: str, b: str, *, lines: bool = True) -> tuple[list[Change], int]:
    """:func:`changes`, and the lines added plus removed (``--shortstat``), from one git diff."""
    extra = ["--shortstat"] if lines else []
    raw = git.run(root, "diff", "--raw", *extra, "-z", "-M", "--no-abbrev", "--no-ext-diff", a, b).stdout
    count = 0
    if lines:
        import re

        stat = raw[raw.rfind("\0") + 1:] if "\0" in raw else raw
        count = sum(int(n) for n in re.findall(r"(\d+) (?:insertion|deletion)", stat))
        raw = raw[: len(raw) - len(stat)]
    return _parse_raw(raw), count


def _parse_raw(raw: str) -> list[Change]:
    items = raw.split("\0")
    out: list[Change] = []
    i = 0
    while i < len(items) - 1:
        head = items[i]
        if not head.startswith(":"):
            i += 1
            continue
        old_mode, new_mode, _o, _n, status = head[1:].split(" ")
        letter = status[0]
        if letter in "RC":
            out.append(Change(letter, items[i + 2], items[i + 1], old_mode, new_mode))
            i += 3
        else:
            out.append(Change(letter, items[i + 1], None, old_mode, new_mode))
            i += 2
    return out


def commit_paths(root: Path, a: str, b: str, *, landing: bool = False) -> list[str]:
    """Every path a single commit in ``a..b`` touched.

    The tree diff alone is not enough: a rebase replays commits one by one, so a commit that
    edits board/ and a merge that hides the edit again would land the edit (review finding).
    On a branch (verify) every commit but merges counts: a merge of the base into the branch
    brings the base's own changes, and the commits it hides are counted one by one. For what
    lands (``landing``) the first-parent chain counts, a merge against its first parent."""
    how = ["--first-parent", "-m"] if landing else ["--no-merges"]
    raw = git.run(root, "log", *how, "--raw", "-z", "-M", "--no-abbrev", "--format=", "--no-ext-diff",
                  f"{a}..{b}").stdout
    items = [x.lstrip("\n") for x in raw.split("\0")]
    out: set[str] = set()
    i = 0
    while i < len(items):
        head = items[i]
        if not head.startswith(":"):
            i += 1
            continue
        status = head.split(" ")[-1]
        if status[:1] in ("R", "C"):
            out.update(items[i + 1:i + 3])
            i += 3
        else:
            out.add(items[i + 1])
            i += 2
    return sorted(p for p in out if p)


def touched(chs: Sequence[Change]) -> list[str]:
    paths: list[str] = []
    for c in chs:
        paths.append(c.path)
        if c.old_path:
            paths.append(c.old_path)
    return sorted(set(paths))


def fence(root: Path, chs: Sequence[Change], head: str, *, scope: Sequence[str],
          protected: Sequence[str], commits: Sequence[str] = ()) -> Fence:
    """``chs``: the tree diff; ``commits``: every path a single commit touched (commit_paths)."""
    files = sorted(set(touched(chs)) | set(commits))
    guarded = (*ALWAYS_PROTECTED, *protected)
    bad = [f for f in files if matches(f, guarded)]
    if bad:
        return Fence(False, "protected", "touches protected paths: " + ", ".join(bad[:10]), files)
    for c in chs:
        if c.new_mode == "160000":
            return Fence(False, "submodule", f"adds a submodule at {c.path}", files)
        if c.new_mode == "120000":
            target = git.run(root, "cat-file", "blob", f"{head}:{c.path}").stdout
            resolved = os.path.normpath(os.path.join(os.path.dirname(c.path), target))
            if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
                return Fence(False, "symlink", f"{c.path} links out of the repository ({target})", files)
            if matches(resolved, guarded):
                return Fence(False, "symlink", f"{c.path} links into a protected path ({target})", files)
            if scope and not matches(resolved, scope):
                return Fence(False, "scope", f"{c.path} links outside the scope ({target})", files)
    if scope:
        outside = [f for f in files if not matches(f, scope)]
        if outside:
            return Fence(False, "scope", "changes outside the scope: " + ", ".join(outside[:10]), files)
    return Fence(True, files=files)


@contextmanager
def scratch(paths: Paths, name: str, sha: str) -> Iterator[Path]:
    """A detached checkout of ``sha`` under .batty/scratch/, removed afterwards."""
    folder = paths.state / "scratch" / name
    if folder.exists():
        git.run(paths.root, "worktree", "remove", "--force", "--force", str(folder), check=False)
        shutil.rmtree(folder, ignore_errors=True)
        git.run(paths.root, "worktree", "prune", check=False)
    folder.parent.mkdir(parents=True, exist_ok=True)
    git.run(paths.root, "worktree", "add", "--detach", "-f", str(folder), sha)
    try:
        yield folder
    finally:
        gone = git.run(paths.root, "worktree", "remove", "--force", "--force", str(folder), check=False)
        if gone.returncode != 0 or folder.exists():  # only then is there something to prune
            shutil.rmtree(folder, ignore_errors=True)
            git.run(paths.root, "worktree", "prune", check=False)


def trusted_globs(trusted: Sequence[str]) -> tuple[str, ...]:
    return (*trusted, *ALWAYS_TRUSTED)


def trusted_changes(tree: Path, base_sha: str, trusted: Sequence[str]) -> tuple[list[str], list[str]]:
    """(trusted files ``tree``'s HEAD has and ``base_sha`` has not, trusted files it has
    otherwise or not at all), from one ``git diff`` of base..HEAD."""
    globs = trusted_globs(trusted)
    rows = git.out(tree, "diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", base_sha, "HEAD").split("\0")
    added: list[str] = []
    restore: list[str] = []
    for status, path in zip(rows[0::2], rows[1::2], strict=False):
        if path and matches(path, globs):
            (added if status.startswith("A") else restore).append(path)
    return added, restore


def put_back_trusted(tree: Path, base_sha: str, trusted: Sequence[str],
                     known: tuple[list[str], list[str]] | None = None) -> list[str]:
    """Make every trusted file in ``tree`` (a clean checkout of its HEAD) exactly what it is at
    ``base_sha``: changed ones restored, deleted ones brought back, added ones removed. Returns
    what it changed. ``known``: :func:`trusted_changes`, when the caller has it already."""
    added, restore = known if known is not None else trusted_changes(tree, base_sha, trusted)
    for f in added:  # not in the base: a trusted file the branch planted
        (tree / f).unlink(missing_ok=True)
    if restore:
        git.run(tree, "checkout", base_sha, "--", *restore)
    return sorted(added + restore)


def base_files(root: Path, rev: str, paths: Sequence[str]) -> dict[str, bytes | None]:
    """What ``rev`` holds at each path (None where it holds nothing), in one ``cat-file --batch``."""
    out: dict[str, bytes | None] = {}
    data = git.run(root, "cat-file", "--batch", input="".join(f"{rev}:{p}\n" for p in paths).encode(),
                   text=False, check=False).stdout
    pos = 0
    for path in paths:
        nl = data.find(b"\n", pos)
        if nl < 0:
            out[path] = None
            continue
        header = data[pos:nl].split()
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            out[path] = data[nl + 1: nl + 1 + size]
            pos = nl + 1 + size + 1
        else:  # "<name> missing", or not a blob
            out[path] = None
            pos = nl + 1 + (int(header[2]) + 1 if len(header) == 3 and header[2].isdigit() else 0)
    return out


def base_test_command(root: Path, base_sha: str, task_id: str, default: str) -> str:
    """The test command as the base branch has it: the packet's `test`, else gates.test."""
    import yaml

    from batty.core.yamlx import Loader

    packet_path, config_path = f"board/tasks/{task_id}.yaml", "board/config.yaml"
    blobs = base_files(root, base_sha, [packet_path, config_path])
    packet_blob, config_blob = blobs[packet_path], blobs[config_path]
    if packet_blob is not None:
        try:
            data = yaml.load(packet_blob, Loader=Loader) or {}
            if isinstance(data, dict) and isinstance(data.get("test"), str) and data["test"].strip():
                return str(data["test"])
        except yaml.YAMLError:
            pass
    if config_blob is not None:
        try:
            data = yaml.load(config_blob, Loader=Loader) or {}
            gates = (data.get("gates") if isinstance(data, dict) else None) or {}
            if isinstance(gates, dict) and isinstance(gates.get("test"), str):
                return str(gates["test"])
        except yaml.YAMLError:
            pass
    return default


def test_env(home: Path) -> dict[str, str]:
    """No secret reaches code under test: the test runs the agent's code."""
    env = {k: os.environ[k] for k in TEST_ENV_KEYS if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    env.update(HOME=str(home), CI="1", PYTHONDONTWRITEBYTECODE="1", BATTY_GATE="1")
    return env


def _wait(proc: subprocess.Popen, timeout_s: float) -> int:
    """``proc.wait(timeout_s)`` woken by the kernel when the process exits (a pidfd), not by
    Popen's polling, whose sleeps grow to 50 ms: a test run of a few milliseconds was waited
    on for tens."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        return proc.wait(timeout=timeout_s)
    try:
        import select

        ready, _, _ = select.select([fd], [], [], timeout_s)
        if not ready:
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
        return proc.wait()
    finally:
        os.close(fd)


def run_tests(tree: Path, command: str, *, timeout_s: float, log_path: Path) -> TestRun:
    """``command`` (a command line from the base branch, run by bash) in ``tree``; fails closed."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="batty-gate-home-") as home, open(log_path, "wb") as log:
        log.write(f"$ {command}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(["bash", "-c", command], cwd=tree, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, env=test_env(Path(home)),
                                    start_new_session=True, close_fds=True)
        except OSError as e:
            return TestRun(False, "error", None, 0.0, str(e), command, log_path)
        reason: str | None = None
        try:
            code: int | None = _wait(proc, timeout_s)
        except subprocess.TimeoutExpired:
            reason, code = "timeout", None
        # the whole process group goes, whatever it started (passing or not)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGTERM:
                time.sleep(0.05)
        if code is None:
            proc.wait()
    # the tests ran the branch's code, which may have written a driver into .git/config: batty's
    # git reads the drivers to blank again
    git.forget_drivers()
    duration = round(time.monotonic() - start, 3)
    tail = _tail(log_path)
    if reason is None:
        if code == 0:
            return TestRun(True, None, code, duration, tail, command, log_path)
        reason = "no-tests" if code == 5 else "tests"
    return TestRun(False, reason, code, duration, tail, command, log_path)


def _tail(path: Path, lines: int = OUTPUT_TAIL) -> str:
    try:
        data = path.read_bytes()[-16000:].decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def feedback(gate: str, reason: str | None, detail: str, tail: str = "") -> str:
    text = f"The {gate} gate failed: {reason}. {detail}".strip()
    if tail:
        text += "\n\nLast lines of output:\n" + tail
    return text + "\n"


def evidence(dirpath: Path, result: dict[str, Any]) -> Path:
    from batty.store import atomic

    dirpath.mkdir(parents=True, exist_ok=True)
    atomic.write_json(dirpath / "result.json", result)
    return dirpath / "result.json"
