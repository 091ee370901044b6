"""The agent's environment: an allow-list, never the supervisor's whole environment (SPEC 6).

Layers, later wins: the base (PATH, LANG, TERM, git identity), the CLI's own prefixes and
config ``passenv`` from batty's environment, the adapter's seat folders and quiet settings,
config ``env``, then HOME and the four BATTY_* variables. Last, secrets and the markers a
supervising agent CLI leaves in its children are removed, whatever layer brought them.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping

BASE = ("PATH", "LANG", "TERM")

# Not in SPEC 6's list, but without them an agent's `git commit` fails wherever the
# identity comes from the environment (CI, the test suite) rather than a config file,
# since HOME is the seat's and the user's ~/.gitconfig is out of sight. They name a
# person, never a secret.
GIT_IDENTITY = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")

# Left by an agent CLI in its children. A nested Claude Code that sees CLAUDECODE refuses
# or attaches to the parent's IDE port; a nested Codex that sees CODEX_SANDBOX believes it
# is already sandboxed. batty may itself run under one of them (a human's session).
MARKERS = frozenset({
    "CLAUDECODE",
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_SSE_PORT",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_CODE_CHILD_SESSION",
    "CLAUDE_CODE_EXECPATH",
    "CLAUDE_CODE_SESSION_ACCESS_TOKEN",
    "CLAUDE_CODE_SESSION_NAME",
    "CLAUDE_CODE_SESSION_KIND",
    "CLAUDE_CODE_REMOTE",
    "CLAUDE_CODE_REMOTE_SESSION_ID",
    "CLAUDE_CODE_WORKER_EPOCH",
    "CLAUDE_CODE_TEAMMATE_COMMAND",
    "CLAUDE_CODE_AGENT_VIEW_RELAUNCH",
    "CLAUDE_CODE_INVOKED_SKILLS",
    "CLAUDE_CODE_COORDINATOR_MODE",
    "CLAUDE_CODE_RESUME_INTERRUPTED_TURN",
    "CLAUDE_CODE_RESUME_PROMPT",
    "CLAUDE_AGENT_SDK_VERSION",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "CODEX_THREAD_ID",
    "CODEX_SESSION_ID",
    "CODEX_TOOL_CALL_ID",
    "CODEX_CI",
})
MARKER_PREFIXES = ("CODEX_SNAPSHOT_", "CODEX_SHELL_SNAPSHOT_")


def is_marker(name: str) -> bool:
    return name in MARKERS or name.startswith(MARKER_PREFIXES)


def matches(name: str, patterns: Iterable[str]) -> bool:
    """``patterns`` are names, or prefixes ending in ``*`` (``OPENAI_*``)."""
    for p in patterns:
        if p.endswith("*"):
            if name.startswith(p[:-1]):
                return True
        elif name == p:
            return True
    return False


def passed(environ: Mapping[str, str], patterns: Iterable[str]) -> dict[str, str]:
    patterns = tuple(patterns)
    return {k: v for k, v in environ.items() if matches(k, patterns)}


def compose(
    environ: Mapping[str, str],
    *,
    prefixes: Iterable[str],
    passenv: Iterable[str],
    adapter: Mapping[str, str],
    config: Mapping[str, str],
    fixed: Mapping[str, str],
    secrets: Collection[str],
) -> dict[str, str]:
    env = {k: environ[k] for k in (*BASE, *GIT_IDENTITY) if k in environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    env.update(passed(environ, (*(p + "*" for p in prefixes), *passenv)))
    env.update(adapter)
    env.update(config)
    env.update(fixed)
    return {k: v for k, v in env.items() if k not in secrets and not is_marker(k)}
