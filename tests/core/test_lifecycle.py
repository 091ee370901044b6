"""The lifecycle table (SPEC 4) and a state machine that never reaches a forbidden state."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from batty.core.lifecycle import TRANSITIONS, Actor, Status, allowed, check, parse_status
from batty.errors import InvalidInput

S, A = Status, Actor


@pytest.mark.parametrize("frm,to,actor", [
    (S.BACKLOG, S.TODO, A.HUMAN), (S.TODO, S.BACKLOG, A.HUMAN), (S.TODO, S.IN_PROGRESS, A.DISPATCH),
    (S.IN_PROGRESS, S.REVIEW, A.VERIFY), (S.IN_PROGRESS, S.IN_PROGRESS, A.VERIFY),
    (S.IN_PROGRESS, S.BLOCKED, A.VERIFY), (S.REVIEW, S.DONE, A.MERGE), (S.REVIEW, S.IN_PROGRESS, A.MERGE),
    (S.BLOCKED, S.TODO, A.HUMAN), (S.IN_PROGRESS, S.TODO, A.HUMAN), (S.IN_PROGRESS, S.TODO, A.DOCTOR),
    (S.REVIEW, S.ARCHIVED, A.HUMAN), (S.TODO, S.DONE, A.HUMAN),
])
def test_spec_transitions_are_allowed(frm: Status, to: Status, actor: Actor) -> None:
    check(frm, to, actor)


@pytest.mark.parametrize("frm,to,actor", [
    (S.TODO, S.IN_PROGRESS, A.HUMAN),   # only dispatch starts work
    (S.IN_PROGRESS, S.REVIEW, A.HUMAN),  # only the gate passes work
    (S.REVIEW, S.DONE, A.VERIFY), (S.TODO, S.DONE, A.DISPATCH), (S.BACKLOG, S.IN_PROGRESS, A.DISPATCH),
    (S.DONE, S.TODO, A.HUMAN), (S.ARCHIVED, S.DONE, A.MERGE),
])
def test_forbidden_transitions_are_refused_with_what_is_allowed(frm: Status, to: Status, actor: Actor) -> None:
    with pytest.raises(InvalidInput) as e:
        check(frm, to, actor)
    assert f"{frm.value} -> {to.value}" in str(e.value)
    assert e.value.valid


def test_every_status_can_be_archived_by_a_person() -> None:
    for s in Status:
        if s is not S.ARCHIVED:
            assert allowed(s, S.ARCHIVED, A.HUMAN)


def test_column_names_map_to_statuses() -> None:
    assert parse_status("In Progress") is S.IN_PROGRESS
    assert parse_status(" TODO ") is S.TODO
    with pytest.raises(InvalidInput):
        parse_status("Doing it")


class Lifecycle(RuleBasedStateMachine):
    """Random actors try random moves; a move is applied only when the table allows it."""

    def __init__(self) -> None:
        super().__init__()
        self.status = S.TODO
        self.history: list[tuple[Status, Status, Actor]] = []

    @rule(to=st.sampled_from(list(Status)), actor=st.sampled_from(list(Actor)))
    def move(self, to: Status, actor: Actor) -> None:
        try:
            check(self.status, to, actor)
        except InvalidInput:
            assert actor not in TRANSITIONS.get((self.status, to), frozenset())
            return
        self.history.append((self.status, to, actor))
        self.status = to

    @invariant()
    def every_step_was_in_the_table(self) -> None:
        for frm, to, actor in self.history:
            assert actor in TRANSITIONS[(frm, to)]

    @invariant()
    def work_reaches_review_only_through_the_gate(self) -> None:
        for frm, to, actor in self.history:
            if to is S.REVIEW:
                assert actor is A.VERIFY and frm is S.IN_PROGRESS
            if to is S.IN_PROGRESS and frm is S.TODO:
                assert actor is A.DISPATCH


TestLifecycle = Lifecycle.TestCase
