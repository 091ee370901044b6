"""doctor (SPEC 9): find faults and heal them, each heal one ``doctor.action`` event.

The stages run in order, each one finding what is wrong (a list of :class:`Finding`, each with
the fix it would apply) and then, unless ``check``, applying the fixes: the tamper check, leaked
batty locks, stale git ``index.lock`` files, worktrees, orphan branches, in-progress attempts
(requeue, context reset, kill past the runtime limit, respawn or escalate: decided by
:mod:`batty.core.health`), old runs and evidence, stale escalations. A later stage sees what an
earlier one healed (a re-added worktree is not requeued). docs/doctor.md tells every rule.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty import clock, failpoints, runner
from batty.core import health
from batty.core.kinds import DoctorAction, Kind
from batty.core.lifecycle import Actor, Status
from batty.core.packet import Packet
from batty.errors import BattyError
from batty.paths import ID_RE, branch_of
from batty.store import atomic, git, locks, worktrees

if TYPE_CHECKING:
    from batty.cli import App
    from batty.state import State

LOCK = "doctor"
GIT_LOCK_AGE_S = 60          # an index.lock younger than this may belong to a git still starting
RESPAWN_FILE = runner.RESPAWN_FILE  # in the run dir: when doctor last respawned this attempt
REPAIR, REPAIRED = ".repair-", ".repaired-"  # in .batty/worktrees/: a repair's folder set aside
ROTATED = ("run.json", "agent.log", "launch.json", "wrapper.log", "env.json")
A = DoctorAction


@dataclass
class Finding:
    """One fault. ``fix`` heals it and may return extra event data; ``wait`` means doctor saw
    it but holds off on purpose (a respawn cooldown): nothing to heal yet. ``subject`` is what
    the fault is about (a path, a branch, a lock): the same action on the same subject again is
    the same fault (SPEC 9: after ``health.max_respawns`` heals, escalate instead). ``done``
    runs once the heal's ``doctor.action`` is logged."""

    action: DoctorAction
    detail: str
    task: str | None = None
    attempt: int | None = None
    seat: str | None = None
    fix: Callable[[], dict[str, Any] | None] | None = None
    wait: bool = False
    data: dict[str, Any] = field(default_factory=dict)
    subject: str | None = None
    done: Callable[[], None] | None = None

    @property
    def key(self) -> str:
        """The fault: its action (an escalation: the heal it gives up on) and its subject."""
        what = self.data.get("fault") if self.action is A.ESCALATE else None
        who = self.subject or (f"{self.task}#{self.attempt}" if self.attempt else self.task) or ""
        return f"{what or self.action.value}:{who}"

    def line(self) -> str:
        head = ("wait " if self.wait else "") + self.action.value
        return f"{head}{' ' + self.task if self.task else ''}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "task": self.task, "attempt": self.attempt,
                "detail": self.detail, "wait": self.wait, **self.data}


@dataclass
class Report:
    found: list[Finding] = field(default_factory=list)
    applied: list[Finding] = field(default_factory=list)
    failed: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def faults(self) -> list[Finding]:
        return [f for f in self.found if not f.wait]


def doctor(app: App, *, check: bool = False, accept: bool = False) -> Report:
    """``batty doctor``: every stage, then the run's one board commit; ``check`` only reports."""
    from batty.state import State

    st = State(app)
    report = run(st, check=check, accept=accept)
    if not check:
        st.finish()
    return report


def run(st: State, *, check: bool = False, accept: bool = False) -> Report:
    """The doctor step on a shared State (tick commits once at the end), under the doctor lock."""
    with locks.hold(st.paths.state, LOCK, cmd=st.app.cmd, wait_s=getattr(st, "step_wait", None)):
        st.reload()  # plan from what is on disk now, under the lock
        doc = Doctor(st, check=check)
        if accept:
            from batty import tamper

            tamper.record(st.paths)
            st.app.say("doctor: the current git settings and hooks are the tamper baseline now")
        cut_short = {} if check else doc.journal.unlogged()
        for stage in STAGES:
            for f in stage(doc):
                doc.seen.add(f.key)
                f = doc.guard(f)
                doc.report.found.append(f)
                if not check and not f.wait:
                    doc.apply(f)
        if not check:
            doc.journal.settle(cut_short, doc.seen)
        return doc.report


class Journal:
    """Write-ahead for heals (issue 5): ``.batty/doctor/journal/<id>.json`` is written before a
    heal starts and removed once its ``doctor.action`` (data ``heal``: the id) is logged. An entry
    a crash left is settled by the next run: logged already, it goes; its fault found again, the
    new heal's event covers it; else the run cut short healed it, and its event is logged now
    (``recovered``). So no heal goes unlogged, and none is logged twice but the one in flight."""

    def __init__(self, doc: Doctor) -> None:
        self.doc = doc
        self.folder = doc.paths.state / "doctor" / "journal"

    def begin(self, f: Finding) -> str:
        from batty.store.events import new_id

        heal = new_id()
        atomic.write_json(self.folder / f"{heal}.json", {
            "id": heal, "key": f.key, "action": f.action.value, "task": f.task, "attempt": f.attempt,
            "seat": f.seat, "detail": f.detail, "data": _with_subject(f.data, f.subject),
            "at": clock.now_iso()})
        return heal

    def end(self, heal: str, key: str | None = None) -> None:
        (self.folder / f"{heal}.json").unlink(missing_ok=True)
        if key is None:
            return
        for entry in self._entries():  # entries of the same fault a crash left: covered now
            if entry.get("key") == key:
                (self.folder / f"{entry['id']}.json").unlink(missing_ok=True)

    def _entries(self) -> list[dict[str, Any]]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.glob("*.json")):
            entry = atomic.read_json(path)
            if isinstance(entry, dict) and entry.get("id"):
                out.append(entry)
            else:
                path.unlink(missing_ok=True)  # torn by a crash before the heal began
        return out

    def unlogged(self) -> dict[str, dict[str, Any]]:
        """The entries a crash left whose event is not in the log (those logged go now)."""
        entries = self._entries()
        if not entries:
            return {}
        logged = logged_ids(self.doc.paths, Kind.DOCTOR_ACTION, "heal")
        out = {}
        for entry in entries:
            if entry["id"] in logged:
                self.end(entry["id"])
            else:
                out[entry["id"]] = entry
        return out

    def settle(self, cut_short: dict[str, dict[str, Any]], seen: set[str]) -> None:
        for heal, entry in cut_short.items():
            if not (self.folder / f"{heal}.json").exists() or entry.get("key") in seen:
                continue  # healed again by this run, or still there: the next run settles it
            self.doc.st.events.emit(
                Kind.DOCTOR_ACTION, task=entry.get("task"), attempt=entry.get("attempt") or None,
                seat=entry.get("seat"), action=entry["action"], detail=entry.get("detail"),
                **(entry.get("data") or {}), heal=heal, recovered=True)
            self.end(heal)


