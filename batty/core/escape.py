"""Control characters shown escaped (issue 15): a title, a feedback or an agent's output that
holds an escape sequence or a carriage return must not move the cursor, recolour the terminal
or fake a line in BOARD.md, INBOX.md or the terminal."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_ALL = re.compile(r"[\x00-\x1f\x7f]")


def _hex(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def shown(text: str) -> str:
    """``text`` with every control character but newline and tab escaped as ``\\xNN``."""
    return _CONTROL.sub(_hex, text)


def one_line(text: str) -> str:
    """``text`` with every control character escaped, newlines and tabs too (a title, a path)."""
    return _CONTROL_ALL.sub(_hex, text)
