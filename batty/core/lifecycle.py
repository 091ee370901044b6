"""The one lifecycle table (SPEC 4, STYLE 4): every allowed transition and who may make it.

The board, dispatch, verify, merge, doctor and reconcile all consult :func:`check`.
"""

from __future__ import annotations

from enum import StrEnum

from batty.errors import InvalidInput


class Status(StrEnum):
    BACKLOG = "backlog"
    TODO = "todo"
    IN_PROGRESS = "in-progress"
    REVIEW = "review"
    DONE = "done"
    BLOCKED = "blocked"
    ARCHIVED = "archived"


class Actor(StrEnum):
    HUMAN = "human"
    DISPATCH = "dispatch"
    VERIFY = "verify"
    MERGE = "merge"
    DOCTOR = "doctor"
    RECONCILE = "reconcile"


S, A = Status, Actor

# (from, to) -> who may make it. Why each one exists is SPEC 4; extras are marked.
TRANSITIONS: dict[tuple[Status, Status], frozenset[Actor]] = {
    (S.BACKLOG, S.TODO): frozenset({A.HUMAN}),
    (S.TODO, S.BACKLOG): frozenset({A.HUMAN}),
    (S.TODO, S.IN_PROGRESS): frozenset({A.DISPATCH}),
    (S.IN_PROGRESS, S.REVIEW): frozenset({A.VERIFY}),
    # a failed attempt with attempts left: the feedback goes to the next attempt
    (S.IN_PROGRESS, S.IN_PROGRESS): frozenset({A.VERIFY, A.DOCTOR}),
    # dispatch: the set-up of a new checkout failed health.max_respawns times (SPEC 13)
    (S.IN_PROGRESS, S.BLOCKED): frozenset({A.VERIFY, A.DOCTOR, A.DISPATCH}),
    (S.REVIEW, S.DONE): frozenset({A.MERGE, A.RECONCILE}),
    # merge: a conflict, or tests failed on the merge result; a person: changes requested (SPEC 13)
    (S.REVIEW, S.IN_PROGRESS): frozenset({A.MERGE, A.HUMAN}),
    # merge can also give up on a task whose attempts are spent (extra: SPEC says nothing)
    (S.REVIEW, S.BLOCKED): frozenset({A.MERGE}),
    (S.BLOCKED, S.TODO): frozenset({A.HUMAN}),
    # extra (SPEC 13): the set-up of a new checkout failed health.max_respawns times in a row
    (S.TODO, S.BLOCKED): frozenset({A.DISPATCH}),
    # a person, doctor when the work cannot be resumed, dispatch when it preempts
    (S.IN_PROGRESS, S.TODO): frozenset({A.HUMAN, A.DOCTOR, A.DISPATCH}),
    # reconcile: the task's branch is already in the base; verify: an epic's plan landed
    (S.IN_PROGRESS, S.DONE): frozenset({A.HUMAN, A.RECONCILE, A.VERIFY}),
    # extra: a person takes an archived card back
    (S.ARCHIVED, S.BACKLOG): frozenset({A.HUMAN}),
    (S.ARCHIVED, S.TODO): frozenset({A.HUMAN}),
}

for _s in Status:
    if _s is not S.ARCHIVED:
        TRANSITIONS[(_s, S.ARCHIVED)] = TRANSITIONS.get((_s, S.ARCHIVED), frozenset()) | {A.HUMAN}
    if _s is not S.DONE:
        # a manual completion, recorded as such
        TRANSITIONS[(_s, S.DONE)] = TRANSITIONS.get((_s, S.DONE), frozenset()) | {A.HUMAN}
del _s

STATUS_VALID = "one of " + ", ".join(s.value for s in Status)


def parse_status(text: str) -> Status:
    """A status from a packet value or a board column name (case-insensitive, spaces as dashes)."""
    key = str(text).strip().lower().replace(" ", "-").replace("_", "-")
    try:
        return Status(key)
    except ValueError:
        raise InvalidInput(f"unknown status {text!r}", valid=STATUS_VALID) from None


def allowed(frm: Status, to: Status, actor: Actor) -> bool:
    return actor in TRANSITIONS.get((frm, to), frozenset())


def check(frm: Status, to: Status, actor: Actor) -> None:
    """Raise InvalidInput unless ``actor`` may move a task from ``frm`` to ``to``."""
    if not allowed(frm, to, actor):
        who = sorted(a.value for a in Actor if allowed(frm, to, a))
        targets = sorted(t.value for (f, t), actors in TRANSITIONS.items() if f is frm and actor in actors)
        valid = (f"only {', '.join(who)} may do that" if who else
                 f"from {frm.value} {actor.value} may move to: {', '.join(targets) or 'nothing'}")
        raise InvalidInput(f"{actor.value} may not move a task {frm.value} -> {to.value}", valid=valid)