def _with_subject(data: dict[str, Any], subject: str | None) -> dict[str, Any]:
    return {**data, "subject": subject} if subject is not None else data


def logged_ids(paths: Any, kind: str, field: str, **match: Any) -> set[Any]:
    """The values of ``data[field]`` in the ``kind`` events that match ``match`` (top-level keys
    task and attempt, or data keys): a scan of the whole log, for the recovery after a crash."""
    from batty.store import events

    out = set()
    for e in events.read(paths.events):
        if e.get("kind") != kind:
            continue
        data = e.get("data") or {}
        if all((e.get(k) if k in ("task", "attempt") else data.get(k)) == v for k, v in match.items()):
            out.add(data.get(field))
    return out


# The heals a fault can come back after (agent faults count the packet's respawns instead).
REPEATABLE = (A.STALE_LOCK, A.GIT_LOCK, A.WORKTREE_PRUNE, A.WORKTREE_REPAIR, A.ORPHAN_BRANCH,
              A.ORPHAN_RUN)
HISTORY = "heals.json"  # .batty/doctor/: fault key -> count, last (epoch), escalation


class Doctor:
    def __init__(self, st: State, *, check: bool) -> None:
        self.st = st
        self.check = check
        self.paths = st.paths
        self.root = st.paths.root
        self.report = Report()
        self.journal = Journal(self)
        self.seen: set[str] = set()  # the faults found by this run (their keys)
        self._history: dict[str, Any] | None = None

    @property
    def cfg(self):  # type: ignore[no-untyped-def]
        return self.st.config

    def apply(self, f: Finding) -> None:
        assert f.fix is not None
        heal = self.journal.begin(f)
        try:
            extra = f.fix() or {}
        except BattyError as e:
            self.journal.end(heal)
            self.st.app.warn(f"doctor: {f.line()}: not healed: {e}")
            self.report.failed.append((f, str(e)))
            return
        failpoints.point(f"doctor.{f.action.value}.after-heal")
        self.st.events.emit(Kind.DOCTOR_ACTION, task=f.task, attempt=f.attempt or None, seat=f.seat,
                            action=f.action.value, detail=f.detail,
                            **_with_subject({**f.data, **extra}, f.subject), heal=heal)
        failpoints.point("doctor.after-action-event")
        if f.done is not None:
            f.done()
        self.journal.end(heal, f.key)
        if f.action in REPEATABLE:
            self._count(f)
        self.report.applied.append(f)
        self.st.app.say(f"doctor: {f.line()}")

    # ------------------------------------------------------------------ the same fault again

    @property
    def history(self) -> dict[str, Any]:
        if self._history is None:
            self._history = atomic.read_json(self.paths.state / "doctor" / HISTORY) or {}
        return self._history

    def _save_history(self) -> None:
        window = self.cfg.escalations.window_s
        now = time.time()
        keep = {k: v for k, v in self.history.items()
                if v.get("escalation") or now - float(v.get("last", 0)) <= window}
        atomic.write_json(self.paths.state / "doctor" / HISTORY, keep)

    def _count(self, f: Finding) -> None:
        rec = self.history.get(f.key) or {}
        now = time.time()
        fresh = rec.get("escalation") or now - float(rec.get("last", 0)) > self.cfg.escalations.window_s
        self.history[f.key] = {"count": 1 if fresh else int(rec.get("count", 0)) + 1, "last": now}
        self._save_history()

    def guard(self, f: Finding) -> Finding:
        """SPEC 9: a fault healed ``health.max_respawns`` times in a row (each heal inside
        ``escalations.window_s`` of the last) is escalated instead of healed again; while that
        escalation is open the fault waits for a person."""
        if f.action not in REPEATABLE or f.wait:
            return f
        rec = self.history.get(f.key)
        if not rec:
            return f
        esc = rec.get("escalation")
        if esc:
            if _is_open(self.st, str(esc)):
                return Finding(f.action, f"{f.detail}; escalated as {esc}, healed no more until it"
                               " is resolved", task=f.task, subject=f.subject, wait=True)
            return f  # a person dealt with it: heal again, counting from one
        age = time.time() - float(rec.get("last", 0))
        limit = self.cfg.health.max_respawns
        if not health.repeated(int(rec.get("count", 0)), age, limit, self.cfg.escalations.window_s):
            return f
        count = int(rec.get("count", 0))
        detail = (f"{f.detail}; healed {count} time(s) in a row already (health.max_respawns "
                  f"{limit}): escalated instead")

        def fix() -> dict[str, Any]:
            record = self.escalate(None, tasks=[f.task] if f.task else [], reason="repeated-fault",
                                   text=f"doctor healed {f.action.value} on {f.subject or f.task} "
                                        f"{count} time(s) and it came back: {f.detail}. Find what "
                                        "causes it; resolve this escalation and doctor heals it again.")
            failpoints.point("doctor.repeat.after-escalate")
            if record is not None:
                self.history[f.key] = {**rec, "escalation": record["id"]}
                self._save_history()
            return {"escalation": record["id"] if record else None, "heals": count}

        return Finding(A.ESCALATE, detail, task=f.task, subject=f.subject, fix=fix,
                       data={"fault": f.action.value, "reason": "repeated"})

    # ------------------------------------------------------------------ giving up

    def escalate(self, p: Packet | None, *, reason: str, text: str,
                 tasks: list[str] | None = None) -> dict[str, Any] | None:
        try:
            from batty.escalations import raise_escalation
        except ImportError:  # pragma: no cover - the escalation module ships with batty
            return None
        return raise_escalation(self.st, tasks=tasks if tasks is not None else [p.id] if p else [],
                                reason=reason, text=text, source="doctor")

    def block(self, p: Packet, why: str, *, reason: str, text: str, **changes: Any) -> None:
        """Heal no more: the task is blocked and the human is told (SPEC 4, 9); told first, so
        that a crash in between never leaves a blocked task nobody was told of (verify.block)."""
        self.escalate(p, reason=reason, text=f"{why}\n\n{text}".strip())
        failpoints.point("doctor.escalate.after-escalate")
        self.st.transition(p, Status.BLOCKED, Actor.DOCTOR, why, **changes)


def _is_open(st: State, esc_id: str) -> bool:
    from batty import escalations
    from batty.core import inbox

    try:
        return inbox.state_of(escalations.find(st, esc_id)) == inbox.OPEN
    except BattyError:
        return False


# ================================================================== stages


