"""Escalations: what waits for the human (SPEC 1 INBOX.md, 2 `escalations`, 9 escalation-demote).

verify, merge and doctor call :func:`raise_escalation` with a reason, the tasks concerned and a
text. The record is kept in every concerned packet's ``escalations`` list, so it travels with the
board through git (SPEC 10); an escalation about no task at all lives in ``.batty/`` on the
machine that raised it. ``board/INBOX.md`` is rendered from the records after every change.

The same reason for the same tasks again, while an escalation for it is open and it was last
seen less than ``escalations.window_s`` ago, is folded into the open one: its count and
``last_at`` go up, and there is no new event and no new notification (an escalation storm, the
same failure fifty times, is one message to the human).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from batty.core import clock, inbox
from batty.core.kinds import Kind
from batty.core.lifecycle import Actor, Status
from batty.errors import InvalidInput, NotFound
from batty.store import atomic, failpoints, locks

if TYPE_CHECKING:
    from batty.store.packets import Packets
    from batty.workflow.state import State

BOARD_LOCK = "board"  # the same lock State takes for packet writes (re-entrant in one process)
MAX_TEXT = 4000       # a packet is a brief, not a log: the evidence folder keeps the full output
GONE = (Status.DONE, Status.ARCHIVED)
ID_VALID = "an escalation id like E-3 (see `batty escalations`)"


# ------------------------------------------------------------------ reading


def _loose_path(st: State) -> Path:
    """Escalations about no task: kept per machine, under .batty/ (never committed)."""
    return st.paths.state / "escalations.json"


def _loose(st: State) -> list[dict[str, Any]]:
    data = atomic.read_json(_loose_path(st)) or {}
    items = data.get("escalations")
    return [dict(e) for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _fresh_packets(st: State) -> Packets:
    # Read again under the board lock: another run may have written a packet since st loaded.
    from batty.store import packets as store

    return store.load_all(st.paths)


def _records(st: State, packets: Packets | None = None) -> list[dict[str, Any]]:
    packets = packets if packets is not None else st.packets
    copies: list[Mapping[str, Any]] = [e for p in packets for e in p.escalations]
    return inbox.merge([*copies, *_loose(st)])


def all_escalations(st: State) -> list[dict[str, Any]]:
    """Every escalation: actionable first (newest first), then closed (latest closed first)."""
    actionable, closed = inbox.order(_records(st))
    return actionable + closed


def open_escalations(st: State) -> list[dict[str, Any]]:
    """The actionable escalations, newest first."""
    return inbox.order(_records(st))[0]


def find(st: State, esc_id: str) -> dict[str, Any]:
    esc_id = _check_id(esc_id)
    for r in _records(st):
        if r.get("id") == esc_id:
            return r
    _not_found(st, esc_id, st.packets)


def _not_found(st: State, esc_id: str, packets: Packets) -> NoReturn:
    """No record of ``esc_id``. Issue 16.6: one kept in a packet that does not load was "no
    escalation"; it is named, with the packet to mend."""
    import re

    from batty.store.broken import broken

    for tid, (_, _, where) in broken(st.paths, packets).items():
        try:
            text = st.paths.packet(tid).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if re.search(rf"\bid:\s*['\"]?{re.escape(esc_id)}['\"]?\s*$", text, re.M):
            raise InvalidInput(f"{esc_id} is kept in {tid}'s packet, which does not load ({where})",
                               valid=f"mend it first: `batty task edit {tid}`")
    raise NotFound(f"no escalation {esc_id}", valid="see `batty escalations --all`")


def _check_id(esc_id: str) -> str:
    esc_id = str(esc_id).strip().upper()
    if not inbox.ID_RE.match(esc_id):
        raise InvalidInput(f"invalid escalation id {esc_id!r}", valid=ID_VALID)
    return esc_id


# ------------------------------------------------------------------ the outbox

# A record is written (packets, INBOX.md) and then announced (its event, a notification). A
# crash in between left an escalation nobody was told of, or a resolve whose blocked tasks
# stayed blocked (issue 5). So each is posted to .batty/escalations.outbox/ first, under the
# board lock, and removed once announced; :func:`flush` (doctor, every tick) finishes what a
# crash left there. An event that is in the log already is not logged again.


def _outbox(st: State) -> Path:
    return st.paths.state / "escalations.outbox"


