"""board/BOARD.md (SPEC 3): parse a kanban written by people, render one from the packets.

Pure: text in, text out. The file is what the Obsidian Kanban plugin (2.x) saves, so that a save
in Obsidian and a render by batty do not fight over bytes (issue 17; the facts of the format are
in tests/core/data/obsidian-kanban/README.md):

- front matter: ``---``, a blank line, the YAML, a blank line, ``---``, a blank line;
- a lane: ``## <name>``, a blank line, ``**Complete**`` when the lane marks its cards complete,
  one line per card, two blank lines;
- the Archive, when there is one: ``***``, a blank line, ``## Archive``, a blank line, the cards;
- the plugin's settings: two blank lines, then ``%% kanban:settings`` and a block of JSON.

What is the person's stays as it is: the front matter's YAML, the lanes' names and order, their
Complete marks, unknown lanes, the extras on a card's line (tags, dates, links, ``<br>`` lines,
block ids: batty.core.cardline), the cards a person archived, the settings block, a byte-order
mark and CRLF line ends. The order people gave the cards is kept (the order inside Todo is the
dispatch order among equal priorities).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from batty.core import cardline
from batty.core.ids import ID_RE
from batty.core.lifecycle import Status
from batty.core.packet import Packet

FRONT = ("kanban-plugin: board",)  # a new board's YAML: the plugin's own value (issue 17)
COLUMNS: tuple[tuple[Status, str], ...] = (
    (Status.BACKLOG, "Backlog"),
    (Status.TODO, "Todo"),
    (Status.IN_PROGRESS, "In Progress"),
    (Status.REVIEW, "Review"),
    (Status.BLOCKED, "Blocked"),
    (Status.DONE, "Done"),
)
SHOWN = {s for s, _ in COLUMNS}  # archived tasks go to the Archive, after the lanes
DONE_SHOWN = 50
COMPLETE = "**Complete**"  # the plugin's mark of a lane whose cards are complete
ARCHIVE = "Archive"
CARD_RE = re.compile(r"^[-*] (?:\[(?P<mark>[ xX])\] ?)?(?P<rest>.*)$")
# batty's line under Done saying how many done cards are not shown (SPEC 3). It is a card the
# plugin keeps as it is (a comment line would be dropped by the next save in Obsidian: issue 17);
# batty reads it as its own, never as a new task. The comment form of earlier batty still reads.
MORE_RE = re.compile(r"^(?:%% |- \[x\] )(\d+) more done tasks? (?:not shown %%|\(`batty task list --status done`\))$")
# a thematic break (the plugin writes ***): the heading after it is the Archive
BREAK_RE = re.compile(r"^(?:(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|(?:-[ \t]*){3,})$")
_BREAKS = ("***", "---", "___", "* *", "- -", "_ _")  # how a break begins: a cheap test first
# the plugin's Complete mark, in any language: a bold line right under a lane's heading
BOLD_RE = re.compile(r"^\*\*[^*\s](?:.*[^*\s])?\*\*$")
# an archived card the plugin dated (its archive-with-date setting): no letters before the id
DATED_RE = re.compile(r"^(?P<lead>[^A-Za-z]{1,40}?\s+)[A-Z][A-Z0-9]*-[0-9]+(?:\s|$)")
SETTINGS_RE = re.compile(r"^%%\s*kanban:settings")
# the decorations batty appends to a card (`P1`, @seat, (attempt 2), needs T-1); the shared \s+
# comes first so that the engine skips to whitespace (twice as fast as four \s+ alternatives)
DECOR_RE = re.compile(r"(?:\s+(?:`P[0-4]`|@[A-Za-z0-9_.-]+|\(attempt \d+\)|needs [A-Z0-9, -]+|`broken: [^`]*`))+$")


@dataclass(frozen=True)
class Card:
    id: str | None      # None: a new line a person typed, to become a task
    title: str
    checked: bool
    line: int
    text: str = ""      # the card's text after its checkbox, as written (extras and all)
    more: tuple[str, ...] = ()   # indented lines under the card (Obsidian allows them)
    lead: str = ""      # text before the id: the date the plugin may put on an archived card


@dataclass(frozen=True)
class Column:
    name: str
    status: Status | None   # None: a column batty does not know, kept as it is
    cards: tuple[Card, ...]
    line: int
    raw: tuple[str, ...] = ()   # the column's lines, for unknown columns
    complete: str | None = None  # the plugin's `**Complete**` line, when the lane has one


@dataclass(frozen=True)
class Board:
    columns: tuple[Column, ...]
    trailer: str = ""   # the plugin's settings block, verbatim to the end of the file
    problems: tuple[tuple[int, str, str], ...] = ()   # (line, what, what would be valid)
    front: tuple[str, ...] | None = None   # the front matter's YAML lines; None: none
    archive: Column | None = None   # the section after `***` (status ARCHIVED)
    head: tuple[str, ...] = ()   # a `# Title` above the lanes
    bom: bool = False   # the file began with a UTF-8 byte-order mark
    crlf: bool = False  # its lines ended with CRLF

    def _all(self) -> tuple[Column, ...]:
        return self.columns + ((self.archive,) if self.archive else ())

    def column_of(self) -> dict[str, Status]:
        """Where each card id stands (the first place, if a card appears twice); a card in the
        Archive is archived."""
        out: dict[str, Status] = {}
        for col in self._all():
            if col.status is None:
                continue
            for card in col.cards:
                if card.id and card.id not in out:
                    out[card.id] = col.status
        return out

    def order(self) -> dict[Status, list[str]]:
        out: dict[Status, list[str]] = {}
        for col in self._all():
            if col.status is not None:
                out.setdefault(col.status, []).extend(c.id for c in col.cards if c.id)
        return out

    def new_cards(self) -> list[tuple[Status, Card]]:
        """Cards without an id in batty's lanes (a card without an id in the Archive is a person's
        archived note, never a task)."""
        return [(col.status, c) for col in self.columns if col.status is not None
                for c in col.cards if c.id is None]

    def with_ids(self, ids: Mapping[int, str]) -> Board:
        """The board with the new cards on the lines of ``ids`` given those ids: the render keeps
        their place and their extras."""
        if not ids:
            return self
        cols = tuple(replace(col, cards=tuple(
            replace(c, id=ids[c.line]) if c.id is None and c.line in ids else c for c in col.cards))
            for col in self.columns)
        return replace(self, columns=cols)


def status_of_column(name: str) -> Status | None:
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    aliases = {"to-do": "todo", "doing": "in-progress", "inprogress": "in-progress"}
    key = aliases.get(key, key)
    try:
        return Status(key)
    except ValueError:
        return None


def _strip_blank(lines: Sequence[str]) -> list[str]:
    out = list(lines)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def parse(text: str) -> Board:
    """The columns and cards of ``text``; anything garbled is listed in ``problems``."""
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]
    crlf = "\r\n" in text
    if crlf:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    start = 0
    problems: list[tuple[int, str, str]] = []
    front: tuple[str, ...] | None = None
    if lines and lines[0].strip() == "---":
        end = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), None)
        if end is None:
            problems.append((1, "front matter is not closed", "a second --- line"))
        else:
            front = tuple(_strip_blank(lines[1:end]))
            start = end + 1
    columns: list[Column] = []
    archives: list[Column] = []
    head: list[str] = []
    trailer_at: int | None = None
    # the column being read: its name, status, first line, cards and lines (locals, not a dict:
    # this loop runs once a line, 2,500 lines for a board of 10,000 packets)
    name = ""
    status: Status | None = None
    first = 0
    cards: list[Card] | None = None
    raw: list[str] = []
    complete: str | None = None
    in_archive = had_archive = False
    broken = False  # a thematic break was read: the next heading is the Archive
    card_re, id_match, title_of, decor_sub = CARD_RE.match, ID_RE.match, cardline.title_of, DECOR_RE.sub

    def close() -> None:
        if cards is not None:
            col = Column(name, status, tuple(cards), first, tuple(raw), complete)
            (archives if in_archive else columns).append(col)

    for i in range(start, len(lines)):
        line = lines[i]
        n = i + 1
        stripped = line.strip()
        if stripped.startswith("%%") and SETTINGS_RE.match(stripped):
            trailer_at = i
            break
        if line.startswith("## "):
            close()
            name = line[3:].strip()
            in_archive, broken = broken and not had_archive, False
            had_archive = had_archive or in_archive
            status = Status.ARCHIVED if in_archive else status_of_column(name)
            if status is Status.ARCHIVED and not in_archive:
                status = None  # a lane named Archived, not the plugin's Archive: a person's
            cards, raw, first, complete = [], [line], n, None
            continue
        if not stripped:
            if cards is not None:
                raw.append(line)
            continue
        indented = line.startswith((" ", "\t"))
        if stripped[:3] in _BREAKS and not indented and BREAK_RE.match(stripped):
            close()
            cards, broken = None, True
            continue
        if cards is None:
            if line.startswith("# ") and not columns and not archives:
                head.append(line)  # a title above the columns is fine
                continue
            problems.append((n, "text outside any column", "cards go under a `## Column` heading"))
            continue
        raw.append(line)
        if status is None:
            continue  # an unknown column is left alone, whatever it holds
        if complete is None and stripped[:2] == "**" and not indented and BOLD_RE.match(stripped):
            complete = stripped  # the plugin's **Complete** (under the heading, where it writes it)
            continue
        m = card_re(stripped) if not indented else None
        if m is None:
            if MORE_RE.match(stripped) or (stripped.startswith("%%") and stripped.endswith("%%")):
                continue
            if indented and cards:
                cards[-1] = replace(cards[-1], more=cards[-1].more + (line,))
                continue  # a card's continuation line (Obsidian allows them): the person's
            problems.append((n, f"not a card: {stripped[:60]!r}",
                             "a card is `- [ ] T-1 Title`, or `- [ ] Title` for a new task"))
            continue
        mark, rest = m.group("mark", "rest")
        rest = rest.strip()
        if mark is not None and MORE_RE.match(stripped):
            continue  # batty's count of the done cards not shown
        if not rest:
            continue
        checked = (mark or " ").lower() == "x"
        first_word, _, tail = rest.partition(" ")
        dated = DATED_RE.match(rest) if in_archive and not id_match(first_word) else None
        if dated:  # archived with the plugin's date in front: "2026-12-07 10:00 T-3 Set up CI"
            text = rest[dated.end("lead"):]
            first_word, _, tail = text.partition(" ")
            cards.append(Card(first_word, title_of(tail), checked, n, text, (), dated.group("lead")))
        elif id_match(first_word):
            # batty's own card (no extras) is the usual one: one substitution, as before issue 17
            title = title_of(tail) if "<br>" in tail or "^" in tail else decor_sub("", tail).strip()
            cards.append(Card(first_word, title, checked, n, rest))
        else:
            title = title_of(rest)
            if title or in_archive:
                cards.append(Card(None, title, checked, n, rest))
    close()
    trailer = "\n".join(lines[trailer_at:]) if trailer_at is not None else ""
    if not columns and not archives and front is None and not trailer and text.strip() and not problems:
        problems.append((1, "no columns", "columns are `## Todo`, `## In Progress`, ... headings"))
    return Board(tuple(columns), trailer, tuple(problems), front, archives[0] if archives else None,
                 tuple(head), bom, crlf)


_RUNNING = (Status.IN_PROGRESS, Status.REVIEW)


def decorations(p: Packet, *, open_deps: Sequence[str] = ()) -> str:
    """What batty appends to a card's title, each part with its leading space: the priority
    while the task is to be done, the seat and attempt while it runs, the open dependencies."""
    status = p.status
    if status is Status.DONE or status is Status.ARCHIVED:
        return ""
    out = f" `P{p.priority}`"  # (a string, not a list joined: this runs once a card)
    if status in _RUNNING:
        if p.assignee:
            out += f" @{p.assignee}"
        if p.attempt > 1:
            out += f" (attempt {p.attempt})"
    elif status is Status.BLOCKED:
        if p.attempt > 1:
            out += f" (attempt {p.attempt})"
    elif open_deps:
        out += " needs " + ", ".join(open_deps)
    return out


def note_of(card: Card) -> str:
    """A card's note: its lines after the first, joined with ``<br>`` on its line (the plugin's
    way) or indented under it (SPEC 13: the changes a person asks for when moving it back)."""
    from batty.core import cardline

    text = cardline.BLOCK_ID_RE.sub("", card.text)
    lines = [part.strip() for part in text.split(cardline.BREAK)[1:]]
    lines += [line.strip() for line in card.more]
    return "\n".join(line for line in lines if line)


def card_line(p: Packet, *, open_deps: Sequence[str] = (), old: Card | None = None) -> str:
    """The card of ``p``; ``old``: its card as it stood, whose extras stay."""
    status = p.status
    if status is Status.ARCHIVED:
        mark = "x" if old is not None and old.checked else " "
    else:
        mark = "x" if status is Status.DONE else " "
    deco = decorations(p, open_deps=open_deps)
    title = p.title
    if not title.isprintable():  # an escape sequence in a title is shown, not run (issue 15)
        from batty.core.escape import one_line

        title = one_line(title)
    if old is None:
        return f"- [{mark}] {p.id} {title}{deco}"
    line = f"- [{mark}] {old.lead}{cardline.render(p.id, title, deco, old.text)}"
    return "\n".join((line, *old.more)) if old.more else line


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


def _lanes(previous: Board | None) -> list[tuple[Status | None, Column | None]]:
    """The lanes to render, in the person's order: each known one once, unknown ones where they
    were; a known lane missing from the file goes after the lane before it in batty's order."""
    out: list[tuple[Status | None, Column | None]] = []
    seen: set[Status] = set()
    for col in previous.columns if previous else ():
        if col.status is None:
            out.append((None, col))
        elif col.status not in seen:  # a second lane of one status: its cards go to the first
            seen.add(col.status)
            out.append((col.status, col))
    for i, (status, _) in enumerate(COLUMNS):
        if status in seen:
            continue
        earlier = {s for s, _ in COLUMNS[:i]}
        pos = max((j + 1 for j, (s, _) in enumerate(out) if s in earlier), default=0)
        while pos < len(out) and out[pos][0] is None:
            pos += 1
        out.insert(pos, (status, None))
        seen.add(status)
    return out


