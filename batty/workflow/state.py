"""One command run's view of the repository: config, packets, transitions, the board, one commit.

Commands load state here, ask the core for a plan, and apply it through :class:`State`, whose
every status change is checked against the lifecycle table and logged as one ``task.status``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batty.core import board as boardmod
from batty.core import clock
from batty.core.ids import ID_RE
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status, check
from batty.core.packet import Packet
from batty.errors import InvalidInput, NotFound
from batty.store import atomic, failpoints, locks
from batty.store import packets as store

if TYPE_CHECKING:
    from batty.core.config import Config
    from batty.workflow.session import Session

BOARD_LOCK = "board"


@dataclass
class BoardReport:
    applied: list[str] = field(default_factory=list)   # what people's edits changed
    warnings: list[str] = field(default_factory=list)
    problems: list[InvalidInput] = field(default_factory=list)
    written: bool = False


class State:
    def __init__(self, app: Session) -> None:
        self.app = app
        self.paths = app.paths
        self.events = app.events
        self.notes: list[str] = []
        self._packets: store.Packets | None = None
        self._touched: set[str] = set()
        self._warned: set[str] = set()
        # How long a step waits for its own lock: None = the default; tick passes 0 (a busy
        # step is skipped, the next tick takes it)
        self.step_wait: float | None = None
        self._seen_key: Any = None  # the board.quiet key taken before the board was read
        self._scan: Any = None  # git's scan of board/tasks/, taken by packets_version()
        self._version: str | None = None  # the packets' name, when found without loading them

    # ------------------------------------------------------------------ reading

    @cached_property
    def config(self) -> Config:
        from batty.store.config_file import load

        return load(self.paths)

    def _tasks_mtime(self) -> int | None:
        try:
            return os.stat(self.paths.tasks).st_mtime_ns
        except OSError:
            return None

    @property
    def packets(self) -> store.Packets:
        if self._packets is None:
            self._loaded_mtime = self._tasks_mtime()  # before reading: a write meanwhile moves it
            self._packets = store.load_all(self.paths, scan=self._scan)
            self._scan = None
            self._report_invalid(self._packets)
        return self._packets

    def packets_version(self) -> str | None:
        """The packet cache's name for the packets on disk (None: no name), found without
        loading them when no packet file changed since a run loaded them all (issue 13)."""
        if self._packets is None and self._version is None:
            self._version, problems, self._scan = store.quick(self.paths)
            if self._version is not None:
                self._report_invalid(store.Packets(problems=problems))
                return self._version
        if self._packets is None and self._version is not None:
            return self._version
        return self.packets.version

    def reload(self) -> store.Packets:
        """Read the packets again: a step that just took its lock must not plan from what an
        earlier step (or another process, before the lock) saw. Only files whose stat changed
        since are read (a second full load was half of a no-op reconcile of 10,000 packets).

        Not even that when board/tasks/ has not changed since the last load began: every batty
        write renames a file into the folder, which moves the folder's mtime. The folder must
        also be older than 2 s, as timestamps are coarse (the packet cache's racy rule). A
        person's in-place edit meanwhile is read by the next run; a transition reads its packet
        from disk under the board lock anyway."""
        earlier, self._packets = self._packets, None
        self._scan = self._version = None  # taken before: a reload looks again
        if earlier is not None:
            mtime = self._tasks_mtime()
            if (mtime is not None and mtime == getattr(self, "_loaded_mtime", None)
                    and time.time_ns() - mtime > 2_000_000_000 and not self._touched):
                self._packets = earlier
                return earlier
            self._loaded_mtime = mtime
            self._packets = store.load_all(self.paths, previous=earlier)
            self._report_invalid(self._packets)
        return self.packets

    def _report_invalid(self, packets: store.Packets) -> None:
        """Warn about each broken packet; log `packet.invalid` once per distinct problem."""
        seen_path = self.paths.cache / "invalid.json"
        seen = set((atomic.read_json(seen_path) or {}).get("seen", []))
        now = {str(p) for p in packets.problems}
        for problem in packets.problems:
            if not self.app.quiet and str(problem) not in self._warned:
                self.app.warn(str(problem))
                self._warned.add(str(problem))
            if str(problem) not in seen:
                self.events.emit(Kind.PACKET_INVALID, task=_stem(problem.file), file=problem.file,
                                 line=problem.line, error=problem.what)
        if now != seen:
            try:
                atomic.write_json(seen_path, {"seen": sorted(now)})
            except OSError:
                pass

    # ------------------------------------------------------------------ writing

    def _writable(self) -> None:
        """batty writes the board of the base branch: with the control checkout on another
        branch its board/ is that branch's, and acting on it would undo the base's (review
        finding). Checked once per run, before the first write."""
        if getattr(self, "_checked_checkout", False):
            return
        from batty.errors import InvalidInput, OffBase
        from batty.store import git

        try:
            base = self.config.base
        except InvalidInput:
            return  # reported by whatever reads the config
        here = git.head_branch(self.paths.root)
        if here != base and git.rev(self.paths.root, f"refs/heads/{base}") is not None:
            raise OffBase(f"the control checkout is on {here or 'a detached HEAD'}, not {base}",
                               valid=f"batty works on the base branch's board: `git checkout {base}`")
        self._checked_checkout = True

    def _fresh(self, task_id: str) -> Packet:
        path = self.paths.packet(task_id)
        return store.parse_file(path, self.paths.rel(path))

    def update(self, packet: Packet, **changes: Any) -> Packet:
        """Write batty's fields of one packet (no status change)."""
        self._writable()
        with locks.hold(self.paths.state, BOARD_LOCK, cmd=self.app.cmd):
            fresh = self._fresh(packet.id)
            changes.setdefault("updated", clock.now_iso())
            new = store.save(self.paths, fresh, changes)
        self._remember(new)
        return new

    def transition(self, packet: Packet, to: Status, actor: Actor, why: str, *,
                   note: str | None = None, expect_attempt: int | None = None,
                   **changes: Any) -> Packet:
        """Move a task through the lifecycle: checked, written, logged, noted for the commit.
        ``expect_attempt``: refuse when the task has moved on to another attempt meanwhile (a
        long verify must not judge the attempt that replaced the one it tested)."""
        self._writable()
        with locks.hold(self.paths.state, BOARD_LOCK, cmd=self.app.cmd):
            fresh = self._fresh(packet.id)
            check(fresh.status, to, actor)
            if expect_attempt is not None and fresh.attempt != expect_attempt:
                from batty.errors import BattyError

                raise BattyError(f"{packet.id} is at attempt {fresh.attempt} now, not {expect_attempt}",
                                 valid="nothing changed; the next tick judges the new attempt")
            changes["status"] = to.value
            if fresh.status is Status.REVIEW and to is not Status.REVIEW and fresh.approved:
                # an approval is for what was reviewed: work sent back must be approved again
                changes.setdefault("approved", None)
            if fresh.status is Status.BLOCKED and to is Status.TODO:
                # a person unblocked it: a fresh budget of attempts, counted from here
                changes.setdefault("attempts_from", fresh.attempt)
            changes.setdefault("updated", clock.now_iso())
            new = store.save(self.paths, fresh, changes)
            failpoints.point("state.after-packet-write")
            # inside the board lock: reconcile never sees the packet without its event but for a crash
            self.events.emit(Kind.TASK_STATUS, task=new.id, attempt=new.attempt or None,
                             seat=new.assignee, **{"from": fresh.status.value, "to": to.value,
                                                   "by": actor.value, "why": why})
        if note or fresh.status is not to:
            self.notes.append(note or f"{new.id} {fresh.status.value} -> {to.value}"
                              + (f" ({new.assignee})" if to is Status.IN_PROGRESS and new.assignee else ""))
        self._remember(new)
        return new

    def create(self, title: str, *, status: Status = Status.TODO, by: str = "human",
               prefix: str = "T", task_id: str | None = None, **fields: Any) -> Packet:
        """A new task; ``task_id``: the id chosen ahead (the next free one otherwise)."""
        self._writable()
        with locks.hold(self.paths.state, BOARD_LOCK, cmd=self.app.cmd):
            task_id = task_id or store.next_id(self.paths, prefix)
            now = clock.now_iso()
            packet = store.create(self.paths, {"id": task_id, "title": title, "status": status.value,
                                               **fields, "created": now, "updated": now})
            self.events.emit(Kind.TASK_CREATED, task=task_id, title=title, status=status.value, by=by)
        self.notes.append(f"{task_id} created ({status.value})")
        self._remember(packet)
        return packet

    def _remember(self, packet: Packet) -> None:
        self._touched.add(f"board/tasks/{packet.id}.yaml")
        self._version = None
        if self._packets is not None:
            self._packets.by_id[packet.id] = packet

    # ------------------------------------------------------------------ the board

    def sync_board(self, *, dry_run: bool = False) -> BoardReport:
        """The board part of reconcile (SPEC 3): apply what people changed in BOARD.md since
        batty last rendered it (a three-way comparison, so batty's own changes are never taken
        for a person's), then render it again from the packets."""
        report = BoardReport()
        if not dry_run:
            self._writable()
        with locks.hold(self.paths.state, BOARD_LOCK, cmd=self.app.cmd):
            if not dry_run and self._quiet_now():
                self._board_quiet = True
                return report
            self._board_clean = False
            path = self.paths.board_md
            base_path = self.paths.cache / "board.base.md"
            try:
                current_text = store.yamlx.decode(path.read_bytes(), "board/BOARD.md")
            except FileNotFoundError:
                current_text = ""
            except InvalidInput as e:
                self._board_unreadable = True
                report.problems.append(e)
                return report
            current = boardmod.parse(current_text)
            self._board_unreadable = bool(current.problems)
            if current.problems:
                for line, what, valid in current.problems:
                    report.problems.append(InvalidInput(what, file="board/BOARD.md", line=line, valid=valid))
                return report  # a garbled board is left as it is until a person mends it
            try:
                base_text = base_path.read_text(encoding="utf-8")
                base = current if base_text == current_text else boardmod.parse(base_text)
            except (OSError, UnicodeDecodeError):
                base = current
            packets = self.packets
            ids = self._apply_people(current, base, packets, report, dry_run)
            seen: set[str] = set()
            for col in current.columns:
                for card in col.cards:
                    if card.id and card.id in seen:
                        report.warnings.append(f"board/BOARD.md:{card.line}: card {card.id} appears"
                                               " twice; the first one counts")
                    seen.add(card.id or "")
            unknown_cols = [c.name for c in current.columns if c.status is None]
            for name in unknown_cols:
                report.warnings.append(f"board/BOARD.md: unknown column {name!r} left alone")
            from batty.store.broken import broken

            text = boardmod.render(self.packets, current.with_ids(ids),  # new cards keep their place
                                   broken(self.paths, packets))
            if text != current_text:
                report.written = True
                if not dry_run:
                    atomic.write_text(path, text)
                    failpoints.point("board.after-render")
            if not dry_run and (not base_path.exists() or base_path.read_text(encoding="utf-8") != text):
                atomic.write_text(base_path, text)
            if not dry_run:
                self._new_cards_path.unlink(missing_ok=True)  # their ids are in BOARD.md now
            self._board_clean = not (report.applied or report.warnings or report.problems
                                     or report.written)
        return report

    def board_problems_to_say(self, problems: list[InvalidInput]) -> list[str]:
        """What is wrong with BOARD.md, to say: every run at a terminal, but once per distinct
        problem under --quiet (issue 17: cron ticks every minute, and the same lines in cron.log
        every minute say nothing new). Said again once the board has read in between."""
        path = self.paths.cache / "board-invalid.json"
        now = [str(p) for p in problems]
        if not now and (self._board_quiet or not path.exists()):
            return []
        said = set((atomic.read_json(path) or {}).get("said", []))
        if set(now) != said:
            try:
                if now:
                    atomic.write_json(path, {"said": sorted(set(now))}, durable=False)
                else:
                    path.unlink(missing_ok=True)
            except OSError:
                pass  # a cache is never worth failing a command for
        return now if not self.app.quiet else [m for m in now if m not in said]

    # A no-op reconcile of 10,000 packets spent a third of its time finding that nothing had
    # changed: BOARD.md parsed and rendered again, and `git status` over board/ (issue 2). Its
    # outcome is a function of what it read, so a run that found board, packets and git in
    # agreement keeps a key of all of it (.batty/cache/board.quiet): the packet cache's name
    # for the set of packet files and their stats, the stats of the other board files, of
    # board.base.md and of the index, and HEAD. The next run with the same key has nothing to
    # do either. Only files older than the racy window count (packets.RACY_NS): one written
    # within the timestamp granularity may change again under the same stat.

    _board_quiet = False   # this run matched the key: the board part was skipped
    _board_unreadable: bool | None = None  # BOARD.md as this run last read it did not parse
    _board_clean = False   # this run's board part found nothing to apply, warn of or write

    def _quiet_key(self) -> list | None:
        if self._touched or self.notes:
            return None
        version = self.packets_version()
        if version is None:
            return None
        from batty import __version__
        from batty.store import git

        root = self.paths.root
        dirs = git._dirs(root)
        if dirs is None:
            return None
        racy_after = time.time_ns() - store.RACY_NS
        key: list = [1, __version__, version, git.rev(root, "HEAD")]
        for f in (self.paths.board_md, self.paths.inbox, self.paths.config, self.paths.board,
                  self.paths.tasks, self.paths.cache / "board.base.md", dirs[0] / "index"):
            try:
                st = os.stat(f)
            except FileNotFoundError:
                key.append(None)
                continue
            if st.st_mtime_ns >= racy_after or st.st_ctime_ns >= racy_after:
                return None
            key.append([st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns])
        return key

    def _quiet_now(self) -> bool:
        key = self._seen_key = self._quiet_key()  # taken before the board is read
        if key is None:
            return False
        try:
            return bool(json.loads((self.paths.cache / "board.quiet").read_bytes()) == key)
        except (OSError, ValueError):
            return False

    def _remember_quiet(self) -> None:
        """Keep the key of this run's agreement: the one taken before the board was read, with
        the index as `git status` left it; none when anything else moved in between (a pull
        during the run: its changes were not read, review finding)."""
        key = self._quiet_key()
        seen = self._seen_key
        if key is not None and seen is not None and key[:-1] == seen[:-1]:
            try:
                atomic.write_json(self.paths.cache / "board.quiet", key, durable=False)
            except OSError:
                pass  # a cache is never worth failing a command for

    def _apply_people(self, current: boardmod.Board, base: boardmod.Board,
                      packets: store.Packets, report: BoardReport, dry_run: bool) -> dict[int, str]:
        """Apply what people changed; the ids given to new cards, by their line."""
        was = base.column_of()
        now = current.column_of()
        lines = {c.id: c.line for col in current.columns for c in col.cards if c.id}
        notes = {c.id: boardmod.note_of(c) for col in current.columns for c in col.cards
                 if c.id and (c.more or "<br>" in c.text)}
        for tid, col in now.items():
            p = packets.get(tid)
            if p is None:
                if tid not in packets.invalid_ids:
                    report.warnings.append(f"board/BOARD.md:{lines[tid]}: card {tid} has no packet;"
                                           " dropped from the board")
                continue
            moved = was.get(tid) != col if tid in was else col != p.status
            if not moved or col == p.status:
                continue
            try:
                check(p.status, col, Actor.HUMAN)
            except InvalidInput as e:
                report.warnings.append(f"board/BOARD.md:{lines[tid]}: {tid} cannot move "
                                       f"{p.status.value} -> {col.value} ({e.valid}); card moved back")
                continue
            if p.status is Status.REVIEW and col is Status.IN_PROGRESS:
                # changes requested on the board (SPEC 13): the note under the card says what
                self._board_review(p, notes.get(tid, ""), lines[tid], report, dry_run)
                continue
            report.applied.append(f"{tid} {p.status.value} -> {col.value} (board)")
            if not dry_run:
                self.transition(p, col, Actor.HUMAN, "moved on the board")
        for tid in was:
            if tid not in now and tid in packets.by_id and packets.by_id[tid].status in boardmod.SHOWN:
                if packets.by_id[tid].status is Status.DONE:
                    continue
                report.warnings.append(f"board/BOARD.md: card {tid} was deleted; a deleted card is not"
                                       " a deleted task (archive it instead), rendered back")
        new = current.new_cards()
        if not new:
            return {}
        # A card without an id becomes a task, and BOARD.md gets the id when it is rendered
        # again: a crash in between left the card without its id, and the next run made a second
        # task of it. The ids are written ahead (.batty/board-new.json, removed once BOARD.md is
        # rendered), and a run that finds them creates what is missing of those tasks instead.
        ahead = [] if dry_run else list((atomic.read_json(self._new_cards_path) or {}).get("cards", []))
        # an id BOARD.md shows already was rendered (the crash came after): not this card's
        ahead = [e for e in ahead if isinstance(e, dict) and isinstance(e.get("id"), str)
                 and ID_RE.fullmatch(e["id"]) and e["id"] not in now]
        unused = list(ahead)
        plan: list[tuple[str | None, str, Status]] = []
        for status, card in new:
            if status not in (Status.BACKLOG, Status.TODO):
                report.warnings.append(f"board/BOARD.md:{card.line}: new card {card.title!r} in "
                                       f"{status.value}; created in todo instead")
                status = Status.TODO
            known = next((e for e in unused if e.get("title") == card.title), None)
            if known is not None:
                unused.remove(known)
            plan.append((known["id"] if known else None, card.title, status))
            report.applied.append(f"new task {card.title!r} ({status.value})")
        if dry_run:
            return {}
        taken = [str(e.get("id")) for e in ahead]
        ids: list[str] = []
        made: set[str] = set()
        for known_id, title, _status in plan:
            if known_id is not None and self.paths.packet(known_id).exists():
                if self._title_of(known_id) == title:
                    made.add(known_id)  # created by the run a crash cut short
                else:
                    known_id = None  # the id went to another task meanwhile: a new one
            if known_id is None:
                known_id = store.next_id(self.paths, "T", taken)
                taken.append(known_id)
            ids.append(known_id)
        atomic.write_json(self._new_cards_path, {"cards": [
            {"id": i, "title": title, "status": status.value}
            for i, (_, title, status) in zip(ids, plan, strict=True)]})
        for new_id, (_, title, status) in zip(ids, plan, strict=True):
            if new_id not in made:
                self.create(title, status=status, by="human", task_id=new_id)
                failpoints.point("board.after-card-task")
        return {card.line: new_id for (_, card), new_id in zip(new, ids, strict=True)}

    def _board_review(self, p: Packet, note: str, line: int, report: BoardReport, dry_run: bool) -> None:
        """A card moved from Review back to In Progress: changes requested, in the words of the
        note line under it; without one it moves back (an agent gets no feedback from nothing)."""
        if not note.strip():
            report.warnings.append(f"board/BOARD.md:{line}: {p.id} moved back to In Progress without a"
                                   " note line saying what to change; card moved back (indent a line"
                                   " under the card, or `batty review ID --request-changes TEXT`)")
            return
        report.applied.append(f"{p.id} review -> in-progress (board: changes requested)")
        if not dry_run:
            from batty.workflow.review import request_changes

            request_changes(self, p.id, note, by="board")

    def _title_of(self, task_id: str) -> str | None:
        try:
            return self._fresh(task_id).title
        except (InvalidInput, NotFound):
            return None

    @property
    def _new_cards_path(self) -> Path:
        return self.paths.state / "board-new.json"

    # ------------------------------------------------------------------ finishing

    def valid_board_paths(self) -> set[str]:
        """board/ files whose content validates: the ones a commit may take."""
        ok = {"board/BOARD.md", "board/INBOX.md", "board/config.yaml", "board/tasks/.gitkeep", "board/flaky.yaml"}
        if self._board_unreadable is None:
            self._board_unreadable = not _board_reads(self.paths.board_md)
        if self._board_unreadable:
            # issue 17: a board batty cannot read stays the person's, uncommitted, until it reads
            ok.discard("board/BOARD.md")
        for p in self.packets:
            ok.add(f"board/tasks/{p.id}.yaml")
        try:
            _ = self.config
        except InvalidInput:
            ok.discard("board/config.yaml")
        return ok

    def finish(self, *, commit: bool = True, force: bool = False) -> str | None:
        """End of the command run: at most one board commit (SPEC 1). ``force`` commits board
        files that changed outside batty too (reconcile: board, packets and git agree)."""
        if not commit:
            return None
        if not (self.notes or self._touched):
            if not force:
                return None
            if self._board_quiet:
                return None  # nothing changed since a run that found board/ clean
            from batty.store import git

            if not git.changed_paths(self.paths.root, ["board/"]):
                if self._board_clean:
                    self._remember_quiet()
                return None
        from batty.store.boardgit import commit_board

        try:
            base = self.config.base
        except InvalidInput:
            return None
        self.sync_board()
        failpoints.point("state.before-board-commit")
        return commit_board(self.paths.root, base, self.notes, valid=self.valid_board_paths())


def is_local(p: Packet) -> bool:
    """True when this machine holds the task's claim (or nobody does): another machine's
    in-progress task is neither relaunched, healed nor counted on this machine's seats."""
    if not p.host:
        return True
    from batty.store.locks import host

    return p.host == host()


def _board_reads(path: Path) -> bool:
    """BOARD.md is absent, or UTF-8 that parses without a problem."""
    try:
        text = store.yamlx.decode(path.read_bytes(), "board/BOARD.md")
    except FileNotFoundError:
        return True
    except (OSError, InvalidInput):
        return False
    return not boardmod.parse(text).problems


def _stem(file: str) -> str | None:
    name = file.rsplit("/", 1)[-1]
    stem = name[:-5] if name.endswith(".yaml") else name
    from batty.core.ids import ID_RE

    return stem if ID_RE.match(stem) else None


def ready(packets: Iterable[Packet], order: Mapping[str, int] | None = None) -> list[Packet]:
    """The ready queue: todo, every dependency done; by priority, then board order, then id."""
    by_id = {p.id: p for p in packets}
    order = order or {}
    out = [p for p in by_id.values() if p.status is Status.TODO
           and all(d in by_id and by_id[d].status is Status.DONE for d in p.depends_on)]

    def key(p: Packet) -> tuple:
        head, _, num = p.id.rpartition("-")
        return (p.priority, order.get(p.id, 1 << 30), head, int(num))

    return sorted(out, key=key)


def board_order(paths: Any) -> dict[str, int]:
    """Card positions in BOARD.md's Todo column (people reorder cards there)."""
    try:
        text = paths.board_md.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    parsed = boardmod.parse(text)
    return {tid: i for i, tid in enumerate(parsed.order().get(Status.TODO, []))}


def dumps(obj: Any) -> str:
    """--json output: indented for a person at a terminal, compact (and fast: the C encoder)
    for a script."""
    import sys

    if sys.stdout.isatty():
        return json.dumps(obj, indent=2, default=str, ensure_ascii=False)
    return json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))
