"""``batty log``: this machine's event log as it stands, and as it grows (``--follow``)."""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

POLL_S = 0.25


def matches(e: dict[str, Any], task: str | None) -> bool:
    if task is None:
        return True
    corr = e.get("corr") or ""
    tasks = (e.get("data") or {}).get("tasks") if isinstance(e.get("data"), dict) else None
    return (e.get("task") == task or corr == task or corr.startswith(task + "#")
            or (isinstance(tasks, list) and task in tasks))


def existing(files: list[Path], task: str | None, last: int | None) -> Iterator[dict[str, Any]]:
    """The events already in ``files`` (oldest first), of ``task`` when given, the ``last`` N."""
    def all_events() -> Iterator[dict[str, Any]]:
        for path in files:
            for e in _read(path):
                if matches(e, task):
                    yield e

    if last is None:
        yield from all_events()
    else:
        yield from deque(all_events(), maxlen=last)


def _read(path: Path) -> Iterator[dict[str, Any]]:
    from batty.telemetry.loader import open_log

    with open_log(path) as f:
        for raw in f:
            try:
                e = json.loads(raw)
            except ValueError:
                continue  # a torn line
            if isinstance(e, dict) and "kind" in e:
                yield e


def follow(path: Path, task: str | None, emit: Callable[[dict[str, Any]], None], *,
           stop: Callable[[], bool] = lambda: False) -> None:
    """Emit each event appended to ``path`` from its current end, until ``stop()``.

    Like ``tail -F``: a log rotated away or truncated is reopened from its start, and an
    unfinished last line waits for its newline.
    """
    pos, ino = _end(path)
    pending = b""
    while not stop():
        try:
            st = os.stat(path)
        except FileNotFoundError:
            time.sleep(POLL_S)
            continue
        if st.st_ino != ino or st.st_size < pos:
            pos, ino, pending = 0, st.st_ino, b""
        if st.st_size == pos:
            time.sleep(POLL_S)
            continue
        with open(path, "rb") as f:
            f.seek(pos)
            chunk = f.read()
        pos += len(chunk)
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for raw in lines:
            try:
                e = json.loads(raw)
            except ValueError:
                continue  # a torn line: skipped, as every reader does
            if isinstance(e, dict) and "kind" in e and matches(e, task):
                emit(e)


def _end(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0, -1
    return st.st_size, st.st_ino
