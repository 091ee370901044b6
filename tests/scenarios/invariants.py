"""The ten invariants of issue 8, checked on a real sandbox repository between two commands.

Each check reads the repository as it is on disk (packets, BOARD.md, the event log, git's refs
and reflog, worktrees, run folders, lock files, live processes) and returns what is wrong as a
list of lines; :class:`Watch` runs them all and keeps what it must remember between checks
(where the base started, the trees it already tested). The scenarios check at their end, the
state machine of tests/test_fuzz.py after every step.

Three checks hold only at a quiet point, which the caller says with ``settled``: (6) and (7)
after a reconcile, (9) after a doctor (a tick that ran to its end does both). The others hold
always, a SIGKILL at any failpoint included.

Every check was seen to fail once on a deliberately broken state (tests/scenarios/
test_invariants_bite.py keeps those cases), so none of them is true by construction.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from batty import runner
from batty.core import board as boardmod
from batty.core.ids import ID_RE
from batty.core.lifecycle import Actor, Status, allowed
from batty.core.packet import Packet
from batty.errors import InvalidInput, NotFound
from batty.store import locks
from batty.store import packets as store
from batty.store.paths import Paths

STATUS_KINDS = ("task.status", "task.created", "reconcile.state")


# ------------------------------------------------------------------ reading


def git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def read_events(paths: Paths) -> tuple[list[dict[str, Any]], list[int]]:
    """Every event that parses, and the line numbers of those that do not (torn writes)."""
    out: list[dict[str, Any]] = []
    bad: list[int] = []
    try:
        raw = paths.events.read_bytes()
    except FileNotFoundError:
        return out, bad
    for n, line in enumerate(raw.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:
            bad.append(n)
            continue
        if not isinstance(e, dict) or not e.get("id") or not e.get("kind"):
            bad.append(n)
            continue
        out.append(e)
    return out, bad


@dataclass
class Read:
    """The packets as the files say now: parsed one by one, no cache of batty's in between."""

    by_id: dict[str, Packet] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # id -> what is wrong

    def __iter__(self) -> Iterator[Packet]:
        return iter(self.by_id.values())


def load(paths: Paths) -> Read:
    out = Read()
    for f in sorted(paths.tasks.glob("*.yaml")):
        try:
            p = store.parse_file(f, paths.rel(f))
        except InvalidInput as e:
            out.problems[f.stem] = str(e)
        except NotFound:
            continue
        else:
            out.by_id[p.id] = p
    return out


def packet_ids_on_disk(paths: Paths) -> set[str]:
    """Every task that has a packet file, valid or not: a garbled packet is still a task."""
    return {f.stem for f in paths.tasks.glob("*.yaml") if ID_RE.match(f.stem)}


def last_status(events: Iterable[dict[str, Any]]) -> dict[str, str]:
    last: dict[str, str] = {}
    for e in events:
        if e["kind"] not in STATUS_KINDS or not e.get("task"):
            continue
        d = e.get("data") or {}
        to = d.get("status") if e["kind"] == "task.created" else d.get("to")
        if to:
            last[e["task"]] = to
    return last


def code_tree(root: Path, sha: str) -> str:
    """The top-level tree of ``sha`` without board/ (batty's own commits change only that)."""
    rows = git(root, "ls-tree", sha).splitlines()
    return "\n".join(r for r in rows if not r.endswith("\tboard"))


def base_moves(paths: Paths, base: str) -> list[tuple[str, str]]:
    """Every (old, new) the base branch moved by, oldest first, from its reflog file."""
    common = Path(git(paths.root, "rev-parse", "--git-common-dir"))
    if not common.is_absolute():
        common = paths.root / common
    log = common / "logs" / "refs" / "heads" / base
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


# ------------------------------------------------------------------ the checks