class _Post:
    """A post in the outbox, held (a kernel lock on ``<post>.lock``) by the process that wrote
    it until it has announced it: :func:`flush` leaves a held post alone, as its writer is alive
    and announcing (outside the board lock: a notification may take seconds). Before, a tick's
    flush sent the notification of a raise or a resolve a person's command was announcing a
    second time (review finding). A writer that died released its lock with its life."""

    def __init__(self, path: Path) -> None:
        from batty.store.locks import Flock

        self.path = path
        self.lock = Flock(path.with_name(path.name + ".lock"))

    def unlink(self, missing_ok: bool = True) -> None:
        self.path.unlink(missing_ok=missing_ok)
        self.lock.path.unlink(missing_ok=True)
        self.lock.release()


def _post(st: State, esc_id: str, what: str, **data: Any) -> _Post:
    path = _outbox(st) / f"{esc_id}.{what}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    post = _Post(path)
    post.lock.acquire(timeout=0)  # new, and named by an id taken under the board lock: free
    atomic.write_json(path, {"id": esc_id, "what": what, **data})
    return post


def _held(path: Path) -> bool:
    """True while the process that wrote the post still holds it (it is announcing it)."""
    from batty.store.locks import held

    return held(path.with_name(path.name + ".lock"))


def flush(st: State) -> list[str]:
    """Announce what a crash cut short after its record was written; the ids, with what."""
    folder = _outbox(st)
    posts = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not posts:
        return []
    from batty.store import events

    logged = {(e.get("kind"), (e.get("data") or {}).get("escalation")) for e in events.read(st.paths.events)
              if str(e.get("kind", "")).startswith("escalation.")}
    done = []
    for path in posts:
        if _held(path):
            continue  # its writer is announcing it now
        post = atomic.read_json(path) or {}
        esc_id, what = post.get("id"), post.get("what")
        record = next((r for r in _records(st, _fresh_packets(st)) if r.get("id") == esc_id), None)
        if record is None or not esc_id:
            path.unlink(missing_ok=True)  # cut short before its record: it never happened
            path.with_name(path.name + ".lock").unlink(missing_ok=True)
            continue
        if what == "raised":
            _announce_raised(st, record, log=(Kind.ESCALATION_RAISED, esc_id) not in logged)
        elif what == "demoted" and inbox.state_of(record) == inbox.DEMOTED:
            if (Kind.ESCALATION_DEMOTED, esc_id) not in logged:
                _announce_demoted(st, record)
        elif what == "resolved" and inbox.state_of(record) == inbox.RESOLVED:
            _unblock(st, record, note=str(post.get("note") or ""))
            _announce_resolved(st, record, note=str(post.get("note") or ""),
                               log=(Kind.ESCALATION_RESOLVED, esc_id) not in logged)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".lock").unlink(missing_ok=True)
        done.append(f"{esc_id} {what}")
    return done


# ------------------------------------------------------------------ writing


def _next_id(st: State, records: Iterable[Mapping[str, Any]]) -> str:
    """E-<n>, one more than any id batty has handed out. INBOX.md is read too: it still names
    ids kept in a packet that does not load right now."""
    import re

    highest = max((inbox.number(r.get("id")) for r in records), default=0)
    try:
        text = st.paths.inbox.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    highest = max([highest, *(int(n) for n in re.findall(r"\bE-([0-9]+)\b", text))])
    return f"E-{highest + 1}"


def _write(st: State, packets: Packets, record: Mapping[str, Any]) -> None:
    """Put ``record`` (by id, replacing any copy) into each of its packets, or the loose file."""
    esc_id = record["id"]
    tasks = list(record.get("tasks") or [])
    if not tasks:
        loose = [e for e in _loose(st) if e.get("id") != esc_id] + [dict(record)]
        atomic.write_json(_loose_path(st), {"escalations": loose})
        return
    for tid in tasks:
        p = packets.get(tid)
        if p is None:
            continue  # a task without a (valid) packet: the record lives in the others
        items = [dict(e) for e in p.escalations]
        for i, e in enumerate(items):
            if e.get("id") == esc_id:
                items[i] = dict(record)
                break
        else:
            items.append(dict(record))
        st.update(p, escalations=items)


def _foldable(record: Mapping[str, Any], tasks: list[str], reason: str, window_s: int) -> bool:
    if inbox.state_of(record) != inbox.OPEN or record.get("reason") != reason:
        return False
    if sorted(record.get("tasks") or []) != sorted(tasks):
        return False
    age = clock.age_s(str(record.get("last_at") or record.get("at") or ""))
    return age is not None and age < window_s