def tamper_stage(doc: Doctor) -> list[Finding]:
    """Settings and hooks that can run code, changed since the baseline: put back, and the human
    told. Write-ahead (issue 5): the heal's record (``tamper.begin``) comes first, then the
    escalation, then the revert; a heal a crash cut short is completed by the next run, so a
    tamper always ends reverted, escalated once and logged once."""
    from batty import tamper

    if tamper.load(doc.paths) is None:
        if not doc.check:
            tamper.record(doc.paths)  # the first doctor run: what is there now is the baseline
        return []
    changes = tamper.check(doc.paths)
    pending = tamper.unfinished(doc.paths)
    if pending:
        logged = logged_ids(doc.paths, Kind.DOCTOR_ACTION, "quarantine", action=A.TAMPER_REVERT.value)
        for q in [q for q in pending if doc.paths.rel(q) in logged]:
            if not doc.check:
                tamper.note(q, done=True)  # cut short after its event: only the record was open
            pending.remove(q)
    if not changes and not pending:
        return []
    quarantine = pending[0] if pending else None
    if quarantine is None:
        listed = [str(c) for c in changes]
    else:  # completed with its own changes only: one that came since is the next heal's
        rec = tamper.heal_record(quarantine)
        listed = list(rec.get("changes") or [])
        ours = rec.get("keys") or []
        changes = [c for c in changes if c.ident in ours]
    made: dict[str, Path] = {}

    def fix() -> dict[str, Any]:
        if quarantine is None:
            suspects = sorted(p.id for p in doc.st.packets if p.status is Status.IN_PROGRESS)
            q = tamper.begin(doc.paths, changes, suspects=suspects)
        else:
            q = quarantine
        made["q"] = q
        failpoints.point("doctor.tamper.after-intent")
        rec = tamper.heal_record(q)
        if not rec.get("escalation") and not _tamper_escalated(doc, q):
            record = doc.escalate(
                None, tasks=list(rec.get("suspects") or []), reason="tamper",
                text=f"git settings or hooks that can run code were changed outside batty; doctor "
                     f"puts them back as they were, keeping what it takes out in {doc.paths.rel(q)}:\n"
                     + "\n".join(f"- {x}" for x in listed)
                     + "\n\nIf a person made the change on purpose: make it again, then run "
                     "`batty doctor --accept`.")
            failpoints.point("doctor.tamper.after-escalate")
            tamper.note(q, escalation=record["id"] if record else None, changes=listed)
        ours = tamper.heal_record(q).get("keys") or []
        # what is still not as it was (a crash may have put some of it back already)
        tamper.revert(doc.paths, [c for c in tamper.check(doc.paths) if c.ident in ours], q)
        return {"changes": listed, "quarantine": doc.paths.rel(q)}

    def done() -> None:
        tamper.note(made["q"], done=True)

    detail = "; ".join(listed) + ("; completing a heal a crash cut short" if quarantine else "")
    return [Finding(A.TAMPER_REVERT, detail, fix=fix, done=done, subject="tamper")]


def _tamper_escalated(doc: Doctor, quarantine: Path) -> bool:
    """A heal cut short between its escalation and the record of it: the escalation names the
    quarantine folder."""
    from batty import escalations

    where = doc.paths.rel(quarantine)
    return any(r.get("reason") == "tamper" and where in str(r.get("text") or "")
               for r in escalations.all_escalations(doc.st))


def stale_lock_stage(doc: Doctor) -> list[Finding]:
    """A batty lock held although the process that took it is gone: its descriptor leaked into a
    process that outlived it. (A free lock with an old owner file is the normal leftover of a
    finished run, not a fault: kernel locks are released when their holder dies.)"""
    out = []
    folder = locks.lock_dir(doc.paths.state)
    for owner_file in sorted(folder.glob("*.owner")):
        name = owner_file.name[: -len(".owner")]
        if name == LOCK:
            continue
        info = atomic.read_json(owner_file) or {}
        if _owner_alive(info) or not locks.is_held(doc.paths.state, name):
            continue
        time.sleep(0.3)  # a new holder may be between taking the lock and writing its owner file
        if (atomic.read_json(owner_file) or {}) != info or not locks.is_held(doc.paths.state, name):
            continue
        holders = _holders(folder / f"{name}.lock")
        pid = info.get("pid")

        def fix(name: str = name, pid: Any = pid, holders: list[int] = holders) -> dict[str, Any]:
            # The leaked holder keeps its lock on the old file; the next run locks a new one.
            (folder / f"{name}.lock").unlink(missing_ok=True)
            (folder / f"{name}.owner").unlink(missing_ok=True)
            doc.st.events.emit(Kind.LOCK_BROKEN, lock=name, holder_pid=pid, held_by=holders)
            return {"lock": name, "holder_pid": pid}

        out.append(Finding(A.STALE_LOCK, f"the {name} lock is held although its owner (pid {pid},"
                           f" {info.get('cmd')}) is gone; held by pid {holders or '?'}", fix=fix,
                           subject=name))
    return out


def _owner_alive(info: dict[str, Any]) -> bool:
    pid = info.get("pid")
    if not pid:
        return False
    started = runner.identity(int(pid))
    if started is None:
        return False
    since = info.get("since")
    try:
        # a process that started after the owner took the lock is a reused pid
        return not since or started <= clock.parse(since).timestamp() + 1
    except ValueError:
        return True


def _holders(path: Path) -> list[int]:
    import psutil

    target = str(path.resolve())
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if any(f.path == target for f in proc.open_files()):
                out.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return out


def git_lock_stage(doc: Doctor) -> list[Finding]:
    """An ``index.lock`` older than a minute that no live git holds: a git died mid-write, and
    every git command in that checkout now fails until it goes."""

    gitdir = git.common_dir(doc.root)
    candidates = [gitdir / "index.lock", *sorted((gitdir / "worktrees").glob("*/index.lock"))]
    out = []
    for lock in candidates:
        try:
            st = lock.stat()
        except FileNotFoundError:
            continue
        age = time.time() - st.st_mtime
        if age < GIT_LOCK_AGE_S:
            continue
        users = _git_users(lock, doc.root)
        where = doc.paths.rel(lock) if lock.is_relative_to(doc.root) else str(lock)
        if users:
            out.append(Finding(A.GIT_LOCK, f"{where} is {age:.0f} s old but git pid {users} still"
                               " runs here; left alone", wait=True, subject=where))
            continue

        def fix(lock: Path = lock, ino: int = st.st_ino, where: str = where) -> dict[str, Any]:
            # under batty's own locks, so no batty command is running git here meanwhile; waiting
            # for them no longer than the step may (a tick's steps do not wait: Busy, next tick)
            wait = getattr(doc.st, "step_wait", None)
            with locks.hold(doc.paths.state, "board", cmd=doc.st.app.cmd, wait_s=wait), \
                    locks.hold(doc.paths.state, "merge", cmd=doc.st.app.cmd, wait_s=wait):
                try:
                    if lock.stat().st_ino != ino or _git_users(lock, doc.root):
                        raise BattyError(f"{where} changed hands meanwhile")
                except FileNotFoundError:
                    return {"path": where, "gone": True}
                lock.unlink()
            return {"path": where}

        out.append(Finding(A.GIT_LOCK, f"{where} left {age:.0f} s ago by a git that is gone",
                           fix=fix, subject=where))
    return out


