"""What verify and merge share: the fence, scratch trees, the trusted test run, evidence.

The test step never runs in the agent's worktree: it runs in a scratch checkout of the exact
commit, so nothing the agent left uncommitted or ignored (a planted sitecustomize.py, a
.pth file, a stray conftest.py) can reach it, with the trusted tests put back as the base has
them, under the test command as the base has it, with no secret in its environment, killed
with its whole process group when over time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batty.core.globs import matches
from batty.core.prompt import ALWAYS_PROTECTED
from batty.store import atomic, git, runscope, worktrees
from batty.store.paths import Paths
from batty.workflow import runnerfiles

# Files that configure the test runner itself are trusted whatever gates.trusted_tests says:
# a new conftest.py can make every test pass, a root pytest.py can print "1 passed" (issue 15;
# the list and why: batty/workflow/runnerfiles.py).
ALWAYS_TRUSTED = runnerfiles.ALWAYS
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


# Facts about two commits never change: verify and merge in one tick ask the same ones of the
# same task (its merge base with the base, its diff and size), once each, not twice.
_merge_bases: MutableMapping[Any, Any] = runscope.Memo("gate.merge_bases")
_diffs: MutableMapping[Any, Any] = runscope.Memo("gate.diffs")


def merge_base(root: Path, base: str, head: str) -> str:
    """The merge base of two commits (``base`` itself when git finds none)."""
    known = _merge_bases.get((base, head))
    if known is None:
        known = git.out(root, "merge-base", base, head, check=False) or base
        if git.is_oid(base) and git.is_oid(head):
            _merge_bases[(base, head)] = known
    return known


def changes(root: Path, a: str, b: str) -> list[Change]:
    """Every change from ``a`` to ``b``: renames (both names), deletions, mode changes, links."""
    return changes_and_lines(root, a, b, lines=False)[0]


def changes_and_lines(root: Path, a: str, b: str, *, lines: bool = True) -> tuple[list[Change], int]:
    """:func:`changes`, and the lines added plus removed (``--shortstat``), from one git diff."""
    known = _diffs.get((a, b))
    if known is not None:
        return list(known[0]), known[1]
    extra = ["--shortstat"] if lines else []
    raw = git.run(root, "diff", "--raw", *extra, "-z", "-M", "--no-abbrev", "--no-ext-diff", a, b).stdout
    count = 0
    if lines:
        stat = raw[raw.rfind("\0") + 1:] if "\0" in raw else raw
        count = _count_lines(stat)
        raw = raw[: len(raw) - len(stat)]
    chs = _parse_raw(raw)
    if lines and git.is_oid(a) and git.is_oid(b):
        _diffs[(a, b)] = (list(chs), count)
    return chs, count


def _count_lines(stat: str) -> int:
    import re

    return sum(int(n) for n in re.findall(r"(\d+) (?:insertion|deletion)", stat))


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


@dataclass
class History:
    """What the commits of ``a..b`` did, from one ``git log`` (:func:`history`)."""

    paths: list[str]            # every path a single commit touched
    commits: int                # the commits listed (merges too)
    changes: list[Change] | None  # the tree diff from the range's start, when the log says it
    boundary: list[str] = field(default_factory=list)  # parents of listed commits, not listed
    linear: bool = True         # every commit listed has one parent
    since: str | None = None    # the commit ``changes`` is the diff from (the one's parent)


def history(root: Path, a: str, b: str, *, landing: bool = False) -> History:
    """Every path a single commit in ``a..b`` touched, and how many commits there are.

    The tree diff alone is not enough: a rebase replays commits one by one, so a commit that
    edits board/ and a merge that hides the edit again would land the edit (review finding).
    On a branch (verify) every commit but merges counts: a merge of the base into the branch
    brings the base's own changes, and the commits it hides are counted one by one (a merge
    shows no diff in a log). For what lands (``landing``) the first-parent chain counts, a merge
    against its first parent.

    When ``a..b`` is one commit with one parent (an agent's one commit, or its rebased copy),
    that commit's diff is the tree diff from its parent (``since``: ``a`` itself, or the merge
    base when ``a`` moved on since the branch forked), with the same rename detection:
    ``changes`` holds it, and the caller needs no ``git diff`` of its own (issue 4: a git process
    a task in verify and one in merge). Otherwise ``changes`` is None."""
    how = ["--first-parent", "-m"] if landing else []
    raw = git.run(root, "log", *how, "--raw", "--shortstat", "-z", "-M", "--no-abbrev",
                  "--format=%x01%H %P", "--no-ext-diff", f"{a}..{b}").stdout
    items = raw.split("\0")
    touched: set[str] = set()
    commits: list[list[str]] = []   # the parents of each commit listed
    listed: set[str] = set()
    rows: list[str] = []            # the raw records of the last commit, as _parse_raw reads them
    lines = 0                       # the last commit's lines added and removed
    i = 0
    while i < len(items):
        item = items[i].lstrip("\n")
        if item.startswith(" "):  # a commit's shortstat, then maybe the next commit's header
            stat, _, item = item.partition("\n")
            lines = _count_lines(stat)
            item = item.lstrip("\n")
        if item.startswith("\x01"):  # a commit: "<sha> <parents>"; its records follow
            sha, *parents = item[1:].split(" ")
            listed.add(sha)
            commits.append(parents)
            rows, lines = [], 0
            i += 1
            continue
        if not item.startswith(":"):
            i += 1
            continue
        # paths are taken by position, never by what they hold: a path may hold any byte but NUL
        n = 2 if item.split(" ")[-1][:1] in ("R", "C") else 1
        names = items[i + 1:i + 1 + n]
        touched.update(names)
        rows += [item, *names]
        i += 1 + n
    boundary = sorted({p for ps in commits for p in ps if p and p not in listed})
    changes = None
    if len(commits) == 1 and len(commits[0]) == 1 and commits[0] == boundary and git.is_oid(b):
        # one commit, one parent outside the range: the start itself, or (a..b from a base the
        # branch forked from earlier) the merge base; its diff is the tree diff from there
        changes = _parse_raw("\0".join([*rows, ""]))
        _diffs[(boundary[0], b)] = (list(changes), lines)
    return History(sorted(p for p in touched if p), len(commits), changes, boundary,
                   all(len(ps) == 1 for ps in commits), boundary[0] if changes is not None else None)


def branch_history(root: Path, base: str, head: str) -> tuple[str, History]:
    """(the merge base of ``base`` and ``head``, :func:`history` of merge base..head) from one
    ``git log base..head`` when the branch is a line of commits off one commit of the base's
    history (that commit is the merge base, and the two ranges hold the same commits); with
    merges in it, from ``git merge-base`` and a log of its own."""
    h = history(root, base, head)
    if h.commits and h.linear and len(h.boundary) == 1:
        mb = h.boundary[0]
        if git.is_oid(base) and git.is_oid(head):
            _merge_bases[(base, head)] = mb
        return mb, h
    if not h.commits:
        return merge_base(root, base, head), h  # nothing on the branch: its head is in the base
    mb = merge_base(root, base, head)
    return mb, history(root, mb, head)


def touched(chs: Sequence[Change]) -> list[str]:
    paths: list[str] = []
    for c in chs:
        paths.append(c.path)
        if c.old_path:
            paths.append(c.old_path)
    return sorted(set(paths))


def fence(root: Path, chs: Sequence[Change], head: str, *, scope: Sequence[str],
          protected: Sequence[str], commits: Sequence[str] = (), submodules: bool = False) -> Fence:
    """``chs``: the tree diff; ``commits``: every path a single commit touched (History.paths).
    ``submodules``: gates.allow_submodules."""
    from batty.core import fencepaths

    files = sorted(set(touched(chs)) | set(commits))
    bad_names = [f for f in files if fencepaths.bad_path(f)]
    if bad_names:  # a newline in a path fooled the globs and every person reading it (issue 15)
        return Fence(False, "bad-path", "paths holding control characters: " +
                     ", ".join(fencepaths.one_line(f) for f in bad_names[:10]), files)
    guarded = (*ALWAYS_PROTECTED, *protected)
    bad = [f for f in files if matches(f, guarded)]
    if bad:
        return Fence(False, "protected", "touches protected paths: " + ", ".join(bad[:10]), files)
    for c in chs:
        if c.new_mode == "160000" and not submodules:
            return Fence(False, "submodule", f"adds a submodule at {c.path} (gates.allow_submodules is false)",
                         files)
    if any(c.new_mode == "120000" for c in chs):
        found = _links_fence(root, chs, head, scope, guarded, files)
        if found is not None:
            return found
    if scope:
        outside = [f for f in files if not matches(f, scope)]
        if outside:
            return Fence(False, "scope", "changes outside the scope: " + ", ".join(outside[:10]), files)
    return Fence(True, files=files)


_links: dict[str, dict[str, str]] = {}


def links_in(root: Path, rev: str) -> dict[str, str]:
    """Every symbolic link in commit ``rev``'s tree: path -> target (two git processes)."""
    known = _links.get(rev)
    if known is not None:
        return known
    raw = git.run(root, "ls-tree", "-r", "-z", "--full-tree", rev).stdout
    paths = []
    for row in raw.split("\0"):
        if row.startswith("120000 "):
            paths.append(row.split("\t", 1)[1])
    out: dict[str, str] = {}
    if paths:
        blobs = _read_blobs(root, rev, paths)
        out = {p: (b or b"").decode("utf-8", "surrogateescape") for p, b in blobs.items()}
    if git.is_oid(rev):
        if len(_links) > 64:
            _links.clear()
        _links[rev] = out
    return out


