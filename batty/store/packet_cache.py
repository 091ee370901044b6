"""The packet cache (issue 2: 10,000 packets listed in well under a second).

Two files under .batty/cache/: ``packets.idx`` holds, per packet file, its stat key and the
light fields (marshal: the fastest loader of plain data in the standard library), and
``packets.heavy.<token>`` holds the heavy fields (brief, script, verification, merge, ...)
that most commands never read. A packet served from the cache is a :class:`LazyPacket`: its
heavy fields are read on first use. The idx names its heavy file, and is replaced last, so a
crash leaves the old pair or the new one; a heavy file gone under a reader (a concurrent
rewrite) makes that packet be parsed again from its YAML.
"""

from __future__ import annotations

import marshal
import os
import secrets
from dataclasses import fields
from pathlib import Path
from typing import Any

from batty.core.lifecycle import Status
from batty.core.packet import Packet

VERSION = 4
HEAVY = ("description", "script", "verification", "merge", "escalations", "feedback", "handoff")
LIGHT = tuple(f.name for f in fields(Packet) if f.name not in HEAVY)
STATUS = {s.value: s for s in Status}
_STATUS_AT = LIGHT.index("status")


class LazyPacket(Packet):
    """A Packet whose heavy fields come from the cache's heavy file on first use (each is a
    property here: a data descriptor wins over the dataclass defaults on Packet)."""


def _heavy_field(name: str) -> property:
    def get(self: LazyPacket) -> Any:
        d = self.__dict__
        values = d.get("_h")
        if values is None:
            values = d["_load"]()
            d["_h"] = values
        return values[name]

    return property(get)


for _name in HEAVY:
    setattr(LazyPacket, _name, _heavy_field(_name))
del _name


class Cache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, tuple] = {}
        self.heavy_name: str | None = None
        self._heavy: bytes | None = None
        self.fresh: dict[str, tuple] = {}   # what the next save writes: name -> (key, result)
        self.dirty = False
        try:
            data = marshal.loads((folder / "packets.idx").read_bytes())
            if isinstance(data, dict) and data.get("v") == VERSION:
                self.entries = data["entries"]
                self.heavy_name = data["heavy"]
        except (OSError, ValueError, EOFError, TypeError, KeyError):
            self.entries = {}

    # ------------------------------------------------------------------ reading

    def _heavy_bytes(self) -> bytes:
        if self._heavy is None:
            self._heavy = (self.folder / self.heavy_name).read_bytes() if self.heavy_name else b""
        return self._heavy

    def get(self, name: str, key: tuple, packet_path: str) -> Any:
        """The cached result for ``name`` when its stat key matches: a packet, a problem tuple,
        or None (not cached)."""
        hit = self.entries.get(name)
        if hit is None or hit[0] != key:
            return None
        _key, kind, payload, off, length = hit
        if kind == "P":
            return ("problem", *payload)
        p = object.__new__(LazyPacket)
        d = p.__dict__
        d.update(zip(LIGHT, payload, strict=True))
        d["status"] = STATUS[payload[_STATUS_AT]]
        d["_load"] = lambda: self._load_heavy(off, length, packet_path)
        self.fresh[name] = (key, kind, payload, off, length)
        return p

    def _load_heavy(self, off: int, length: int, packet_path: str) -> dict[str, Any]:
        try:
            value = marshal.loads(self._heavy_bytes()[off:off + length])
            if isinstance(value, dict):
                return value
        except (OSError, ValueError, EOFError, TypeError):
            pass
        from batty.store.packets import parse_file  # the heavy file went: read the YAML again

        fresh = parse_file(Path(packet_path), f"board/tasks/{os.path.basename(packet_path)}")
        return {k: getattr(fresh, k) for k in HEAVY}

    # ------------------------------------------------------------------ writing

    def put(self, name: str, key: tuple, result: Any) -> None:
        self.dirty = True
        if isinstance(result, Packet):
            light = tuple(getattr(result, f) for f in LIGHT)
            light = light[:_STATUS_AT] + (result.status.value,) + light[_STATUS_AT + 1:]
            heavy = {k: getattr(result, k) for k in HEAVY}
            try:
                marshal.dumps(light)
                blob = marshal.dumps(heavy)
            except ValueError:
                return  # not plain data (never expected): that packet is simply not cached
            self.fresh[name] = (key, "T", light, -1, blob)  # off -1: the blob itself, not yet placed
        else:
            self.fresh[name] = (key, "P", result, 0, 0)

    def save(self, names: set[str]) -> None:
        if not self.dirty and set(self.fresh) == set(self.entries) == names:
            return
        chunks: list[bytes] = []
        size = 0
        entries: dict[str, tuple] = {}
        try:
            old = self._heavy_bytes() if any(v[1] == "T" and v[3] >= 0 for v in self.fresh.values()) else b""
        except OSError:
            return  # another run replaced the cache meanwhile: its copy will do
        for name, (key, kind, payload, off, length) in self.fresh.items():
            if name not in names:
                continue
            if kind == "T":
                blob = length if off < 0 else old[off:off + length]
                entries[name] = (key, kind, payload, size, len(blob))
                chunks.append(blob)
                size += len(blob)
            else:
                entries[name] = (key, kind, payload, 0, 0)
        from batty.store import atomic

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            heavy = f"packets.heavy.{secrets.token_hex(6)}"
            atomic.write_bytes(self.folder / heavy, b"".join(chunks))
            atomic.write_bytes(self.folder / "packets.idx", marshal.dumps({"v": VERSION, "heavy": heavy,
                                                                          "entries": entries}))
            for f in os.listdir(self.folder):
                if f.startswith("packets.heavy.") and f != heavy:
                    (self.folder / f).unlink(missing_ok=True)
            (self.folder / "packets.pickle").unlink(missing_ok=True)  # the cache before v4
        except OSError:
            pass  # a cache is never worth failing a command for