def _git_users(lock: Path, root: Path) -> list[int]:
    """Live processes that hold ``lock`` open, or git processes working in this repository."""
    import psutil

    target = str(lock.resolve())
    top = str(root.resolve())
    out = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.pid == os.getpid():
                continue
            name = proc.info.get("name") or ""
            if name == "git" or name.startswith("git-"):
                cwd = proc.cwd()
                if cwd == top or cwd.startswith(top + os.sep):
                    out.append(proc.pid)
                    continue
            if name.startswith("git") and any(f.path == target for f in proc.open_files()):
                out.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return out


def worktree_stage(doc: Doctor) -> list[Finding]:
    """Metadata without a folder (pruned); a folder without metadata (re-added on its branch,
    keeping its files; or, with no active task, moved to .batty/lost/); a worktree on the wrong
    branch (switched back, keeping commits made elsewhere); an in-progress task's folder gone
    (re-added from its branch)."""
    out: list[Finding] = []
    listing = worktrees.listing(doc.root)
    prunable = [w for w in listing if w.prunable]
    if prunable:
        gone = [doc.paths.rel(w.path) for w in prunable]

        def prune() -> dict[str, Any]:
            git.run(doc.root, "worktree", "prune")
            failpoints.point("doctor.worktree-prune.after-prune")
            for path in gone:
                doc.st.events.emit(Kind.RECONCILE_WORKTREE, action="prune", path=path)
            return {"paths": gone}

        out.append(Finding(A.WORKTREE_PRUNE, "git metadata without a folder: " + ", ".join(gone),
                           fix=prune, subject=",".join(gone)))
    known = {_real(w.path): w for w in listing if not w.prunable}
    packets = doc.st.packets
    active = (Status.IN_PROGRESS, Status.REVIEW)
    listed = sorted(doc.paths.worktrees.iterdir()) if doc.paths.worktrees.is_dir() else []
    folders = [f for f in listed if f.is_dir() and not f.name.startswith(".")]
    resumed = set()
    for aside in listed:  # a repair a crash cut short: its files wait in the folder set aside
        if aside.name.startswith(REPAIR) and ID_RE.match(aside.name[len(REPAIR):]):
            tid = aside.name[len(REPAIR):]
            resumed.add(tid)
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(aside)} holds the files of a "
                               f"repair a crash cut short; re-added on {branch_of(tid)} with them",
                               task=tid, fix=partial(_readd, doc, tid)))
        elif aside.name.startswith(REPAIRED):  # their copy, every file back already
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(aside)} is what a repair left; "
                               "removed", subject=doc.paths.rel(aside),
                               fix=partial(_remove_tree, aside)))
    for folder in folders:
        name = folder.name
        if name in resumed:
            continue
        p = packets.get(name) if ID_RE.match(name) else None
        w = known.get(_real(folder))
        if w is None:
            if p is not None and p.status in active:
                out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(folder)} has no git metadata;"
                                   f" re-added on {branch_of(name)} keeping its files", task=name,
                                   fix=partial(_readd, doc, name)))
            elif name not in packets.invalid_ids:
                out.append(Finding(A.WORKTREE_PRUNE, f"{doc.paths.rel(folder)} has no git metadata"
                                   " and no active task; moved to .batty/lost/", task=None,
                                   fix=partial(_lose, doc, folder), subject=doc.paths.rel(folder)))
        elif p is not None and w.branch != branch_of(name):
            where = f"{doc.paths.rel(folder)} is on {w.branch or 'a detached HEAD'}, not {branch_of(name)}"
            if p.attempt and runner.run_state(doc.paths.run_dir(name, p.attempt)) == "running":
                # a running agent may be mid-rebase or mid-bisect; verify judges where it ends
                out.append(Finding(A.WORKTREE_REPAIR, f"{where}; its agent runs, left alone",
                                   task=name, wait=True))
                continue
            out.append(Finding(A.WORKTREE_REPAIR, f"{where}; switched back", task=name,
                               fix=partial(_switch, doc, name)))
    from batty.state import is_local

    for p in packets:
        if not is_local(p) or p.id in resumed:
            continue
        wt = doc.paths.worktree(p.id)
        if p.status is Status.IN_PROGRESS and not wt.exists() and _branch_exists(doc, p.id):
            out.append(Finding(A.WORKTREE_REPAIR, f"{doc.paths.rel(wt)} is gone; re-added from "
                               f"{branch_of(p.id)}", task=p.id, attempt=p.attempt, seat=p.assignee,
                               fix=partial(_ensure, doc, p.id)))
        elif p.status in active and not _branch_exists(doc, p.id):
            # scenario tests/scenarios/test_branch_deleted.py: left alone, a reviewed task waits
            # for ever (merge: no-branch) and verify commits the worktree as a new root commit
            tip = _lost_tip(doc, p)
            if tip is not None:
                out.append(Finding(A.WORKTREE_REPAIR, f"{branch_of(p.id)} is gone; restored at "
                                   f"{tip[0][:12]} ({tip[1]})", task=p.id, attempt=p.attempt,
                                   seat=p.assignee, fix=partial(_restore_branch, doc, p.id, tip[0])))
    return out


def _lost_tip(doc: Doctor, p: Packet) -> tuple[str, str] | None:
    """Where a task's deleted branch was: the last commit its worktree's HEAD log names (the
    worktree still points at the branch by name), else, for a reviewed task, its verified commit.
    None when neither is a commit git still has (an in-progress task is then requeued as lost)."""
    found: list[tuple[str, str]] = []
    dotgit = doc.paths.worktree(p.id) / ".git"
    try:
        text = dotgit.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    if text.startswith("gitdir:"):
        gitdir = Path(text[len("gitdir:"):].strip())
        try:
            last = (gitdir / "logs" / "HEAD").read_text(encoding="utf-8").splitlines()[-1]
            found.append((last.split(" ")[1], "its worktree's HEAD log"))
        except (OSError, UnicodeDecodeError, IndexError):
            pass
    sha = (p.verification or {}).get("sha")
    if p.status is Status.REVIEW and sha:
        found.append((str(sha), "its verified commit"))
    for sha, where in found:
        if git.run(doc.root, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0:
            return sha, where
    return None


def _restore_branch(doc: Doctor, task_id: str, sha: str) -> dict[str, Any]:
    branch = branch_of(task_id)
    if not git.update_ref(doc.root, f"refs/heads/{branch}", sha, None, "batty doctor: restore branch"):
        raise BattyError(f"{branch} reappeared meanwhile")
    failpoints.point("doctor.branch-restore.after-update")
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="branch-restore", branch=branch,
                       sha=sha)
    return {"branch": branch, "sha": sha}


