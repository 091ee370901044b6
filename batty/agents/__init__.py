"""Agent adapters: how batty launches each coding-agent CLI and reads its output.

The dispatch code calls only what is defined here. This module stays light (cron starts
batty every minute, STYLE 7): the adapters, the pricing table and the JSON parsing load
on first use.

- ``validate_agent`` / ``binary_of``: config ``agents.<name>`` (schema in ``schema.py``).
- ``build_launch``: argv, the complete allow-listed environment, stdin and cwd of one attempt.
- ``parse_usage`` / ``context_exhausted``: read the agent's combined stdout/stderr log.

See docs/agents.md for every adapter's argv, environment and pitfalls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batty.errors import InvalidInput

BUILTIN: frozenset[str] = frozenset({"claude", "codex", "aider", "gemini", "shell"})

#: Every key allowed under config ``agents.<name>``; which ones a given agent takes is
#: ``schema.keys_for(name)``.
AGENT_KEYS: frozenset[str] = frozenset(
    {"model", "args", "env", "passenv", "binary", "price", "timeout_s", "argv", "prompt"}
)

PROMPT_MODES: tuple[str, ...] = ("stdin", "file", "arg")
PLACEHOLDERS: tuple[str, ...] = ("prompt_file", "prompt", "task", "attempt", "worktree")


class AgentConfigError(InvalidInput):
    """Config ``agents.<name>`` cannot be launched (raised by ``build_launch``)."""


@dataclass(frozen=True)
class Launch:
    """One attempt of one agent, ready for a runner: never run through a shell."""

    argv: list[str]
    env: dict[str, str]  # the COMPLETE child environment (an allow-list, SPEC 6)
    stdin_path: Path | None  # a file to connect as stdin; None means /dev/null
    cwd: Path  # the worktree
    files: tuple[Path, ...] = field(default=())  # files build_launch wrote (seat config, script)
    logins: tuple[Path, ...] = field(default=())  # the user's login files the seat links to (SPEC 11)


def validate_agent(name: str, entry: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Problems in config ``agents.<name>``: (key path, what is wrong, what would be valid).

    Empty when fine. A non-builtin agent needs ``argv`` (a list of str); ``prompt`` is
    stdin|file|arg; unknown keys and wrong types are errors.
    """
    from batty.agents import schema

    return schema.validate(name, entry)


def binary_of(name: str, entry: Mapping[str, Any] | None = None) -> str:
    """The program a seat of this agent runs (e.g. ``claude``), to look up on PATH."""
    from batty.agents import schema

    return schema.binary_of(name, entry or {})


def build_launch(
    name: str,
    entry: Mapping[str, Any] | None,
    *,
    prompt_file: Path,
    task: str,
    attempt: int,
    worktree: Path,
    seat_home: Path,
    environ: Mapping[str, str],
    secrets: Collection[str] = (),
    script: Sequence[str] | None = None,
) -> Launch:
    """Everything needed to start one attempt of agent ``name`` in ``worktree``.

    Creates the per-seat config folders under ``seat_home`` (outside the worktree) and,
    for the ``shell`` agent, ``prompt_file.parent / "script.json"``. Raises
    ``AgentConfigError`` when the entry cannot be launched.
    """
    from batty.agents import launch

    return launch.build(
        launch.Context(
            name=name,
            entry=dict(entry or {}),
            prompt_file=Path(prompt_file),
            task=str(task),
            attempt=int(attempt),
            worktree=Path(worktree),
            seat_home=Path(seat_home),
            environ=dict(environ),
            secrets=frozenset(secrets),
            script=None if script is None else list(script),
        )
    )


def parse_usage(name: str, log_text: str, entry: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Usage from the agent's combined stdout/stderr log.

    Returns ``{"input_tokens", "output_tokens", "cost_usd", "turns", "is_error"}``, each
    None where the output does not tell. Cost comes from the CLI when it reports one
    (Claude Code, Aider with prices), else from tokens and ``entry["price"]`` or the
    default table in ``usage.py``.
    """
    from batty.agents import usage

    return usage.parse(name, log_text, dict(entry or {}))


def context_exhausted(name: str, log_text: str) -> bool:
    """True when the log says the agent ran out of context window (each CLI's wording)."""
    from batty.agents import usage

    return usage.context_exhausted(name, log_text)