def _links_fence(root: Path, chs: Sequence[Change], head: str, scope: Sequence[str],
                 guarded: Sequence[str], files: list[str]) -> Fence | None:
    """Each link the change adds or alters, resolved inside ``head``'s own tree through every
    hop (three links, each lexically inside the scope, chained to /etc/passwd: issue 15); and
    no path the change writes may lie beyond a link."""
    from batty.core import fencepaths

    links = links_in(root, head)
    for c in chs:
        if c.status != "D":
            through = fencepaths.under_link(c.path, links)
            if through is not None:
                return Fence(False, "symlink", f"{c.path} lies beyond the link {through}", files)
    added = [c for c in chs if c.new_mode == "120000"]
    for c in added:  # the worst first: out of the repository
        if fencepaths.resolve(c.path, links) is None:
            return Fence(False, "symlink", f"{c.path} links out of the repository ({links.get(c.path, '')})",
                         files)
    for c in added:
        target = links.get(c.path, "")
        resolved = fencepaths.resolve(c.path, links) or ""
        if resolved and matches(resolved, guarded):
            return Fence(False, "symlink", f"{c.path} links into a protected path ({target} -> {resolved})", files)
        if scope and not matches(resolved, scope):
            return Fence(False, "scope", f"{c.path} links outside the scope ({target} -> {resolved or '.'})", files)
    return None


