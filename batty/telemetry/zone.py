"""The zone of day boundaries (``telemetry.timezone``) and the windows cut in it.

Stored times stay UTC; only days and windows are local. SQLite has no zone database, so the
local day of each event is computed here, in Python, and stored by the loader (docs/telemetry.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from batty.errors import InvalidInput

ZONE_VALID = "an IANA zone name such as UTC, Europe/Paris or Pacific/Auckland"


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown telemetry.timezone {name!r}", valid=ZONE_VALID) from None


def timezone_of(paths: Any) -> ZoneInfo:
    """The configured ``telemetry.timezone`` (default UTC): the one place that reads it."""
    try:
        from batty.store.config_file import (
            load as load_config,  # the lead's config module, once it exists
        )
    except ImportError:
        return zone_named(_zone_from_yaml(paths.config))
    # telemetry needs no agent binary: a missing one is dispatch's problem, not the figures'
    return zone_named(load_config(paths, check_agents=False).telemetry.timezone or "UTC")


def _zone_from_yaml(config: Path) -> str:
    import yaml

    try:
        doc = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return "UTC"
    except yaml.YAMLError as e:
        raise InvalidInput(f"does not parse: {e}", file=config) from None
    telemetry = doc.get("telemetry") if isinstance(doc, dict) else None
    if not isinstance(telemetry, dict) or telemetry.get("timezone") in (None, ""):
        return "UTC"
    return str(telemetry["timezone"])


def day_function(zone: ZoneInfo) -> Callable[[str], str | None]:
    """``ts -> 'YYYY-MM-DD'``, the local day of a stored UTC timestamp in ``zone``.

    Offsets change only on whole minutes (tzdata since 1972), so the day is cached per UTC minute:
    a million events cost a few thousand zone conversions, not a million.
    """
    cache: dict[str, str | None] = {}
    is_utc = zone.key == "UTC"

    def local_day(ts: str | None) -> str | None:
        if not ts:
            return None
        key = ts[:16]
        day = cache.get(key)
        if day is None:
            if is_utc and len(ts) == 32 and ts.endswith("+00:00"):
                day = ts[:10]
            else:
                try:
                    dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
                except ValueError:
                    return None
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=UTC)
                day = dt.astimezone(zone).date().isoformat()
            if len(ts) == 32 and ts.endswith("+00:00"):
                cache[key] = day  # only canonical stored stamps share a minute key
        return day

    return local_day


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of local ``day`` in ``zone``, in UTC (a DST gap at midnight moves it on)."""
    naive = datetime.combine(day, time(0))
    for minutes in range(0, 180, 15):
        local = (naive + timedelta(minutes=minutes)).replace(tzinfo=zone)
        # a non-existent local time does not round-trip through UTC
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
            return local.astimezone(UTC)
    return naive.replace(tzinfo=zone).astimezone(UTC)


_SINCE_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
SINCE_VALID = "a duration such as 30m, 12h, 7d or 2w, or a date such as 2026-11-01"


def since_start(text: str | None, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The start of the window ``--since TEXT`` as a UTC datetime (None: since the beginning).

    ``Nd`` and ``Nw`` are whole local days, today included: ``7d`` starts at local midnight six
    days before today, ``1d`` is today. ``Nm`` and ``Nh`` are exact durations. A date is its local
    midnight; a date-time without an offset is local. A duration of 0 is an error: it is no
    window (``0d`` read as "today" would be ``1d``, read as nothing it would print zeros).
    """
    if text is None or not str(text).strip() or str(text).strip() == "all":
        return None
    m = _SINCE_RE.match(str(text))
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if n == 0:
            raise InvalidInput(f"--since {text.strip()!r} is an empty window",
                               valid="1d is today from local midnight, 12h the last twelve hours")
        if unit in "mh":
            return now - timedelta(minutes=n) if unit == "m" else now - timedelta(hours=n)
        days = n * 7 if unit == "w" else n
        today = now.astimezone(zone).date()
        return local_midnight(today - timedelta(days=days - 1), zone)
    try:
        if len(text.strip()) == 10:
            return local_midnight(date.fromisoformat(text.strip()), zone)
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--since {text!r} is neither a duration nor a date",
                           valid=SINCE_VALID) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC)


def days_between(start: datetime, end: datetime, zone: ZoneInfo) -> list[str]:
    """Every local day from the one holding ``start`` to the one holding ``end``, as strings."""
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
