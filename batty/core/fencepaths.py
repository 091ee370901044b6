"""Pure checks of the paths a change touches (issue 15): the fence sees what git sees.

No disk, no git: the callers read the trees and pass what they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from batty.core import escape
from batty.core.globs import matches

# A path git stores may hold any byte but NUL. One holding a newline or another control
# character is shown garbled by every tool a person reads it with, and was used to slip a
# conftest.py past `trusted_tests` and a packet past the protected fence (issue 15).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
one_line = escape.one_line

# Files that configure the agents themselves: each later agent reads them as instructions or
# settings, so a change to one needs a person whatever its score (issue 15, item 5).
AGENT_CONFIG = (".claude/**", "CLAUDE.md", "CLAUDE.local.md", "AGENTS.md", "AGENT.md", "GEMINI.md",
                ".gemini/**", ".aider*", ".codex/**", ".cursor/**", ".cursorrules", ".windsurfrules",
                ".clinerules", ".mcp.json", ".github/copilot-instructions.md")
# Files that configure git for this repository: attributes choose merge drivers and filters,
# .gitmodules points submodules anywhere.
GIT_CONFIG = (".gitattributes", ".gitmodules")
# Compiled files: what runs is not what a reviewer reads (an unchecked-hash .pyc is imported
# instead of its source).
BINARIES = ("*.pyc", "*.pyo", "__pycache__/**", "*.so", "*.pyd", "*.dll", "*.dylib", "*.o", "*.a",
            "*.obj", "*.class", "*.exe", "*.wasm")

MAX_HOPS = 40  # what Linux allows before ELOOP


def bad_path(path: str) -> bool:
    """A path holding a control character (a newline, a tab, an escape, ...)."""
    return bool(_CONTROL.search(path))


def resolve(path: str, links: Mapping[str, str], max_hops: int = MAX_HOPS) -> str | None:
    """Where ``path`` leads inside a tree whose symbolic links are ``links`` (path -> target),
    following links at every step, however many hops. None when it leaves the tree (an
    absolute target, a ``..`` above the top) or loops. ``""`` is the top itself."""
    pending = [c for c in path.split("/")]
    out: list[str] = []
    hops = 0
    while pending:
        c = pending.pop(0)
        if c in ("", "."):
            continue
        if c == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(c)
        here = "/".join(out)
        if here in links:
            hops += 1
            target = links[here]
            if hops > max_hops or target.startswith("/"):
                return None
            out.pop()
            pending = target.split("/") + pending
    return "/".join(out)


def under_link(path: str, links: Mapping[str, str]) -> str | None:
    """The link among ``path``'s parent folders, if any: git writes nothing beyond a link, so a
    tree that holds a path there was made by hand to write through it."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        head = "/".join(parts[:i])
        if head in links:
            return head
    return None


def needs_person(files: Iterable[str], *, extra: Sequence[str] = ()) -> dict[str, list[str]]:
    """The files of a change that configure the agents (``agent_config``, plus ``extra``, the
    config's gates.needs_approval) or git (``git_config``), and compiled files (``binaries``)."""
    out: dict[str, list[str]] = {}
    for f in files:
        if matches(f, (*AGENT_CONFIG, *extra)):
            out.setdefault("agent_config", []).append(f)
        elif matches(f, GIT_CONFIG):
            out.setdefault("git_config", []).append(f)
        elif matches(f, BINARIES):
            out.setdefault("binaries", []).append(f)
    return out


def gitignore_exposes(text: str, folder: str = "") -> bool:
    """A .gitignore (at ``folder``) that un-ignores batty's runtime: ``.batty/`` must stay out
    of every commit (SPEC 1). At the top it must still ignore it; anywhere it must not negate it."""
    ignores = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name = line.lstrip("!").lstrip("/").rstrip("/")
        if line.startswith("!") and (".batty" in name or name in ("*", "**")):
            return True
        if name in (".batty", ".batty/**", "**/.batty"):
            ignores = True
    return folder == "" and not ignores