@contextmanager
def scratch(paths: Paths, name: str, sha: str) -> Iterator[Path]:
    """A detached checkout of ``sha`` under .batty/scratch/, removed afterwards: a linked
    worktree of the repository (the tests see a checkout git knows), made and removed in fewer
    git processes than `git worktree add`/`remove` (store/worktrees.py)."""
    folder = paths.state / "scratch" / name
    entry = worktrees.add_detached(paths.root, folder, sha, entry=f"batty-{name}")
    try:
        yield folder
    finally:
        worktrees.discard(paths.root, folder, entry)


def trusted_globs(trusted: Sequence[str]) -> tuple[str, ...]:
    return (*trusted, *ALWAYS_TRUSTED)


def trusted_changes(tree: Path, base_sha: str, trusted: Sequence[str],
                    head: str = "HEAD") -> tuple[list[str], list[str]]:
    """(trusted files ``head`` has and ``base_sha`` has not, trusted files it has otherwise or
    not at all), from one ``git diff`` of base..head."""
    globs = trusted_globs(trusted)
    rows = git.out(tree, "diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", base_sha, head).split("\0")
    added: list[str] = []
    restore: list[str] = []
    for status, path in zip(rows[0::2], rows[1::2], strict=False):
        if path and matches(path, globs):
            (added if status.startswith("A") else restore).append(path)
    return added, restore


def trusted_in(chs: Sequence[Change], trusted: Sequence[str]) -> tuple[list[str], list[str]]:
    """:func:`trusted_changes` from a tree diff base..HEAD the caller has already (a rename is
    its old path deleted and its new one added, as ``--no-renames`` shows it)."""
    globs = trusted_globs(trusted)
    added: list[str] = []
    restore: list[str] = []
    for c in chs:
        if c.old_path is not None:
            if matches(c.old_path, globs):
                restore.append(c.old_path)
            if matches(c.path, globs):
                added.append(c.path)
        elif matches(c.path, globs):
            (added if c.status == "A" else restore).append(c.path)
    return added, restore


_between: MutableMapping[Any, Any] = runscope.Memo("gate.between")


