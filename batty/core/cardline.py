"""One card's text on BOARD.md: batty's part (id, title, decorations) and the person's (issue 17).

A card is ``- [ ] T-2 Rate-limit logins `P1` [[Auth notes]]<br>after the audit log ^a1b2c3``:
batty writes the id, the title and its decorations (`P1`, @seat, (attempt 2), needs T-1); the
Obsidian Kanban plugin and people add tags, dates (``@{2026-12-20}``), wiki and markdown links,
more lines joined with ``<br>`` and a block id (`` ^id``, always last). Those are the person's:
a render rewrites batty's part and keeps the rest where it stood. Pure: text in, text out.
"""

from __future__ import annotations

import re

_ID = r"[A-Z][A-Z0-9]*-[0-9]+"
# one decoration batty writes, ending where a word ends
_DECOR = (rf"(?:`P[0-4]`|@[A-Za-z0-9_.-]+|\(attempt \d+\)|needs {_ID}(?:, {_ID})*|`broken: [^`]*`)"
          r"(?=\s|<br>|$)")
DECOR_RUN_RE = re.compile(rf"(?:[ \t]+{_DECOR})+")
BLOCK_ID_RE = re.compile(r"[ \t]+\^[A-Za-z0-9-]+$")
BREAK = "<br>"
# where a title typed by a person stops when it is no longer the packet's (the title changed):
# a line break, a decoration, or the plugin's metadata (tag, date, time, wiki or markdown link)
_EXTRA_RE = re.compile(rf"<br>|[ \t]+(?:{_DECOR}|#[^\s#]|@\{{|@\[\[|@@\{{|!?\[\[|\[[^\]]*\]\()")


def title_of(text: str) -> str:
    """The title a person gave a card without an id: its first line, without batty's decorations
    or a block id."""
    first = BLOCK_ID_RE.sub("", text).split(BREAK, 1)[0]
    m = re.search(rf"(?:[ \t]+{_DECOR})+[ \t]*$", first)
    return (first[:m.start()] if m else first).strip()


def render(task_id: str, title: str, decorations: str, old: str | None) -> str:
    """The text after the checkbox: ``ID title`` and ``decorations`` (each one with its leading
    space), with whatever else ``old`` (the card's text as it stood) carried, in its place."""
    head = f"{task_id} {title}"
    fresh = head + decorations
    if not old or old == fresh:  # the usual card: batty's own, nothing of the person's on it
        return fresh
    body = old[len(task_id) + 1:] if old.startswith(task_id + " ") else old
    if old == task_id:
        body = ""
    rest = body[len(title):] if body.startswith(title) else None
    if rest and not rest[0].isspace() and not rest.startswith(BREAK):
        rest = None  # the title was longer: "Fix it" is not a prefix of "Fix items"
    if rest is None:  # the title changed since: the old one ends where the extras start
        m = BLOCK_ID_RE.search(body)
        core = body[:m.start()] if m else body
        cut = _EXTRA_RE.search(core)
        rest = (core[cut.start():] if cut else "") + (m.group(0) if m else "")
    m = BLOCK_ID_RE.search(rest)
    block = m.group(0) if m else ""
    rest = rest[:m.start()] if m else rest
    first, sep, more = rest.partition(BREAK)
    runs = list(DECOR_RUN_RE.finditer(first))
    if runs:
        at = runs[0].start()
        kept = DECOR_RUN_RE.sub("", first)
        first = kept[:at] + decorations + kept[at:]
    else:
        first = decorations + first
    return (head + first + sep + more + block).rstrip()
