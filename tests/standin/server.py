"""A stand-in model API on 127.0.0.1: enough of three wire formats to run the real agent CLIs.

- Anthropic Messages ``POST /v1/messages`` (Claude Code): SSE, text and tool_use blocks.
- OpenAI Responses ``POST /v1/responses`` (Codex): SSE, messages and function calls.
- OpenAI Chat Completions ``POST /v1/chat/completions`` (Aider): streamed or not.
- Gemini ``POST /v1beta/models/M:streamGenerateContent?alt=sse`` (Gemini CLI): SSE, text
  and functionCall parts.

Replies come from rules matched by what a request looks like (its wire format, whether
it offers tools, how many tool results it carries, what its body contains), never by
arrival order: the CLIs make side calls (a title, a commit message, a warm-up) whose
number and order change between releases. The first matching rule answers; a request no
rule matches gets a short text reply. Every request is logged with its JSON body.

Standard library only; token counts are a deterministic estimate (bytes / 4).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

WIRES = ("anthropic", "responses", "chat", "gemini")


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None
    raw: bytes

    @property
    def wire(self) -> str | None:
        if self.method != "POST":
            return None
        if self.path.endswith("/messages"):
            return "anthropic"
        if self.path.endswith("/responses"):
            return "responses"
        if self.path.endswith("/chat/completions"):
            return "chat"
        if self.path.endswith((":streamGenerateContent", ":generateContent")):
            return "gemini"
        return None

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    @property
    def has_tools(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("tools"))

    @property
    def model(self) -> str:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        if not model and self.wire == "gemini":  # /v1beta/models/MODEL:streamGenerateContent
            model = self.path.rsplit("/", 1)[-1].split(":", 1)[0]
        return str(model or "standin-model")

    @property
    def streamed(self) -> bool:
        if self.wire == "gemini":
            return self.path.endswith(":streamGenerateContent")
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    def tool_calls(self) -> list[tuple[str, str]]:
        """(call id, tool name) of every tool call in the conversation so far."""
        calls: list[tuple[str, str]] = []
        for item in self._items():
            if item.get("type") == "tool_use":  # anthropic
                calls.append((str(item.get("id")), str(item.get("name"))))
            elif item.get("type") in ("function_call", "custom_tool_call"):  # responses
                calls.append((str(item.get("call_id")), str(item.get("name"))))
            for call in item.get("tool_calls") or []:  # chat
                calls.append((str(call.get("id")), str((call.get("function") or {}).get("name"))))
            if isinstance(item.get("functionCall"), dict):  # gemini: matched by name
                name = str(item["functionCall"].get("name"))
                calls.append((str(item["functionCall"].get("id") or name), name))
        return calls

    def tool_results(self) -> list[str]:
        """The call ids answered by tool results, in conversation order."""
        ids: list[str] = []
        for item in self._items():
            kind = item.get("type")
            if kind == "tool_result":
                ids.append(str(item.get("tool_use_id")))
            elif kind in ("function_call_output", "custom_tool_call_output"):
                ids.append(str(item.get("call_id")))
            elif item.get("role") == "tool":
                ids.append(str(item.get("tool_call_id")))
            elif isinstance(item.get("functionResponse"), dict):
                response = item["functionResponse"]
                ids.append(str(response.get("id") or response.get("name")))
        return ids

    @property
    def last_tool(self) -> str | None:
        """The name of the tool whose result is the latest in the conversation."""
        results = self.tool_results()
        if not results:
            return None
        names = dict(self.tool_calls())
        return names.get(results[-1])

    def _items(self) -> list[dict[str, Any]]:
        """Messages and their content blocks (anthropic, chat), or input items (responses)."""
        if not isinstance(self.body, dict):
            return []
        out: list[dict[str, Any]] = []
        seq = self.body.get("messages") or self.body.get("input") or self.body.get("contents") or []
        if not isinstance(seq, list):
            return []
        for msg in seq:
            if not isinstance(msg, dict):
                continue
            out.append(msg)
            content = msg.get("content", msg.get("parts"))
            if isinstance(content, list):
                out.extend(c for c in content if isinstance(c, dict))
        return out

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "wire": self.wire,
                "tools": self.has_tools, "tool_results": len(self.tool_results()),
                "last_tool": self.last_tool, "model": self.model if self.body else None}


@dataclass
class Reply:
    """A text reply, a tool call (``tool`` + ``input``), or an API error (``error``)."""

    text: str = ""
    tool: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_code: str | None = None  # OpenAI's error.code, e.g. context_length_exceeded
    status: int = 400  # for an error


Responder = Reply | Callable[[Request], Reply]


@dataclass
class Rule:
    reply: Responder
    wire: str | None = None
    has_tools: bool | None = None
    tool_results: int | None = None  # exactly this many tool results in the request
    last_tool: str | None = None
    contains: str | None = None  # the raw body contains this text
    not_contains: str | None = None
    times: int | None = None  # answers at most this many requests (None: any number)
    used: int = 0

    def matches(self, req: Request) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if self.wire is not None and req.wire != self.wire:
            return False
        if req.wire is None:
            return False
        if self.has_tools is not None and req.has_tools != self.has_tools:
            return False
        if self.tool_results is not None and len(req.tool_results()) != self.tool_results:
            return False
        if self.last_tool is not None and req.last_tool != self.last_tool:
            return False
        if self.contains is not None and self.contains not in req.text:
            return False
        if self.not_contains is not None and self.not_contains in req.text:
            return False
        return True


DEFAULT_REPLY = Reply(text="Nothing to do.")


class Standin:
    """The server, its rules and its request log. ``start()`` binds a free port."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle
    def start(self) -> Standin:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for one, at every test's teardown.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, without /v1 (ANTHROPIC_BASE_URL's form)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """With /v1 (OPENAI_BASE_URL's form)."""
        return self.url + "/v1"

    # --- rules and log
    def add(self, reply: Responder, **match: Any) -> Rule:
        rule = Rule(reply=reply, **match)
        with self._lock:
            self.rules.append(rule)
        return rule

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    def model_requests(self, wire: str | None = None) -> list[Request]:
        """Logged requests in one of the model wire formats (or the given one)."""
        with self._lock:
            return [r for r in self.requests if r.wire and (wire is None or r.wire == wire)]

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def answer(self, req: Request) -> Reply:
        with self._lock:
            self.requests.append(req)
            for rule in self.rules:
                if rule.matches(req):
                    rule.used += 1
                    responder = rule.reply
                    break
            else:
                responder = DEFAULT_REPLY
        return responder(req) if callable(responder) else responder


