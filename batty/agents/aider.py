"""Aider (PyPI aider-chat), headless: ``aider --message-file PROMPT --yes-always ...``.

Aider commits its own edits. It exits 0 even when the model API failed, so batty judges a
run by git and by ``parse_usage``'s ``is_error``, never by the exit code alone.
"""

from __future__ import annotations

import json
import os
import time

from batty.agents.launch import Context, Parts

PREFIXES = ("OPENAI_", "AIDER_")

FLAGS = [
    "--yes-always",
    "--no-check-update",
    "--no-analytics",
    "--no-show-model-warnings",
    "--no-show-release-notes",
    # Else it adds .aider* to .gitignore: a change outside the task's scope.
    "--no-gitignore",
    # Else it commits the worktree's dirty state first, as a commit of its own.
    "--no-dirty-commits",
    "--no-pretty",
    "--no-fancy-input",
    # Else a URL in the prompt makes it fetch the page (--yes-always says yes).
    "--no-detect-urls",
    # Else --yes-always runs whatever shell command the model suggests, servers included,
    # and the run never ends.
    "--no-suggest-shell-commands",
    "--encoding", "utf-8",
]

# Aider refetches its model price list from the network when this cache is missing,
# empty (`{}`) or older than a day; a non-empty one, touched at each launch, keeps it quiet.
PRICES_CACHE = (".aider", "caches", "model_prices_and_context_window.json")
PLACEHOLDER_PRICES = {
    "batty-placeholder": {
        "note": "written by batty so that aider does not fetch the price list; see docs/agents.md",
        "max_input_tokens": 0,
    }
}


def parts(ctx: Context) -> Parts:
    seat = ctx.seat_dir("aider")
    cache = ctx.seat_dir(*PRICES_CACHE[:-1]) / PRICES_CACHE[-1]
    if not cache.is_file() or cache.read_text(encoding="utf-8").strip() in ("", "{}"):
        cache.write_text(json.dumps(PLACEHOLDER_PRICES, indent=1) + "\n", encoding="utf-8")
    now = time.time()
    os.utime(cache, (now, now))
    argv = [
        ctx.binary,
        *FLAGS,
        # History files in the seat, not the repo root (they would fail the scope gate).
        "--chat-history-file", str(seat / "chat.md"),
        "--input-history-file", str(seat / "input.hist"),
        "--message-file", str(ctx.prompt_file),
    ]
    files = [cache]
    if ctx.model:
        argv += ["--model", ctx.model]
        price = ctx.entry.get("price")
        if price:
            # With prices Aider prints `Cost: $X message, $Y session.`; without, tokens only.
            metadata = seat / "model-metadata.json"
            metadata.write_text(json.dumps({ctx.model: {
                "input_cost_per_token": price["input_per_mtok"] / 1e6,
                "output_cost_per_token": price["output_per_mtok"] / 1e6,
                "mode": "chat",
            }}, indent=1) + "\n", encoding="utf-8")
            argv += ["--model-metadata-file", str(metadata)]
            files.append(metadata)
    argv += ctx.args
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return Parts(argv=argv, env=env, stdin_path=None, files=files)