def _real(path: Path) -> str:
    return os.path.realpath(path)


def _branch_exists(doc: Doctor, task_id: str) -> bool:
    return git.rev(doc.root, f"refs/heads/{branch_of(task_id)}") is not None


def _ensure(doc: Doctor, task_id: str) -> dict[str, Any]:
    wt = worktrees.ensure(doc.paths, task_id, doc.cfg.base)
    failpoints.point("doctor.worktree-add.after-add")
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="add", path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt)}


def _readd(doc: Doctor, task_id: str) -> dict[str, Any]:
    """Move the folder aside, add the worktree again on its branch, put the folder's files back
    over it (what the agent left uncommitted survives), drop files the agent had deleted. Run
    again after a crash it carries on from the folder set aside (``.repair-<ID>``), which goes
    only once every file is back (renamed first, so that a half-removed copy is never taken for
    the agent's files)."""
    folder = doc.paths.worktree(task_id)
    aside = folder.with_name(f"{REPAIR}{task_id}")
    if not aside.exists():
        os.rename(folder, aside)
        failpoints.point("doctor.worktree-repair.after-aside")
    try:
        wt = worktrees.ensure(doc.paths, task_id, doc.cfg.base)
    except BattyError:
        if not folder.exists():
            os.rename(aside, folder)
        raise
    failpoints.point("doctor.worktree-repair.after-add")
    tracked = git.out(wt, "ls-files", "-z").split("\0")
    for rel in tracked:
        if rel and not (aside / rel).exists() and not (aside / rel).is_symlink():
            (wt / rel).unlink(missing_ok=True)
    for src in sorted(aside.rglob("*")):
        rel_path = src.relative_to(aside)
        if rel_path.parts[0] == ".git":
            continue
        dest = wt / rel_path
        if src.is_dir() and not src.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if dest.is_symlink() or dest.exists():
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            else:
                dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dest)
        else:
            shutil.copy2(src, dest)
    failpoints.point("doctor.worktree-repair.after-restore")
    gone = folder.with_name(f"{REPAIRED}{task_id}")
    os.rename(aside, gone)
    shutil.rmtree(gone, ignore_errors=True)
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="repair", path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt)}


def _remove_tree(folder: Path) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    return {"path": str(folder.name)}


def _lose(doc: Doctor, folder: Path) -> dict[str, Any]:
    lost = doc.paths.state / "lost"
    lost.mkdir(parents=True, exist_ok=True)
    dest = lost / f"{folder.name}.{clock.now().strftime('%Y%m%dT%H%M%S')}"
    shutil.move(str(folder), str(dest))
    failpoints.point("doctor.worktree-lose.after-move")
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, action="lost", path=doc.paths.rel(folder))
    return {"path": doc.paths.rel(folder), "moved_to": doc.paths.rel(dest)}


def _switch(doc: Doctor, task_id: str) -> dict[str, Any]:
    wt = doc.paths.worktree(task_id)
    want = branch_of(task_id)
    gitdir = Path(git.out(wt, "rev-parse", "--absolute-git-dir"))
    if (gitdir / "rebase-merge").exists() or (gitdir / "rebase-apply").exists():
        git.run(wt, "rebase", "--abort", check=False)  # an agent left mid-rebase: undo it first
        if git.head_branch(wt) == want:
            doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="rebase-abort",
                               path=doc.paths.rel(wt))
            return {"path": doc.paths.rel(wt), "rebase_aborted": True}
    head = git.rev(wt, "HEAD")
    tip = git.rev(doc.root, f"refs/heads/{want}")
    kept = None
    if head and tip is None:
        git.run(doc.root, "branch", want, head)
    elif head and tip and head != tip and git.is_ancestor(doc.root, tip, head):
        # the agent committed on another branch or a detached HEAD: that work is the task's
        if git.update_ref(doc.root, f"refs/heads/{want}", head, tip, "batty doctor: keep work"):
            kept = head
            failpoints.point("doctor.worktree-switch.after-cas")
    git.run(wt, "checkout", "-q", want)
    doc.st.events.emit(Kind.RECONCILE_WORKTREE, task=task_id, action="switch", path=doc.paths.rel(wt))
    return {"path": doc.paths.rel(wt), "kept": kept}


def orphan_branch_stage(doc: Doctor) -> list[Finding]:
    """A ``batty/<ID>`` branch with no packet: deleted when it is fully merged into the base, or
    else renamed to ``batty-orphan/<ID>`` (never lose work). Uncommitted work in its worktree is
    committed on it first."""
    out = []
    packets = doc.st.packets
    names = git.out(doc.root, "for-each-ref", "--format=%(refname:short)", "refs/heads/batty/")
    for branch in names.splitlines():
        tid = branch.removeprefix("batty/")
        if not ID_RE.match(tid) or tid in packets.by_id or tid in packets.invalid_ids:
            continue
        if doc.paths.packet(tid).exists():
            continue  # a packet that did not load: nobody knows yet
        merged = git.is_ancestor(doc.root, f"refs/heads/{branch}", f"refs/heads/{doc.cfg.base}")
        what = "fully merged: deleted" if merged else "not merged: renamed to batty-orphan/" + tid
        out.append(Finding(A.ORPHAN_BRANCH, f"{branch} has no task; {what}",
                           fix=partial(_orphan, doc, branch, tid), subject=branch))
    return out


def _stop_runs(doc: Doctor, tid: str) -> list[str]:
    """Stop every agent still running for task ``tid`` (any attempt): the attempts of a task
    whose packet is gone."""
    stopped = []
    top = doc.paths.state / "runs" / tid
    for run_dir in sorted(top.iterdir()) if top.is_dir() else []:
        if run_dir.is_dir() and run_dir.name.isdigit() and runner.stop(run_dir, grace_s=3):
            doc.st.events.emit(Kind.AGENT_STOPPED, task=tid, attempt=int(run_dir.name), reason="no-task")
            stopped.append(run_dir.name)
    return stopped


