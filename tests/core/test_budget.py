"""The budgets' arithmetic and their config (SPEC 12): no disk but the CLI test at the end."""

from __future__ import annotations

from datetime import datetime

import pytest

from batty.core import budget
from batty.core.budget import SPENT, WARNED, Limits, Spend
from batty.core.config import ConfigProblem, validate
from batty.store.paths import Paths
from tests.conftest import run_batty


def test_limits_are_read_from_the_config() -> None:
    cfg = validate({"budgets": {"attempt": {"wall_s": 3600, "tokens": 2000000, "cost_usd": 5},
                                "task": {"cost_usd": 15}, "day": {"cost_usd": 100}, "warn_at": 0.9}})
    b = cfg.budgets
    assert b.attempt == Limits(3600.0, 2000000, 5.0) and b.task == Limits(cost_usd=15.0)
    assert not b.seat_day and not b.week and b.warn_at == 0.9
    assert validate({}).budgets.warn_at == 0.8 and not validate({}).budgets


@pytest.mark.parametrize("raw, path", [
    ({"attempt": {"dollars": 5}}, ("budgets", "attempt", "dollars")),
    ({"month": {"cost_usd": 5}}, ("budgets", "month")),
    ({"day": {"cost_usd": -1}}, ("budgets", "day", "cost_usd")),
    ({"day": {"cost_usd": "lots"}}, ("budgets", "day", "cost_usd")),
    ({"day": {"tokens": 1.5}}, ("budgets", "day", "tokens")),
    ({"day": {"wall_s": True}}, ("budgets", "day", "wall_s")),
    ({"day": 100}, ("budgets", "day")),
    ({"warn_at": 1.5}, ("budgets", "warn_at")),
    ({"warn_at": 0}, ("budgets", "warn_at")),
    ([1, 2], ("budgets",)),
])
def test_bad_budgets_name_their_key(raw: object, path: tuple[str, ...]) -> None:
    with pytest.raises(ConfigProblem) as e:
        validate({"budgets": raw})
    assert e.value.path == path


def test_a_bad_budget_is_one_line_with_the_file_and_line(repo: Paths) -> None:
    text = repo.config.read_text() + "budgets:\n  day:\n    cost_usd: -3\n"
    repo.config.write_text(text)
    res = run_batty(repo.root, "status")
    assert res.code == 1 and "Traceback" not in res.err
    n = len(text.splitlines())
    assert res.err.strip() == (f"batty: board/config.yaml:{n}: budgets.day.cost_usd must be a number "
                               "of dollars > 0, not -3 (a number of dollars > 0)")


def test_spent_warned_and_fine() -> None:
    limits = Limits(wall_s=100, tokens=1000, cost_usd=10)
    got = {c.unit: c.state for c in budget.check(limits, Spend(50, 800, 10.0), scope="day",
                                                 key="day:x", warn_at=0.8)}
    assert got == {"wall_s": "ok", "tokens": WARNED, "cost_usd": SPENT}


def test_days_and_weeks_are_local() -> None:
    t = datetime.fromisoformat("2026-03-08T15:30:00+00:00")  # Monday 00:30 in Tokyo, Sunday in UTC
    assert budget.day_of(t, "Asia/Tokyo") == "2026-03-09" and budget.day_of(t, "UTC") == "2026-03-08"
    assert budget.week_of(t, "Asia/Tokyo") == "2026-03-09" and budget.week_of(t, "UTC") == "2026-03-02"
    end = budget.next_start("2026-03-09", "day", "Asia/Tokyo")
    assert end.isoformat() == "2026-03-10T00:00:00+09:00"
    assert budget.next_start("2026-03-09", "week", "UTC").date().isoformat() == "2026-03-16"


def test_spend_adds_up() -> None:
    assert budget.total([Spend(1, 2, 0.1), Spend(2, 3, 0.2)]) == Spend(3, 5, 0.3)


def test_a_closed_seat_starts_nothing_and_its_task_waits() -> None:
    from batty.core.dispatch_plan import plan
    from batty.core.packet import validate as packet

    # overlap allowed: two tasks without a scope would otherwise never be at work together (SPEC 13)
    cfg = validate({"seats": [{"name": "eng-1", "agent": "shell"}, {"name": "eng-2", "agent": "shell"}],
                    "dispatch": {"overlap": "allow"}}, builtin=frozenset({"shell"}))
    busy = packet({"id": "T-1", "title": "next attempt due", "status": "in-progress", "assignee": "eng-1",
                   "attempt": 1})
    ready = packet({"id": "T-2", "title": "ready", "status": "todo"})
    packets = {"T-1": busy, "T-2": ready}
    why = "budget: budgets.seat_day.cost_usd eng-1 spent"
    p = plan(cfg, packets, [ready], {"T-1": 2}, closed={"eng-1": why})
    assert [(a.task, a.seat) for a in p.assign] == [("T-2", "eng-2")]
    assert p.waiting == (("T-1", why),)
    open_plan = plan(cfg, packets, [ready], {"T-1": 2})
    assert sorted((a.task, a.seat) for a in open_plan.assign) == [("T-1", "eng-1"), ("T-2", "eng-2")]