def check_packets(paths: Paths, garbled: set[str], events: list[dict[str, Any]]) -> list[str]:
    """(1) Every packet parses (but those the test garbled on purpose), its status is a
    lifecycle status, and every status change in the log is one the lifecycle allows, from
    the status the task had."""
    out = []
    packets = load(paths)
    for tid, problem in packets.problems.items():
        if tid not in garbled:
            out.append(f"(1) {problem}")
    statuses = {s.value for s in Status}
    for p in packets:
        if p.status.value not in statuses:
            out.append(f"(1) {p.id}: status {p.status!r} is no lifecycle status")
    was: dict[str, str] = {}
    for e in events:
        task, d = e.get("task"), e.get("data") or {}
        if e["kind"] == "task.created":
            if d.get("status") not in statuses:
                out.append(f"(1) {task} created with status {d.get('status')!r}")
            was[task] = d.get("status")
        elif e["kind"] in ("task.status", "reconcile.state"):
            frm, to = d.get("from"), d.get("to")
            if to not in statuses:
                out.append(f"(1) {task}: {e['kind']} to {to!r}, no lifecycle status")
            if e["kind"] == "task.status":
                try:
                    ok = allowed(Status(frm), Status(to), Actor(d.get("by")))
                except ValueError:
                    ok = False
                if not ok:
                    out.append(f"(1) {task}: {d.get('by')} moved it {frm} -> {to}, which the "
                               "lifecycle does not allow")
                if task in was and was[task] != frm:
                    out.append(f"(1) {task}: moved from {frm} but the log had it {was[task]}")
            was[task] = to
    return out


@dataclass
class Live:
    """Processes of the sandbox now: wrappers by (task, seat), agent sessions by task."""

    wrappers: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)  # pid, seat, run
    sessions: dict[str, set[int]] = field(default_factory=dict)


