"""What one command run remembers: memos of facts (a commit's diff, a merge base, a parsed packet)
live in the run's scope, not in module globals (issue 13).

A :class:`Memo` is a module-level name that reads and writes the dict of the scope in force, so
the code that uses it is unchanged, and a new scope starts empty: each tick of a long `batty run`
starts with nothing remembered (the memos of the tick before never grow into a heap), and a
command run twice in one process (the demo, the tests) gives the same result both times.

Only what is about one run goes here. What is about this *process* stays process-wide: the locks
it holds (:mod:`batty.store.locks`), its pending fsyncs (:mod:`batty.store.atomic`), its failpoint
counts.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_default: dict[str, dict[Any, Any]] = {}  # outside any scope: the library used on its own
_scope: ContextVar[dict[str, dict[Any, Any]]] = ContextVar("batty_run_scope", default=_default)


@contextmanager
def fresh() -> Iterator[None]:
    """A new run: every memo starts empty inside, and what it learned is dropped after."""
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def forget() -> None:
    """Empty every memo of the run in force: each tick of a long `batty run` starts with nothing
    remembered from the tick before."""
    _scope.get().clear()


class Memo(MutableMapping[Any, Any]):
    """A dict that belongs to the run in force (:func:`fresh`), under ``name``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _d(self) -> dict[Any, Any]:
        scope = _scope.get()
        d = scope.get(self.name)
        if d is None:
            d = scope[self.name] = {}
        return d

    def __getitem__(self, key: Any) -> Any:
        return self._d()[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._d().get(key, default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._d()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._d()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._d()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._d())

    def __len__(self) -> int:
        return len(self._d())

    def clear(self) -> None:
        self._d().clear()
