"""Gemini CLI (npm @google/gemini-cli), headless: ``gemini -p PROMPT --output-format stream-json``.

``--approval-mode yolo`` auto-approves its tools (``--yolo`` is the deprecated spelling,
and the two together are an error). Built from the CLI's documentation, not run here:
docs/agents.md says what was and was not checked.
"""

from __future__ import annotations

from batty.agents.launch import Context, Parts

PREFIXES = ("GEMINI_", "GOOGLE_")

QUIET = {
    # Gemini CLI sends usage statistics unless told not to.
    "GEMINI_TELEMETRY_ENABLED": "false",
}


def parts(ctx: Context) -> Parts:
    ctx.seat_dir(".gemini")  # HOME is the seat's: settings and history land here
    prompt = ctx.prompt_file.read_text(encoding="utf-8")
    argv = [
        ctx.binary,
        "--output-format", "stream-json",
        "--approval-mode", "yolo",
    ]
    if ctx.model:
        argv += ["--model", ctx.model]
    argv += ctx.args
    # -p takes the prompt as its value; stdin stays /dev/null (it would be prepended).
    argv += ["--prompt", prompt]
    return Parts(argv=argv, env=dict(QUIET), stdin_path=None)
