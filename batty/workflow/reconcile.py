"""Reconcile: the board with the packets (SPEC 3); packets with git and runs (SPEC 5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.store import failpoints, git, locks, runscope, views
from batty.store.packets import RACY_NS
from batty.store.paths import Paths, branch_of

if TYPE_CHECKING:
    from batty.workflow.session import Session
    from batty.workflow.state import State


def reconcile(app: Session, *, dry_run: bool = False) -> int:
    from batty.errors import InvalidInput
    from batty.workflow.state import State

    st = State(app)
    rc = run(st, dry_run=dry_run)
    try:
        _ = st.config
    except InvalidInput as e:
        app.warn(str(e))
        return 1
    if not dry_run:
        st.finish(commit=True, force=True)
    return rc


def run(st: State, *, dry_run: bool = False) -> int:
    """The reconcile step on a shared State: 0, or 1 when the board could not be read."""
    app = st.app
    with locks.hold(app.paths.state, "reconcile", cmd=app.cmd, wait_s=st.step_wait):
        report = st.sync_board(dry_run=dry_run)
        for change in report.applied:
            app.say(("would apply: " if dry_run else "") + change)
            if not dry_run:
                st.events.emit(Kind.RECONCILE_BOARD, change=change)
        for warning in report.warnings:
            app.warn(warning)
        for problem in st.board_problems_to_say(report.problems):
            app.warn(problem)
        if dry_run and report.written:
            app.say("would re-render board/BOARD.md")
        git_state(st, dry_run=dry_run)
        return 1 if report.problems else 0


def git_state(st: State, *, dry_run: bool = False) -> None:
    """Packets with git and the log (issue 5): a landing cut short by a crash is completed, a
    verified branch already in the base is done, a finished task's worktree goes, a status whose
    event was lost is logged. Each part plans from what is on disk, then applies its plan unless
    ``dry_run`` (issue 13: plan, then apply): a later part sees what an earlier one did."""
    from batty.errors import InvalidInput

    try:
        cfg = st.config
    except InvalidInput:
        return
    finish_landing(st, dry_run=dry_run)
    base_ref = f"refs/heads/{cfg.base}"
    heads = task_branches(st, base_ref)
    # a run that found nothing to do keeps the key of what it read; the next one with the same
    # key has nothing to do either (issue 13: 100,000 packets read for nothing otherwise)
    quiet = None if dry_run else _quiet_key(st, heads)
    if quiet is not None and views.get(st.paths.cache, "reconcile", quiet):
        return
    before = (list(st.notes), quiet and quiet[-1])
    for p, why in in_base(st, heads, base_ref):
        st.app.say(f"{p.id}: its verified branch is in {cfg.base} already: " + ("would be done" if dry_run else "done"))
        if not dry_run:
            st.transition(p, Status.DONE, Actor.RECONCILE, why)
    for gone in finished_worktrees(st, branches=heads):  # transitions move no branch
        st.app.say(f"{gone.packet.id} is {gone.packet.status.value}: its worktree "
                   + ("would go" if dry_run else "goes"))
        if not dry_run:
            remove_worktree(st, gone)
    with locks.hold(st.paths.state, "board", cmd=st.app.cmd):
        st.reload()  # under the board lock: no transition is half-way (packet written, event not)
        last = last_status(st.paths)
        lost = lost_events(st, last)
        for p, known in lost:
            st.app.say(f"{p.id}: status {p.status.value} has no event (last: {known}); "
                       + ("would be logged" if dry_run else "logged"))
        if not dry_run:
            log_lost(st, last, lost)
    if quiet is not None and before == (st.notes, _status_log_key(st)) \
            and _quiet_key(st, task_branches(st, base_ref)) == quiet:
        views.put(st.paths.cache, "reconcile", quiet, True)


STATUS_MARKS = (b'"task.status"', b'"reconcile.state"', b'"task.created"')  # lines last_status reads


def _status_log_key(st: State) -> list | None:
    """The log's inode and where its last line that may tell a status ends: what lost_events
    reads of the log. Not the log's size: each tick logs tick.started before reconcile runs,
    and no tick's reconcile was ever quiet. Read on from where the last run stopped (kept in
    .batty/cache/status-end.json: a few bytes, not every task's status)."""
    import os

    from batty.store import atomic

    kept = st.paths.cache / "status-end.json"
    saved = atomic.read_json(kept) or {}
    try:
        with open(st.paths.events, "rb") as f:
            info = os.fstat(f.fileno())
            offset, status_end = int(saved.get("offset", 0)), int(saved.get("status_end", 0))
            if saved.get("inode") != info.st_ino or info.st_size < offset:
                offset, status_end = 0, 0  # a new log: read it all
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return None
    end = data.rfind(b"\n") + 1
    mark = max(data.rfind(m, 0, end) for m in STATUS_MARKS)
    if mark >= 0:
        status_end = offset + data.find(b"\n", mark) + 1
    now = {"inode": info.st_ino, "offset": offset + end, "status_end": status_end}
    if now != saved:
        try:
            atomic.write_json(kept, now, durable=False)
        except OSError:
            pass  # read again from where the file says
    return [info.st_ino, status_end]


