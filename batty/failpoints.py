"""Named failpoints for the crash-only proof (issue 5).

``BATTY_FAILPOINT=NAME`` makes batty kill itself with SIGKILL when it reaches point NAME;
``BATTY_FAILPOINT=raise:NAME`` raises instead (a stand-in for a bug: exit 3 and a crash log).
``BATTY_FAILPOINT=NAME@N`` fires on the N-th time the point is reached in one process.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}
REGISTRY: set[str] = set()


def point(name: str) -> None:
    spec = os.environ.get("BATTY_FAILPOINT")
    if not spec:
        return
    raise_it = spec.startswith("raise:")
    target = spec[6:] if raise_it else spec
    target, _, nth = target.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if nth and _hits[name] != int(nth):
        return
    if raise_it:
        raise RuntimeError(f"failpoint {name}")
    os.kill(os.getpid(), signal.SIGKILL)
