"""A planner's output (SPEC 5): an epic split into tasks, validated before it lands on the board.

The planner writes ``plan.yaml`` at the root of its worktree::

    - title: Add the rate limiter
      description: ...
      scope: [src/auth/**]
      priority: 1
    - title: Lock accounts after five failures
      depends_on: [0]          # earlier items by position, or existing task ids
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from batty.core.ids import ID_RE
from batty.core.packet import PacketProblem

PLAN_FILE = "plan.yaml"
# no `test`: a planner is an agent, and an agent never chooses the command that gates it
ITEM_KEYS = ("title", "description", "scope", "priority", "depends_on", "complexity")


@dataclass(frozen=True)
class Child:
    title: str
    description: str
    scope: tuple[str, ...]
    priority: int
    depends_on: tuple[int | str, ...]   # positions in the plan, or existing ids
    test: str | None
    complexity: int | None


def validate(data: Any, *, max_children: int, existing: Collection[str]) -> list[Child]:
    if not isinstance(data, list) or not data:
        raise PacketProblem((), "the plan must be a non-empty list of tasks", "- title: ...")
    if len(data) > max_children:
        raise PacketProblem((), f"the plan has {len(data)} tasks", f"at most planner.max_children = {max_children}")
    out: list[Child] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise PacketProblem((i,), f"item {i} is not a mapping", "title: ...")
        for key in item:
            if key not in ITEM_KEYS:
                raise PacketProblem((i, str(key)), f"item {i}: unknown key {key!r}", ", ".join(ITEM_KEYS))
        title = item.get("title")
        if not isinstance(title, str) or not title.strip() or "\n" in title or len(title) > 500:
            raise PacketProblem((i, "title"), f"item {i}: title must be one line of text", "title: ...")
        scope = item.get("scope") or []
        if isinstance(scope, str):
            scope = [scope]
        if not isinstance(scope, list) or not all(isinstance(g, str) and g and not g.startswith("/")
                                                  and ".." not in g.split("/") for g in scope):
            raise PacketProblem((i, "scope"), f"item {i}: scope must be a list of relative globs", "[src/**]")
        prio = item.get("priority", 2)
        if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 4:
            raise PacketProblem((i, "priority"), f"item {i}: priority must be 0..4", "0..4")
        deps = item.get("depends_on") or []
        if not isinstance(deps, list):
            raise PacketProblem((i, "depends_on"), f"item {i}: depends_on must be a list", "[0, T-3]")
        for d in deps:
            if isinstance(d, bool) or not (isinstance(d, int) and 0 <= d < i or
                                           isinstance(d, str) and ID_RE.match(d) and d in existing):
                raise PacketProblem((i, "depends_on"), f"item {i}: depends_on {d!r} is not an earlier item "
                                    "or an existing task", "positions of earlier items, or task ids")
        desc = item.get("description") or ""
        if not isinstance(desc, str):
            raise PacketProblem((i, "description"), f"item {i}: description must be text", "description: |")
        test = None
        cx = item.get("complexity")
        if cx is not None and (isinstance(cx, bool) or not isinstance(cx, int) or not 1 <= cx <= 5):
            raise PacketProblem((i, "complexity"), f"item {i}: complexity must be 1..5", "1..5")
        out.append(Child(title.strip(), desc, tuple(scope), prio, tuple(deps), test, cx))
    return out  # only earlier items can be named: no cycle is possible


def prompt_part(max_children: int) -> str:
    return f"""## You are the planner

Split this epic into at most {max_children} tasks that engineers can do one by one. Write them to
`{PLAN_FILE}` at the root of the worktree, and change no other file:

```yaml
- title: A one-line title
  description: |
    What to do, and how we will know it is done.
  scope: [src/part/**]
  priority: 2
- title: The next one
  depends_on: [0]        # earlier items by position, or existing task ids
```
"""
