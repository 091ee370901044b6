"""Usage, cost and context exhaustion, read from an agent's combined stdout/stderr log.

Where each figure comes from (docs/agents.md has examples):

- Claude Code: the stream-json ``result`` line: ``usage``, ``total_cost_usd``, ``num_turns``,
  ``is_error`` (an API error still says ``subtype: success``: read ``is_error``).
- Codex: ``turn.completed`` usage, summed; ``turn.failed`` or an ``error`` event is an
  error. It prints no cost: tokens are priced.
- Aider: its ``Tokens: N sent, N received. Cost: $X message, $Y session.`` lines (the token
  counts are rounded, ``2.3k``); a cost only when it knows prices, else priced here.
- Gemini CLI: the stream-json ``result`` event's ``stats``; priced here.
- shell (the scripted agent): its ``batty-usage: {"input_tokens": N, "output_tokens": N,
  "cost_usd": X}`` lines, one a model call, summed (the test agents' stand-in for a report).
- argv templates: nothing is known; only wall time counts against a budget (REPORTS).

Pricing: config ``agents.<name>.price`` ({input_per_mtok, output_per_mtok[, cached_input_per_mtok]},
USD per million tokens), else ``DEFAULT_PRICES`` by model name, else no cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

# USD per million tokens: (input, output, cached input). Public list prices when this table
# was written; they drift, so config `price` wins. Unknown model: no cost, never a guess.
DEFAULT_PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-5": (1.25, 10.0, 0.125),
    "gpt-5-codex": (1.25, 10.0, 0.125),
    "gpt-5-mini": (0.25, 2.0, 0.025),
    "gpt-5-nano": (0.05, 0.40, 0.005),
    "gpt-4.1": (2.0, 8.0, 0.50),
    "gpt-4.1-mini": (0.40, 1.60, 0.10),
    "o3": (2.0, 8.0, 0.50),
    "o4-mini": (1.10, 4.40, 0.275),
    "gemini-2.5-pro": (1.25, 10.0, 0.31),
    "gemini-2.5-flash": (0.30, 2.50, 0.075),
}

CONTEXT_MARKER = "BATTY: context exhausted"

# Each CLI's own wording, found in its source or binary (versions in docs/agents.md).
CONTEXT_PATTERNS: dict[str, re.Pattern[str]] = {
    "claude": re.compile(
        r"prompt is too long|reached its context window limit|context limit reached"
        r"|exceed context limit|model_context_window_exceeded|prompt_too_long", re.I),
    "codex": re.compile(
        r"ran out of room in the model's context window|context_length_exceeded"
        r"|context window exceeded", re.I),
    "aider": re.compile(
        r"has hit a token limit!|tokens exceeds the [\d,]+ token limit"
        r"|ContextWindowExceededError|possibly exhausted context window", re.I),
    "gemini": re.compile(
        r"exceeds the maximum number of tokens|context window|context_length_exceeded", re.I),
}

_MARKER_RE = re.compile(r"^\s*" + re.escape(CONTEXT_MARKER) + r"\s*$", re.M)


def empty() -> dict[str, Any]:
    return {"input_tokens": None, "output_tokens": None, "cost_usd": None, "turns": None,
            "is_error": None}


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL log, skipping whatever else is interleaved (stderr)."""
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            yield obj


def plain_lines(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("{"))


def price_of(entry: Mapping[str, Any], model: str | None) -> tuple[float, float, float] | None:
    price = entry.get("price")
    if isinstance(price, Mapping) and "input_per_mtok" in price and "output_per_mtok" in price:
        inp, out = float(price["input_per_mtok"]), float(price["output_per_mtok"])
        return inp, out, float(price.get("cached_input_per_mtok", inp))
    model = model or entry.get("model")
    if not model:
        return None
    return DEFAULT_PRICES.get(model.rsplit("/", 1)[-1])


def priced(usage: dict[str, Any], entry: Mapping[str, Any], model: str | None = None,
           cached: int = 0) -> dict[str, Any]:
    """Fill ``cost_usd`` from tokens when the CLI did not report one."""
    if usage["cost_usd"] is not None or usage["input_tokens"] is None:
        return usage
    price = price_of(entry, model)
    if price is None:
        return usage
    inp, out, cache = price
    fresh = max(usage["input_tokens"] - cached, 0)
    usage["cost_usd"] = round(
        (fresh * inp + cached * cache + (usage["output_tokens"] or 0) * out) / 1e6, 8)
    return usage


# What each adapter's report holds, for budgets (SPEC 12): the rest counts wall time only.
REPORTS: dict[str, tuple[str, ...]] = {
    "claude": ("tokens", "cost_usd"), "codex": ("tokens", "cost_usd"), "aider": ("tokens", "cost_usd"),
    "gemini": ("tokens", "cost_usd"), "shell": ("tokens", "cost_usd")}