def trusted_from_branch(root: Path, chs: Sequence[Change], merge_base: str, base_sha: str,
                        trusted: Sequence[str]) -> tuple[list[str], list[str]] | None:
    """:func:`trusted_changes` of base..head from the branch's diff merge_base..head (``chs``),
    when the base changed no trusted file since the merge base (then each trusted file is at the
    base as at the merge base); None when it did. What the base changed since the merge base is
    asked of git once for all the tasks that share both (one dispatch, one board commit since)."""
    if merge_base != base_sha:
        key = (merge_base, base_sha)
        moved = _between.get(key)
        if moved is None:
            moved = [p for p in git.out(root, "diff", "--name-only", "-z", "--no-renames",
                                        "--no-ext-diff", merge_base, base_sha).split("\0") if p]
            if git.is_oid(merge_base) and git.is_oid(base_sha):
                _between[key] = moved
        globs = trusted_globs(trusted)
        if any(matches(p, globs) for p in moved):
            return None
    return trusted_in(chs, trusted)


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


# What a commit holds at a path never changes: the base's packets and config (read for the test
# command, once in verify and once in merge for every task) are kept for the process by (commit,
# path), and a step reads all it will need in one `cat-file --batch` (prefetch).
_blobs: MutableMapping[Any, Any] = runscope.Memo("gate.blobs")
# commit -> an earlier commit whose board/ it holds unchanged: merge moved the base from that one
# to this one, and every commit of the first-parent chain between was fenced off board/ (the
# landing fence; board/ is always protected). A landing's next base reads its board files there.
_board_as: MutableMapping[Any, Any] = runscope.Memo("gate.board_as")


def same_board(new: str, old: str) -> None:
    """``new`` (a base merge moved to from ``old``) holds ``old``'s board/: see _board_as."""
    if new != old:
        _board_as[new] = old


def prefetch(root: Path, rev: str, paths: Sequence[str]) -> None:
    """Read what ``rev`` holds at ``paths`` now, in one git process, for base_files to serve."""
    base_files(root, rev, paths)


def base_files(root: Path, rev: str, paths: Sequence[str]) -> dict[str, bytes | None]:
    """What commit ``rev`` holds at each path (None where it holds nothing), in one
    ``cat-file --batch`` for whatever this process has not read there already."""
    if not git.is_oid(rev):  # a name (a branch may move): read, and keep nothing
        fresh = _read_blobs(root, rev, paths)
        return {p: fresh.get(p) for p in paths}
    src = rev
    if all(p.startswith("board/") for p in paths):
        seen = {src}
        while src in _board_as and _board_as[src] not in seen:
            src = _board_as[src]
            seen.add(src)
    missing = [p for p in paths if (src, p) not in _blobs]
    if missing:
        for path, blob in _read_blobs(root, src, missing).items():
            _blobs[(src, path)] = blob
    return {p: _blobs.get((src, p)) for p in paths}


def _read_blobs(root: Path, rev: str, paths: Sequence[str]) -> dict[str, bytes | None]:
    """One ``cat-file --batch``; a path git did not answer for (it failed) is left out."""
    out: dict[str, bytes | None] = {}
    data = git.run(root, "cat-file", "--batch", input="".join(f"{rev}:{p}\n" for p in paths).encode(),
                   text=False, check=False).stdout
    pos = 0
    for path in paths:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
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
    packet_path, config_path = f"board/tasks/{task_id}.yaml", "board/config.yaml"
    blobs = base_files(root, base_sha, [packet_path, config_path])
    packet_blob, config_blob = blobs[packet_path], blobs[config_path]
    if packet_blob is not None:
        test = _test_in(packet_blob, "packet")
        if test is not None and test.strip():
            return test
    if config_blob is not None:
        test = _test_in(config_blob, "config")
        if test is not None:
            return test
    return default


_tests_in: MutableMapping[Any, Any] = runscope.Memo("gate.tests_in")


def _test_in(blob: bytes, kind: str) -> str | None:
    """The `test` of a packet's text, or the `gates.test` of a config's; parsed once a process
    for each text (every task of a step reads the same config)."""
    key = (blob, kind)
    if key in _tests_in:
        return _tests_in[key]
    import yaml

    from batty.core.yamlx import Loader, plain
    from batty.errors import InvalidInput

    found: str | None = None
    try:
        plain(blob, kind)  # an alias bomb on the base is not parsed: the default command runs
        data = yaml.load(blob, Loader=Loader) or {}
        if kind == "config":
            data = (data.get("gates") if isinstance(data, dict) else None) or {}
        if isinstance(data, dict) and isinstance(data.get("test"), str):
            found = str(data["test"])
    except (yaml.YAMLError, InvalidInput):
        pass
    if len(_tests_in) > 256:
        _tests_in.clear()
    _tests_in[key] = found
    return found


