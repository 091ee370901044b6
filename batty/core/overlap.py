"""No two agents on the same files (issue 19, SPEC 13): when do two tasks' scopes overlap.

Pure: globs in, answers out. The test is conservative: two globs overlap unless it is certain
that no path matches both, so a task may wait when it need not, never run beside one that
touches its files. A task without a scope may touch any file: it overlaps every task.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TypeVar

from batty.core.lifecycle import Status
from batty.core.packet import Packet

# A ready task waits while a task of one of these has an overlapping scope: its agent is at work
# (in-progress), or its work has not landed yet (review: merge may send it back to its agent)
ACTIVE = (Status.IN_PROGRESS, Status.REVIEW)
MODES = ("wait", "allow")


@dataclass(frozen=True)
class Wait:
    task: str       # the ready task that waits
    other: str      # the task it waits for
    status: str     # that task's status
    why: str        # one line for status and task list

    def as_dict(self) -> dict[str, str]:
        return {"task": self.task, "for": self.other, "status": self.status, "why": self.why}


def _segments(glob: str) -> tuple[str, ...]:
    """A glob as path segments, in the form batty.core.globs matches it: `dir/` and `dir/**` are
    the folder and everything in it; a name without a slash (`dir/**` too) matches at any depth."""
    g = glob.strip()
    while g.startswith("./"):
        g = g[2:]
    if g.endswith("/"):
        g += "**"
    parts = tuple(s for s in g.split("/") if s)
    # as globs.compile_glob reads it: `dir/**` is `dir` and what is in it, and a bare `dir`
    # matches at any depth (so `src/**` matches `docs/src/a.md`: hypothesis found it)
    if "/" not in (g[:-3] if g.endswith("/**") else g):
        parts = ("**", *parts)
    return parts


@lru_cache(maxsize=4096)
def _segment_regex(seg: str) -> re.Pattern[str]:
    return re.compile("".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in seg))


def _literal(seg: str) -> bool:
    return "*" not in seg and "?" not in seg and "[" not in seg


def _segments_meet(a: str, b: str) -> bool:
    """Could one file or folder name match both segment patterns? (conservative: yes when unsure)"""
    if a == b:
        return True
    if _literal(a) and _literal(b):
        return False
    if _literal(a):
        return "[" in b or bool(_segment_regex(b).fullmatch(a))
    if _literal(b):
        return "[" in a or bool(_segment_regex(a).fullmatch(b))
    # both wild: the literal text before the first and after the last wildcard must agree
    head_a, head_b = re.split(r"[*?\[]", a, maxsplit=1)[0], re.split(r"[*?\[]", b, maxsplit=1)[0]
    tail_a, tail_b = re.split(r"[*?\]]", a)[-1], re.split(r"[*?\]]", b)[-1]
    return ((head_a.startswith(head_b) or head_b.startswith(head_a))
            and (tail_a.endswith(tail_b) or tail_b.endswith(tail_a)))


@lru_cache(maxsize=4096)
def globs_overlap(a: str, b: str) -> bool:
    """True unless no path can match both globs."""
    sa, sb = _segments(a), _segments(b)

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(sa) and j == len(sb):
            return True
        if i < len(sa) and sa[i] == "**":
            # `**` is zero or more segments: skip it, or let it eat one of the other's
            return meet(i + 1, j) or (j < len(sb) and meet(i, j + 1))
        if j < len(sb) and sb[j] == "**":
            return meet(i, j + 1) or (i < len(sa) and meet(i + 1, j))
        if i == len(sa) or j == len(sb):
            return False
        return _segments_meet(sa[i], sb[j]) and meet(i + 1, j + 1)

    return meet(0, 0)


def scopes_overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    """Two tasks' scopes overlap; an empty scope (any file that is not protected) overlaps all."""
    if not a or not b:
        return True
    return any(globs_overlap(x, y) for x in a for y in b)


def blocker(p: Packet, active: Iterable[Packet]) -> Packet | None:
    """The first task of ``active`` (the tasks in progress or in review, and those a dispatch pass
    has just claimed) other than ``p`` whose scope overlaps ``p``'s, or None."""
    for q in active:
        if q.id != p.id and scopes_overlap(p.scope, q.scope):
            return q
    return None


def why(p: Packet, other: Packet) -> str:
    status = other.status.value if other.status in ACTIVE else "dispatched now"
    if not p.scope or not other.scope:
        whose = p.id if not p.scope else other.id
        return f"waits for {other.id} ({status}): {whose} has no scope, so it overlaps every task"
    return f"waits for {other.id} ({status}): their scopes overlap"


def waiting(queue: Sequence[Packet], packets: Mapping[str, Packet] | Iterable[Packet],
            mode: str) -> list[Wait]:
    """Which ready tasks of ``queue`` (in dispatch order) wait for an overlapping task, and for
    which. Only what is active now counts: a task that would be dispatched ahead of it in the same
    pass is the planner's to weigh (see planning.plan)."""
    if mode == "allow":
        return []
    values = packets.values() if isinstance(packets, Mapping) else packets
    active = sorted((q for q in values if q.status in ACTIVE), key=lambda q: (q.priority, q.id))
    out = []
    for p in queue:
        other = blocker(p, active)
        if other is not None:
            out.append(Wait(p.id, other.id, other.status.value, why(p, other)))
    return out


T = TypeVar("T")


def batches(items: Sequence[T], size: int, scope_of: Callable[[T], Sequence[str]], *,
            mode: str = "wait") -> list[list[T]]:
    """The merge queue in groups of at most ``size`` whose scopes do not overlap one another, in
    order: each group is filled, first come first, with the items that overlap nobody in it
    (issue 19: tasks on the same files are never built and tested in one batch, where one's
    conflict or failure would cost the other a bisection). ``mode`` allow: in order, as they come."""
    size = max(1, size)
    if mode == "allow":
        return [list(items[i:i + size]) for i in range(0, len(items), size)]
    left = list(items)
    out: list[list[T]] = []
    while left:
        group = [left.pop(0)]
        i = 0
        while i < len(left) and len(group) < size:
            if any(scopes_overlap(scope_of(left[i]), scope_of(g)) for g in group):
                i += 1
                continue
            group.append(left.pop(i))
        out.append(group)
    return out
