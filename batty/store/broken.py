"""The packets that do not load, as the board shows them (issue 16.6): id -> (title, status,
where). Measured: a typo in a packet made its task vanish: the next tick dropped its card from
BOARD.md. Its card now stays, marked with the file and line of the problem; the title and status
are read from the packet's text as well as a broken file allows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from batty.core.lifecycle import Status

if TYPE_CHECKING:
    from batty.store.packets import Packets
    from batty.store.paths import Paths

TITLE_RE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.M)
STATUS_RE = re.compile(r"^status:[ \t]*([a-z-]+)[ \t]*$", re.M)


def broken(paths: Paths, packets: Packets) -> dict[str, tuple[str, Status | None, str]]:
    out: dict[str, tuple[str, Status | None, str]] = {}
    for problem in packets.problems:
        tid = Path(problem.file).stem
        if tid not in packets.invalid_ids or tid in out:
            continue
        try:
            text = (paths.root / problem.file).read_text(encoding="utf-8", errors="replace")[:65536]
        except OSError:
            text = ""
        m = TITLE_RE.search(text)
        title = m.group(1).strip("'\"") if m else ""
        m = STATUS_RE.search(text)
        try:
            status: Status | None = Status(m.group(1)) if m else None
        except ValueError:
            status = None
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        what = " ".join(problem.what.split())
        out[tid] = (" ".join(title.split())[:200], status,
                    f"{where}: {what[:80]}{'...' if len(what) > 80 else ''}")
    return out
