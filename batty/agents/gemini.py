"""Gemini CLI (npm @google/gemini-cli), headless: ``gemini --prompt PROMPT --output-format stream-json``.

``--approval-mode yolo`` auto-approves its tools (``--yolo`` is the deprecated spelling;
both together are an error) and ``--skip-trust`` trusts the worktree for the session:
in a folder it does not trust, Gemini CLI forces the approval mode back to ``default``
and a headless run can approve nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batty.agents.launch import Context, Parts

PREFIXES = ("GEMINI_", "GOOGLE_")

QUIET = {"GEMINI_TELEMETRY_ENABLED": "false"}

# ~/.gemini/settings.json keys batty sets in the seat (it merges, keeping any others).
SETTINGS: dict[str, dict[str, Any]] = {
    "privacy": {"usageStatisticsEnabled": False},  # on by default: usage sent to Google
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
}


def write_settings(path: Path, environ: dict[str, str]) -> None:
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    if not isinstance(settings, dict):
        settings = {}
    for section, values in SETTINGS.items():
        current = settings.get(section)
        settings[section] = {**(current if isinstance(current, dict) else {}), **values}
    auth = settings.setdefault("security", {}).setdefault("auth", {})
    if "GEMINI_API_KEY" in environ and not auth.get("selectedType"):
        # With GOOGLE_GEMINI_BASE_URL set it would pick the "gateway" auth type, which a
        # headless run refuses ("Invalid auth method selected", 0.61.0): say it is a key.
        auth["selectedType"] = "gemini-api-key"
    path.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")


def parts(ctx: Context) -> Parts:
    settings = ctx.seat_dir(".gemini") / "settings.json"  # HOME is the seat's
    write_settings(settings, ctx.environ)
    prompt = ctx.prompt_file.read_text(encoding="utf-8")
    argv = [
        ctx.binary,
        "--output-format", "stream-json",
        "--approval-mode", "yolo",
        "--skip-trust",
    ]
    if ctx.model:
        argv += ["--model", ctx.model]
    argv += ctx.args
    # --prompt takes the prompt as its value; stdin stays /dev/null (it would be prepended).
    argv += ["--prompt", prompt]
    return Parts(argv=argv, env=dict(QUIET), stdin_path=None, files=[settings])
