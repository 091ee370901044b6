"""One command run: the repository, its event log and where its words go (issue 13).

Every command builds one :class:`Session` and hands it down; the workflow speaks through it
(:meth:`~Session.say` for progress, :meth:`~Session.warn` for warnings, :meth:`~Session.echo` for
data such as ``--dry-run`` lines), never through click, so the library runs the same under the
CLI, in-process (the demo, the tests) and under cron. Progress goes to stderr and is silent under
``--quiet`` or ``BATTY_QUIET=1``; data goes to stdout.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

Sink = Callable[[str, TextIO], None]


def _write(text: str, stream: TextIO) -> None:
    stream.write(text + "\n")
    stream.flush()


class _Events:
    """The command's event log, opened at its first event: a command that only reads (task list,
    board) does not import the log's machinery (socket, threading: some 10 ms)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._log: Any = None

    def _open(self) -> Any:
        if self._log is None:
            from batty.store.events import EventLog

            s = self._session
            self._log = EventLog(s.paths.events, s.paths.locks / "events.lock", cmd=s.cmd)
        return self._log

    def emit(self, *args: Any, **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._open().emit(*args, **kw)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._open(), name)


class Session:
    """The repository (found lazily from ``repo`` or the working directory), the command's name
    (``cmd``, in its events and locks), its event log, and its output."""

    def __init__(self, repo: str | None = None, quiet: bool = False, *, cmd: str = "batty",
                 sink: Sink = _write) -> None:
        self.repo_arg = repo
        self.quiet = quiet or os.environ.get("BATTY_QUIET") == "1"
        self.cmd = cmd
        self.sink = sink
        self._paths: Any = None
        self._events: Any = None

    @property
    def paths(self):  # type: ignore[no-untyped-def]
        if self._paths is None:
            from batty.store.paths import find_root

            self._paths = find_root(self.repo_arg)
        return self._paths

    @property
    def events(self):  # type: ignore[no-untyped-def]
        if self._events is None:
            self._events = _Events(self)
        return self._events

    def say(self, message: str) -> None:
        """Progress: stderr, silent under --quiet."""
        if not self.quiet:
            self.sink(_shown(message), sys.stderr)

    def warn(self, message: str) -> None:
        """A warning: stderr, always."""
        self.sink(f"batty: {_shown(message)}", sys.stderr)

    def echo(self, line: str) -> None:
        """Data (a ``--dry-run`` plan, a listing): stdout."""
        self.sink(line, sys.stdout)


def _shown(message: str) -> str:
    """A title or an agent's output in a message: its control characters escaped (issue 15)."""
    if message.isprintable():
        return message
    from batty.core.escape import shown

    return shown(message)
