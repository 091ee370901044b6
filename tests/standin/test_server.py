"""The stand-in model server itself: rules, the request log, each wire format."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.standin.edits import apply_patch_for
from tests.standin.fixture import Reply, StandinFixture


def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sse_data(text: str) -> list[Any]:
    return [json.loads(line[6:]) for line in text.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def test_head_and_get_answer(standin: StandinFixture) -> None:
    req = urllib.request.Request(standin.url + "/", method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(standin.openai_url + "/models", timeout=10) as resp:
        assert json.load(resp)["data"][0]["id"]


def test_unknown_post_is_a_404_and_logged(standin: StandinFixture) -> None:
    code, _ = post(standin.url + "/v1/nothing", {"x": 1})
    assert code == 404
    assert standin.requests[-1].path == "/v1/nothing"
    assert standin.requests[-1].body == {"x": 1}


def test_anthropic_stream_with_a_tool_call(standin: StandinFixture) -> None:
    standin.add(Reply(tool="Read", input={"file_path": "/x"}), wire="anthropic", tool_results=0)
    code, text = post(standin.url + "/v1/messages?beta=true", {
        "model": "claude-x", "stream": True, "tools": [{"name": "Read"}],
        "messages": [{"role": "user", "content": "hi"}]})
    assert code == 200
    events = sse_data(text)
    assert [e["type"] for e in events] == ["message_start", "content_block_start",
                                           "content_block_delta", "content_block_stop",
                                           "message_delta", "message_stop"]
    assert events[1]["content_block"]["name"] == "Read"
    assert json.loads(events[2]["delta"]["partial_json"]) == {"file_path": "/x"}
    assert events[4]["delta"]["stop_reason"] == "tool_use"
    assert standin.requests[-1].query == "beta=true"


def test_rules_match_on_tool_results_not_order(standin: StandinFixture) -> None:
    standin.add(Reply(text="first step"), wire="anthropic", has_tools=True, tool_results=0)
    standin.add(Reply(text="after the tool"), wire="anthropic", has_tools=True, tool_results=1,
                last_tool="Read")
    later = {"model": "m", "tools": [{"name": "Read"}], "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read",
                                           "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                      "content": "x"}]}]}
    side_call = {"model": "m", "messages": [{"role": "user", "content": "title?"}]}
    assert json.loads(post(standin.url + "/v1/messages", later)[1])["content"][0]["text"] == "after the tool"
    assert json.loads(post(standin.url + "/v1/messages", side_call)[1])["content"][0]["text"] == "Nothing to do."
    assert [r["tool_results"] for r in standin.log()] == [1, 0]


def test_responses_stream_with_a_function_call(standin: StandinFixture) -> None:
    standin.add(Reply(tool="exec_command", input={"cmd": "ls"}), wire="responses")
    code, text = post(standin.openai_url + "/responses", {"model": "gpt-x", "stream": True,
                                                          "input": [], "tools": [{}]})
    assert code == 200
    events = sse_data(text)
    assert events[0]["type"] == "response.created"
    done = [e for e in events if e["type"] == "response.output_item.done"][0]["item"]
    assert done["type"] == "function_call" and json.loads(done["arguments"]) == {"cmd": "ls"}
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["usage"]["input_tokens"] > 0


def test_chat_stream_and_usage(standin: StandinFixture) -> None:
    standin.add(Reply(text="feat: a commit"), wire="chat", contains="commit message")
    code, text = post(standin.openai_url + "/chat/completions", {
        "model": "m", "stream": True, "messages": [{"role": "user", "content": "a commit message"}]})
    assert code == 200
    chunks = sse_data(text)
    assert chunks[0]["choices"][0]["delta"]["content"] == "feat: a commit"
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert text.rstrip().endswith("data: [DONE]")


def test_gemini_stream(standin: StandinFixture) -> None:
    standin.add(Reply(tool="write_file", input={"file_path": "/x", "content": "y"}), wire="gemini")
    code, text = post(standin.url + "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
                      {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "tools": [{}]})
    assert code == 200
    [chunk] = sse_data(text)
    assert chunk["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "write_file"
    assert chunk["modelVersion"] == "gemini-x"


@pytest.mark.parametrize("path, wire", [
    ("/v1/messages", "anthropic"), ("/v1/responses", "responses"),
    ("/v1/chat/completions", "chat"), ("/v1beta/models/g:generateContent", "gemini"),
])
def test_errors_in_each_wire(path: str, wire: str, standin: StandinFixture) -> None:
    standin.add(Reply(error="too long", error_code="context_length_exceeded"), wire=wire)
    code, text = post(standin.url + path, {"model": "m", "messages": []})
    assert code == 400
    assert "too long" in text


def test_times_limits_a_rule(standin: StandinFixture) -> None:
    standin.add(Reply(text="once"), wire="chat", times=1)
    body = {"model": "m", "messages": []}
    first = json.loads(post(standin.openai_url + "/chat/completions", body)[1])
    second = json.loads(post(standin.openai_url + "/chat/completions", body)[1])
    assert first["choices"][0]["message"]["content"] == "once"
    assert second["choices"][0]["message"]["content"] == "Nothing to do."


def test_apply_patch_document(tmp_path: Path) -> None:
    assert apply_patch_for(tmp_path / "new.txt", "new.txt", "a\nb\n") == (
        "*** Begin Patch\n*** Add File: new.txt\n+a\n+b\n*** End Patch")
    (tmp_path / "old.txt").write_text("x\n")
    assert apply_patch_for(tmp_path / "old.txt", "old.txt", "y\n") == (
        "*** Begin Patch\n*** Update File: old.txt\n@@\n-x\n+y\n*** End Patch")