def orphan_run_stage(doc: Doctor) -> list[Finding]:
    """``.batty/runs/<ID>/`` of a task whose packet is gone (deleted by hand while its agent ran):
    the agent is stopped and the folder moved to ``.batty/lost/`` (kept, not deleted)."""
    top = doc.paths.state / "runs"
    if not top.is_dir():
        return []
    packets = doc.st.packets
    out = []
    for folder in sorted(top.iterdir()):
        tid = folder.name
        if not folder.is_dir() or not ID_RE.match(tid) or tid in packets.by_id or tid in packets.invalid_ids:
            continue
        if doc.paths.packet(tid).exists():
            continue  # a packet that did not load: nobody knows yet
        out.append(Finding(A.ORPHAN_RUN, f".batty/runs/{tid} has no task; its agents stopped, "
                           "moved to .batty/lost/", fix=partial(_orphan_run, doc, folder),
                           subject=tid))
    return out


def _orphan_run(doc: Doctor, folder: Path) -> dict[str, Any]:
    stopped = _stop_runs(doc, folder.name)
    failpoints.point("doctor.orphan-run.after-stop")
    lost = doc.paths.state / "lost"
    lost.mkdir(parents=True, exist_ok=True)
    dest = lost / f"runs-{folder.name}.{clock.now().strftime('%Y%m%dT%H%M%S')}"
    n = 1
    while dest.exists():
        n += 1
        dest = dest.with_name(f"{dest.name.split('~')[0]}~{n}")
    os.replace(folder, dest)
    return {"run": doc.paths.rel(folder), "to": doc.paths.rel(dest), "stopped": stopped}


def _orphan(doc: Doctor, branch: str, tid: str) -> dict[str, Any]:
    root = doc.root
    wt = doc.paths.worktree(tid)
    _stop_runs(doc, tid)  # no agent keeps writing into a worktree that is about to go
    failpoints.point("doctor.orphan-branch.after-stop")
    if wt.exists() and git.head_branch(wt) == branch:
        if git.out(wt, "status", "--porcelain", check=False):
            git.run(wt, "add", "-A")
            git.run(wt, "commit", "-q", "--no-verify", "-m",
                    f"batty doctor: uncommitted work left in the worktree of {tid}",
                    env=git.BATTY_AUTHOR)
            failpoints.point("doctor.orphan-branch.after-commit")
        worktrees.remove(doc.paths, tid, branch=False)
        failpoints.point("doctor.orphan-branch.after-remove")
    tip = git.rev(root, f"refs/heads/{branch}")
    if git.is_ancestor(root, f"refs/heads/{branch}", f"refs/heads/{doc.cfg.base}"):
        git.run(root, "branch", "-D", branch)
        return {"branch": branch, "result": "deleted", "sha": tip}
    new = f"batty-orphan/{tid}"
    n = 1
    while git.rev(root, f"refs/heads/{new}"):
        n += 1
        new = f"batty-orphan/{tid}-{n}"
    git.run(root, "branch", "-m", branch, new)
    return {"branch": branch, "result": "renamed", "to": new, "sha": tip}


# ------------------------------------------------------------------ attempts


STOPPING = "stopping.json"  # in the run dir: doctor stops this agent for a heal (write-ahead)
LOG_TAIL = 256 << 10          # how much of a running agent's log is read for "out of context"


def attempt_stage(doc: Doctor) -> list[Finding]:
    out = []
    cfg = doc.cfg
    from batty.state import is_local

    for p in sorted(doc.st.packets, key=lambda p: (p.priority, p.id)):
        if p.status is not Status.IN_PROGRESS or not is_local(p):
            continue  # another machine's claim is that machine's doctor's
        cut = _respawn_cut_short(doc, p)
        if cut is not None:
            out.append(cut)
            continue
        view = observe(doc, p)
        verdict = health.judge(view, cfg.health, cfg.gates.max_attempts)
        if verdict is None:
            continue
        action = A.ESCALATE if verdict.escalate else verdict.action or A.RESPAWN
        data = {"reason": verdict.reason}
        if verdict.escalate:
            data["fault"] = (verdict.action or A.RESPAWN).value
        f = Finding(action, verdict.detail, task=p.id, attempt=p.attempt, seat=p.assignee,
                    wait=not verdict.heals, data=data)
        if verdict.heals:
            f.fix = partial(heal, doc, p, verdict)
            if action is A.RESPAWN:
                f.done = partial(_respawn_done, doc.paths.run_dir(p.id, p.attempt))
        out.append(f)
    return out


def observe(doc: Doctor, p: Packet) -> health.AttemptView:
    now = time.time()
    run_dir = doc.paths.run_dir(p.id, p.attempt) if p.attempt else None
    state = runner.run_state(run_dir) if run_dir else "none"
    run = (runner.read_run(run_dir) if run_dir else None) or {}
    silent = runtime = since = None
    output = False
    exhausted = bool(run.get("context_exhausted"))
    stopped_for = None
    if run_dir is not None:
        if state == "running":
            silent = runner.last_output_age(run_dir)
            if run.get("started_epoch"):
                runtime = now - float(run["started_epoch"])
            # an agent that said its context ran out but keeps running (as under tmux) is out of
            # context now, not a stall later (issue 5)
            exhausted = _says_out_of_context(run_dir, run)
        record = atomic.read_json(run_dir / RESPAWN_FILE)
        if record and record.get("at"):
            since = now - float(record["at"])
        try:
            output = (run_dir / "agent.log").stat().st_size > 0
        except OSError:
            output = False
        if state == "exited":
            stopped_for = (atomic.read_json(run_dir / STOPPING) or {}).get("action")
    return health.AttemptView(
        task=p.id, status=p.status, attempt=p.attempt,
        judged=int((p.verification or {}).get("attempt") or 0) == p.attempt and p.attempt > 0,
        state=state, silent_s=silent, runtime_s=runtime,
        context_exhausted=exhausted, since_respawn_s=since,
        output_since_respawn=output, respawns=p.respawns,
        seat_known=p.assignee is None or doc.cfg.seat(p.assignee) is not None,
        has_worktree=(doc.paths.worktree(p.id) / ".git").exists(),
        has_branch=_branch_exists(doc, p.id), stopped_for=stopped_for)


