"""Packets on disk: fast cached reads (PyYAML's C loader), round-trip writes (ruamel.yaml).

A packet that does not parse or validate is never fatal: it becomes a Problem naming the file
and the line, and every other packet loads as usual. Reads are cached by file stat so that a
board of 10,000 packets loads in a few tens of milliseconds when nothing changed.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from batty.core.ids import ID_RE, ID_VALID, check_id
from batty.core.packet import MAX_PACKET_BYTES, Packet, PacketProblem, find_cycles, validate
from batty.errors import InvalidInput, NotFound
from batty.store import atomic, packet_scan
from batty.store.paths import Paths

RACY_NS = 2_000_000_000


def __getattr__(name: str) -> Any:
    # PyYAML (and its 8 ms of regular expressions) only when a packet is parsed or written: a
    # warm load serves every packet from the cache. ``store.yamlx`` still works for callers.
    if name == "yamlx":
        from batty.core import yamlx

        return yamlx
    raise AttributeError(name)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    what: str
    valid: str | None = None

    def __str__(self) -> str:
        return str(InvalidInput(self.what, file=self.file, line=self.line, valid=self.valid))


@dataclass
class Packets:
    """Every valid packet by id, and the problems of the ones that are not."""

    by_id: dict[str, Packet] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    invalid_ids: set[str] = field(default_factory=set)
    # for a reload (load_all's ``previous``): file name -> (stat key, packet or problem), of the
    # files that were past the racy window when read; and the dependency cycles found
    seen: dict[str, tuple[tuple, Any]] = field(default_factory=dict, repr=False)
    cycles: list[list[str]] = field(default_factory=list, repr=False)
    # the packet cache's name for exactly this set of files and stats, when every packet was
    # served from it unchanged (a file written since gets a new name); None otherwise
    version: str | None = field(default=None, repr=False)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, task_id: str) -> Packet | None:
        return self.by_id.get(task_id)

    def require(self, task_id: str) -> Packet:
        check_id(task_id)
        p = self.by_id.get(task_id)
        if p is None:
            bad = next((x for x in self.problems if Path(x.file).stem == task_id), None)
            if bad is not None:
                raise InvalidInput(bad.what, file=bad.file, line=bad.line, valid=bad.valid)
            raise NotFound(f"no task {task_id}", valid="see `batty task list`")
        return p


# The last texts this process parsed or wrote, by path, with their data and packet: a read or a
# write that finds the same text takes them as they are (a transition reads the packet it is
# about to write; a tick's reloads read back what it wrote: six YAML parses a task); any other
# text, a file changed in between, is parsed.
_texts: dict[str, tuple[str, Any, Packet | None]] = {}


def _remember_text(path: Path, text: str, data: Any, packet: Packet | None = None) -> None:
    key = str(path)
    if key not in _texts and len(_texts) >= 64:
        _texts.pop(next(iter(_texts)))
    _texts[key] = (text, data, packet)


def _parsed(path: Path, text: str, rel: str) -> Any:
    from batty.core import yamlx

    known = _texts.get(str(path))
    if known is not None and known[0] == text:
        return known[1]
    return yamlx.load(text, rel)


def parse_file(path: Path, rel: str, *, strict: bool = False) -> Packet:
    """One packet from ``path``; InvalidInput with file and line on any problem."""
    from batty.core import yamlx

    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise NotFound("file is gone", file=rel) from None
    if size > MAX_PACKET_BYTES:
        raise InvalidInput(f"packet is {size // 1024} KiB", file=rel, line=1,
                           valid=f"at most {MAX_PACKET_BYTES // 1024} KiB: a brief, not a data file")
    text = yamlx.decode(path.read_bytes(), rel)
    known = _texts.get(str(path))
    if known is not None and known[0] == text and known[2] is not None and not strict:
        return known[2]
    data = known[1] if known is not None and known[0] == text else yamlx.load(text, rel)
    if strict:
        yamlx.lines(text, rel, strict=True)
    try:
        packet = validate(data, file_id=path.stem if ID_RE.match(path.stem) else None)
    except PacketProblem as e:
        line = yamlx.line_of(yamlx.lines(text, rel), e.path)
        raise InvalidInput(e.what, file=rel, line=line, valid=e.valid) from None
    _remember_text(path, text, data, packet)
    return packet


def quick(paths: Paths) -> tuple[str | None, list[Problem], Any]:
    """(the packet cache's name for the packets on disk, their problems, git's scan) when no
    packet file changed since a load wrote ``packets.scan``: found by git and a stat of the few
    files git cannot vouch for, without reading the cache (packet_scan). Otherwise (None, [],
    the scan, if any, for load_all)."""
    from batty.store import packet_scan

    known, scan = packet_scan.quick(paths.cache, paths.tasks, paths.root, RACY_NS)
    if known is None:
        return None, [], scan
    return known.version, [Problem(*p) for p in known.problems], scan


def load_all(paths: Paths, *, strict: bool = False, use_cache: bool = True,
             previous: Packets | None = None, scan: Any = None) -> Packets:
    """Every packet under board/tasks/, with problems for the ones that do not load.

    ``previous``: an earlier load in this process; its packets whose files kept their stat are
    taken as they are (State.reload: read again only what changed since). ``scan``: what git
    said just now (packet_scan.scan), when the caller asked already."""
    out = Packets()
    folder = paths.tasks
    # board/tasks/'s stat before it is listed: when it is the same later, no name came or went
    # since (packet_scan.quick)
    before = (packet_scan.folder_key(folder), time.time_ns())
    try:
        listing = list(os.scandir(folder))
    except FileNotFoundError:
        return out
    # stat relative to the folder: one path component to resolve, not the whole path (a third
    # of the time of 10,000 stats)
    try:
        dfd: int | None = (os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                           if os.stat in os.supports_dir_fd else None)
    except OSError:
        dfd = None  # gone since the listing: each entry's own stat says so
    # Tens of thousands of objects are made here and none is garbage: the collector's passes
    # over them were a fifth of a warm load of 10,000 packets.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _load(paths, listing, out, strict, use_cache, previous, dfd, scan, before)
    finally:
        if dfd is not None:
            os.close(dfd)
        if collecting:
            gc.enable()
    out.problems.sort(key=lambda p: (p.file, p.line or 0))
    return out


def _load(paths: Paths, listing: list[os.DirEntry], out: Packets, strict: bool, use_cache: bool,
          previous: Packets | None, dfd: int | None, scan: Any,
          folder: tuple[tuple | None, int]) -> None:
    from batty.store.packet_cache import Cache

    earlier = previous.seen if previous is not None and not strict else None
    cache = (Cache(paths.cache, paths.tasks, parse_file) if use_cache and not strict and earlier is None
             else None)
    entries = cache.entries if cache is not None else {}
    seen = out.seen
    hits: set[str] = set()
    fresh = False    # anything parsed, or not taken from ``earlier``
    unsettled = 0    # results read within the racy window (in neither the cache nor ``seen``)
    # "Racy" entries (git's word): a file written within the timestamp granularity of when we
    # look may change again with the same stat, so it is never served from the cache, nor
    # cached, nor taken from an earlier load (tests/test_packets.py).
    racy_after = time.time_ns() - RACY_NS
    # git's word on which files changed (packet_scan): a file git does not list, whose entry was
    # parsed from the bytes of HEAD's blob, is served without a stat of its own
    known = distrusted = None
    clean: set[str] = set()
    if cache is not None and earlier is None:
        known = packet_scan.read_known(paths.cache)
        if known is not None and known.version != cache.heavy_name:
            known = None  # written for another cache (a crash between the two writes)
        if scan is None and len(listing) >= packet_scan.SCAN_FROM:
            scan = packet_scan.scan(paths.root, known.index if known is not None else None)
        if scan is not None:
            racy_after = min(racy_after, scan.start_ns - RACY_NS)
            if known is not None:
                moved = packet_scan.tree_changes(paths.root, known.tree, scan.tree)
                if moved is not None:
                    distrusted = known.unclean.keys() | scan.dirty | moved
    else:
        scan = None
    by_id, problems, invalid = out.by_id, out.problems, out.invalid_ids
    packet = cache.packet if cache is not None else None
    stat = os.stat
    earlier_get = earlier.get if earlier is not None else None
    for entry in listing:
        name = entry.name
        result: Any = None
        if distrusted is not None and name not in distrusted:
            hit = entries.get(name)
            if hit is not None:
                hits.add(name)
                clean.add(name)
                result = packet(hit) if hit[1] == "T" else Problem(*hit[4])  # type: ignore[misc]
                seen[name] = (hit[0], result)
        was = earlier_get(name) if earlier_get is not None and result is None else None
        if was is not None:
            # a file the earlier load read settled (a packet file name, then): the shortest way
            # through, as a reload of 10,000 packets takes it for nearly every one
            try:
                st = stat(name, dir_fd=dfd) if dfd is not None else entry.stat()
            except FileNotFoundError:
                continue
            if was[0] == (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns):
                seen[name] = was
                result = was[1]
        if result is None:
            if not name.endswith(".yaml") or name.startswith("."):
                if name.endswith(".yml") and not name.startswith("."):
                    problems.append(Problem(f"board/tasks/{name}", None, "packets end in .yaml",
                                            f"rename it to {name[:-4]}.yaml"))
                continue
            try:
                st = stat(name, dir_fd=dfd) if dfd is not None else entry.stat()
            except FileNotFoundError:
                continue
            mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
            key = (mtime, st.st_size, st.st_ino, ctime)
            settled = mtime < racy_after and ctime < racy_after
            if settled and earlier is None:
                hit = entries.get(name)
                if hit is not None and hit[0] == key:
                    hits.add(name)
                    result = packet(hit) if hit[1] == "T" else Problem(*hit[4])  # type: ignore[misc]
            if result is None:
                fresh = True
                rel = f"board/tasks/{name}"
                try:
                    result = parse_file(Path(entry.path), rel, strict=strict)
                except InvalidInput as e:
                    result = Problem(e.file or rel, e.line, e.what, e.valid)
                except NotFound:
                    continue
                if cache is not None and settled:
                    cache.put(name, key, result if isinstance(result, Packet) else
                              (result.file, result.line, result.what, result.valid))
                    if scan is not None and name not in scan.dirty and not entry.is_symlink():
                        # the bytes git compared are the bytes parsed only if the file did not
                        # change while it was read
                        try:
                            again = stat(name, dir_fd=dfd) if dfd is not None else stat(entry.path)
                        except OSError:
                            again = None
                        if again is not None and key == (again.st_mtime_ns, again.st_size,
                                                         again.st_ino, again.st_ctime_ns):
                            clean.add(name)
            elif settled and scan is not None and name not in scan.dirty and not entry.is_symlink():
                clean.add(name)  # the same stat as when parsed, and the same bytes as HEAD's blob
            if settled:
                seen[name] = (key, result)
            else:
                unsettled += 1
        if result.__class__ is Problem:
            problems.append(result)
            invalid.add(name[:-5])
        elif result.id != name[:-5]:
            # a packet whose id is not its file name loads only when the name is no task id
            # (validate() refuses a mismatch otherwise)
            problems.append(Problem(f"board/tasks/{name}", None, "file name is not a task id",
                                    ID_VALID))
        else:
            by_id[result.id] = result
    # Cross-packet checks: a cycle makes every task on it invalid (never dispatchable). The
    # cycles of an unchanged set of packets are the ones found last time.
    same = not fresh and (len(seen) == len(earlier) if earlier is not None
                          else cache is not None and len(hits) == len(entries))
    if same and earlier is not None:
        cycles = previous.cycles  # type: ignore[union-attr]
    elif same and cache is not None and cache.cycles is not None:
        cycles = cache.cycles
    else:
        cycles = find_cycles(by_id.values())
    out.cycles = cycles
    if same and cache is not None and earlier is None:
        out.version = cache.heavy_name
    if cache is not None:
        # the index keeps what matched and what was put; the cycles hold for that set only when
        # every packet loaded is in it (none was left out as racy)
        whole = not unsettled and len(hits) + len(cache.puts) == len(seen)
        saved = cache.save(None if len(hits) == len(entries) else hits, cycles if whole else None)
        if earlier is None:
            if whole and saved and cache.saved_name is not None and out.version is None:
                out.version = cache.saved_name  # the cache just written names exactly this set
            _remember_scan(paths, cache, scan, known, saved, whole, clean, seen, listing, folder,
                           cycles, out)
    for cycle in cycles:
        first = cycle[0]
        if first not in by_id:
            continue
        problems.append(Problem(f"board/tasks/{first}.yaml", _dep_line(paths, first),
                                "dependency cycle: " + " -> ".join(cycle),
                                "remove one of these depends_on entries"))
        for tid in cycle[:-1]:
            by_id.pop(tid, None)
            invalid.add(tid)


def _remember_scan(paths: Paths, cache: Any, scan: Any, known: Any, saved: bool, whole: bool,
                   clean: set[str], seen: dict[str, tuple[tuple, Any]], listing: list[os.DirEntry],
                   folder: tuple[tuple | None, int], cycles: list[list[str]], out: Packets) -> None:
    """Write ``packets.scan`` for the next load (which packets git vouches for) and, when every
    packet file is in the cache just written and board/tasks/ was settled when listed
    (``folder``: its stat before the listing, and when), for the next run's packet_scan.quick."""
    from batty.store import packet_scan

    if scan is None or not saved or cache.saved_name is None:
        if known is not None:
            packet_scan.write_known(paths.cache, None)
        return
    unclean: dict[str, tuple | None] = {
        n: seen[n][0] for n in seen if n not in clean and packet_scan.is_packet_name(n)}
    for e in listing:
        if packet_scan.is_packet_name(e.name) and e.name not in seen:
            unclean[e.name] = None  # read within the racy window: not cached, stat it next time
            whole = False
    key, at = folder
    if key is None or key[0] >= at - RACY_NS or key[2] >= at - RACY_NS:
        whole = False
    problems = [(p.file, p.line, p.what, p.valid) for p in out.problems]
    for cycle in cycles:  # the problems _load adds after this, as it adds them
        if cycle[0] in out.by_id:
            problems.append((f"board/tasks/{cycle[0]}.yaml", _dep_line(paths, cycle[0]),
                             "dependency cycle: " + " -> ".join(cycle),
                             "remove one of these depends_on entries"))
    problems.sort(key=lambda p: (p[0], p[1] or 0))
    new = packet_scan.Known(cache.saved_name, scan.tree, scan.index, key if whole else None,
                            unclean, frozenset(scan.dirty), problems)
    if new != known:
        packet_scan.write_known(paths.cache, new)