def _quiet_key(st: State, heads: dict[str, str]) -> tuple | None:
    """What git_state reads: the packets (by the cache's name), every task branch and the base,
    the worktrees, the config, and the log's status events (last, for the check that nothing
    was logged)."""
    import os

    if st._touched or st.notes or (st.paths.state / "merge-intent.json").exists():
        return None
    try:
        present = sorted(os.listdir(st.paths.worktrees))
    except FileNotFoundError:
        present = []
    return views.key(st.packets_version(), sorted(heads.items()), present,
                     views.stat_key(st.paths.config, RACY_NS), _status_log_key(st))


def in_base(st: State, heads: dict[str, str], base_ref: str) -> list[tuple[Packet, str]]:
    """In-progress or reviewed tasks whose verified branch is in the base already, and why."""
    root = st.paths.root
    heads = dict(heads)
    base_sha = heads.pop(base_ref, None)
    if base_sha == "":  # it names no commit: as git rev-parse says
        base_sha = git.rev(root, base_ref)
    if base_sha is None:
        return []
    out = []
    live = (Status.IN_PROGRESS, Status.REVIEW)
    for p in list(st.packets):
        if p.status not in live:
            continue
        ref = f"refs/heads/{branch_of(p.id)}"
        head = heads.get(ref)
        if head == "":  # it names no commit (never written by batty): as git rev-parse says
            head = git.rev(root, ref)
        v = p.verification or {}
        # only a pass counts: an attempt that changed nothing (no-change) leaves its branch at an
        # old base commit, which is "in the base" too (tests/scenarios/test_narration_only.py)
        verified = v.get("sha") if v.get("result") == "pass" else None
        if head and verified == head and head != base_sha and git.is_ancestor(root, head, base_sha):
            out.append((p, f"{branch_of(p.id)} is in {st.config.base}"))
    return out


@dataclass(frozen=True)
class Finished:
    """A done or archived task's worktree to remove; ``merged``: its branch goes too;
    ``running``: its agent still runs (stopped first)."""

    packet: Packet
    merged: bool
    running: bool


def finished_worktrees(st: State, *, branches: dict[str, str] | None = None) -> list[Finished]:
    """A done or archived task keeps no worktree, and a done one no branch (merge removes them;
    a crash in between, or a person's move, can leave them)."""
    import os

    from batty import runner

    # One listing of the task branches and one of the worktrees, not a git call and a stat per
    # finished task: a board of 10,000 mostly done tasks made a no-op reconcile take 20 s
    # (benchmarks/bench_board.py).
    if branches is None:
        branches = task_branches(st)
    try:
        present = set(os.listdir(st.paths.worktrees))
    except FileNotFoundError:
        present = set()
    finished = (Status.DONE, Status.ARCHIVED)
    out = []
    for p in st.packets:
        if p.status not in finished:
            continue
        branch = f"refs/heads/batty/{p.id}" in branches
        if p.id not in present and not (branch and p.status is Status.DONE):
            continue
        # the branch goes only when its work is in the base (merge landed it); a card dragged to
        # Done by hand, or an archived task, keeps it: a person may want the work back
        merged = False
        if branch and p.status is Status.DONE:
            head = git.rev(st.paths.root, f"refs/heads/{branch_of(p.id)}")
            base_sha = git.rev(st.paths.root, f"refs/heads/{st.config.base}")
            merged = bool((p.merge or {}).get("sha")) or bool(
                head and base_sha and git.is_ancestor(st.paths.root, head, base_sha))
        if p.id not in present and not merged:
            continue
        running = bool(p.attempt) and runner.run_state(st.paths.run_dir(p.id, p.attempt)) == "running"
        out.append(Finished(p, merged, running))
    return out


