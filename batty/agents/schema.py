"""The schema of config ``agents.<name>`` (SPEC 6): which keys each agent takes, and checks.

A problem is ``(key path, what is wrong, what would be valid)``; the config loader adds the
file and line. Key paths use dots (``agents.mybot.prompt``), so agent names may not.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

from batty.agents import AGENT_KEYS, BUILTIN, PLACEHOLDERS, PROMPT_MODES

Problem = tuple[str, str, str]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
PASSENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\*?\Z")
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Set by batty on every launch; config may not override them.
RESERVED_ENV = frozenset({"BATTY_TASK", "BATTY_ATTEMPT", "BATTY_PROMPT_FILE", "BATTY_WORKTREE"})

DEFAULT_BINARY = {"claude": "claude", "codex": "codex", "aider": "aider", "gemini": "gemini"}

_COMMON = frozenset({"env", "passenv", "price", "timeout_s"})
_KEYS: dict[str, frozenset[str]] = {
    "cli": _COMMON | {"model", "args", "binary"},  # claude, codex, aider, gemini
    "shell": frozenset({"env", "timeout_s"}),
    "template": _COMMON | {"argv", "prompt", "args"},
}
assert set().union(*_KEYS.values()) <= AGENT_KEYS

PRICE_KEYS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")


def kind_of(name: str) -> str:
    if name == "shell":
        return "shell"
    return "cli" if name in BUILTIN else "template"


def keys_for(name: str) -> frozenset[str]:
    """The keys config ``agents.<name>`` may have."""
    return _KEYS[kind_of(name)]


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate(name: str, entry: Mapping[str, Any]) -> list[Problem]:
    at = f"agents.{name}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        return [(at, f"invalid agent name {name!r}", "letters, digits, - and _ (no dots)")]
    if entry is None:
        entry = {}
    if not isinstance(entry, Mapping):
        return [(at, f"{at} must be a mapping", "{model: ..., args: [...], env: {...}}")]
    kind = kind_of(name)
    allowed = _KEYS[kind]
    problems: list[Problem] = []
    for key in entry:
        if key not in allowed:
            what = f"unknown key {key!r} for agent {name}"
            if key in AGENT_KEYS:
                what = f"{key!r} is not used by the {'built-in ' if kind != 'template' else ''}agent {name}"
            problems.append((f"{at}.{key}", what, ", ".join(sorted(allowed))))
    for key in sorted(set(entry) & allowed):
        problems.extend(_check_key(at, key, entry[key], entry))
    if kind == "template" and "argv" not in entry:
        problems.append((f"{at}.argv", f"agent {name} is not built in, so it needs argv",
                         "argv: [mybot, --task, \"{prompt_file}\"] (built in: "
                         + ", ".join(sorted(BUILTIN)) + ")"))
    return problems


def _check_key(at: str, key: str, value: Any, entry: Mapping[str, Any]) -> list[Problem]:
    path = f"{at}.{key}"
    if key in ("model", "binary"):
        if not isinstance(value, str) or not value.strip():
            return [(path, f"{key} must be a non-empty string", f"{key}: sonnet" if key == "model"
                     else "binary: /opt/bin/claude (a name on PATH or a path)")]
    elif key == "args":
        if not _is_str_list(value):
            return [(path, "args must be a list of strings (quote numbers)", 'args: [--max-turns, "80"]')]
    elif key == "env":
        return _check_env(path, value)
    elif key == "passenv":
        if not _is_str_list(value) or not all(PASSENV_RE.match(v) for v in value):
            return [(path, "passenv must be a list of variable names, a trailing * for a prefix",
                     "passenv: [MYBOT_API_KEY, MYBOT_*]")]
    elif key == "price":
        return _check_price(path, value)
    elif key == "timeout_s":
        if not _number(value) or value <= 0:
            return [(path, "timeout_s must be a positive number of seconds", "timeout_s: 3600")]
    elif key == "prompt":
        if value not in PROMPT_MODES:
            return [(path, f"prompt must be one of {', '.join(PROMPT_MODES)}, not {value!r}",
                     "prompt: stdin | file | arg")]
    elif key == "argv":
        return _check_argv(path, value)
    return []


def _check_env(path: str, value: Any) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [(path, "env must be a mapping of NAME: value", 'env: {CLAUDE_CODE_MAX_RETRIES: "3"}')]
    problems: list[Problem] = []
    for k, v in value.items():
        if not isinstance(k, str) or not ENV_NAME_RE.match(k):
            problems.append((path, f"invalid environment variable name {k!r}", "letters, digits, _"))
        elif k in RESERVED_ENV:
            problems.append((f"{path}.{k}", f"{k} is set by batty", "another name"))
        elif not isinstance(v, str):
            problems.append((f"{path}.{k}", f"env value of {k} must be a string (quote it)",
                             f'{k}: "{v}"'))
    return problems


def _check_price(path: str, value: Any) -> list[Problem]:
    valid = "price: {input_per_mtok: 1.25, output_per_mtok: 10.0} (USD per million tokens)"
    if not isinstance(value, Mapping):
        return [(path, "price must be a mapping", valid)]
    problems: list[Problem] = []
    for k, v in value.items():
        if k not in PRICE_KEYS:
            problems.append((f"{path}.{k}", f"unknown price key {k!r}", ", ".join(PRICE_KEYS)))
        elif not _number(v) or v < 0:
            problems.append((f"{path}.{k}", f"{k} must be a number >= 0", valid))
    for k in PRICE_KEYS[:2]:
        if k not in value:
            problems.append((f"{path}.{k}", f"price needs {k}", valid))
    return problems


def _check_argv(path: str, value: Any) -> list[Problem]:
    valid = 'argv: [mybot, --task, "{prompt_file}"]'
    if not _is_str_list(value) or not value or not value[0].strip():
        return [(path, "argv must be a non-empty list of strings", valid)]
    if PLACEHOLDER_RE.search(value[0]):
        return [(path, "argv[0] is the program: a name on PATH or a path, without placeholders", valid)]
    problems: list[Problem] = []
    for arg in value[1:]:
        for m in PLACEHOLDER_RE.finditer(arg):
            if m.group(1) not in PLACEHOLDERS:
                problems.append((path, f"unknown placeholder {m.group(0)} in argv",
                                 " ".join("{" + p + "}" for p in PLACEHOLDERS)))
    return problems


def binary_of(name: str, entry: Mapping[str, Any]) -> str:
    kind = kind_of(name)
    if kind == "shell":
        return sys.executable  # the scripted runner is batty's own Python
    if kind == "cli":
        binary = entry.get("binary")
        return binary if isinstance(binary, str) and binary else DEFAULT_BINARY[name]
    argv = entry.get("argv")
    if not _is_str_list(argv) or not argv:
        from batty.agents import AgentConfigError

        raise AgentConfigError(f"agent {name} has no argv", valid='argv: [mybot, "{prompt_file}"]')
    return str(argv[0])


def binary_key(name: str) -> str | None:
    """The config key that names an agent's program, or None (the scripted agent is batty's own
    Python). Issue 16: the missing-binary error told an argv agent to set ``binary``, which its
    schema refuses."""
    kind = kind_of(name)
    if kind == "cli":
        return f"agents.{name}.binary"
    return f"agents.{name}.argv" if kind == "template" else None


def missing_binary(name: str, entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(what is wrong, what would be valid) when the agent's program is neither on PATH nor a
    file; None when it is there (or cannot be told: an argv problem is validate()'s)."""
    import os
    import shutil

    try:
        binary = binary_of(name, entry)
    except Exception:  # no argv: validate() reports that
        return None
    if not binary or shutil.which(binary) or os.path.isfile(binary):
        return None
    key = binary_key(name)
    where = f"{key}[0]" if key and key.endswith(".argv") else key
    return (f"agent {name}: its program {binary!r} is not on PATH",
            f"install {binary}, or name its path in {where}" if where else f"install {binary}")
