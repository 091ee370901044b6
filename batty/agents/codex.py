"""Codex CLI (npm @openai/codex), headless: ``codex exec --json ... -`` with the prompt on stdin.

``--dangerously-bypass-approvals-and-sandbox``: inside Codex's own workspace-write sandbox
git cannot write the worktree's index (it lives in the main repository's .git), so the
agent could not commit. batty's isolation is the worktree, the allow-listed environment
and the gates.

Codex ignores OPENAI_BASE_URL. When batty's environment sets it, the adapter defines a
provider ``batty`` with that base URL (and OPENAI_API_KEY as its key), so one variable
points every seat elsewhere, as it does for Aider.
"""

from __future__ import annotations

import json

from batty.agents.launch import Context, Parts, link_user_files

PREFIXES = ("OPENAI_", "CODEX_")

QUIET = [
    "-c", "check_for_update_on_startup=false",
    "-c", "analytics.enabled=false",
    "--disable", "plugins",
    # Without it Codex retries a dead endpoint forever and never exits.
    "--disable", "unbounded_connection_retries",
]

# `codex login` keeps its token here, in the user's CODEX_HOME.
CREDENTIALS = ("auth.json",)


def provider_flags(base_url: str, has_key: bool) -> list[str]:
    fields = {"name": "batty", "base_url": base_url, "wire_api": "responses"}
    if has_key:
        fields["env_key"] = "OPENAI_API_KEY"
    # TOML inline table; json.dumps quotes a string the way a TOML basic string wants it.
    table = "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in fields.items()) + "}"
    return ["-c", 'model_provider="batty"', "-c", f"model_providers.batty={table}"]


def parts(ctx: Context) -> Parts:
    home = ctx.seat_dir(".codex")
    link_user_files(ctx, "CODEX_HOME", ".codex", CREDENTIALS, home)
    argv = [
        ctx.binary, "exec",
        "--json",
        "--ephemeral",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        *QUIET,
    ]
    base_url = ctx.environ.get("OPENAI_BASE_URL")
    if base_url and "OPENAI_BASE_URL" not in ctx.secrets:
        argv += provider_flags(base_url, "OPENAI_API_KEY" in ctx.environ)
    if ctx.model:
        argv += ["--model", ctx.model]
    argv += ctx.args
    # `-` reads the prompt from stdin, which is the prompt file: Codex waits for EOF on an
    # open stdin and hangs, so stdin must never be a terminal or a pipe left open.
    argv.append("-")
    return Parts(argv=argv, env={"CODEX_HOME": str(home)}, stdin_path=ctx.prompt_file)
