"""The packet cache (issue 2: 10,000 packets listed in well under a second).

Two files under .batty/cache/: ``packets.idx`` holds, per packet file, its stat key and the
light fields (marshal: the fastest loader of plain data in the standard library), and
``packets.heavy.<token>`` holds the heavy fields (brief, script, verification, merge, ...)
that most commands never read. A packet served from the cache is a :class:`LazyPacket`, a view
of its index entry: building one is a few dictionary stores, not one per field (at 10,000
packets the per-field copies were a third of a warm `task list`). Its heavy fields are read on
first use. The idx names its heavy file, and is replaced last, so a crash leaves the old pair or
the new one; a heavy file gone under a reader (a concurrent rewrite) makes that packet be parsed
again from its YAML.

Only entries read when their file was already older than the racy window are cached (see
packets.RACY_NS): an entry read while its file may still change within the same timestamp
would otherwise be served later, stale, under an unchanged stat key.
"""

from __future__ import annotations

import marshal
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from batty.core.lifecycle import Status
from batty.core.packet import KEYS, Packet

VERSION = 5
HEAVY = ("description", "script", "verification", "merge", "escalations", "feedback", "handoff")
LIGHT = tuple(f.name for f in fields(Packet) if f.name not in HEAVY)
STATUS = {s.value: s for s in Status}
_STATUS_AT = LIGHT.index("status")
_ID_AT = LIGHT.index("id")
# An index entry: (stat key, kind, heavy offset, heavy length, payload). Kind "T": a packet, its
# payload the light fields in LIGHT order (the status as its value); kind "P": a problem, its
# payload (file, line, what, valid).
_PAYLOAD = 4
_new = object.__new__


class LazyPacket(Packet):
    """A Packet served from the cache. Its ``__dict__`` holds the id, the status, the index entry
    (``_e``) and the cache (``_c``); every other field is a property here (a data descriptor
    wins over the dataclass defaults on Packet): light ones read the entry, heavy ones the
    cache's heavy file on first use."""

    def _heavy(self) -> dict[str, Any]:
        d = self.__dict__
        values = d.get("_h")
        if values is None:
            values = d["_h"] = d["_c"].load_heavy(d["_e"], d["id"])
        return values

    def to_dict(self) -> dict[str, Any]:
        """As Packet.to_dict (the same keys, order and values), without a property call per key."""
        light = self.__dict__["_e"][_PAYLOAD]
        heavy = self._heavy()
        out: dict[str, Any] = {}
        # The values are plain data (marshal's, or the parsed YAML's when the heavy file went),
        # so a mapping is a dict: no ABC check per value.
        for key, at in _TO_DICT:
            value = light[at] if at >= 0 else heavy[key]
            if isinstance(value, tuple):
                value = [dict(v) if isinstance(v, dict) else v for v in value]
            elif isinstance(value, dict):
                value = dict(value)
            out[key] = value  # the status is its value in the entry already
        return out


def _light_field(at: int) -> property:
    def get(self: LazyPacket) -> Any:
        return self.__dict__["_e"][_PAYLOAD][at]

    return property(get)


def _heavy_field(name: str) -> property:
    def get(self: LazyPacket) -> Any:
        return self._heavy()[name]

    return property(get)


for _at, _name in enumerate(LIGHT):
    if _name not in ("id", "status"):
        setattr(LazyPacket, _name, _light_field(_at))
for _name in HEAVY:
    setattr(LazyPacket, _name, _heavy_field(_name))
_TO_DICT = tuple((k, LIGHT.index(k) if k in LIGHT else -1) for k in KEYS)
del _at, _name