def live(paths: Paths) -> Live:
    found = Live()
    worktrees = str(paths.worktrees.resolve()) + os.sep
    runs = str((paths.state / "runs").resolve()) + os.sep
    wrappers: list[tuple[int, int, str, tuple[int, str, str]]] = []  # pid, ppid, task, entry
    for proc in psutil.process_iter(["pid", "ppid", "cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = proc.info["cmdline"] or []
            cwd = proc.info["cwd"] or ""
            if "batty.runner.wrap" in cmd and cmd[-1].startswith(runs):
                run_dir = Path(cmd[-1])
                run = runner.read_run(run_dir) or {}
                if run.get("exit_code") is not None or run.get("ended"):
                    continue  # its agent is gone and recorded: the wrapper only logs and exits
                task = run_dir.relative_to(runs).parts[0]
                spec = json.loads((run_dir / "launch.json").read_text())
                wrappers.append((proc.pid, proc.info["ppid"], task,
                                 (proc.pid, str(spec.get("seat")), str(run_dir.relative_to(runs)))))
            elif (cwd + os.sep).startswith(worktrees):
                task = Path(cwd).relative_to(worktrees).parts[0]
                found.sessions.setdefault(task, set()).add(os.getsid(proc.pid))
        except (psutil.Error, OSError, ValueError, IndexError):
            continue
    # A wrapper's child between fork and exec (the agent it is starting) still shows the
    # wrapper's command line: it is that wrapper, not a second one (roadmap T-10: "a second
    # live wrapper", seen once under two workers, was this window)
    pids = {(pid, entry[2]) for pid, _, _, entry in wrappers}
    for _pid, ppid, task, entry in wrappers:
        if (ppid, entry[2]) not in pids:
            found.wrappers.setdefault(task, []).append(entry)
    return found


def check_agents(paths: Paths, now: Live) -> list[str]:
    """(2) No task has two live agents: at most one wrapper, and one agent session, a task."""
    out = []
    for task, ws in now.wrappers.items():
        if len(ws) > 1:
            out.append(f"(2) {task} has {len(ws)} live wrappers: {[(w[0], w[2]) for w in ws]}")
    for task, sids in now.sessions.items():
        if len(sids) > 1:
            out.append(f"(2) {task} has agents in {len(sids)} sessions: {sorted(sids)}")
    return out


def check_seats(paths: Paths, now: Live) -> list[str]:
    """(3) No seat has two tasks: in the packets, and in the agents that run."""
    out = []
    packets = load(paths)
    held = Counter(p.assignee for p in packets if p.status is Status.IN_PROGRESS and p.assignee)
    out += [f"(3) seat {s} holds {n} in-progress tasks" for s, n in held.items() if n > 1]
    running = Counter(seat for ws in now.wrappers.values() for _, seat, _ in ws)
    out += [f"(3) seat {s} runs {n} agents" for s, n in running.items() if n > 1]
    return out


def check_evidence(paths: Paths, base: str, events: list[dict[str, Any]]) -> list[str]:
    """(5) Every task done by batty has passing evidence for the tree that landed: the verified
    head is the one merge took, its result.json passed on that sha, and the landed commit, one
    merge.merged names, is in the base."""
    out = []
    merged = {(e["task"], e["data"].get("sha")) for e in events if e["kind"] == "merge.merged"}
    cleaned = {r for e in events if e["kind"] == "disk.cleanup" for r in e["data"].get("removed") or []}
    by_human = {e["task"] for e in events if e["kind"] == "task.status"
                and (e.get("data") or {}).get("to") == "done" and e["data"].get("by") == "human"}
    for p in load(paths):
        if p.status is not Status.DONE or (p.id in by_human and not p.merge):
            continue
        v = dict(p.verification or {})
        if v.get("result") != "pass" or not v.get("sha"):
            out.append(f"(5) {p.id} is done without a passing verification: {v}")
            continue
        result = json.loads((paths.root / str(v.get("evidence")) / "result.json").read_text()) \
            if v.get("evidence") and (paths.root / str(v["evidence"]) / "result.json").exists() else None
        if result is None and v.get("evidence") in cleaned:
            pass  # disk.keep_runs_days removed the folder; the packet keeps the verdict
        elif not result or result.get("result") != "pass" or result.get("sha") != v["sha"] \
                or result.get("exit_code") != 0:
            out.append(f"(5) {p.id}: no passing result.json for {v['sha'][:12]}: {result}")
        landed = (p.merge or {}).get("sha") or v["sha"]
        if p.merge:
            if p.merge.get("for_sha") != v["sha"]:
                out.append(f"(5) {p.id}: merged {str(p.merge.get('for_sha'))[:12]}, but verified "
                           f"{v['sha'][:12]}")
            if (p.id, landed) not in merged:
                out.append(f"(5) {p.id}: no merge.merged event for {landed[:12]}")
        if subprocess.run(["git", "merge-base", "--is-ancestor", landed, f"refs/heads/{base}"],
                          cwd=paths.root, capture_output=True).returncode != 0:
            out.append(f"(5) {p.id} is done but {landed[:12]} is not in {base}")
    return out


def check_board(paths: Paths, garbled: set[str]) -> list[str]:
    """(6) After reconcile, BOARD.md shows exactly the packets: each shown packet once, in the
    column of its status; no card without a packet; no new card left unread."""
    out = []
    packets = load(paths)
    text = paths.board_md.read_text(encoding="utf-8")
    parsed = boardmod.parse(text)
    out += [f"(6) BOARD.md:{line}: {what}" for line, what, _ in parsed.problems]
    seen: Counter[str] = Counter()
    where: dict[str, Status] = {}
    for col in parsed.columns:
        for card in col.cards:
            if card.id is None:
                out.append(f"(6) BOARD.md:{card.line}: a new card {card.title!r} left unread")
                continue
            seen[card.id] += 1
            if col.status is not None:
                where[card.id] = col.status
    out += [f"(6) card {tid} is on the board {n} times" for tid, n in seen.items() if n > 1]
    done_hidden = 0
    for p in packets:
        if p.status not in boardmod.SHOWN:
            if p.id in where:
                out.append(f"(6) {p.id} is {p.status.value} but shown in {where[p.id].value}")
            continue
        if p.id not in where:
            if p.status is Status.DONE:
                done_hidden += 1
            else:
                out.append(f"(6) {p.id} ({p.status.value}) has no card")
        elif where[p.id] is not p.status:
            out.append(f"(6) {p.id} is {p.status.value} but its card is in {where[p.id].value}")
    shown_done = sum(1 for t, s in where.items() if s is Status.DONE)
    if done_hidden and shown_done < boardmod.DONE_SHOWN:
        out.append(f"(6) {done_hidden} done cards missing with only {shown_done} shown")
    m = [boardmod.MORE_RE.match(line.strip()) for line in text.splitlines()]
    more = next((int(x.group(1)) for x in m if x), 0)
    if more != done_hidden:
        out.append(f"(6) the board says {more} more done tasks, there are {done_hidden}")
    for tid in where:
        if tid not in packets.by_id and tid not in garbled:
            out.append(f"(6) card {tid} has no packet")
    return out


def check_status_events(paths: Paths, events: list[dict[str, Any]]) -> list[str]:
    """(7) After reconcile, each packet's status is the last one the log gave it (task.status;
    task.created for a new task; reconcile.state, reconcile's record of a change whose event a
    crash lost)."""
    last = last_status(events)
    return [f"(7) {p.id} is {p.status.value}, its last status event says {last.get(p.id)}"
            for p in load(paths) if last.get(p.id) != p.status.value]


def check_log(events: list[dict[str, Any]], bad: list[int]) -> list[str]:
    """(8) Event ids are unique, and the log parses but for at most one torn line."""
    out = []
    if len(bad) > 1:
        out.append(f"(8) {len(bad)} lines of the log do not parse: {bad[:10]}")
    dup = [i for i, n in Counter(e["id"] for e in events).items() if n > 1]
    if dup:
        out.append(f"(8) event ids used twice: {dup[:5]}")
    return out


def check_orphans(paths: Paths) -> list[str]:
    """(9) After doctor: no worktree, branch or run without a task, no worktree metadata
    without its folder, and no task in progress without its worktree."""
    out = []
    ids = packet_ids_on_disk(paths)
    wt_root = paths.worktrees
    if wt_root.is_dir():
        for folder in wt_root.iterdir():
            if folder.is_dir() and not folder.name.startswith(".") and folder.name not in ids:
                out.append(f"(9) worktree {folder.name} has no task")
    for line in git(paths.root, "worktree", "list", "--porcelain").split("\n\n"):
        fields = dict(x.partition(" ")[::2] for x in line.splitlines())
        path = Path(fields.get("worktree", ""))
        if "prunable" in fields:
            out.append(f"(9) worktree metadata without a folder: {path}")
        elif path.parent == wt_root.resolve() and path.name not in ids:
            out.append(f"(9) git worktree {path.name} has no task")
    for branch in git(paths.root, "for-each-ref", "--format=%(refname:short)", "refs/heads/batty/").split():
        if branch.removeprefix("batty/") not in ids:
            out.append(f"(9) branch {branch} has no task")
    runs = paths.state / "runs"
    if runs.is_dir():
        out += [f"(9) runs/{d.name} has no task" for d in runs.iterdir() if d.is_dir() and d.name not in ids]
    for p in load(paths):
        if p.status is Status.IN_PROGRESS and not (paths.worktree(p.id) / ".git").exists():
            out.append(f"(9) {p.id} is in progress without a worktree")
    return out


def check_locks(paths: Paths) -> list[str]:
    """(10) No lock is held by a process that has exited (a lock leaked to a survivor)."""
    out = []
    folder = locks.lock_dir(paths.state)
    for owner_file in sorted(folder.glob("*.owner")):
        name = owner_file.name[: -len(".owner")]
        if not locks.is_held(paths.state, name):
            continue
        info = json.loads(owner_file.read_text() or "{}")
        if not runner.alive(info.get("pid"), None):
            out.append(f"(10) the {name} lock is held, its owner pid {info.get('pid')} "
                       f"({info.get('cmd')}) has exited")
    return out


# ------------------------------------------------------------------ (4) and the watch


class Watch:
    """All ten checks against one sandbox, remembering the base's start and what it tested.

    ``test`` is the gate's test command: every tree the base moved to that changed code is run
    through it again here, an oracle beside batty's own records (a tree batty says passed but
    that fails is a bad merge all the same)."""

    def __init__(self, paths: Paths, *, base: str = "main", test: str | None = None) -> None:
        self.paths = paths
        self.base = base
        self.test = test
        self.start = len(base_moves(paths, base))
        self.garbled: set[str] = set()       # packets the test turned to garbage on purpose
        self.checked = 0                      # reflog entries of the base already checked
        self.oracle: dict[str, bool] = {}     # code tree -> its tests pass
        self.moves_checked = 0

    def check_base(self, events: list[dict[str, Any]]) -> list[str]:
        """(4) The base only ever moved to trees that passed the gate: every move that changed
        code lands on a tree a merge.merged event or a passing result.json names, and that
        tree passes the test command run here again."""
        root = self.paths.root
        out = []
        moves = base_moves(self.paths, self.base)[self.start:]
        passed = {e["data"].get("sha") for e in events if e["kind"] == "merge.merged"}
        for folder in (self.paths.state / "evidence").glob("*/*"):
            try:
                r = json.loads((folder / "result.json").read_text())
            except (OSError, ValueError):
                continue
            if r.get("result") == "pass" and r.get("sha"):
                passed.add(r["sha"])
        passed_trees = {code_tree(root, s) for s in passed if s and git(root, "cat-file", "-t", s, check=False)}
        for old, new in moves[self.checked:]:
            if set(old) == {"0"}:
                continue
            tree = code_tree(root, new)
            if tree == code_tree(root, old):
                continue  # a board-only commit
            self.moves_checked += 1
            if tree not in passed_trees:
                out.append(f"(4) {self.base} moved to {new[:12]}, a tree no gate passed")
            if self.test and not self._passes(new, tree):
                out.append(f"(4) {self.base} moved to {new[:12]}, whose tests fail")
        if not out:
            self.checked = len(moves)
        return out

    def _passes(self, sha: str, tree: str) -> bool:
        if tree not in self.oracle:
            assert self.test is not None
            with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
                archive = subprocess.run(["git", "archive", sha], cwd=self.paths.root, capture_output=True,
                                         check=True, timeout=60).stdout
                subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True, timeout=60)
                proc = subprocess.run(["bash", "-c", self.test], cwd=tmp, capture_output=True, timeout=120)
            self.oracle[tree] = proc.returncode == 0
        return self.oracle[tree]

    def violations(self, *, settled: bool = True) -> list[str]:
        events, bad = read_events(self.paths)
        now = live(self.paths)
        out = check_packets(self.paths, self.garbled, events)
        out += check_agents(self.paths, now)
        out += check_seats(self.paths, now)
        out += self.check_base(events)
        out += check_evidence(self.paths, self.base, events)
        if settled:
            out += check_board(self.paths, self.garbled)
            out += check_status_events(self.paths, events)
        out += check_log(events, bad)
        if settled:
            out += check_orphans(self.paths)
        out += check_locks(self.paths)
        return out

    def check(self, *, settled: bool = True, where: str = "") -> None:
        problems = self.violations(settled=settled)
        if problems:
            raise AssertionError(f"invariants broken{' ' + where if where else ''}:\n" + "\n".join(problems))
