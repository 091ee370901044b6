"""Claude Code (npm @anthropic-ai/claude-code), headless: ``claude -p`` with stream-json output.

Permission mode acceptEdits, not --dangerously-skip-permissions: the latter refuses to run
as root unless IS_SANDBOX=1, and batty's seats often run as root in containers. Under
acceptEdits Edit/Write are allowed, Bash is denied except the git commands allowed below,
so the agent can commit its work; anything it leaves uncommitted, batty's verify commits.
A seat that wants full Bash sets ``args: [--permission-mode, bypassPermissions]`` and
``env: {IS_SANDBOX: "1"}`` (the last flag wins).
"""

from __future__ import annotations

from batty.agents.launch import Context, Parts, link_user_files

PREFIXES = ("ANTHROPIC_", "CLAUDE_")

# One argument with `=`: --allowedTools is variadic and would swallow what follows.
ALLOWED_TOOLS = ",".join([
    "Bash(git add:*)",
    "Bash(git commit:*)",
    "Bash(git status:*)",
    "Bash(git diff:*)",
    "Bash(git log:*)",
])

QUIET = {
    "DISABLE_TELEMETRY": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}

# The credentials of a `claude login` in the user's own config folder.
CREDENTIALS = (".credentials.json",)


def parts(ctx: Context) -> Parts:
    config_dir = ctx.seat_dir(".claude")
    link_user_files(ctx, "CLAUDE_CONFIG_DIR", ".claude", CREDENTIALS, config_dir)
    argv = [
        ctx.binary,
        "-p",  # the prompt is read from stdin: no argv length limit, not visible in `ps`
        "--output-format", "stream-json",
        "--verbose",  # stream-json needs it under -p
        "--permission-mode", "acceptEdits",
        f"--allowedTools={ALLOWED_TOOLS}",
        "--no-session-persistence",
    ]
    if ctx.model:
        argv += ["--model", ctx.model]
    argv += ctx.args
    return Parts(argv=argv, env={"CLAUDE_CONFIG_DIR": str(config_dir), **QUIET},
                 stdin_path=ctx.prompt_file)