def test_env(home: Path) -> dict[str, str]:
    """No secret reaches code under test: the test runs the agent's code."""
    env = {k: os.environ[k] for k in TEST_ENV_KEYS if k in os.environ}
    # the checkout must not shadow the runner (issue 15): no relative or empty PATH entry (a
    # `./pytest` of the branch's), and Python's safe-path mode, so `python -m pytest` does not
    # put the checkout first on sys.path (a root pytest.py printed "1 passed")
    path = [d for d in env.get("PATH", "").split(os.pathsep) if d.startswith("/")]
    env["PATH"] = os.pathsep.join(path) or "/usr/local/bin:/usr/bin:/bin"
    env.setdefault("LANG", "C.UTF-8")
    env.update(HOME=str(home), CI="1", PYTHONDONTWRITEBYTECODE="1", PYTHONSAFEPATH="1")
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


def start_test_process(command: str, tree: Path, log: Any, env: dict[str, str], *, pol: Any,
                       home: Path, shared: Sequence[Path] = ()) -> tuple[subprocess.Popen, bool]:
    """The one place the gate starts a test command (a check's ``run``): bash in ``tree``, its
    own session, output to ``log``, inside the sandbox of ``pol`` (SPEC 11: the checkout and a
    private ``home`` writable, ``shared``, the run's report folder, writable too, no network
    unless ``gates.network: on``). The process, and whether it is boxed."""
    from batty.runner import sandbox

    argv = sandbox.gate_argv(["bash", "-c", command], pol=pol, tree=tree, home=home,
                             env_path=env["PATH"], shared=shared)
    proc = subprocess.Popen(argv, cwd=tree, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True, close_fds=True)
    return proc, argv[0] != "bash"


def end_group(proc: subprocess.Popen, *, at_once: bool = False) -> None:
    """End ``proc``'s process group (it was started in a session of its own), whatever it
    started: SIGTERM and a moment's grace, then SIGKILL; ``at_once``: SIGKILL only."""
    for sig in (signal.SIGKILL,) if at_once else (signal.SIGTERM, signal.SIGKILL):
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


def run_tests(tree: Path, command: str, *, timeout_s: float, log_path: Path,
              env: dict[str, str] | None = None, pol: Any = None, shared: Sequence[Path] = ()) -> TestRun:
    """``command`` (a command line from the base branch, run by bash) in ``tree``; fails closed.
    ``env``: added to the test environment (the report plugin's settings); ``pol``: the sandbox
    (a batty.runner.sandbox.Policy; bwrap when None, never a silent fallback); ``shared``:
    folders the run writes outside its checkout (the report plugin's)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="batty-gate-home-") as home, open(log_path, "wb") as log:
        log.write(f"$ {command}\n".encode())
        log.flush()
        try:
            from batty.runner import sandbox

            proc, boxed = start_test_process(command, tree, log, {**test_env(Path(home)), **(env or {})},
                                             pol=pol or sandbox.Policy(), home=Path(home), shared=shared)
        except OSError as e:
            return TestRun(False, "error", None, 0.0, str(e), command, log_path)
        reason: str | None = None
        try:
            code: int | None = _wait(proc, timeout_s)
        except subprocess.TimeoutExpired:
            reason, code = "timeout", None
        # the whole process group goes, whatever it started (passing or not); a sandbox goes at
        # once (what ran inside dies with it: no SIGTERM and grace for stragglers to wait out)
        end_group(proc, at_once=boxed)
        if code is None:
            proc.wait()
    # the tests ran the branch's code, which may have written a driver into .git/config: batty's
    # git reads the drivers to blank again
    git.forget_drivers()
    duration = round(time.monotonic() - start, 3)
    tail = atomic.tail_lines(log_path, OUTPUT_TAIL)
    if reason is None:
        if code == 0:
            return TestRun(True, None, code, duration, tail, command, log_path)
        reason = "no-tests" if code == 5 else "tests"
    return TestRun(False, reason, code, duration, tail, command, log_path)


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