class Cache:
    def __init__(self, folder: Path, tasks: Path,
                 reparse: Callable[[Path, str], Packet] | None = None) -> None:
        self.folder = folder
        self.tasks = tasks
        # reads a packet's YAML again when the heavy file is gone (batty.store.packets passes
        # its parse_file: the cache does not import the module that uses it)
        self.reparse = reparse
        self.entries: dict[str, tuple] = {}
        self.heavy_name: str | None = None
        self.saved_name: str | None = None  # the name of the files on disk after save()
        self.cycles: list[list[str]] | None = None  # among exactly the packets in entries
        self._heavy: bytes | None = None
        self.puts: dict[str, tuple] = {}   # entries of packets parsed this run
        try:
            data = marshal.loads((folder / "packets.idx").read_bytes())
            if isinstance(data, dict) and data.get("v") == VERSION:
                self.entries = data["entries"]
                self.heavy_name = data["heavy"]
                self.cycles = data["cycles"]
                self.saved_name = self.heavy_name
        except (OSError, ValueError, EOFError, TypeError, KeyError):
            self.entries = {}

    # ------------------------------------------------------------------ reading

    def packet(self, entry: tuple) -> LazyPacket:
        """The packet of a packet entry ("T") whose stat key matched."""
        p = _new(LazyPacket)
        d = p.__dict__
        payload = entry[_PAYLOAD]
        d["id"] = payload[_ID_AT]
        d["status"] = STATUS[payload[_STATUS_AT]]
        d["_e"] = entry
        d["_c"] = self
        return p

    def _heavy_bytes(self) -> bytes:
        if self._heavy is None:
            self._heavy = (self.folder / self.heavy_name).read_bytes() if self.heavy_name else b""
        return self._heavy

    def load_heavy(self, entry: tuple, task_id: str) -> dict[str, Any]:
        off, length = entry[2], entry[3]
        try:
            value = marshal.loads(self._heavy_bytes()[off:off + length])
            if isinstance(value, dict):
                return value
        except (OSError, ValueError, EOFError, TypeError):
            pass
        if self.reparse is None:
            raise LookupError(f"{task_id}: the packet cache's heavy file is gone")
        fresh = self.reparse(self.tasks / f"{task_id}.yaml", f"board/tasks/{task_id}.yaml")
        return {k: getattr(fresh, k) for k in HEAVY}

    # ------------------------------------------------------------------ writing

    def put(self, name: str, key: tuple, result: Any) -> None:
        """Cache a result just parsed (a Packet, or a problem as its tuple)."""
        if isinstance(result, Packet):
            light = tuple(getattr(result, f) for f in LIGHT)
            light = light[:_STATUS_AT] + (result.status.value,) + light[_STATUS_AT + 1:]
            heavy = {k: getattr(result, k) for k in HEAVY}
            try:
                marshal.dumps(light)
                blob = marshal.dumps(heavy)
            except ValueError:
                return  # not plain data (never expected): that packet is simply not cached
            self.puts[name] = (key, "T", -1, blob, light)  # off -1: the blob itself, not yet placed
        else:
            self.puts[name] = (key, "P", 0, 0, tuple(result))

    def save(self, hits: set[str] | None, cycles: list[list[str]] | None) -> bool:
        """Write the index of the entries that matched (``hits``; None: all of them, as
        ``entries`` holds exactly those) and the ones put, when that differs from what is on
        disk. ``cycles``: the dependency cycles among exactly those packets, or None. True when
        the files on disk hold those entries (written now, or already), named ``saved_name``."""
        if not self.puts and hits is None:
            return self.saved_name is not None or not self.entries
        chunks: list[bytes] = []
        size = 0
        entries: dict[str, tuple] = {}
        kept = self.entries if hits is None else {n: self.entries[n] for n in hits}
        try:
            old = self._heavy_bytes() if any(e[1] == "T" for e in kept.values()) else b""
        except OSError:
            return False  # another run replaced the cache meanwhile: its copy will do
        # Equal values written as one object: marshal writes a repeat as a reference, and a
        # reference loads as the object it names (scopes, seats, timestamps, stat times: the
        # index of 10,000 packets loads in half the time).
        memo: dict[Any, Any] = {}
        stamps: dict[int, int] = {}
        for name, (key, kind, off, length, payload) in (*kept.items(), *self.puts.items()):
            key = tuple(stamps.setdefault(v, v) for v in key)
            if kind == "T":
                payload = tuple(_shared(memo, v) for v in payload)
                blob = length if off < 0 else old[off:off + length]
                entries[name] = (key, kind, size, len(blob), payload)
                chunks.append(blob)
                size += len(blob)
            else:
                entries[name] = (key, kind, 0, 0, payload)
        from batty.store import atomic

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            heavy = f"packets.heavy.{os.urandom(6).hex()}"  # secrets.token_hex, without its import
            atomic.write_bytes(self.folder / heavy, b"".join(chunks))
            atomic.write_bytes(self.folder / "packets.idx", marshal.dumps(
                {"v": VERSION, "heavy": heavy, "cycles": cycles, "entries": entries}))
            for f in os.listdir(self.folder):
                if f.startswith("packets.heavy.") and f != heavy:
                    (self.folder / f).unlink(missing_ok=True)
            (self.folder / "packets.pickle").unlink(missing_ok=True)  # the cache before v4
        except OSError:
            return False  # a cache is never worth failing a command for
        # not heavy_name: the packets served this run read their heavy fields at the offsets
        # of the file they came from (gone now: they parse their YAML again)
        self.saved_name = heavy
        return True


def _shared(memo: dict[Any, Any], value: Any) -> Any:
    """``value``, or an equal one met before: texts and tuples of texts only (1 == True == 1.0:
    numbers are never swapped for another)."""
    cls = value.__class__
    if cls is str or (cls is tuple and all(v.__class__ is str for v in value)):
        return memo.setdefault(value, value)
    return value
