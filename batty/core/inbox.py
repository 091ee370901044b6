"""board/INBOX.md (SPEC 1) rendered from escalation records: pure, touches no disk.

An escalation record is the mapping batty keeps in each concerned packet's ``escalations`` list
(SPEC 2): ``id, at, reason, text, state, source, tasks, count, last_at`` and, once it is closed,
``closed_at`` and ``note``. The same record sits in every packet it concerns; :func:`merge` makes
one record of the copies. The file shows what is actionable first, newest first, then the last
few demoted or resolved ones. Nothing in it depends on the current time, so it only changes
when an escalation does (and the board commit says why).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

OPEN, DEMOTED, RESOLVED = "open", "demoted", "resolved"
STATES = (OPEN, DEMOTED, RESOLVED)
EMPTY = "# Inbox\n\nNothing waits for you.\n"  # what `batty init` writes: no diff on first render
CLOSED_SHOWN = 20
TEXT_LINES = 20
ID_RE = re.compile(r"^E-([0-9]+)\Z")
_RANK = {OPEN: 0, DEMOTED: 1, RESOLVED: 2}  # a closed copy wins: the closing really happened


def number(esc_id: Any) -> int:
    """The n of ``E-<n>`` (0 for anything else)."""
    m = ID_RE.match(str(esc_id or ""))
    return int(m.group(1)) if m else 0


def state_of(record: Mapping[str, Any]) -> str:
    state = str(record.get("state") or OPEN)
    return state if state in STATES else OPEN


def merge(copies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One record per id out of the copies kept in several packets.

    Copies can differ when a run stopped between two packet writes: the most closed state wins,
    the highest count and the latest ``last_at`` win, tasks are the union in order.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for copy in copies:
        esc_id = str(copy.get("id") or "")
        if not esc_id:
            continue
        have = by_id.get(esc_id)
        if have is None:
            rec = dict(copy)
            rec["tasks"] = _tasks(copy)
            rec["count"] = count_of(copy)
            if isinstance(rec.get("text"), str):
                rec["text"] = rec["text"].rstrip("\n")  # a YAML literal block adds one
            by_id[esc_id] = rec
            continue
        if _RANK[state_of(copy)] > _RANK[state_of(have)]:
            for key in ("state", "closed_at", "note"):
                if key in copy:
                    have[key] = copy[key]
        have["count"] = max(count_of(have), count_of(copy))
        if str(copy.get("last_at") or "") > str(have.get("last_at") or ""):
            have["last_at"] = copy["last_at"]
        for t in _tasks(copy):
            if t not in have["tasks"]:
                have["tasks"].append(t)
    return list(by_id.values())


def _tasks(record: Mapping[str, Any]) -> list[str]:
    # People may edit packets by hand: `tasks: T-1` means a list of one.
    tasks = record.get("tasks") or []
    return [tasks] if isinstance(tasks, str) else [str(t) for t in tasks] if isinstance(tasks, list) else []


def count_of(record: Mapping[str, Any]) -> int:
    try:
        return max(1, int(record.get("count") or 1))
    except (TypeError, ValueError):
        return 1


def order(records: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(actionable newest first, closed most recently closed first)."""
    actionable: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    for r in records:
        (actionable if state_of(r) == OPEN else closed).append(dict(r))
    actionable.sort(key=lambda r: (str(r.get("at") or ""), number(r.get("id"))), reverse=True)
    closed.sort(key=lambda r: (str(r.get("closed_at") or r.get("at") or ""), number(r.get("id"))),
                reverse=True)
    return actionable, closed