def _dep_line(paths: Paths, task_id: str) -> int | None:
    from batty.core import yamlx

    try:
        text = paths.packet(task_id).read_text(encoding="utf-8")
    except OSError:
        return None
    return yamlx.line_of(yamlx.lines(text, task_id), ("depends_on",))


# ---------------------------------------------------------------- writes (round-trip)


def _yaml():  # type: ignore[no-untyped-def]
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _plain(value: Any) -> Any:
    """Tuples and frozen mappings as plain YAML-able data; long text as a literal block."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value if value.endswith("\n") else value + "\n")
    if hasattr(value, "value") and isinstance(value.value, str):  # a str enum
        return value.value
    return value


def render_new(fields: Mapping[str, Any]) -> str:
    """The text of a new packet, keys in SPEC order."""
    from batty.core import yamlpatch, yamlx

    data = {k: yamlpatch.plain(v) for k, v in fields.items() if v is not None and v != () and v != []}
    text = yamlpatch.dump(data)
    if yamlx.load(text, "new packet") == data:
        return text
    y = _yaml()
    buf = StringIO()
    y.dump({k: _plain(v) for k, v in fields.items() if v is not None and v != () and v != []}, buf)
    return buf.getvalue()


def update_text(text: str, changes: Mapping[str, Any]) -> str:
    """``text`` with ``changes`` applied, keeping comments, key order and formatting.
    A value of None removes the key. Top-level keys are written in place by
    core.yamlpatch (PyYAML only); what it cannot do for certain goes through ruamel.yaml."""
    from batty.core import yamlpatch

    patched = yamlpatch.patch(text, changes)
    if patched is not None:
        return patched
    y = _yaml()
    doc = y.load(text)
    for key, value in changes.items():
        if value is None:
            if key in doc:
                del doc[key]
            continue
        new = _plain(value)
        if key in doc and doc[key] == new:
            continue
        doc[key] = new
    buf = StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


def save(paths: Paths, packet: Packet, changes: Mapping[str, Any]) -> Packet:
    """Apply ``changes`` to the packet file atomically and return the packet as now written."""
    from batty.core import yamlpatch, yamlx

    path = paths.packet(packet.id)
    rel = paths.rel(path)
    text = yamlx.decode(path.read_bytes(), rel)
    patched = yamlpatch.patch_data(text, changes, before=_parsed(path, text, rel))
    if patched is not None:
        new_text, new_data = patched
    else:
        new_text = update_text(text, changes)
        new_data = yamlx.load(new_text, rel)
    try:
        new = validate(new_data, file_id=packet.id)
    except PacketProblem as e:  # a bug in the caller, never written
        raise InvalidInput(f"refusing to write an invalid packet: {e.what}", file=rel) from None
    if new_text != text:
        atomic.write_text(path, new_text)
    _remember_text(path, new_text, new_data, new)
    return new


def create(paths: Paths, fields: Mapping[str, Any]) -> Packet:
    """Write a new packet file (never over an existing one) and return it."""
    from batty.core import yamlx

    task_id = check_id(fields["id"])
    text = render_new(fields)
    rel = f"board/tasks/{task_id}.yaml"
    try:
        packet = validate(yamlx.load(text, rel), file_id=task_id)
    except PacketProblem as e:
        raise InvalidInput(e.what, valid=e.valid) from None
    path = paths.packet(task_id)
    paths.tasks.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise InvalidInput(f"{rel} exists already", valid="a new id")
    atomic.write_text(path, text)
    return packet


def next_id(paths: Paths, prefix: str = "T", taken: Iterable[str] = ()) -> str:
    """The next free id with ``prefix``: one more than the highest in use (valid or not), or
    given ahead to a new BOARD.md card whose task a crash cut short (.batty/board-new.json): a
    `batty task add` meanwhile took that id, and the card's task was never made (review finding)."""
    high = 0
    names = {n[:-5] for n in os.listdir(paths.tasks) if n.endswith(".yaml")} if paths.tasks.exists() else set()
    ahead = (atomic.read_json(paths.state / "board-new.json") or {}).get("cards", [])
    reserved = [e["id"] for e in ahead if isinstance(e, dict) and isinstance(e.get("id"), str)]
    for tid in (*names, *taken, *reserved):
        head, _, num = tid.rpartition("-")
        if head == prefix and num.isdigit():
            high = max(high, int(num))
    return f"{prefix}-{high + 1}"
