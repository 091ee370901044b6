"""The append-only event log, ``.batty/events.jsonl`` (SPEC 7).

One JSON object a line, appended under a lock (fsynced when the command ends). A torn last line (a crash
mid-write) is skipped by readers, and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batty.core import clock
from batty.store.locks import host

_last_ms = 0
_seq = 0
_id_lock = threading.Lock()


def _bits(n: int) -> int:
    """``n`` random bits from the OS (what secrets.randbits does; importing secrets, for hmac and
    base64, was 6 ms of every command's start)."""
    return int.from_bytes(os.urandom((n + 7) // 8), "big") >> (-n % 8)


def new_id() -> str:
    """A UUIDv7 (RFC 9562): unique and time-ordered; monotonic within one process."""
    global _last_ms, _seq
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:
                ms += 1
                _seq = 0
        else:
            _seq = _bits(11)
        _last_ms = ms
        rand_b = _bits(62)
        value = (ms << 80) | (0x7 << 76) | (_seq << 64) | (0b10 << 62) | rand_b
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def corr_of(task: str | None, attempt: int | None) -> str | None:
    if task is None:
        return None
    return f"{task}#{attempt}" if attempt else task


class EventLog:
    """Writes events for one command run."""

    def __init__(self, path: Path, lock_path: Path, *, cmd: str | None = None) -> None:
        self.path = path
        self.lock_path = lock_path
        self.cmd = cmd
        self._host = host()

    def emit(
        self,
        kind: str,
        *,
        task: str | None = None,
        seat: str | None = None,
        attempt: int | None = None,
        corr: str | None = None,
        **data: Any,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": new_id(),
            "ts": clock.now_iso(),
            "kind": str(kind),
            "task": task,
            "seat": seat,
            "attempt": attempt,
            "corr": corr or corr_of(task, attempt),
            "host": self._host,
            "cmd": self.cmd,
            "data": data,
        }
        line = json.dumps(event, separators=(",", ":"), default=str, ensure_ascii=False) + "\n"
        append_line(self.path, self.lock_path, line)
        return event


def append_line(path: Path, lock_path: Path, line: str) -> None:
    """Append one line under the log's lock. The line is written with one ``write`` to a file
    opened for appending; it is fsynced when the process ends (store.atomic.later)."""
    from batty.store import atomic
    from batty.store.locks import Flock, Timeout

    lock = Flock(lock_path, poll_s=0.002)
    try:
        try:
            lock.acquire(timeout=30)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock.acquire(timeout=30)
    except Timeout:
        from batty.errors import Busy

        raise Busy("the event log's lock is held for over 30 s", valid="nothing was written; try again") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = line.encode("utf-8")
            size = os.fstat(fd).st_size
            if size:
                # A torn last line (no newline) must not swallow this event: start a fresh line.
                with open(path, "rb") as r:
                    r.seek(size - 1)
                    if r.read(1) != b"\n":
                        data = b"\n" + data
            os.write(fd, data)
        finally:
            os.close(fd)
        atomic.later(path)
    finally:
        lock.release()


def read(path: Path, *, counts: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """Every event in ``path``; lines that do not parse (a torn write) are skipped and counted."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                if counts is not None:
                    counts["torn"] = counts.get("torn", 0) + 1
                continue
            if isinstance(event, dict) and "kind" in event:
                yield event


def last_of(path: Path, kinds: set[str], *, max_bytes: int = 4 << 20) -> dict[str, Any] | None:
    """The newest event of one of ``kinds``, reading the log backwards from its end."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        end = f.seek(0, 2)
        pos, tail, chunk = end, b"", 64 << 10
        while pos > 0 and end - pos < max_bytes:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            lines = tail.split(b"\n")
            tail = lines[0] if pos > 0 else b""
            for raw in reversed(lines[1:] if pos > 0 else lines):
                if not raw.strip():
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("kind") in kinds:
                    return event
    return None
