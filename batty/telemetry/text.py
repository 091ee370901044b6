"""How events read in a terminal: local times, compact data, durations."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


def local_time(ts: str | None, zone: ZoneInfo) -> str:
    if not ts:
        return "-"
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ts
    return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def detail(data: Any, width: int = 60) -> str:
    """``key=value`` pairs of an event's data, empty values left out, long ones cut."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return data
    if not isinstance(data, dict):
        return "" if data is None else str(data)
    parts = []
    for key, value in data.items():
        if value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if len(text) > width:
            text = text[: width - 1] + "…"
        if isinstance(value, str) and (" " in text or not text):
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def duration(seconds: float | None) -> str:
    """12s, 3m04s, 2h05m, 1d03h."""
    if seconds is None:
        return "-"
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.1f}s" if s < 10 and not s.is_integer() else f"{int(round(s))}s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m}m{sec:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def event_line(e: dict[str, Any], zone: ZoneInfo) -> str:
    """One event on one line, as ``batty log`` prints it."""
    who = e.get("corr") or e.get("task") or "-"
    return "  ".join([local_time(e.get("ts"), zone), f"{e.get('kind', '?'):<24}", f"{who:<10}",
                      f"{e.get('seat') or '-':<8}", detail(e.get("data"))]).rstrip()
