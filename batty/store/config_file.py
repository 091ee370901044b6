"""Load board/config.yaml: the file, the line and what would be valid on any problem."""

from __future__ import annotations

import marshal
import os
import time
from collections.abc import Callable
from typing import Any

from batty.core.config import Config, ConfigProblem, validate
from batty.errors import InvalidInput
from batty.store.paths import Paths

REL = "board/config.yaml"
CACHE_VERSION = 1


def load(paths: Paths, *, check_agents: bool = True) -> Config:
    raw, text, remember = _raw(paths)
    try:
        # a config served from the cache passed every check when it was put there: the time
        # zone and the agents' entries are not checked again (importing zoneinfo and the agent
        # schema for that was 5 ms)
        from batty.agents import BUILTIN, validate_agent

        config = validate(raw, builtin=BUILTIN, check_agent=validate_agent if check_agents else None,
                          known_good=remember is None)
    except ConfigProblem as e:
        from batty.core import yamlx

        if text is None:
            text = yamlx.decode(paths.config.read_bytes(), REL)
        line = yamlx.line_of(yamlx.lines(text, REL), e.path)
        raise InvalidInput(e.what, file=REL, line=line, valid=e.valid) from None
    if remember is not None and check_agents:
        remember()
    return config


def _raw(paths: Paths) -> tuple[Any, str | None, Callable[[], None] | None]:
    """The parsed YAML of the config; its text when it was read, and then what puts it in the
    cache (to be called once it passed validation) or None. Served from
    .batty/cache/config.raw when the file kept its stat: importing PyYAML alone was 18 ms of
    every command, and cron starts one a minute (a no-op reconcile of 10,000 packets, issue 2).
    Only a file older than the racy window is cached (packets.RACY_NS, the packet cache's rule)."""
    from batty.core import yamlx
    from batty.store.packets import RACY_NS

    try:
        st = os.stat(paths.config)
    except FileNotFoundError:
        raise InvalidInput("no config", file=REL, valid="run `batty init`") from None
    from batty import __version__

    # batty's version too: a newer batty may check what an older one let through
    key = (__version__, st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)
    cache = paths.cache / "config.raw"
    try:
        entry = marshal.loads(cache.read_bytes())
        if entry[0] == CACHE_VERSION and entry[1] == key:
            return entry[2], None, None
    except (OSError, ValueError, EOFError, TypeError, IndexError, KeyError):
        pass
    try:
        data = paths.config.read_bytes()
    except FileNotFoundError:
        raise InvalidInput("no config", file=REL, valid="run `batty init`") from None
    text = yamlx.decode(data, REL)
    raw = yamlx.load(text, REL)
    racy_after = time.time_ns() - RACY_NS
    if not (st.st_mtime_ns < racy_after and st.st_ctime_ns < racy_after and cache.parent.is_dir()):
        return raw, text, lambda: None
    try:
        blob = marshal.dumps((CACHE_VERSION, key, raw))  # before validate() edits raw in place
    except ValueError:
        return raw, text, lambda: None  # not plain data (a YAML timestamp): parsed each time

    def remember() -> None:
        from batty.store import atomic

        try:
            atomic.write_bytes(cache, blob, durable=False)
        except OSError:
            pass  # a cache is never worth failing a command for

    return raw, text, remember
