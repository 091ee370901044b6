"""board/BOARD.md (SPEC 3): parse a kanban written by people, render one from the packets.

Pure: text in, text out. The render keeps the order people gave the cards (the order inside
Todo is the dispatch order among equal priorities), keeps unknown columns as they were, and
keeps Obsidian's trailing settings block.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from batty.core.ids import ID_RE
from batty.core.lifecycle import Status
from batty.core.packet import Packet

FRONT = "---\nkanban-plugin: basic\n---"
COLUMNS: tuple[tuple[Status, str], ...] = (
    (Status.BACKLOG, "Backlog"),
    (Status.TODO, "Todo"),
    (Status.IN_PROGRESS, "In Progress"),
    (Status.REVIEW, "Review"),
    (Status.BLOCKED, "Blocked"),
    (Status.DONE, "Done"),
)
SHOWN = {s for s, _ in COLUMNS}  # archived tasks leave the board
DONE_SHOWN = 50
CARD_RE = re.compile(r"^[-*] (?:\[(?P<mark>[ xX])\] ?)?(?P<rest>.*)$")
MORE_RE = re.compile(r"^%% (\d+) more done tasks? not shown %%$")
# the decorations batty appends to a card (`P1`, @seat, (attempt 2), needs T-1); the shared \s+
# comes first so that the engine skips to whitespace (twice as fast as four \s+ alternatives)
DECOR_RE = re.compile(r"(?:\s+(?:`P[0-4]`|@[A-Za-z0-9_.-]+|\(attempt \d+\)|needs [A-Z0-9, -]+))+$")


@dataclass(frozen=True)
class Card:
    id: str | None      # None: a new line a person typed, to become a task
    title: str
    checked: bool
    line: int


@dataclass(frozen=True)
class Column:
    name: str
    status: Status | None   # None: a column batty does not know, kept as it is
    cards: tuple[Card, ...]
    line: int
    raw: tuple[str, ...] = ()   # the column's lines, for unknown columns


@dataclass(frozen=True)
class Board:
    columns: tuple[Column, ...]
    trailer: str = ""
    problems: tuple[tuple[int, str, str], ...] = ()   # (line, what, what would be valid)

    def column_of(self) -> dict[str, Status]:
        """Where each card id stands (the first place, if a card appears twice)."""
        out: dict[str, Status] = {}
        for col in self.columns:
            if col.status is None:
                continue
            for card in col.cards:
                if card.id and card.id not in out:
                    out[card.id] = col.status
        return out

    def order(self) -> dict[Status, list[str]]:
        out: dict[Status, list[str]] = {}
        for col in self.columns:
            if col.status is not None:
                out.setdefault(col.status, []).extend(c.id for c in col.cards if c.id)
        return out

    def new_cards(self) -> list[tuple[Status, Card]]:
        return [(col.status, c) for col in self.columns if col.status is not None
                for c in col.cards if c.id is None]


def status_of_column(name: str) -> Status | None:
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    aliases = {"to-do": "todo", "doing": "in-progress", "inprogress": "in-progress"}
    key = aliases.get(key, key)
    try:
        return Status(key)
    except ValueError:
        return None


def parse(text: str) -> Board:
    """The columns and cards of ``text``; anything garbled is listed in ``problems``."""
    lines = text.split("\n")
    start = 0
    problems: list[tuple[int, str, str]] = []
    if lines and lines[0].strip() == "---":
        end = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), None)
        if end is None:
            problems.append((1, "front matter is not closed", "a second --- line"))
        else:
            start = end + 1
    columns: list[Column] = []
    trailer_at: int | None = None
    # the column being read: its name, status, first line, cards and lines (locals, not a dict:
    # this loop runs once a line, 2,500 lines for a board of 10,000 packets)
    name = ""
    status: Status | None = None
    first = 0
    cards: list[Card] | None = None
    raw: list[str] = []
    card_re, decor_sub, id_match = CARD_RE.match, DECOR_RE.sub, ID_RE.match

    def close() -> None:
        if cards is not None:
            columns.append(Column(name, status, tuple(cards), first, tuple(raw)))

    for i in range(start, len(lines)):
        line = lines[i]
        n = i + 1
        stripped = line.strip()
        if stripped.startswith("%%") and "kanban:settings" in stripped:
            trailer_at = i
            break
        if line.startswith("## "):
            close()
            name = line[3:].strip()
            status = status_of_column(name)
            if status is Status.ARCHIVED:
                status = None
            cards, raw, first = [], [line], n
            continue
        if cards is not None:
            raw.append(line)
        if not stripped:
            continue
        if cards is None:
            if line.startswith("# ") and not columns:
                continue  # a title above the columns is fine
            problems.append((n, "text outside any column", "cards go under a `## Column` heading"))
            continue
        if status is None:
            continue  # an unknown column is left alone, whatever it holds
        indented = line.startswith((" ", "\t"))
        m = card_re(stripped) if not indented else None
        if m is None:
            if MORE_RE.match(stripped) or (stripped.startswith("%%") and stripped.endswith("%%")):
                continue
            if indented and cards:
                continue  # a card's continuation line (Obsidian allows them); not batty's
            problems.append((n, f"not a card: {stripped[:60]!r}",
                             "a card is `- [ ] T-1 Title`, or `- [ ] Title` for a new task"))
            continue
        mark, rest = m.group("mark", "rest")
        rest = rest.strip()
        if not rest:
            continue
        checked = (mark or " ").lower() == "x"
        head, _, tail = rest.partition(" ")
        if id_match(head):
            cards.append(Card(head, decor_sub("", tail).strip(), checked, n))
        else:
            title = decor_sub("", rest).strip()
            if title:
                cards.append(Card(None, title, checked, n))
    close()
    trailer = "\n".join(lines[trailer_at:]).rstrip("\n") + "\n" if trailer_at is not None else ""
    if not columns and text.strip() and not problems:
        problems.append((1, "no columns", "columns are `## Todo`, `## In Progress`, ... headings"))
    return Board(tuple(columns), trailer, tuple(problems))


def card_line(p: Packet, *, open_deps: Sequence[str] = ()) -> str:
    mark = "x" if p.status is Status.DONE else " "
    parts = [f"- [{mark}] {p.id} {p.title}", f"`P{p.priority}`"]
    if p.status in (Status.IN_PROGRESS, Status.REVIEW) and p.assignee:
        parts.append(f"@{p.assignee}")
    if p.status in (Status.IN_PROGRESS, Status.REVIEW, Status.BLOCKED) and p.attempt > 1:
        parts.append(f"(attempt {p.attempt})")
    if open_deps and p.status in (Status.BACKLOG, Status.TODO):
        parts.append("needs " + ", ".join(open_deps))
    return " ".join(parts)


def _sort_key(p: Packet) -> tuple:
    head, _, num = p.id.rpartition("-")
    return (p.priority, head, int(num) if num.isdigit() else 0)


def _newest_done(cards: list[Packet]) -> list[Packet]:
    """The first DONE_SHOWN of ``cards`` sorted newest first, as a sort of all of them would give:
    only the cards stamped at least as late as the DONE_SHOWN-th newest are sorted (a board of
    10,000 mostly done tasks shows 50 of them)."""
    def key(p: Packet) -> tuple:
        return (p.updated or "", _sort_key(p))

    if len(cards) <= DONE_SHOWN:
        return sorted(cards, key=key, reverse=True)
    stamps = [p.updated or "" for p in cards]
    cut = heapq.nlargest(DONE_SHOWN, stamps)[-1]
    # the order among equal keys is kept (a stable sort of a filtered list): the same cards
    return sorted((p for p, s in zip(cards, stamps, strict=True) if s >= cut), key=key,
                  reverse=True)[:DONE_SHOWN]


def render(packets: Iterable[Packet], previous: Board | None = None) -> str:
    """BOARD.md for ``packets``. Cards keep the order ``previous`` gave them; new cards go to the
    end of their column (Done: to the top, newest first)."""
    by_status: dict[Status, list[Packet]] = {s: [] for s, _ in COLUMNS}
    all_ps: dict[str, Packet] = {}
    column = by_status.get
    for p in packets:
        all_ps[p.id] = p
        cards = column(p.status)  # None: archived, off the board
        if cards is not None:
            cards.append(p)
    order: Mapping[Status, list[str]] = previous.order() if previous else {}
    out = [FRONT]
    unknown_after: dict[Status | None, list[Column]] = {}
    if previous:
        last: Status | None = None
        for col in previous.columns:
            if col.status is None:
                unknown_after.setdefault(last, []).append(col)
            elif col.status in SHOWN:
                last = col.status

    def emit_unknown(after: Status | None) -> None:
        for col in unknown_after.get(after, []):
            out.append("")
            out.extend("\n".join(col.raw).rstrip("\n").split("\n"))

    emit_unknown(None)
    for status, title in COLUMNS:
        cards = by_status[status]
        rank = {tid: i for i, tid in enumerate(order.get(status, []))}
        if status is Status.DONE:  # newest first, whatever order people gave them
            shown = _newest_done(cards)
        else:
            cards = sorted(cards, key=lambda p: (0, rank[p.id], ()) if p.id in rank else (1, 0, _sort_key(p)))
            shown = cards
        out.append("")
        out.append(f"## {title}")
        if shown:
            out.append("")
        for p in shown:
            needs = p.depends_on
            deps = [d for d in needs if d not in all_ps or all_ps[d].status is not Status.DONE] if needs else ()
            out.append(card_line(p, open_deps=deps))
        if len(cards) > len(shown):
            more = len(cards) - len(shown)
            out.append("")
            out.append(f"%% {more} more done task{'s' if more != 1 else ''} not shown %%")
        emit_unknown(status)
    text = "\n".join(out).rstrip("\n") + "\n"
    if previous and previous.trailer:
        text += "\n" + previous.trailer
    return text


@dataclass
class BoardDiff:
    """What people changed on the board, relative to the packets."""

    moves: list[tuple[str, Status, Status, int]] = field(default_factory=list)  # id, from, to, line
    new: list[tuple[Status, Card]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)    # packets with no card (deleted lines)
    unknown: list[tuple[str, int]] = field(default_factory=list)  # cards with no packet


def diff(board: Board, packets: Mapping[str, Packet], invalid: Iterable[str] = ()) -> BoardDiff:
    out = BoardDiff()
    where = board.column_of()
    lines = {c.id: c.line for col in board.columns for c in col.cards if c.id}
    bad = set(invalid)
    for tid, status in where.items():
        p = packets.get(tid)
        if p is None:
            if tid not in bad:
                out.unknown.append((tid, lines[tid]))
            continue
        if p.status in SHOWN and status != p.status:
            out.moves.append((tid, p.status, status, lines[tid]))
        elif p.status not in SHOWN and status != p.status:
            out.moves.append((tid, p.status, status, lines[tid]))
    for p in packets.values():
        if p.status in SHOWN and p.id not in where:
            done_hidden = p.status is Status.DONE
            if not done_hidden:
                out.missing.append(p.id)
    out.new = board.new_cards()
    return out