def tokens(data: bytes | str) -> int:
    """A deterministic token estimate: a quarter of the bytes, at least 1."""
    size = len(data.encode() if isinstance(data, str) else data)
    return max(1, size // 4)


def sse(events: list[tuple[str | None, Any]]) -> bytes:
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {payload}\n\n")
    return "".join(out).encode()


class _Handler(BaseHTTPRequestHandler):
    standin: Standin
    protocol_version = "HTTP/1.1"
    server_version = "batty-standin/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet under pytest
        pass

    # --- verbs
    def do_HEAD(self) -> None:
        self._send(200, b"", "text/plain", head=True)

    def do_GET(self) -> None:
        req = self._request(b"")
        self.standin.answer(req)  # logged; GETs are not model calls
        if req.path.endswith("/models"):
            data = {"object": "list", "data": [{"id": "standin-model", "object": "model",
                                                 "created": 0, "owned_by": "batty"}],
                    "models": []}
            return self._json(200, data)
        self._json(200, {"ok": True, "server": "batty-standin"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        req = self._request(raw)
        if req.path.endswith("/count_tokens"):
            self.standin.answer(req)
            return self._json(200, {"input_tokens": tokens(raw)})
        if req.path.endswith(":countTokens"):
            self.standin.answer(req)
            return self._json(200, {"totalTokens": tokens(raw)})
        if req.wire is None:
            self.standin.answer(req)
            return self._json(404, {"error": {"message": f"no such endpoint {req.path}",
                                              "type": "not_found_error"}})
        reply = self.standin.answer(req)
        if reply.error is not None:
            return self._error(req, reply)
        writer = {"anthropic": self._anthropic, "responses": self._responses,
                  "chat": self._chat, "gemini": self._gemini}[req.wire]
        writer(req, reply)

    # --- plumbing
    def _request(self, raw: bytes) -> Request:
        parts = urlsplit(self.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return Request(self.command, parts.path, parts.query, dict(self.headers.items()), body, raw)

    def _send(self, status: int, data: bytes, ctype: str, head: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if ctype == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, req: Request, reply: Reply) -> None:
        if req.wire == "anthropic":
            data: dict[str, Any] = {"type": "error", "error": {"type": "invalid_request_error",
                                                               "message": reply.error}}
        elif req.wire == "gemini":
            data = {"error": {"code": reply.status, "message": reply.error,
                              "status": "INVALID_ARGUMENT"}}
        else:
            data = {"error": {"message": reply.error, "type": "invalid_request_error",
                              "param": None, "code": reply.error_code}}
        self._json(reply.status, data)

    # --- Anthropic Messages
    def _anthropic(self, req: Request, reply: Reply) -> None:
        s = self.standin
        msg_id = s.next_id("msg")
        if reply.tool:
            block: dict[str, Any] = {"type": "tool_use", "id": s.next_id("toolu"),
                                     "name": reply.tool, "input": reply.input}
            out_tokens = tokens(json.dumps(reply.input))
            stop = "tool_use"
        else:
            block = {"type": "text", "text": reply.text}
            out_tokens = tokens(reply.text)
            stop = "end_turn"
        usage = {"input_tokens": tokens(req.raw), "output_tokens": out_tokens,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": req.model,
                   "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage}
        if not req.streamed:
            return self._json(200, message)
        start_block = dict(block, input={}) if reply.tool else dict(block, text="")
        delta = ({"type": "input_json_delta", "partial_json": json.dumps(reply.input)} if reply.tool
                 else {"type": "text_delta", "text": reply.text})
        events = [
            ("message_start", {"type": "message_start", "message": dict(
                message, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": start_block}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": out_tokens}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        self._send(200, sse(events), "text/event-stream")

    # --- OpenAI Responses
    def _responses(self, req: Request, reply: Reply) -> None:
        s = self.standin
        resp_id = s.next_id("resp")
        if reply.tool:
            arguments = json.dumps(reply.input)
            item: dict[str, Any] = {"type": "function_call", "id": s.next_id("fc"),
                                    "call_id": s.next_id("call"), "name": reply.tool,
                                    "arguments": arguments, "status": "completed"}
            out_tokens = tokens(arguments)
        else:
            item = {"type": "message", "id": s.next_id("msg"), "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": reply.text, "annotations": []}]}
            out_tokens = tokens(reply.text)
        in_tokens = tokens(req.raw)
        usage = {"input_tokens": in_tokens, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": out_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": in_tokens + out_tokens}
        response = {"id": resp_id, "object": "response", "created_at": 0, "model": req.model,
                    "status": "completed", "output": [item], "usage": usage}
        if isinstance(req.body, dict) and req.body.get("stream") is False:
            return self._json(200, response)
        events: list[tuple[str | None, Any]] = [
            ("response.created", {"type": "response.created", "response": dict(
                response, status="in_progress", output=[], usage=None)}),
            ("response.output_item.added", {"type": "response.output_item.added",
                                            "output_index": 0,
                                            "item": dict(item, status="in_progress")}),
        ]
        if not reply.tool:
            events.append(("response.output_text.delta", {
                "type": "response.output_text.delta", "item_id": item["id"], "output_index": 0,
                "content_index": 0, "delta": reply.text}))
        events += [
            ("response.output_item.done", {"type": "response.output_item.done",
                                           "output_index": 0, "item": item}),
            ("response.completed", {"type": "response.completed", "response": response}),
        ]
        self._send(200, sse(events), "text/event-stream")

    # --- OpenAI Chat Completions
    def _chat(self, req: Request, reply: Reply) -> None:
        s = self.standin
        chat_id = s.next_id("chatcmpl")
        in_tokens = tokens(req.raw)
        if reply.tool:
            call = {"id": s.next_id("call"), "type": "function",
                    "function": {"name": reply.tool, "arguments": json.dumps(reply.input)}}
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
            out_tokens, finish = tokens(json.dumps(reply.input)), "tool_calls"
        else:
            message = {"role": "assistant", "content": reply.text}
            out_tokens, finish = tokens(reply.text), "stop"
        usage = {"prompt_tokens": in_tokens, "completion_tokens": out_tokens,
                 "total_tokens": in_tokens + out_tokens}
        base = {"id": chat_id, "created": 0, "model": req.model}
        if not req.streamed:
            return self._json(200, dict(base, object="chat.completion", usage=usage, choices=[
                {"index": 0, "message": message, "finish_reason": finish}]))
        chunk = dict(base, object="chat.completion.chunk")
        if reply.tool:
            first = {"role": "assistant", "content": None,
                     "tool_calls": [dict(message["tool_calls"][0], index=0)]}
        else:
            first = {"role": "assistant", "content": reply.text}
        events: list[tuple[str | None, Any]] = [
            (None, dict(chunk, choices=[{"index": 0, "delta": first, "finish_reason": None}])),
            (None, dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": finish}])),
            (None, dict(chunk, choices=[], usage=usage)),
            (None, "[DONE]"),
        ]
        self._send(200, sse(events), "text/event-stream")

    # --- Gemini generateContent
    def _gemini(self, req: Request, reply: Reply) -> None:
        if reply.tool:
            part: dict[str, Any] = {"functionCall": {"name": reply.tool, "args": reply.input}}
            out_tokens = tokens(json.dumps(reply.input))
        else:
            part = {"text": reply.text}
            out_tokens = tokens(reply.text)
        in_tokens = tokens(req.raw)
        data = {
            "candidates": [{"content": {"role": "model", "parts": [part]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": in_tokens, "candidatesTokenCount": out_tokens,
                              "totalTokenCount": in_tokens + out_tokens},
            "modelVersion": req.model,
            "responseId": self.standin.next_id("gem"),
        }
        if not req.streamed:
            return self._json(200, data)
        self._send(200, sse([(None, data)]), "text/event-stream")