def when(iso: Any, tz: str = "UTC") -> str:
    """``2026-11-22 07:00 UTC``, plus the local time in ``tz`` when that is another zone."""
    if not iso:
        return "?"
    try:
        dt = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    utc = dt.astimezone(UTC)
    out = utc.strftime("%Y-%m-%d %H:%M UTC")
    if tz and tz != "UTC":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            local = utc.astimezone(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            return out
        same_day = local.date() == utc.date()
        out += f" ({local.strftime('%H:%M' if same_day else '%Y-%m-%d %H:%M')} {tz})"
    return out


def one_line(text: Any) -> str:
    from batty.core.escape import one_line as escaped

    return escaped(" ".join(str(text or "").split()))  # an escape sequence is shown, not run


def tasks_of(record: Mapping[str, Any]) -> str:
    tasks = [one_line(t) for t in record.get("tasks") or []]
    return ", ".join(tasks) if tasks else "no task"


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _is_json(line: str) -> bool:
    t = line.strip()
    return len(t) > 1 and t[0] in "{[" and t[-1] in "}]" and '":' in t


def plain(text: str) -> str:
    """The text without the agents' machine output: a run of JSON lines (a CLI's stream-json)
    becomes one line saying where to read it (issue 16: INBOX.md showed raw JSON)."""
    out: list[str] = []
    run = 0
    for line in text.splitlines():
        if _is_json(line):
            run += 1
            continue
        if run:
            out.append(f"({run} line{'s' if run != 1 else ''} of the agent's JSON output: the run's agent.log)")
            run = 0
        out.append(line)
    if run:
        out.append(f"({run} line{'s' if run != 1 else ''} of the agent's JSON output: the run's agent.log)")
    return "\n".join(out)


def summary(record: Mapping[str, Any]) -> tuple[str, str]:
    """(what happened, as one sentence; what resolves it, a command) of an escalation."""
    text = str(record.get("text") or "")
    lines = [x.strip() for x in plain(text).splitlines() if x.strip()]
    what = one_line(lines[0]) if lines else one_line(record.get("reason")) or "escalated"
    esc_id = one_line(record.get("id"))
    do = next((x.split(":", 1)[1].strip() for x in lines if x.startswith("To move it on:")), "")
    if not do:
        do = (f"deal with it, then `batty escalations resolve {esc_id} --note TEXT`"
              + (" (its blocked tasks go back to todo)" if record.get("tasks") else ""))
    elif not do.startswith("`") and do.startswith("batty "):
        do = f"`{do}`"
    return what, do


def _text_block(text: str) -> list[str]:
    lines = plain(text).rstrip("\n").splitlines() or [""]
    more = len(lines) - TEXT_LINES
    if more > 0:
        lines = lines[:TEXT_LINES] + [f"... ({more} more lines in the packet)"]
    body = "\n".join(lines)
    fence = _fence(body)
    return [fence + "text", body, fence]


def render(records: Iterable[Mapping[str, Any]], *, tz: str = "UTC") -> str:
    """The whole of INBOX.md for these escalation records."""
    actionable, closed = order(records)
    if not actionable and not closed:
        return EMPTY
    out = ["# Inbox", ""]
    if actionable:
        n = len(actionable)
        out += [f"{n} escalation{'s' if n != 1 else ''} wait{'s' if n == 1 else ''} for you, newest"
                " first. When you have dealt with one: `batty escalations resolve ID --note TEXT`"
                " (a blocked task of it goes back to todo).", ""]
    else:
        out += ["Nothing waits for you.", ""]
    if actionable:
        out += ["## Actionable", ""]
    for r in actionable:
        esc_id = one_line(r.get("id"))
        out += [f"### {esc_id} · {tasks_of(r)} · {one_line(r.get('reason')) or 'escalated'}", ""]
        what, do = summary(r)
        out += [what if what.endswith((".", ")", ":")) else what + ".", "", f"- to do: {do}"]
        out.append(f"- raised {when(r.get('at'), tz)} by {one_line(r.get('source')) or 'batty'}")
        count = count_of(r)
        if count > 1:
            out.append(f"- seen {count} times, last {when(r.get('last_at'), tz)}")
        out += [f"- resolve: `batty escalations resolve {esc_id}`", ""]
        text = str(r.get("text") or "").strip("\n")
        if text:
            from batty.core.escape import shown

            out += [*_text_block(shown(text)), ""]
    if closed:
        out += ["## Demoted / resolved", ""]
        for r in closed[:CLOSED_SHOWN]:
            state = state_of(r)
            note = one_line(r.get("note"))
            out.append(f"- {one_line(r.get('id'))} · {tasks_of(r)} · {one_line(r.get('reason'))}"
                       f" · {state} {when(r.get('closed_at'), tz)}" + (f": {note}" if note else ""))
        if len(closed) > CLOSED_SHOWN:
            out.append(f"- ... and {len(closed) - CLOSED_SHOWN} older (`batty escalations --all`)")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