def settings_block(front: Sequence[str]) -> str:
    """The settings block the plugin writes for front matter ``front`` when the board has none:
    its kanban-plugin value, as JSON (none when the front matter does not name the plugin)."""
    import json

    for line in front:
        key, sep, value = line.partition(":")
        if sep and key.strip() == "kanban-plugin" and value.strip():
            value = value.strip().strip("'\"")
            data = json.dumps({"kanban-plugin": value}, ensure_ascii=False, separators=(",", ":"))
            return f"%% kanban:settings\n```\n{data}\n```\n%%"
    return ""


def broken_card(tid: str, title: str, where: str) -> str:
    """The card of a packet that does not load (issue 16.6): kept in sight, marked with where the
    problem is, until a person mends the file."""
    where = " ".join(where.split()).replace("`", "'")
    return f"- [ ] {tid} {title or '(title unreadable)'} `broken: {where}`"


def _broken_cards(previous: Board | None, broken: Mapping[str, tuple[str, Status | None, str]],
                  ) -> dict[Status, list[str]]:
    """Where each broken packet's card goes: the column its last card was in, else the status
    its text names, else Backlog."""
    if not broken:
        return {}
    was: dict[str, tuple[Status, str]] = {}
    if previous:
        for column in previous.columns:
            for card in column.cards:
                if card.id and card.id in broken and column.status is not None:
                    was[card.id] = (column.status, card.title)
    out: dict[Status, list[str]] = {}
    for tid in sorted(broken):
        title, status, where = broken[tid]
        fallback = status if status is not None and status in SHOWN else Status.BACKLOG
        col, old_title = was.get(tid, (fallback, ""))
        out.setdefault(col, []).append(broken_card(tid, title or old_title, where))
    return out


