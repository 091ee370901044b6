"""The confidence score (docs/gates.md): what only a person may let through never reaches the
default threshold by itself, whatever credit the change earns (issue 15, item 9)."""

from __future__ import annotations

import pytest

from batty.core import confidence
from batty.core.config import Merge

DEFAULT = Merge().min_confidence


@pytest.mark.parametrize("part", sorted(confidence.PERSON_PARTS))
def test_a_part_only_a_person_may_let_through_stays_under_the_threshold_with_every_credit(part: str) -> None:
    # the best a change can look otherwise: first attempt, small, in scope, its own tests passed
    best = confidence.score(attempt=1, respawns=0, lines_changed=3, files=["src/a.py", "tests/test_a.py"],
                            scope=["src/**", "tests/**"], trusted=["tests/**"], added=["tests/test_a.py"],
                            own_tests=2, person={part: ["x"]})
    assert best.parts[part] < 0 and best.score < DEFAULT, best


def test_the_own_tests_credit_is_paid_and_capped() -> None:
    plain = confidence.score(attempt=1, respawns=0, lines_changed=3, files=["src/a.py"], scope=[],
                             trusted=["tests/**"])
    tested = confidence.score(attempt=1, respawns=0, lines_changed=3, files=["src/a.py", "tests/test_a.py"],
                              scope=[], trusted=["tests/**"], added=["tests/test_a.py"], own_tests=1)
    assert tested.score == round(plain.score + confidence.OWN_TESTS, 3)
    full = confidence.score(attempt=1, respawns=0, lines_changed=3, files=["src/a.py", "tests/test_a.py"],
                            scope=["src/**", "tests/**"], trusted=["tests/**"], added=["tests/test_a.py"],
                            own_tests=1)
    assert full.score == 1.0