def parse(name: str, text: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    parser = _PARSERS.get(name)
    if parser is None:
        return empty()
    return parser(text, entry)


def _claude(text: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    u = empty()
    result = None
    by_message: dict[str, dict[str, Any]] = {}
    model = None
    for obj in json_lines(text):
        if obj.get("type") == "result":
            result = obj
        elif obj.get("type") == "assistant" and isinstance(obj.get("message"), dict):
            msg = obj["message"]
            model = msg.get("model") or model
            if isinstance(msg.get("usage"), dict):
                by_message[str(msg.get("id"))] = msg["usage"]  # one message spans lines
    if result is not None:
        raw = result.get("usage")
        usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
        u["input_tokens"] = _claude_input(usage) if usage else None
        u["output_tokens"] = usage.get("output_tokens")
        u["cost_usd"] = result.get("total_cost_usd")
        u["turns"] = result.get("num_turns")
        u["is_error"] = bool(result.get("is_error"))
    elif by_message:
        # Killed before its result line: what the assistant messages said so far.
        u["input_tokens"] = sum(_claude_input(m) for m in by_message.values())
        u["output_tokens"] = sum(int(m.get("output_tokens") or 0) for m in by_message.values())
        u["turns"] = len(by_message)
        priced(u, entry, model)
    return u


def _claude_input(usage: Mapping[str, Any]) -> int:
    return sum(int(usage.get(k) or 0) for k in
               ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


def _codex(text: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    u = empty()
    inp = out = cached = turns = 0
    failed = completed = errors = False
    for obj in json_lines(text):
        kind = obj.get("type")
        if kind == "turn.completed":
            completed = True
            turns += 1
            usage = obj.get("usage") or {}
            inp += int(usage.get("input_tokens") or 0)
            cached += int(usage.get("cached_input_tokens") or 0)
            out += int(usage.get("output_tokens") or 0)
        elif kind == "turn.failed":
            failed = True
        elif kind == "error":
            errors = True  # also "Reconnecting... 1/5", which a later success outlives
    if completed:
        u.update(input_tokens=inp, output_tokens=out, turns=turns)
    if failed or completed or errors:
        u["is_error"] = failed or not completed
    return priced(u, entry, cached=cached)


_AIDER_TOKENS = re.compile(
    r"Tokens: (?P<sent>[\d.]+[kM]?) sent(?:, (?P<write>[\d.]+[kM]?) cache write)?"
    r"(?:, (?P<hit>[\d.]+[kM]?) cache hit)?, (?P<received>[\d.]+[kM]?) received\.")
_AIDER_COST = re.compile(r"Cost: \$(?P<message>[\d.]+) message, \$(?P<session>[\d.]+) session\.")
# How aider reports a failed model call (it exits 0 all the same).
_AIDER_ERROR = re.compile(
    r"^(litellm\.\w+(Error|Exception)\b|The API provider is not reachable|"
    r"Model .+ has hit a token limit!)", re.M)


def _aider_count(value: str | None) -> int:
    if not value:
        return 0
    scale = {"k": 1_000, "M": 1_000_000}.get(value[-1], 1)
    number = value[:-1] if scale != 1 else value
    return round(float(number) * scale)


def _aider(text: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    u = empty()
    matches = list(_AIDER_TOKENS.finditer(text))
    if matches:
        u["input_tokens"] = sum(_aider_count(m["sent"]) for m in matches)
        u["output_tokens"] = sum(_aider_count(m["received"]) for m in matches)
        u["turns"] = len(matches)
    costs = list(_AIDER_COST.finditer(text))
    if costs:
        u["cost_usd"] = float(costs[-1]["session"])
    if _AIDER_ERROR.search(text):
        u["is_error"] = True
    elif matches:
        u["is_error"] = False
    return priced(u, entry)


def _gemini(text: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    u = empty()
    model = None
    for obj in json_lines(text):
        if obj.get("type") == "init":
            model = obj.get("model") or model
        elif obj.get("type") == "result":
            stats = obj.get("stats") if isinstance(obj.get("stats"), dict) else {}
            if stats:
                u["input_tokens"] = stats.get("input_tokens")
                u["output_tokens"] = stats.get("output_tokens")
            u["is_error"] = obj.get("status") != "success"
            cached = int(stats.get("cached") or 0) if stats else 0
            return priced(u, entry, model, cached=cached)
    return u


_SHELL_USAGE = re.compile(r"^batty-usage: (\{.*\})\s*$", re.M)


def _shell(text: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    u = empty()
    calls = []
    for m in _SHELL_USAGE.finditer(text):
        try:
            obj = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(obj, dict):
            calls.append(obj)
    if not calls:
        return u

    def total(key: str) -> Any:
        values = [c[key] for c in calls if isinstance(c.get(key), int | float) and not isinstance(c.get(key), bool)]
        return sum(values) if values else None

    u.update(input_tokens=total("input_tokens"), output_tokens=total("output_tokens"),
             turns=len(calls), is_error=False)
    cost = total("cost_usd")
    u["cost_usd"] = round(cost, 8) if cost is not None else None
    return priced(u, entry)


_PARSERS = {"claude": _claude, "codex": _codex, "aider": _aider, "gemini": _gemini, "shell": _shell}


def context_exhausted(name: str, text: str) -> bool:
    if _MARKER_RE.search(text):
        return True  # batty's own marker, from any agent
    pattern = CONTEXT_PATTERNS.get(name)
    if pattern is None:
        return False
    if name == "aider":
        return bool(pattern.search(text))  # plain text, and these are aider's own words
    # For the JSON-streaming CLIs read only what the CLI itself says (results, errors and
    # stderr), not the model's messages, which may well discuss context windows.
    return bool(pattern.search(_cli_says(text)))


def _cli_says(text: str) -> str:
    parts = [plain_lines(text)]
    for obj in json_lines(text):
        kind = str(obj.get("type", ""))
        if kind == "result":
            # A successful result carries the model's last message: only a failed one counts.
            if obj.get("is_error") or obj.get("status") == "error" \
                    or str(obj.get("subtype", "")).startswith("error"):
                parts.append(json.dumps(obj))
        elif kind in ("error", "turn.failed") or kind.endswith("error"):
            parts.append(json.dumps(obj))
        elif kind == "item.completed" and isinstance(obj.get("item"), dict) \
                and obj["item"].get("type") == "error":
            parts.append(json.dumps(obj["item"]))
        elif kind == "assistant" and isinstance(obj.get("message"), dict) \
                and (obj.get("error") or obj.get("isApiErrorMessage")):
            parts.append(json.dumps(obj))
    return "\n".join(parts)
