"""Which packet files may have changed since the packet cache was written, by git (issue 13).

The packet cache's way to serve 100,000 packets without a stat of each from Python.

git's index holds a stat of every tracked file and knows which ones no longer match it (an edit
in place by any editor changes the file's ctime, even when its size and mtime are kept), and it
takes care of "racy" entries (a file changed within the timestamp granularity of the index's
own write: git compares the contents then). One `git diff-index <HEAD>` over board/tasks/ lists
every packet whose working file may differ from HEAD: modified in place, staged, deleted, or
stat-dirty with the same bytes. git does those lstat calls in C, on several threads; Python does
work only for the names it lists. A packet not listed has the bytes of HEAD's blob, so a cache
entry parsed from that blob's bytes (under the same tree of board/tasks/, or a later tree where
that file did not change) is still the packet on disk.

What git does not check, batty does not trust it for: a symlinked packet (git tracks the link,
not what it points to) and any index entry marked assume-unchanged or skip-worktree (git skips
its stat); with one of those under board/tasks/, or no HEAD, or board/tasks/ not in it, there is
no scan and every packet's own stat decides, as before. So it is on a board of fewer than
``SCAN_FROM`` packets, where the stats cost less than asking git.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "board/tasks/"
# Below this many entries in board/tasks/, batty stats each file itself: the three git processes
# of a scan cost some 6 ms of CPU, a stat and its cache lookup a few microseconds, and the two
# meet near 2,500 packets (a warm load's CPU, git's included, this repository's machine: 100
# packets 6.5 ms by git, 0.5 ms by stats; 1,000: 15 ms and 10 ms; 3,000: 34 ms and 36 ms).
# From here on, git's scan; below it, no packets.scan is kept and quick() says nothing.
SCAN_FROM = 1_000
# Stricter than a repository may be configured: compare ctime too (an edit by a tool that
# restores mtime still moves ctime), every stat field, and the bytes as they are (no
# line-ending conversion that could call two different files equal).
STRICT = ("-c", "core.checkStat=default", "-c", "core.trustctime=true", "-c", "core.autocrlf=false")


@dataclass(frozen=True)
class Scan:
    start_ns: int            # the wall clock before git looked: files changed since are "racy"
    tree: str                # the tree of board/tasks/ in HEAD
    dirty: frozenset[str]    # packet file names whose working file may differ from that tree
    index: tuple             # the stat of git's index, whose entries were checked for skip bits


def _index_key(gitdir: Path) -> tuple | None:
    try:
        st = os.stat(gitdir / "index")
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def scan(root: Path, checked_index: tuple | None = None) -> Scan | None:
    """The packet files under ``root``/board/tasks/ that may differ from HEAD, or None when git
    cannot say (see the module's docstring). ``checked_index``: the index's stat when its
    entries were last found free of assume-unchanged and skip-worktree bits."""
    from batty.errors import GitError
    from batty.store import git

    dirs = git._dirs(root)
    if dirs is None:
        return None
    start = time.time_ns()
    index = _index_key(dirs[0])
    if index is None:
        return None
    try:
        if index != checked_index:
            listing = git.run(root, "ls-files", "-v", "-z", "--", PREFIX, text=False).stdout
            # every entry tagged "H " (cached, stat checked): "h" is assume-unchanged, "S"
            # skip-worktree, "M" unmerged
            if any(item[:2] != b"H " for item in listing.split(b"\0") if item):
                return None
        heads = git.run(root, "rev-parse", "HEAD", f"HEAD:{PREFIX}", check=False)
        if heads.returncode != 0:
            return None
        commit, tree = heads.stdout.split()
        diff = git.run(root, *STRICT, "diff-index", "--name-only", "-z", commit, "--", PREFIX,
                       text=False)
    except (GitError, OSError, ValueError):
        return None
    if _index_key(dirs[0]) != index:
        return None  # the index changed while git read it: its bits are not known
    dirty = frozenset(p[len(PREFIX):] for p in diff.stdout.decode("utf-8", "surrogateescape").split("\0")
                      if p.startswith(PREFIX))
    return Scan(start, tree, dirty, index)


def tree_changes(root: Path, old: str, new: str) -> frozenset[str] | None:
    """The file names that differ between two trees of board/tasks/ (None: git cannot say)."""
    if old == new:
        return frozenset()
    from batty.errors import GitError
    from batty.store import git

    try:
        out = git.run(root, "diff-tree", "--name-only", "-z", old, new, text=False).stdout
    except (GitError, OSError):
        return None
    return frozenset(p for p in out.decode("utf-8", "surrogateescape").split("\0") if p)


# ---------------------------------------------------------------- what the cache knew

STATE = "packets.scan"
STATE_VERSION = 1


@dataclass
class Known:
    """``packets.scan`` beside the packet cache: what git and the stats said when the cache was
    last written whole. ``version``: the cache's name for that set of packets (its heavy file),
    every entry of which holds the bytes of ``tree``'s blob for its file name ("clean"), but
    those in ``unclean``: the packet files git could not vouch for then, by their stat key
    (changed from HEAD, symlinked, or changed while read); ``dirty``: what git listed then;
    ``folder``: the stat of board/tasks/ (a name added, removed or renamed moves it), None when
    the cache does not hold every packet file (some were read within the racy window, or the
    folder was): then only a load trusts what the file says, for the packets it cached."""

    version: str
    tree: str
    index: tuple
    folder: tuple | None
    unclean: dict[str, tuple | None]
    dirty: frozenset[str]
    problems: list[tuple]


def read_known(cache_dir: Path) -> Known | None:
    import marshal

    try:
        data = marshal.loads((cache_dir / STATE).read_bytes())
        if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
            return None
        folder = data["folder"]
        return Known(data["version"], data["tree"], tuple(data["index"]),
                     tuple(folder) if folder is not None else None, dict(data["unclean"]),
                     frozenset(data["dirty"]), list(data["problems"]))
    except (OSError, ValueError, EOFError, TypeError, KeyError):
        return None  # none yet, or not one this batty wrote whole: the packets' stats decide


def write_known(cache_dir: Path, known: Known | None) -> None:
    """Replace ``packets.scan`` (written after the cache it names: a crash between the two
    leaves a file naming the cache before, which the next load does not trust); None removes it."""
    import marshal

    from batty.store import atomic

    try:
        if known is None:
            (cache_dir / STATE).unlink(missing_ok=True)
            return
        atomic.write_bytes(cache_dir / STATE, marshal.dumps({
            "v": STATE_VERSION, "version": known.version, "tree": known.tree,
            "index": known.index, "folder": known.folder, "unclean": known.unclean, "dirty": sorted(known.dirty), "problems": known.problems}),
            durable=False)
    except OSError:
        pass  # a cache is never worth failing a command for


def folder_key(folder: Path) -> tuple | None:
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def is_packet_name(name: str) -> bool:
    return name.endswith(".yaml") and not name.startswith(".") and "/" not in name


def quick(cache_dir: Path, tasks: Path, root: Path, racy_ns: int
          ) -> tuple[Known, Scan] | tuple[None, Scan | None]:
    """When no packet file changed since ``packets.scan`` was written: (what it knew, the scan),
    without reading the cache or a stat per packet. Otherwise (None, the scan to load with)."""
    known = read_known(cache_dir)
    if known is None:
        return None, None
    racy_after = time.time_ns() - racy_ns
    folder = folder_key(tasks)
    if (folder is None or known.folder is None or folder != known.folder
            or folder[0] >= racy_after or folder[2] >= racy_after):
        return None, None  # a name came or went (or may have, within the racy window)
    found = scan(root, known.index)
    if found is None or found.tree != known.tree:
        return None, found
    if any(is_packet_name(n) and n not in known.dirty and n not in known.unclean
           for n in found.dirty):
        return None, found  # git lists a packet it had not listed: changed
    dfd = os.open(tasks, os.O_RDONLY | os.O_DIRECTORY) if os.stat in os.supports_dir_fd else None
    try:
        for name, key in known.unclean.items():
            try:
                st = os.stat(name, dir_fd=dfd) if dfd is not None else os.stat(tasks / name)
            except OSError:
                return None, found
            if ((st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns) != key
                    or st.st_mtime_ns >= racy_after or st.st_ctime_ns >= racy_after):
                return None, found
    finally:
        if dfd is not None:
            os.close(dfd)
    if found.index != known.index:
        # git's index moved (a commit, a reset) and this scan found its entries free of skip bits
        # again: remember that index, or every later run lists the entries again for nothing
        from dataclasses import replace

        known = replace(known, index=found.index)
        write_known(cache_dir, known)
    return known, found
