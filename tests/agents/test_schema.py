"""validate_agent and binary_of: config ``agents.<name>`` (SPEC 6)."""

from __future__ import annotations

import sys

import pytest

from batty.agents import AGENT_KEYS, BUILTIN, AgentConfigError, binary_of, validate_agent
from batty.agents.schema import keys_for


def keys(problems: list[tuple[str, str, str]]) -> list[str]:
    return [p[0] for p in problems]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_needs_nothing(name: str) -> None:
    assert validate_agent(name, {}) == []


def test_spec_example_is_valid() -> None:
    assert validate_agent("claude", {"model": "sonnet", "args": ["--max-turns", "80"],
                                     "env": {"CLAUDE_CODE_MAX_RETRIES": "3"}}) == []
    assert validate_agent("mybot", {"argv": ["mybot", "--task", "{prompt_file}"],
                                    "prompt": "file"}) == []


def test_template_needs_argv() -> None:
    problems = validate_agent("mybot", {"prompt": "stdin"})
    assert keys(problems) == ["agents.mybot.argv"]
    what, valid = problems[0][1:]
    assert "argv" in what and "claude" in valid


def test_unknown_key_names_the_valid_ones() -> None:
    [(key, what, valid)] = validate_agent("claude", {"modle": "sonnet"})
    assert key == "agents.claude.modle"
    assert "unknown key" in what
    assert "model" in valid


def test_key_of_another_kind_is_an_error() -> None:
    assert keys(validate_agent("claude", {"argv": ["x"]})) == ["agents.claude.argv"]
    assert keys(validate_agent("mybot", {"argv": ["x"], "model": "m"})) == ["agents.mybot.model"]
    assert keys(validate_agent("shell", {"model": "m"})) == ["agents.shell.model"]


@pytest.mark.parametrize("entry, key", [
    ({"model": 3}, "agents.claude.model"),
    ({"model": ""}, "agents.claude.model"),
    ({"args": "--max-turns 80"}, "agents.claude.args"),
    ({"args": ["--max-turns", 80]}, "agents.claude.args"),
    ({"env": ["A=1"]}, "agents.claude.env"),
    ({"env": {"A": 3}}, "agents.claude.env.A"),
    ({"env": {"BAD-NAME": "1"}}, "agents.claude.env"),
    ({"env": {"BATTY_TASK": "x"}}, "agents.claude.env.BATTY_TASK"),
    ({"passenv": "X"}, "agents.claude.passenv"),
    ({"passenv": ["X-Y"]}, "agents.claude.passenv"),
    ({"price": 3}, "agents.claude.price"),
    ({"price": {"input_per_mtok": 1}}, "agents.claude.price.output_per_mtok"),
    ({"price": {"input_per_mtok": -1, "output_per_mtok": 1}}, "agents.claude.price.input_per_mtok"),
    ({"price": {"input_per_mtok": 1, "output_per_mtok": 1, "x": 1}}, "agents.claude.price.x"),
    ({"timeout_s": 0}, "agents.claude.timeout_s"),
    ({"timeout_s": True}, "agents.claude.timeout_s"),
    ({"binary": ""}, "agents.claude.binary"),
])
def test_wrong_types(entry: dict, key: str) -> None:
    assert key in keys(validate_agent("claude", entry))


@pytest.mark.parametrize("entry, key", [
    ({"argv": []}, "agents.mybot.argv"),
    ({"argv": "mybot --go"}, "agents.mybot.argv"),
    ({"argv": ["{prompt_file}"]}, "agents.mybot.argv"),
    ({"argv": ["mybot", "{promt}"]}, "agents.mybot.argv"),
    ({"argv": ["mybot"], "prompt": "pipe"}, "agents.mybot.prompt"),
])
def test_template_errors(entry: dict, key: str) -> None:
    assert key in keys(validate_agent("mybot", entry))


def test_literal_braces_that_are_not_placeholders_are_fine() -> None:
    assert validate_agent("mybot", {"argv": ["mybot", '{"json": 1}', "{}"]}) == []


def test_names_with_dots_are_refused() -> None:
    # key paths are split on dots by the config loader
    assert keys(validate_agent("my.bot", {"argv": ["x"]})) == ["agents.my.bot"]


def test_entry_must_be_a_mapping() -> None:
    assert keys(validate_agent("claude", ["model"])) == ["agents.claude"]  # type: ignore[arg-type]


def test_keys_for_every_kind_are_agent_keys() -> None:
    for name in (*BUILTIN, "mybot"):
        assert keys_for(name) <= AGENT_KEYS


def test_binary_of() -> None:
    assert binary_of("claude", {}) == "claude"
    assert binary_of("codex", {"binary": "/opt/codex"}) == "/opt/codex"
    assert binary_of("aider", {}) == "aider"
    assert binary_of("gemini", {}) == "gemini"
    assert binary_of("shell", {}) == sys.executable
    assert binary_of("mybot", {"argv": ["mybot-cli", "{prompt_file}"]}) == "mybot-cli"
    with pytest.raises(AgentConfigError):
        binary_of("mybot", {})
