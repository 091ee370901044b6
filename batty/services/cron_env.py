"""The credentials cron's tick needs (issue 16.4): named variables in a file outside every
repository, mode 0600, that bin/batty-cron reads (never sources) before the tick.

Measured: a Claude Code seat worked from the shell, then failed every minute under cron ("Not
logged in"): cron gives a job none of the shell's variables, and `batty cron install` captured
only PATH and the Python. `batty cron install` now keeps the variables the seats' CLIs log in
with (and the notification URLs' variables), as they are set in the shell it runs in, in
``~/.config/batty/env``; their values never go into the repository, the crontab or the log.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batty.core.config import Config

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    given = environ.get("BATTY_ENV_FILE")
    if given:
        return Path(given)
    return Path(environ.get("HOME") or Path.home()) / ".config" / "batty" / "env"


def wanted(config: Config) -> list[str]:
    """The variables the seats' agents log in with, and the notification URLs' variables."""
    from batty.agents.logins import AGENT_LOGINS

    names: list[str] = []
    for seat in config.seats:
        names += AGENT_LOGINS.get(seat.agent, ("", (), ()))[2]
        names += [n for n in config.agent_entry(seat.agent).get("passenv") or [] if not n.endswith("*")]
    names += [n.url_env for n in config.notify]
    return list(dict.fromkeys(names))


def read(file: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = file.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        if NAME_RE.match(name):
            out[name] = value
    return out


def keep(config: Config, environ: Mapping[str, str] | None = None) -> tuple[Path, list[str], list[str]]:
    """Write the wanted variables set in ``environ`` into the env file (0600, its folder 0700),
    keeping what it had. (the file, the names kept now, the names wanted but set nowhere)."""
    from batty.store import atomic

    environ = os.environ if environ is None else environ
    file = path(environ)
    have = read(file)
    kept = [n for n in wanted(config) if environ.get(n) and "\n" not in environ[n]]
    missing = [n for n in wanted(config) if n not in kept and n not in have]
    if not kept:
        return file, [], missing
    new = {**have, **{n: environ[n] for n in kept}}
    file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = ("# batty-cron reads these NAME=value lines before each tick (docs/tick.md).\n"
            "# Keep this file mode 0600 and outside every repository.\n"
            + "".join(f"{k}={v}\n" for k, v in new.items()))
    atomic.write_text(file, body, mode=0o600)  # the temp file is 0600 from its creation
    return file, kept, missing
