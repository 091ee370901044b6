"""What a command printed (or a step found), kept by what it was made from (issue 13).

`task list --ready` and `board` over 100,000 packets are functions of the packets and BOARD.md;
a no-op reconcile's check of packets against git, of the branches, the worktrees and the log.
Each keeps its last result under .batty/cache/view.<name> with a key of everything it read:
the packet cache's name for the set of packets (packets.quick: found without reading them
when no packet file changed), and the stats of the other files. The next run with an equal key
prints the result kept; any other key computes it again. A file changed within the racy window
(packets.RACY_NS) makes no key: its stat may not move with its next change.
"""

from __future__ import annotations

import marshal
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VERSION = 1
RACY = ("racy",)  # a key part that makes no key: a file changed within the racy window


def stat_key(path: Path, racy_ns: int) -> list | None | tuple:
    """A file's stat as a key part: None when it does not exist, RACY when it changed within
    the racy window (its stat may not move with its next change: no key can be made)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return RACY
    racy_after = time.time_ns() - racy_ns
    if st.st_mtime_ns >= racy_after or st.st_ctime_ns >= racy_after:
        return RACY
    return [st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns]


def key(version: str | None, *parts: Any) -> tuple | None:
    """The key of a result made from the packets named ``version`` and ``parts`` (None: none can
    be made, as a part is RACY or the packets have no name)."""
    if version is None or any(p is RACY for p in parts):
        return None
    from batty import __version__

    return (VERSION, __version__, version, *parts)


def get(cache: Path, name: str, want: tuple | None) -> Any:
    """The result kept under ``name`` for key ``want``, or None."""
    if want is None:
        return None
    try:
        kept, value = marshal.loads((cache / f"view.{name}").read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return None  # none yet, or torn: computed again
    return value if kept == want else None


def put(cache: Path, name: str, want: tuple | None, value: Any) -> None:
    """Keep ``value`` (plain data) as the result for key ``want``."""
    if want is None:
        return
    from batty.store import atomic

    try:
        atomic.write_bytes(cache / f"view.{name}", marshal.dumps((want, value)), durable=False)
    except (OSError, ValueError):
        pass  # a cache is never worth failing a command for


def by_stat(cache: Path, name: str, path: Path, read: Callable[[Path], Any],
            keep: Callable[[Any], bool] = lambda _found: True) -> Any:
    """``read(path)`` (plain data), kept under ``name`` and the path while the file keeps its
    stat (and ``keep`` says it is worth keeping: not a failed read): read again after any change
    to it, or when it changed within the racy window."""
    import hashlib

    from batty.store.packets import RACY_NS

    view = f"{name}-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"
    want = key(name, str(path), stat_key(path, RACY_NS))
    kept = get(cache, view, want)
    if kept is not None:
        return kept
    found = read(path)
    if keep(found):
        put(cache, view, want, found)
    return found