def raise_escalation(st: State, *, tasks: list[str], reason: str, text: str, source: str) -> dict:
    """Hand a problem to the human: recorded in each concerned packet, in INBOX.md, notified.

    The same ``reason`` for the same ``tasks`` while an open escalation for it was last seen
    less than ``escalations.window_s`` ago is folded into it (count and ``last_at`` bumped, no
    event, no notification). Returns the record.
    """
    tasks = list(dict.fromkeys(str(t) for t in tasks))
    reason = inbox.one_line(reason) or "escalated"
    text = str(text or "")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n... (cut)"
    now = clock.now_iso()
    with locks.hold(st.paths.state, BOARD_LOCK, cmd=st.app.cmd):
        packets = _fresh_packets(st)
        records = _records(st, packets)
        window = st.config.escalations.window_s
        folded = next((r for r in inbox.order(records)[0] if _foldable(r, tasks, reason, window)), None)
        post = None
        if folded is not None:
            record = {**folded, "count": inbox.count_of(folded) + 1, "last_at": now}
        else:
            record = {"id": _next_id(st, records), "at": now, "reason": reason, "text": text,
                      "state": inbox.OPEN, "source": source, "tasks": tasks, "count": 1,
                      "last_at": now}
            post = _post(st, record["id"], "raised")
        _write(st, packets, record)
        render_inbox(st, note=f"inbox: {record['id']} " + ("seen again" if folded else "raised"))
    if post is None:
        return record
    failpoints.point("escalations.raise.after-write")
    _announce_raised(st, record)
    post.unlink(missing_ok=True)
    return record


def _announce_raised(st: State, record: Mapping[str, Any], *, log: bool = True) -> None:
    tasks = list(record.get("tasks") or [])
    if log:
        st.events.emit(Kind.ESCALATION_RAISED, task=tasks[0] if tasks else None,
                       escalation=record["id"], reason=record.get("reason"), tasks=tasks,
                       text=record.get("text"), source=record.get("source"))
    failpoints.point("escalations.raise.after-event")
    from batty.services.notify import notify

    notify(st, Kind.ESCALATION_RAISED, title=f"batty: {record['id']} {inbox.tasks_of(record)}: "
           f"{record.get('reason')}", body=_message(st, record), task=tasks[0] if tasks else None)


def _message(st: State, record: Mapping[str, Any]) -> str:
    tz = _tz(st)
    lines = [f"{record['id']} · {inbox.tasks_of(record)} · {record.get('reason')}",
             f"raised {inbox.when(record.get('at'), tz)} by {record.get('source') or 'batty'}"
             f" in {st.paths.root.name}"]
    text = str(record.get("text") or "").strip()
    if text:
        lines += ["", *text.splitlines()[:inbox.TEXT_LINES]]
    lines += ["", f"resolve: batty escalations resolve {record['id']} --note TEXT"]
    return "\n".join(lines)


def _close(st: State, packets: Packets, record: Mapping[str, Any], state: str, note: str) -> dict:
    closed = {**record, "state": state, "closed_at": clock.now_iso(), "note": note}
    _write(st, packets, closed)
    return closed


def stale(records: Iterable[Mapping[str, Any]], packets: Packets) -> list[dict[str, Any]]:
    """The open escalations :func:`demote_stale` would demote (doctor --check reports these)."""
    out = []
    for r in inbox.order(records)[0]:
        tasks = list(r.get("tasks") or [])
        if not tasks or any(t in packets.invalid_ids for t in tasks):
            continue
        if all(packets.get(t) is None or packets.by_id[t].status in GONE for t in tasks):
            out.append(r)
    return out


def stale_escalations(st: State) -> list[dict[str, Any]]:
    return stale(_records(st), st.packets)


def demote_stale(st: State) -> list[dict]:
    """Open escalations whose tasks are all done or archived stop being actionable (SPEC 9
    escalation-demote): state ``demoted`` and one ``escalation.demoted`` each. Returns them.

    A task whose packet is gone counts as finished; one whose packet does not load keeps its
    escalation open (nobody knows yet). An escalation about no task is never demoted.
    """
    changed: list[dict] = []
    posts = []
    with locks.hold(st.paths.state, BOARD_LOCK, cmd=st.app.cmd):
        packets = _fresh_packets(st)
        for r in stale(_records(st, packets), packets):
            posts.append(_post(st, r["id"], "demoted"))
            changed.append(_close(st, packets, r, inbox.DEMOTED, "its tasks are all done or archived"))
        if changed:
            render_inbox(st, note="inbox: " + ", ".join(r["id"] for r in changed) + " demoted")
    failpoints.point("escalations.demote.after-write")
    for r, post in zip(changed, posts, strict=True):
        _announce_demoted(st, r)
        post.unlink(missing_ok=True)
    return changed