def render(packets: Iterable[Packet], previous: Board | None = None,
           broken: Mapping[str, tuple[str, Status | None, str]] | None = None) -> str:
    """BOARD.md for ``packets``, as the Obsidian Kanban plugin would save it. Cards keep the order
    ``previous`` gave them; new cards go to the end of their column (Done: to the top, newest
    first); archived tasks go to the Archive. ``broken``: id -> (title, status, file:line) of
    packets that do not load; their cards stay, marked (issue 16.6)."""
    extra = _broken_cards(previous, broken or {})
    by_status: dict[Status, list[Packet]] = {s: [] for s, _ in COLUMNS}
    by_status[Status.ARCHIVED] = []
    all_ps: dict[str, Packet] = {}
    column = by_status.get
    for p in packets:
        all_ps[p.id] = p
        cards = column(p.status)
        if cards is not None:
            cards.append(p)
    order: Mapping[Status, list[str]] = previous.order() if previous else {}
    olds: dict[str, Card] = {}
    if previous:
        for was in previous._all():
            for c in was.cards:
                if c.id and c.id not in olds:
                    olds[c.id] = c
    chunks: list[str] = []
    for status, col in _lanes(previous):
        if status is None:
            assert col is not None  # an unknown lane is always one of the file's
            raw = _strip_blank(col.raw) or [f"## {col.name}"]
            chunks.append("\n".join(raw + ([""] if len(raw) == 1 else [])) + "\n\n\n")
            continue
        cards = by_status[status]
        rank = {tid: i for i, tid in enumerate(order.get(status, []))}
        if status is Status.DONE:  # newest first, whatever order people gave them
            shown = _newest_done(cards)
        else:
            cards = sorted(cards, key=lambda p: (0, rank[p.id], ()) if p.id in rank else (1, 0, _sort_key(p)))
            shown = cards
        if col is not None:
            lines = [f"## {col.name}", ""] + ([col.complete] if col.complete else [])
        else:
            lines = [f"## {dict(COLUMNS)[status]}", ""] + ([COMPLETE] if status is Status.DONE else [])
        for p in shown:
            needs = p.depends_on
            deps = [d for d in needs if d not in all_ps or all_ps[d].status is not Status.DONE] if needs else ()
            lines.append(card_line(p, open_deps=deps, old=olds.get(p.id)))
        lines.extend(extra.get(status, ()))
        if len(cards) > len(shown):
            more = len(cards) - len(shown)
            lines.append(f"- [x] {more} more done task{'s' if more != 1 else ''} (`batty task list --status done`)")
        chunks.append("\n".join(lines) + "\n\n\n")
    archive = _archive(by_status[Status.ARCHIVED], previous.archive if previous else None, olds)
    front = previous.front if previous and previous.front is not None else FRONT
    text = "\n".join(["---", "", *front, "", "---", "", ""])
    if previous and previous.head:
        text += "\n".join(previous.head) + "\n\n"
    text += "".join(chunks) + archive
    settings = previous.trailer if previous and previous.trailer else settings_block(front)
    text = text + "\n\n" + settings if settings else text.rstrip("\n") + "\n"
    if previous and previous.crlf:
        text = text.replace("\n", "\r\n")
    return ("\ufeff" + text) if previous and previous.bom else text


def _archive(archived: list[Packet], before: Column | None, olds: Mapping[str, Card]) -> str:
    """The Archive: the cards it had (a person's archived notes too), then the newly archived."""
    entries: list[str] = []
    by_id = {p.id: p for p in archived}
    placed: set[str] = set()
    for c in before.cards if before else ():
        if c.id is None:
            entries.append("\n".join((f"- [{'x' if c.checked else ' '}] {c.text}", *c.more)))
        elif c.id in by_id and c.id not in placed:
            placed.add(c.id)
            entries.append(card_line(by_id[c.id], old=olds.get(c.id)))
    for p in sorted(archived, key=lambda p: (p.updated or "", _sort_key(p))):
        if p.id not in placed:
            entries.append(card_line(p, old=olds.get(p.id)))
    if not entries:
        return ""
    name = before.name if before else ARCHIVE
    return "\n".join(["***", "", f"## {name}", "", *entries])


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