def _says_out_of_context(run_dir: Path, run: dict[str, Any]) -> bool:
    from batty.usage import context_exhausted  # what the wrapper reads once the agent exits

    agent = run.get("agent") or (atomic.read_json(run_dir / "launch.json") or {}).get("agent")
    if not agent:
        return False
    try:
        with open(run_dir / "agent.log", "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - LOG_TAIL))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return False
    return context_exhausted(str(agent), text)


def heal(doc: Doctor, p: Packet, v: health.Verdict) -> dict[str, Any]:
    st = doc.st
    p = st.packets.require(p.id)
    run_dir = st.paths.run_dir(p.id, p.attempt)
    # no dispatch launches meanwhile
    with locks.hold(st.paths.state, "dispatch", cmd=st.app.cmd, wait_s=getattr(st, "step_wait", None)):
        if v.action is A.REQUEUE:
            return _requeue(doc, p, v, run_dir)
        if v.escalate or v.action is not A.RESPAWN:
            # said before the agent is stopped: a crash after the stop still knows why (the
            # agent reads as exited, which else would be verify's to fail)
            if runner.run_state(run_dir) in ("running", "dead"):
                atomic.write_json(run_dir / STOPPING, {
                    "action": (v.action or A.RESPAWN).value, "reason": v.reason, "at": clock.now_iso(),
                    "runtime_s": round(_runtime(run_dir) or 0, 1)})
            _stop(doc, p, run_dir, reason=v.reason)
        if v.escalate:
            failpoints.point("doctor.escalate.after-stop")
            reason = {"respawn": "respawns-exhausted", "context-reset": "context-exhausted",
                      "kill-overtime": "overtime"}[v.action.value if v.action else "respawn"]
            doc.block(p, f"doctor gave up: {v.detail}", reason=reason,
                      text=_tail(run_dir / "agent.log"),
                      verification={"attempt": p.attempt, "result": v.reason, "at": clock.now_iso()})
            return {}
        if v.action is A.RESPAWN:
            return _respawn(doc, p, v, run_dir)
        return _next_attempt(doc, p, v, run_dir)


def _runtime(run_dir: Path) -> float | None:
    started = (runner.read_run(run_dir) or {}).get("started_epoch")
    return time.time() - float(started) if started else None


def _stop(doc: Doctor, p: Packet, run_dir: Path, *, reason: str) -> None:
    if runner.stop(run_dir):
        doc.st.events.emit(Kind.AGENT_STOPPED, task=p.id, seat=p.assignee, attempt=p.attempt,
                           reason=reason)
    if runner.run_state(run_dir) == "dead":
        # The wrapper is gone without an exit record: write the one it could not, so that the
        # attempt reads as over (dispatch starts the next one after a verdict).
        run = runner.read_run(run_dir)
        if run is not None:
            run.update(ended=clock.now_iso(), stopped=True, stopped_by="doctor")
            atomic.write_json(run_dir / "run.json", run)


def _requeue(doc: Doctor, p: Packet, v: health.Verdict, run_dir: Path) -> dict[str, Any]:
    from batty.dispatch import handoff_note

    _stop(doc, p, run_dir, reason="requeued")
    failpoints.point("doctor.requeue.after-stop")
    note = handoff_note(doc.st, p, why=f"requeued by doctor ({v.detail})") if v.reason != "lost" else None
    doc.st.transition(p, Status.TODO, Actor.DOCTOR, v.detail, assignee=None, handoff=note,
                      verification={"attempt": p.attempt, "result": "requeued", "at": clock.now_iso()})
    return {}


# ------------------------------------------------------------------ respawn

# A respawn is several writes (the old agent stopped, its files moved aside, the packet, the
# new agent, two events), so respawn.json is its write-ahead record: written first, with a
# ``phase`` moved on as it goes (begun, rotated, launched, done). A crash anywhere leaves a
# record short of done, which the next doctor run completes from its phase, before dispatch
# could take the attempt's empty run folder for a claim never launched (a second
# task.dispatched of the same attempt) and before any rule looks at the attempt. Events a
# respawn cut short may or may not have written are looked for in the log first.


def _respawn(doc: Doctor, p: Packet, v: health.Verdict, run_dir: Path) -> dict[str, Any]:
    """A fresh agent for the same attempt: the old one's files are kept in respawn.N/."""
    from batty.dispatch import handoff_note

    n = 1
    while (run_dir / f"respawn.{n}").exists():
        n += 1
    note = handoff_note(doc.st, p, why=f"stopped by doctor ({v.reason}: {v.detail}) and is respawned")
    record: dict[str, Any] = {"at": time.time(), "n": n, "reason": v.reason, "respawns": p.respawns + 1,
                              "kept": f"respawn.{n}", "phase": "begun", "handoff": note}
    if v.reason == "stalled":
        record["silent_s"] = round(runner.last_output_age(run_dir) or 0, 1)
    atomic.write_json(run_dir / RESPAWN_FILE, record)
    failpoints.point("doctor.respawn.after-intent")
    return _respawn_from(doc, p, run_dir, record, resumed=False)


def _respawn_from(doc: Doctor, p: Packet, run_dir: Path, record: dict[str, Any], *,
                  resumed: bool) -> dict[str, Any]:
    st = doc.st
    keep = run_dir / str(record["kept"])

    def logged(kind: str, field: str, value: Any) -> bool:
        return resumed and value in logged_ids(st.paths, kind, field, task=p.id, attempt=p.attempt)

    if record["phase"] == "begun":
        if "silent_s" in record and not logged(Kind.AGENT_STALLED, "silent_s", record["silent_s"]):
            st.events.emit(Kind.AGENT_STALLED, task=p.id, seat=p.assignee, attempt=p.attempt,
                           silent_s=record["silent_s"])
        _stop(doc, p, run_dir, reason="respawn")
        failpoints.point("doctor.respawn.after-stop")
        keep.mkdir(exist_ok=True)
        for name in ROTATED:  # nothing new is launched before "rotated": these are the old agent's
            if (run_dir / name).exists():
                os.replace(run_dir / name, keep / name)
        record = {**record, "phase": "rotated"}
        atomic.write_json(run_dir / RESPAWN_FILE, record)
        failpoints.point("doctor.respawn.after-rotate")
    if record["phase"] == "rotated":
        p = st.update(p, respawns=record["respawns"], handoff=record.get("handoff"))
        st.notes.append(f"{p.id} attempt {p.attempt} respawned ({record['reason']})")
        failpoints.point("doctor.respawn.after-update")
        # launched already by the run cut short: the agent may even have finished since
        launched = _launch(doc, p, p.attempt) if runner.run_state(run_dir) == "none" else True
        if not logged(Kind.AGENT_RESPAWNED, "respawns", record["respawns"]):
            st.events.emit(Kind.AGENT_RESPAWNED, task=p.id, seat=p.assignee, attempt=p.attempt,
                           reason=record["reason"], respawns=record["respawns"])
        failpoints.point("doctor.respawn.after-event")
        record = {**record, "phase": "launched", "launched": launched}
        atomic.write_json(run_dir / RESPAWN_FILE, record)
    return {"respawns": record["respawns"], "kept": st.paths.rel(keep),
            "launched": record.get("launched")}


def _respawn_done(run_dir: Path) -> None:
    record = atomic.read_json(run_dir / RESPAWN_FILE) or {}
    atomic.write_json(run_dir / RESPAWN_FILE, {**record, "phase": "done"})


def _respawn_cut_short(doc: Doctor, p: Packet) -> Finding | None:
    """The finding that completes a respawn a crash cut short (its record short of done)."""
    if not p.attempt:
        return None
    run_dir = doc.paths.run_dir(p.id, p.attempt)
    record = atomic.read_json(run_dir / RESPAWN_FILE) or {}
    phase = record.get("phase")
    if phase in (None, "done") or int((p.verification or {}).get("attempt") or 0) == p.attempt:
        return None  # done (or written before phases), or the attempt is over anyway
    kept = doc.paths.rel(run_dir / str(record.get("kept")))
    if phase == "launched" and kept in logged_ids(doc.paths, Kind.DOCTOR_ACTION, "kept", task=p.id,
                                                  attempt=p.attempt, action=A.RESPAWN.value):
        if not doc.check:
            _respawn_done(run_dir)  # cut short after its event: only the record was open
        return None

    def fix() -> dict[str, Any]:
        with locks.hold(doc.paths.state, "dispatch", cmd=doc.st.app.cmd,
                        wait_s=getattr(doc.st, "step_wait", None)):
            return _respawn_from(doc, doc.st.packets.require(p.id), run_dir, record, resumed=True)

    return Finding(A.RESPAWN, f"a respawn a crash cut short ({phase}): completed", task=p.id,
                   attempt=p.attempt, seat=p.assignee, data={"reason": record.get("reason")},
                   fix=fix, done=partial(_respawn_done, run_dir))


def _next_attempt(doc: Doctor, p: Packet, v: health.Verdict, run_dir: Path) -> dict[str, Any]:
    """Context reset or kill-overtime: this attempt is over (a doctor verdict, so verify leaves
    it); the next one starts with a hand-off note, here or by the next dispatch."""
    from batty.dispatch import handoff_note

    st = doc.st
    failpoints.point("doctor.next-attempt.after-stop")
    if v.action is A.CONTEXT_RESET:
        why, result, feedback = "stopped: its context window ran out", "context-exhausted", p.feedback
    else:
        runtime = (atomic.read_json(run_dir / STOPPING) or {}).get("runtime_s") or _runtime(run_dir)
        secs = f"{float(runtime):.0f}" if runtime else "?"
        why = f"killed after {secs} s (health.max_runtime_s {doc.cfg.health.max_runtime_s})"
        result, feedback = "killed", f"Attempt {p.attempt} was {why}. Work in smaller steps and finish sooner."
    note = handoff_note(st, p, why=why)
    p = st.transition(p, Status.IN_PROGRESS, Actor.DOCTOR, why, handoff=note, feedback=feedback,
                      note=f"{p.id} attempt {p.attempt} {result}",
                      verification={"attempt": p.attempt, "result": result, "at": clock.now_iso()})
    failpoints.point("doctor.next-attempt.after-verdict")
    launched = _launch(doc, p, p.attempt + 1)
    return {"launched": launched, "next_attempt": p.attempt + 1}


def _launch(doc: Doctor, p: Packet, attempt: int) -> bool:
    """Start attempt ``attempt`` on the task's seat now; False leaves it to dispatch (disk low,
    no seat)."""
    from batty import dispatch
    from batty.core.planning import Assign

    if not p.assignee or doc.cfg.seat(p.assignee) is None:
        return False
    paused = dispatch.disk_pause(doc.st)
    if paused:
        doc.st.app.warn(f"{p.id}: not launched now: {paused}")
        return False
    # a respawn (the same attempt) is not a new assignment: no task.dispatched
    dispatch.launch_one(doc.st, Assign(p.id, p.assignee, attempt, claim=False),
                        announce=attempt != p.attempt)
    return True


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_bytes()[-limit:].decode("utf-8", errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------ disk and escalations


def disk_stage(doc: Doctor) -> list[Finding]:
    """Runs and evidence older than ``disk.keep_runs_days`` of tasks that are done or archived."""
    keep_s = doc.cfg.disk.keep_runs_days * 86400
    now = time.time()
    old: list[Path] = []
    for p in doc.st.packets:
        if p.status not in (Status.DONE, Status.ARCHIVED):
            continue
        for top in (doc.paths.runs_of(p.id), doc.paths.evidence_of(p.id)):
            if not top.is_dir():
                continue
            for d in sorted(top.iterdir()):
                if d.is_dir() and now - _newest(d) > keep_s:
                    old.append(d)
    if not old:
        return []

    def fix() -> dict[str, Any]:
        freed = 0
        removed = []
        for d in old:
            freed += _size(d)
            shutil.rmtree(d, ignore_errors=True)
            failpoints.point("doctor.disk-cleanup.after-remove")
            removed.append(doc.paths.rel(d))
            try:
                d.parent.rmdir()  # the task's folder, when it is empty now
            except OSError:
                pass
        freed_mb = round(freed / (1 << 20), 3)
        doc.st.events.emit(Kind.DISK_CLEANUP, removed=removed, freed_mb=freed_mb)
        return {"removed": len(removed), "freed_mb": freed_mb}

    return [Finding(A.DISK_CLEANUP, f"{len(old)} run or evidence folder(s) of finished tasks older"
                    f" than disk.keep_runs_days {doc.cfg.disk.keep_runs_days}", fix=fix)]


def _newest(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for f in folder.rglob("*"):
        try:
            newest = max(newest, f.lstat().st_mtime)
        except OSError:
            continue
    return newest


def _size(folder: Path) -> int:
    total = 0
    for f in folder.rglob("*"):
        try:
            if f.is_file() and not f.is_symlink():
                total += f.stat().st_size
        except OSError:
            continue
    return total


def escalation_stage(doc: Doctor) -> list[Finding]:
    try:
        from batty import escalations
    except ImportError:  # pragma: no cover - the escalation module ships with batty
        return []
    if not doc.check:
        for done in escalations.flush(doc.st):  # what a crash cut short after the record
            doc.st.app.say(f"doctor: escalation {done}: announced (a crash had cut it short)")
    packets = doc.st.packets
    stale = []
    for r in escalations.open_escalations(doc.st):
        tasks = list(r.get("tasks") or [])
        if tasks and not any(t in packets.invalid_ids for t in tasks) and all(
                packets.get(t) is None or packets.by_id[t].status in (Status.DONE, Status.ARCHIVED)
                for t in tasks):
            stale.append(r)
    if not stale:
        return []

    def fix() -> dict[str, Any]:
        done = escalations.demote_stale(doc.st)
        return {"escalations": [r["id"] for r in done]}

    ids = ", ".join(str(r.get("id")) for r in stale)
    return [Finding(A.ESCALATION_DEMOTE, f"{ids}: every task is done or archived; no longer "
                    "shown as actionable", fix=fix, subject=ids)]


STAGES: tuple[Callable[[Doctor], list[Finding]], ...] = (
    tamper_stage, stale_lock_stage, git_lock_stage, worktree_stage, orphan_branch_stage,
    orphan_run_stage, attempt_stage, disk_stage, escalation_stage)
