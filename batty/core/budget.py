"""Budgets (SPEC 12, issue 18): the limits of board/config.yaml and the arithmetic on spend.

Pure: no disk, no clock of its own. :mod:`batty.workflow.spend` reads what was spent (run records, the
event log) and hands it here; this module says which budget is crossed, warned or fine, and
where the current day and week of ``telemetry.timezone`` begin.

Levels: ``attempt`` (one attempt, respawns included), ``task`` (all its attempts), ``seat_day``
(each seat, per local day), ``day`` and ``week`` (the whole fleet; weeks start on Monday). Each
takes any of ``wall_s``, ``tokens`` (input + output), ``cost_usd``. A budget is *spent* once
what was spent reaches its limit; it is *warned* at ``warn_at`` of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from batty.core.packet import PacketProblem as ConfigProblem

UNITS = ("wall_s", "tokens", "cost_usd")
LEVELS = ("attempt", "task", "seat_day", "day", "week")
PERIODIC = ("seat_day", "day", "week")  # spent: dispatch pauses until the period ends
WARN_AT = 0.8
OK, WARNED, SPENT = "ok", "warned", "spent"


@dataclass(frozen=True)
class Limits:
    wall_s: float | None = None
    tokens: int | None = None
    cost_usd: float | None = None

    def items(self) -> Iterator[tuple[str, float]]:
        for unit in UNITS:
            value = getattr(self, unit)
            if value is not None:
                yield unit, value

    def __bool__(self) -> bool:
        return any(True for _ in self.items())


@dataclass(frozen=True)
class Budgets:
    attempt: Limits = Limits()
    task: Limits = Limits()
    seat_day: Limits = Limits()
    day: Limits = Limits()
    week: Limits = Limits()
    warn_at: float = WARN_AT

    def level(self, name: str) -> Limits:
        return getattr(self, name)

    def __bool__(self) -> bool:
        return any(bool(self.level(n)) for n in LEVELS)


@dataclass(frozen=True)
class Spend:
    """What was spent: wall seconds, tokens (input + output) and dollars."""

    wall_s: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.wall_s + other.wall_s, self.tokens + other.tokens,
                     round(self.cost_usd + other.cost_usd, 8))

    def of(self, unit: str) -> float:
        return getattr(self, unit)

    def to_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall_s, 1), "tokens": self.tokens,
                "cost_usd": round(self.cost_usd, 4)}


def total(spends: Iterator[Spend] | list[Spend]) -> Spend:
    out = Spend()
    for s in spends:
        out = out + s
    return out


@dataclass(frozen=True)
class Crossing:
    """One budget (a level, one of its units) for one subject, and where its spend stands."""

    scope: str                    # attempt | task | seat_day | day | week
    key: str                      # what the budget is about: "day:2026-03-10", "task:T-4", ...
    unit: str
    limit: float
    spent: float
    state: str                    # ok | warned | spent
    task: str | None = None
    attempt: int | None = None
    seat: str | None = None
    period: str | None = None     # the local date (day, seat_day) or the week's Monday

    @property
    def share(self) -> float:
        return self.spent / self.limit if self.limit else 1.0

    def data(self) -> dict[str, Any]:
        """The data of a budget.warned / budget.exceeded event (SPEC 12)."""
        out: dict[str, Any] = {"scope": self.scope, "limit": self.limit, "spent": _round(self.spent),
                               "unit": self.unit, "key": self.key}
        if self.period:
            out["period"] = self.period
        return out

    def line(self) -> str:
        who = {"attempt": f" {self.task}#{self.attempt}", "task": f" {self.task}",
               "seat_day": f" {self.seat} {self.period}", "day": f" {self.period}",
               "week": f" from {self.period}"}[self.scope]
        return (f"budgets.{self.scope}.{self.unit}{who}: {show(self.unit, self.spent)} of "
                f"{show(self.unit, self.limit)} ({self.share:.0%})")


def _round(value: float) -> float:
    return round(value, 4) if isinstance(value, float) else value


def show(unit: str, value: float) -> str:
    if unit == "cost_usd":
        return f"${value:,.2f}"
    if unit == "tokens":
        return f"{int(value):,} tokens"
    return f"{value:,.0f} s"


def check(limits: Limits, spent: Spend, *, scope: str, key: str, warn_at: float,
          **subject: Any) -> list[Crossing]:
    """Where ``spent`` stands against each unit of ``limits``."""
    out = []
    for unit, limit in limits.items():
        value = spent.of(unit)
        state = SPENT if value >= limit else WARNED if value >= warn_at * limit else OK
        out.append(Crossing(scope, key, unit, limit, value, state, **subject))
    return out


# ------------------------------------------------------------------ periods


def local(now: datetime, tz: str) -> datetime:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo(tz))


def day_of(when: datetime, tz: str) -> str:
    """The local date of ``when`` in ``tz``: the day budget it counts against."""
    return local(when, tz).date().isoformat()


def week_of(when: datetime, tz: str) -> str:
    """The local date of the Monday that starts ``when``'s week."""
    d = local(when, tz).date()
    return (d - timedelta(days=d.weekday())).isoformat()


def next_start(period: str, scope: str, tz: str) -> datetime:
    """When the day (or the week) that began on local date ``period`` ends: local midnight."""
    from zoneinfo import ZoneInfo

    d = date.fromisoformat(period) + timedelta(days=7 if scope == "week" else 1)
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz))


# ------------------------------------------------------------------ config


_UNIT_TYPES = {"wall_s": "a number of seconds > 0", "tokens": "a whole number > 0",
               "cost_usd": "a number of dollars > 0"}


def parse(data: Any) -> Budgets:
    """Config ``budgets:`` (parsed YAML) into Budgets, or ConfigProblem naming the key."""
    if data is None:
        return Budgets()
    if not isinstance(data, Mapping):
        raise ConfigProblem(("budgets",), "budgets must be a mapping",
                            "budgets: {day: {cost_usd: 100}, warn_at: 0.8}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path: tuple[Any, ...] = ("budgets", key)
        if key == "warn_at":
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise ConfigProblem(path, f"budgets.warn_at must be a number above 0 and at most 1, "
                                    f"not {value!r}", "a share like 0.8")
            kwargs["warn_at"] = float(value)
            continue
        if key not in LEVELS:
            raise ConfigProblem(path, f"unknown key budgets.{key}", "one of " + ", ".join((*LEVELS, "warn_at")))
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ConfigProblem(path, f"budgets.{key} must be a mapping",
                                "{wall_s: 3600, tokens: 2000000, cost_usd: 5}")
        limits: dict[str, Any] = {}
        for unit, limit in value.items():
            where = (*path, unit)
            if unit not in UNITS:
                raise ConfigProblem(where, f"unknown key budgets.{key}.{unit}", "one of " + ", ".join(UNITS))
            whole = unit == "tokens"
            kind = int if whole else (int, float)
            if isinstance(limit, bool) or not isinstance(limit, kind) or limit <= 0:
                raise ConfigProblem(where, f"budgets.{key}.{unit} must be {_UNIT_TYPES[unit]}, "
                                    f"not {limit!r}", _UNIT_TYPES[unit])
            limits[unit] = limit if whole else float(limit)
        kwargs[key] = Limits(**limits)
    return Budgets(**kwargs)


@dataclass(frozen=True)
class Pause:
    """A periodic budget that is spent: dispatch gives ``seat`` (None: every seat) nothing."""

    crossing: Crossing
    until: datetime
    seats: tuple[str, ...] = field(default=())

    @property
    def seat(self) -> str | None:
        return self.crossing.seat
