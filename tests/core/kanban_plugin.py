"""A model of what the Obsidian Kanban plugin (2.x) does to a board file when a person saves it.

Written from the plugin's list format (src/parsers/formats/list.ts, common.ts and
parseMarkdown.ts of mgmeyers/obsidian-kanban; the facts are in data/obsidian-kanban/README.md),
independently of batty's parser: it reads the lanes, their Complete marks, the cards, the
Archive, the front matter and the settings block, and writes them back the plugin's way. Text
that is no card is dropped, as the plugin drops it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

CARD = re.compile(r"^[-*] (?:\[(?P<mark>[ xX])\] ?)?(?P<text>.*)$")


@dataclass
class Lane:
    title: str
    complete: bool = False
    items: list[str] = field(default_factory=list)   # each card's line as the plugin saves it


@dataclass
class Kanban:
    yaml: list[str]                # the front matter's YAML lines
    lanes: list[Lane]
    archive: list[str]             # the archived cards' lines
    settings: dict[str, Any]


def _item(mark: str | None, text: str) -> str:
    # itemToMd: `- [x] ` or `- [ ] `, the card's text trimmed (its line breaks are <br> already)
    return f"- [{'x' if (mark or ' ').lower() == 'x' else ' '}] {text.strip()}"


def read(text: str) -> Kanban:
    lines = text.split("\n")
    assert lines[0] == "---", "the plugin opens only a file that begins with front matter"
    end = lines.index("---", 1)
    yaml = [line for line in lines[1:end] if line.strip()]
    settings: dict[str, Any] = {}
    stop = len(lines)
    if "%% kanban:settings" in lines:
        stop = lines.index("%% kanban:settings")
        block = lines[stop + 1:]
        settings = json.loads("\n".join(block[1:block.index("```", 1)]))
    for line in yaml:  # parseMarkdown: the kanban-plugin key of the front matter is a setting
        key, _, value = line.partition(":")
        if key.strip() == "kanban-plugin":
            settings["kanban-plugin"] = value.strip()
    lanes: list[Lane] = []
    archive: list[str] = []
    current: list[str] | None = None
    lane: Lane | None = None
    after_break = False
    for line in lines[end + 1:stop]:
        stripped = line.strip()
        if line.startswith("## "):
            lane = None
            if after_break:  # isArchiveLane: a heading right after a thematic break
                current = archive
            else:
                lane = Lane(line[3:].strip())
                lanes.append(lane)
                current = lane.items
            after_break = False
        elif stripped == "***":
            after_break, current, lane = True, None, None
        elif lane is not None and stripped == "**Complete**" and not lane.items:
            lane.complete = True
        elif current is not None and (m := CARD.match(stripped)) and not line.startswith(" "):
            current.append(_item(m.group("mark"), m.group("text")))
        elif stripped:
            after_break = False
    return Kanban(yaml, lanes, archive, settings)


def save(board: Kanban) -> str:
    """boardToMd: front matter, lanes, the archive, the settings block."""
    out = "\n".join(["---", "", "\n".join(board.yaml) + "\n", "---", "", ""])
    for lane in board.lanes:
        lines = [f"## {lane.title}", ""] + (["**Complete**"] if lane.complete else [])
        out += "\n".join(lines + lane.items + ["", "", ""])
    if board.archive:
        out += "\n".join(["***", "", "## Archive", "", *board.archive])
    settings = json.dumps(board.settings, ensure_ascii=False, separators=(",", ":"))
    return out + "\n".join(["", "", "%% kanban:settings", "```", settings, "```", "%%"])
