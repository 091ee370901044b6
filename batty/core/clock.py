"""Time: stored in UTC with its offset; day boundaries come from the configured zone."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def now() -> datetime:
    # BATTY_NOW lets scenarios pin the clock (a completion at local midnight) without mocks.
    fixed = os.environ.get("BATTY_NOW")
    if fixed:
        return parse(fixed)
    return datetime.now(UTC)


def now_iso() -> str:
    return iso(now())


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def parse(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def age_s(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return (now() - parse(text)).total_seconds()
    except ValueError:
        return None


def monotonic() -> float:
    return time.monotonic()