def remove_worktree(st: State, f: Finished) -> None:
    from batty import runner
    from batty.store import worktrees

    p = f.packet
    if f.running:
        runner.stop(st.paths.run_dir(p.id, p.attempt))
    worktrees.remove(st.paths, p.id, branch=f.merged)
    failpoints.point("reconcile.after-worktree-remove")
    st.events.emit(Kind.RECONCILE_WORKTREE, task=p.id, action="removed",
                   path=st.paths.rel(st.paths.worktree(p.id)), branch=f.merged)


def finish_landing(st: State, *, dry_run: bool = False) -> None:
    """merge writes an intent before it moves the base; if the base holds the intent's commit,
    the landing happened and its bookkeeping is finished here; otherwise the intent is void."""
    if not (st.paths.state / "merge-intent.json").exists():
        return  # the usual case: importing merge (and gate) for nothing was 15 ms of every run
    from batty.workflow.landing import complete_intent

    complete_intent(st, dry_run=dry_run)


def lost_events(st: State, last: dict[str, str]) -> list[tuple[Packet, str | None]]:
    """Packets whose status differs from their last status event, with that event's status."""
    return [(p, last.get(p.id)) for p in st.packets if last.get(p.id) != p.status]


def log_lost(st: State, last: dict[str, str], lost: list[tuple[Packet, str | None]]) -> None:
    """A reconcile.state for each status without its event."""
    for p, known in lost:
        st.events.emit(Kind.RECONCILE_STATE, task=p.id, **{"from": known, "to": p.status.value,
                       "why": "a status written without its event (a crash in between, or an edit)"})
        last[p.id] = p.status.value
    # Nothing read and nothing logged: the saved file says it already (rewriting 10,000 tasks'
    # statuses was a third of a no-op reconcile's time, benchmarks/bench_board.py).
    if lost or _read.get("moved", True):
        _save_last(st.paths, last)


def task_branches(st: State, *also: str) -> dict[str, str]:
    """Every task branch (refs/heads/batty/...), and the refs ``also`` names, with the commit
    each names ("": it names no commit), from one git call, not one per task (14 live tasks
    were 14 rev-parses)."""
    listing = git.out(st.paths.root, "for-each-ref", "--format=%(objecttype) %(objectname) %(refname)",
                      "refs/heads/batty/", *also)
    out: dict[str, str] = {}
    for line in listing.splitlines():
        kind, sha, ref = line.split(" ", 2)
        out[ref] = sha if kind == "commit" else ""
    return out


# What this run's last_status() read: where the log stopped ("pending", saved by _save_last) and
# whether that moved since the saved file ("moved")
_read = runscope.Memo("reconcile.last_status")


def last_status(paths: Paths) -> dict[str, str]:
    """Each task's last status by the log (task.status, task.created, reconcile.state), read
    incrementally from where the last call stopped."""
    import json
    import os

    from batty.store import atomic

    cache = paths.cache / "last-status.json"
    saved = atomic.read_json(cache) or {}
    offset = int(saved.get("offset", 0))
    last: dict[str, str] = dict(saved.get("last", {}))
    try:
        size = os.path.getsize(paths.events)
    except FileNotFoundError:
        return last
    if size < offset or saved.get("inode") != os.stat(paths.events).st_ino:
        offset, last = 0, {}  # the log was replaced: read it again
    with open(paths.events, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    for raw in data[:end].splitlines():
        if b'"task.status"' not in raw and b'"reconcile.state"' not in raw and b'"task.created"' not in raw:
            continue  # STATUS_MARKS, spelled out: this loop reads a whole log once
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        task, kind, d = e.get("task"), e.get("kind"), e.get("data") or {}
        if not task:
            continue
        if kind in ("task.status", "reconcile.state") and d.get("to"):
            last[task] = d["to"]
        elif kind == "task.created" and d.get("status"):
            last[task] = d["status"]
    _state = {"offset": offset + end, "inode": os.stat(paths.events).st_ino, "last": last}
    _read["pending"] = _state
    _read["moved"] = (_state["offset"], _state["inode"]) != (saved.get("offset"), saved.get("inode"))
    return last


def _save_last(paths: Paths, last: dict[str, str]) -> None:
    from batty.store import atomic

    state = _read.get("pending")
    if state is None:
        return
    state["last"] = last
    try:
        atomic.write_json(paths.cache / "last-status.json", state)
    except OSError:
        pass