def _announce_demoted(st: State, record: Mapping[str, Any]) -> None:
    tasks = list(record.get("tasks") or [])
    st.events.emit(Kind.ESCALATION_DEMOTED, task=tasks[0] if tasks else None,
                   escalation=record["id"], note=record.get("note"))


def resolve(st: State, esc_id: str, *, note: str = "") -> dict:
    """A person has dealt with it: state ``resolved`` and ``escalation.resolved``; each blocked
    task of it that has no other open escalation goes back to todo (SPEC 4, by the human).

    Returns the record, with ``unblocked`` (task ids moved to todo) and ``still_blocked``
    (task id -> the other open escalations holding it). Resolving a resolved one changes nothing.
    """
    esc_id = _check_id(esc_id)
    note = inbox.one_line(note)
    with locks.hold(st.paths.state, BOARD_LOCK, cmd=st.app.cmd):
        packets = _fresh_packets(st)
        records = _records(st, packets)
        record = next((r for r in records if r.get("id") == esc_id), None)
        if record is None:
            _not_found(st, esc_id, packets)
        if inbox.state_of(record) == inbox.RESOLVED:
            if (_outbox(st) / f"{esc_id}.resolved.json").exists():
                flush(st)  # a resolve a crash cut short: finished now
            return {**record, "unblocked": [], "still_blocked": {}, "already": True}
        post = _post(st, esc_id, "resolved", note=note)
        closed = _close(st, packets, record, inbox.RESOLVED, note)
        failpoints.point("escalations.resolve.after-close")
        unblocked, still = _unblock(st, closed, note=note, others=records)
        render_inbox(st, note=f"inbox: {esc_id} resolved")
    failpoints.point("escalations.resolve.after-unblock")
    _announce_resolved(st, closed, note=note)
    post.unlink(missing_ok=True)
    return {**closed, "unblocked": unblocked, "still_blocked": still}


def _unblock(st: State, record: Mapping[str, Any], *, note: str,
             others: list[dict[str, Any]] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """Each blocked task of a resolved escalation that no other open one holds goes to todo."""
    esc_id = record["id"]
    with locks.hold(st.paths.state, BOARD_LOCK, cmd=st.app.cmd):
        packets = _fresh_packets(st)
        records = others if others is not None else _records(st, packets)
        holders = [r for r in inbox.order(records)[0] if r.get("id") != esc_id]
        unblocked: list[str] = []
        still: dict[str, list[str]] = {}
        for tid in list(record.get("tasks") or []):
            p = packets.get(tid)
            if p is None or p.status is not Status.BLOCKED:
                continue
            holding = [str(r["id"]) for r in holders if tid in (r.get("tasks") or [])]
            if holding:
                still[tid] = holding
                continue
            st.transition(p, Status.TODO, Actor.HUMAN, f"escalation {esc_id} resolved"
                          + (f": {note}" if note else ""))
            unblocked.append(tid)
    return unblocked, still


def _announce_resolved(st: State, record: Mapping[str, Any], *, note: str, log: bool = True) -> None:
    tasks = list(record.get("tasks") or [])
    esc_id = record["id"]
    if log:
        st.events.emit(Kind.ESCALATION_RESOLVED, task=tasks[0] if tasks else None,
                       escalation=esc_id, note=note)
    from batty.services.notify import notify

    notify(st, Kind.ESCALATION_RESOLVED, title=f"batty: {esc_id} resolved",
           body=f"{esc_id} · {inbox.tasks_of(record)} · {record.get('reason')}"
                + (f"\n{note}" if note else ""), task=tasks[0] if tasks else None)


def _tz(st: State) -> str:
    try:
        return st.config.telemetry.timezone
    except InvalidInput:
        return "UTC"


def render_inbox(st: State, *, note: str | None = None) -> bool:
    """Write board/INBOX.md from the records if it changed; say so in the board commit."""
    with locks.hold(st.paths.state, BOARD_LOCK, cmd=st.app.cmd):
        text = inbox.render(_records(st, _fresh_packets(st)), tz=_tz(st))
        path = st.paths.inbox
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current == text:
            return False
        atomic.write_text(path, text)
    st.notes.append(note or "inbox updated")
    st._touched.add("board/INBOX.md")
    return True
