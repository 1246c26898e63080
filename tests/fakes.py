"""Local fakes for upstream HTTP APIs, served through httpx.MockTransport (no sockets).

``FakeOpenAI`` (Chat Completions) and ``FakeGeminiChat`` (generateContent) answer text, or the tool
calls queued with ``queue_message`` / ``queue_parts``, and refuse with a 400, as the real APIs do,
a request whose tool exchange is malformed: tool options without tools, a strict tool whose schema
is not strict, a tool result answering no call or a call left unanswered, a function-response turn
that does not answer every call of the model turn before it, a thinking model's function call
replayed without its thought signature.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

import httpx

from tests.media_fakes import strict_schema_problem


def _openai_error(status: int, message: str, param: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}})


def openai_tool_problem(body: dict[str, Any]) -> str | None:
    """What the Chat Completions API would refuse in a request's tools and tool messages, or None."""
    tools = body.get("tools")
    for option in ("tool_choice", "parallel_tool_calls"):
        if option in body and not tools:
            return f"'{option}' is only allowed when 'tools' are specified."
    for tool in tools or []:
        function = tool.get("function") or {}
        if tool.get("type") != "function" or not function.get("name"):
            return "Missing required parameter: 'tools[0].function.name'."
        if function.get("strict") and (problem := strict_schema_problem(function.get("parameters") or {})):
            return f"Invalid schema for function '{function['name']}': In context=(), {problem}."
    waiting: list[str] = []  # call ids of the last assistant message still without a tool message
    for message in body.get("messages", []):
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in waiting:
                return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
            waiting.remove(message["tool_call_id"])
            continue
        if waiting:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
                f"The following tool_call_ids did not have response messages: {', '.join(waiting)}"
            )
        if message.get("role") == "assistant" and message.get("tool_calls"):
            waiting = [call["id"] for call in message["tool_calls"]]
    return None


class FakeOpenAI:
    """Chat Completions endpoint: records requests; answers with queued responses, then a default."""

    def __init__(self, reply: str = "Abrimos aos domingos das 7h às 12h. 🥐") -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self._queued: deque[tuple[int, dict[str, Any]]] = deque()
        self.always_fail_with: int | None = None
        self.usage: dict[str, Any] = {"prompt_tokens": 57, "completion_tokens": 21, "total_tokens": 78}

    def fail_next(self, status: int, times: int = 1) -> None:
        for _ in range(times):
            self._queued.append((status, {"error": {"message": "injected", "type": "server_error", "code": None}}))

    def queue_message(self, message: dict[str, Any], *, usage: dict[str, Any] | None = None, finish_reason: str | None = None) -> None:
        """Answer the next request with this assistant ``message`` (``tool_calls`` and all)."""
        reason = finish_reason or ("tool_calls" if message.get("tool_calls") else "stop")
        body = self._completion({"role": "assistant", "content": None, "refusal": None, **message}, reason, usage or self.usage)
        self._queued.append((200, body))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "api.openai.com" or not request.url.path.endswith("/chat/completions"):
            return httpx.Response(404, json={"error": {"message": "not found"}})
        body = json.loads(request.content)
        self.requests.append(body)
        if problem := openai_tool_problem(body):
            return _openai_error(400, problem, "messages")
        if self.always_fail_with:
            return httpx.Response(self.always_fail_with, json={"error": {"message": "injected", "type": "server_error"}})
        if self._queued:
            status, queued = self._queued.popleft()
            return httpx.Response(status, json=queued)
        return httpx.Response(200, json=self._completion({"role": "assistant", "content": self.reply}, "stop", self.usage))

    def _completion(self, message: dict[str, Any], finish_reason: str, usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{len(self.requests) + len(self._queued)}",
            "object": "chat.completion",
            "created": 1763722801,
            "model": "gpt-4.1-mini-2025-04-14",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        }


def _gemini_error(status: int, message: str, state: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message, "status": state}})


def gemini_tool_problem(model: str, body: dict[str, Any]) -> str | None:
    """What generateContent would refuse in a request's declarations and function turns, or None."""
    for tool in body.get("tools", []):
        for declaration in tool.get("functionDeclarations", []):
            schema = declaration.get("parametersJsonSchema", declaration.get("parameters_json_schema"))
            if not declaration.get("name") or not isinstance(schema, dict):
                return "* GenerateContentRequest.tools[0].function_declarations[0].parameters: must be set"
    mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode")
    if mode not in (None, "AUTO", "ANY", "NONE", "VALIDATED"):
        return f"Invalid value at 'tool_config.function_calling_config.mode', {mode!r}"
    calls_before = 0
    for content in body.get("contents", []):
        parts = content.get("parts", [])
        responses = [p for p in parts if "functionResponse" in p]
        calls = [p for p in parts if "functionCall" in p]
        if responses and len(responses) != calls_before:
            return (
                "Please ensure that the number of function response parts is equal to the number of function call parts "
                "of the function call turn."
            )
        if calls and model.startswith("gemini-3") and not calls[0].get("thoughtSignature"):
            return "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly."
        calls_before = len(calls) if content.get("role") == "model" else 0 if responses else calls_before
    return None


class FakeGeminiChat:
    """``POST /v1beta/models/{model}:generateContent`` for the assistant: records (model, body);
    answers the queued candidates' parts in order, then a default text."""

    host = "generativelanguage.googleapis.com"

    def __init__(self, reply: str = "Abrimos aos domingos das 7h às 12h. 🥐") -> None:
        self.reply = reply
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._queued: deque[httpx.Response] = deque()
        self.usage: dict[str, Any] = {"promptTokenCount": 58, "candidatesTokenCount": 13, "totalTokenCount": 71}

    def queue_parts(self, parts: list[dict[str, Any]], *, usage: dict[str, Any] | None = None, finish_reason: str = "STOP") -> None:
        candidate = {"content": {"role": "model", "parts": parts}, "finishReason": finish_reason, "index": 0}
        self._queued.append(httpx.Response(200, json={"candidates": [candidate], "usageMetadata": usage or self.usage}))

    def fail_next(self, response: httpx.Response) -> None:
        self._queued.append(response)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("x-goog-api-key"):
            return _gemini_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED")
        match = re.fullmatch(r"/v1beta/models/([\w.-]+):generateContent", request.url.path)
        if request.url.host != self.host or request.method != "POST" or match is None:
            return _gemini_error(404, "Not found", "NOT_FOUND")
        body = json.loads(request.content)
        self.requests.append((match.group(1), body))
        if problem := gemini_tool_problem(match.group(1), body):
            return _gemini_error(400, problem, "INVALID_ARGUMENT")
        if self._queued:
            return self._queued.popleft()
        candidate = {"content": {"role": "model", "parts": [{"text": self.reply}]}, "finishReason": "STOP", "index": 0}
        return httpx.Response(200, json={"candidates": [candidate], "usageMetadata": self.usage, "modelVersion": match.group(1)})
