"""Where each agent CLI keeps a login (issue 16): its own credential store under HOME, or the
variables it reads. `batty init` picks a logged-in CLI, `batty preflight` checks the login under
cron's environment, `batty cron install` keeps the variables for cron."""

from __future__ import annotations

import os
from pathlib import Path

# Each CLI's program and where it keeps a login (its own store, or the variables it reads).
AGENT_LOGINS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "claude": ("claude", (".claude/.credentials.json",), ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")),
    "codex": ("codex", (".codex/auth.json",), ("OPENAI_API_KEY", "CODEX_API_KEY")),
    "gemini": ("gemini", (".gemini/oauth_creds.json",), ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    "aider": ("aider", (), ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")),
}


def login_of(agent: str, environ: dict[str, str] | None = None, home: str | None = None) -> tuple[bool, str]:
    """Whether the CLI of ``agent`` has a login here (a credential file in HOME, or a key in the
    environment), and which. A heuristic: `batty preflight` starts the CLI to be sure."""
    environ = dict(os.environ if environ is None else environ)
    home = home or environ.get("HOME") or str(Path.home())
    entry = AGENT_LOGINS.get(agent)
    if entry is None:
        return True, "no login needed"
    _, files, names = entry
    for rel in files:
        if (Path(home) / rel).is_file():
            return True, f"~/{rel}"
    for name in names:
        if environ.get(name):
            return True, f"${name}"
    wants = " or ".join([*(f"~/{f}" for f in files), *(f"${n}" for n in names)])
    return False, f"no {wants}"


