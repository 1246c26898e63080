"""Local fakes for upstream HTTP APIs, served through httpx.MockTransport (no sockets)."""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import httpx


class FakeOpenAI:
    """Chat Completions endpoint: records requests; answers with queued responses, then a default."""

    def __init__(self, reply: str = "Abrimos aos domingos das 7h às 12h. 🥐") -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self._queued: deque[tuple[int, dict[str, Any]]] = deque()
        self.always_fail_with: int | None = None

    def fail_next(self, status: int, times: int = 1) -> None:
        for _ in range(times):
            self._queued.append((status, {"error": {"message": "injected", "type": "server_error", "code": None}}))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "api.openai.com" or not request.url.path.endswith("/chat/completions"):
            return httpx.Response(404, json={"error": {"message": "not found"}})
        self.requests.append(json.loads(request.content))
        if self.always_fail_with:
            return httpx.Response(self.always_fail_with, json={"error": {"message": "injected", "type": "server_error"}})
        if self._queued:
            status, body = self._queued.popleft()
            return httpx.Response(status, json=body)
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1763722801,
                "model": "gpt-4.1-mini-2025-04-14",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": self.reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 57, "completion_tokens": 21, "total_tokens": 78},
            },
        )
