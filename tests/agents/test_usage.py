"""parse_usage and context_exhausted over output captured from the real CLIs.

tests/agents/data/ holds logs (stdout + stderr) of each pinned CLI version run against the
stand-in model: a scripted edit (success), a context-window error (context), and an API
key refusal (auth-error). tests/clients/ reproduces them live.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batty.agents import context_exhausted, parse_usage
from batty.agents.usage import DEFAULT_PRICES

DATA = Path(__file__).parent / "data"


def log(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


FIELDS = {"input_tokens", "output_tokens", "cost_usd", "turns", "is_error"}


def test_claude_success() -> None:
    u = parse_usage("claude", log("claude-2.1.197-success.jsonl"))
    assert set(u) == FIELDS
    assert u == {"input_tokens": 145519, "output_tokens": 79, "cost_usd": pytest.approx(0.437742),
                 "turns": 5, "is_error": False}


def test_claude_api_error_says_success_but_is_an_error() -> None:
    text = log("claude-2.1.197-auth-error.jsonl")
    result = [json.loads(line) for line in text.splitlines() if '"type":"result"' in line][0]
    assert result["subtype"] == "success"  # the trap AGENT-CLIS.md warns about
    assert parse_usage("claude", text)["is_error"] is True


def test_claude_killed_before_its_result_line() -> None:
    lines = log("claude-2.1.197-success.jsonl").splitlines()
    partial = "\n".join(line for line in lines if '"type":"result"' not in line)
    u = parse_usage("claude", partial)
    assert u["input_tokens"] and u["output_tokens"]
    assert u["is_error"] is None  # unknown: it never said


def test_codex_success_is_priced_from_config() -> None:
    text = log("codex-0.169.0-success.jsonl")
    u = parse_usage("codex", text, {"price": {"input_per_mtok": 1.0, "output_per_mtok": 10.0}})
    assert u == {"input_tokens": 30151, "output_tokens": 81,
                 "cost_usd": pytest.approx((30151 * 1.0 + 81 * 10.0) / 1e6),
                 "turns": 1, "is_error": False}


def test_codex_priced_from_the_default_table() -> None:
    inp, out, _ = DEFAULT_PRICES["gpt-5"]
    u = parse_usage("codex", log("codex-0.169.0-success.jsonl"), {"model": "gpt-5"})
    assert u["cost_usd"] == pytest.approx((30151 * inp + 81 * out) / 1e6)


def test_codex_unknown_model_has_no_cost() -> None:
    u = parse_usage("codex", log("codex-0.169.0-success.jsonl"), {"model": "mystery"})
    assert u["input_tokens"] == 30151
    assert u["cost_usd"] is None


def test_codex_cached_tokens_at_the_cached_price() -> None:
    line = {"type": "turn.completed", "usage": {"input_tokens": 1000, "cached_input_tokens": 600,
                                                "output_tokens": 10}}
    price = {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "cached_input_per_mtok": 0.5}
    u = parse_usage("codex", json.dumps(line), {"price": price})
    assert u["cost_usd"] == pytest.approx((400 * 2.0 + 600 * 0.5 + 10 * 8.0) / 1e6)


def test_codex_failures() -> None:
    assert parse_usage("codex", log("codex-0.169.0-auth-error.jsonl"))["is_error"] is True
    assert parse_usage("codex", log("codex-0.169.0-context.jsonl"))["is_error"] is True


def test_codex_reconnect_then_success_is_not_an_error() -> None:
    text = '{"type":"error","message":"Reconnecting... 1/5"}\n' + log("codex-0.169.0-success.jsonl")
    assert parse_usage("codex", text)["is_error"] is False


def test_aider_success() -> None:
    assert parse_usage("aider", log("aider-0.86.2-success.log")) == {
        "input_tokens": 662, "output_tokens": 14, "cost_usd": pytest.approx(0.00069),
        "turns": 1, "is_error": False}


def test_aider_api_error_is_an_error_though_it_exits_0() -> None:
    u = parse_usage("aider", log("aider-0.86.2-auth-error.log"))
    assert u["is_error"] is True
    assert u["input_tokens"] is None


def test_aider_rounded_counts_and_session_cost_across_messages() -> None:
    text = ("Tokens: 2.3k sent, 120 received. Cost: $0.01 message, $0.01 session.\n"
            "Tokens: 12k sent, 1.5k cache write, 3.0k cache hit, 1.1k received. "
            "Cost: $0.05 message, $0.06 session.\n")
    u = parse_usage("aider", text)
    assert u == {"input_tokens": 14300, "output_tokens": 1220, "cost_usd": 0.06, "turns": 2,
                 "is_error": False}


def test_aider_without_prices_is_priced_from_config() -> None:
    u = parse_usage("aider", "Tokens: 1.0k sent, 100 received.\n",
                    {"price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0}})
    assert u["cost_usd"] == pytest.approx((1000 * 3.0 + 100 * 15.0) / 1e6)


def test_gemini_result_stats() -> None:
    text = "\n".join(json.dumps(e) for e in [
        {"type": "init", "timestamp": "t", "session_id": "s", "model": "gemini-2.5-pro"},
        {"type": "message", "role": "assistant", "content": "done", "delta": True},
        {"type": "result", "status": "success", "stats": {
            "total_tokens": 1100, "input_tokens": 1000, "output_tokens": 100, "cached": 0,
            "input": 1000, "duration_ms": 5, "tool_calls": 1}},
    ])
    inp, out, _ = DEFAULT_PRICES["gemini-2.5-pro"]
    assert parse_usage("gemini", text) == {
        "input_tokens": 1000, "output_tokens": 100, "cost_usd": pytest.approx((1000 * inp + 100 * out) / 1e6),
        "turns": None, "is_error": False}


@pytest.mark.parametrize("name", ["shell", "mybot"])
def test_agents_without_a_format_know_nothing(name: str) -> None:
    assert parse_usage(name, log("claude-2.1.197-success.jsonl")) == dict.fromkeys(FIELDS)


def test_garbage_is_not_an_error() -> None:
    for name in ("claude", "codex", "aider", "gemini"):
        u = parse_usage(name, "{not json\n\x00\nTokens: lots\n{}\n[]\n")
        assert u == dict.fromkeys(FIELDS), name


@pytest.mark.parametrize("name, file, expected", [
    ("claude", "claude-2.1.197-context.jsonl", True),
    ("claude", "claude-2.1.197-success.jsonl", False),
    ("claude", "claude-2.1.197-auth-error.jsonl", False),
    ("codex", "codex-0.169.0-context.jsonl", True),
    ("codex", "codex-0.169.0-success.jsonl", False),
    ("codex", "codex-0.169.0-auth-error.jsonl", False),
    ("aider", "aider-0.86.2-context.log", True),
    ("aider", "aider-0.86.2-success.log", False),
    ("aider", "aider-0.86.2-auth-error.log", False),
    ("gemini", "gemini-0.61.0-context.jsonl", True),
    ("gemini", "gemini-0.61.0-success.jsonl", False),
    ("gemini", "gemini-0.61.0-auth-error.jsonl", False),
])
def test_context_exhausted_on_real_output(name: str, file: str, expected: bool) -> None:
    assert context_exhausted(name, log(file)) is expected


def test_the_model_talking_about_context_windows_is_not_exhaustion() -> None:
    line = {"type": "assistant", "message": {"role": "assistant", "content": [
        {"type": "text", "text": "The prompt is too long for the context window, so I split it."}]}}
    ok = {"type": "result", "subtype": "success", "is_error": False,
          "result": "prompt is too long? no: done"}
    assert not context_exhausted("claude", json.dumps(line) + "\n" + json.dumps(ok))
    item = {"type": "item.completed", "item": {"type": "agent_message",
                                               "text": "context_length_exceeded is handled"}}
    assert not context_exhausted("codex", json.dumps(item))


def test_gemini_captured_output() -> None:
    u = parse_usage("gemini", log("gemini-0.61.0-success.jsonl"))
    inp, out, _ = DEFAULT_PRICES["gemini-2.5-flash"]
    assert u == {"input_tokens": 36854, "output_tokens": 58,
                 "cost_usd": pytest.approx((36854 * inp + 58 * out) / 1e6), "turns": None,
                 "is_error": False}
    assert parse_usage("gemini", log("gemini-0.61.0-auth-error.jsonl"))["is_error"] is True


def test_gemini_context_error() -> None:
    err = {"type": "result", "status": "error", "error": {
        "type": "API", "message": "The input token count (1200000) exceeds the maximum number of "
                                  "tokens allowed (1048576)."}}
    assert context_exhausted("gemini", json.dumps(err))


@pytest.mark.parametrize("name", ["shell", "mybot", "claude", "aider"])
def test_batty_marker_counts_for_every_agent(name: str) -> None:
    assert context_exhausted(name, "working\nBATTY: context exhausted\n")
    assert not context_exhausted(name, "working\nsaid BATTY: context exhausted later\n")


def test_the_scripted_agent_reports_usage_lines() -> None:
    from batty.agents.behaviours import usage

    text = "\n".join(["$ " + usage(1000, 100, 0.25), "batty-usage: " + usage(10, 5)[len("echo 'batty-usage: "):-1],
                      "batty-usage: " + usage(2000, 50, 0.5)[len("echo 'batty-usage: "):-1]])
    assert parse_usage("shell", text) == {"input_tokens": 2010, "output_tokens": 55, "cost_usd": 0.5,
                                          "turns": 2, "is_error": False}
