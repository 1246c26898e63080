"""Conversation rules: bounded memory, the 24-hour window, reply splitting."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["user", "assistant"]

SERVICE_WINDOW_SECONDS = 24 * 3600  # Meta: free-form messages only within 24 h of the last inbound
META_TEXT_LIMIT = 4096  # Meta text body limit, in characters
MEMORY_TURN_CHARS = 2000  # each remembered turn is truncated: memory lives in one DynamoDB item


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    text: str
    at: int  # unix seconds

    def to_item(self) -> dict[str, Any]:
        return {"r": self.role, "t": self.text, "at": self.at}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Turn:
        role: Role = "assistant" if item["r"] == "assistant" else "user"
        return cls(role=role, text=str(item["t"]), at=int(item["at"]))


def remember(memory: Sequence[Turn], new_turns: Sequence[Turn], limit: int) -> list[Turn]:
    """Append turns and keep only the newest ``limit``, each truncated to MEMORY_TURN_CHARS."""
    clipped = [Turn(t.role, t.text[:MEMORY_TURN_CHARS], t.at) for t in new_turns]
    return [*memory, *clipped][-limit:]


def within_service_window(last_inbound_at: int | None, now: int) -> bool:
    return last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW_SECONDS


_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?…])\s+"), re.compile(r"\s+"))


def split_text(text: str, limit: int = META_TEXT_LIMIT) -> list[str]:
    """Split a reply into parts of at most ``limit`` characters.

    Prefers paragraph, then line, then sentence, then word boundaries, and cuts mid-word only
    when a single word is longer than the limit. Empty input gives no parts.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        cut = _best_cut(text, limit)
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            parts.append(head)
    if text:
        parts.append(text)
    return parts


def _best_cut(text: str, limit: int) -> int:
    window = text[: limit + 1]
    for pattern in _BREAKS:
        ends = [m.start() for m in pattern.finditer(window) if 0 < m.start() <= limit]
        if ends and ends[-1] >= limit // 2:  # don't produce tiny fragments to honour a boundary
            return ends[-1]
    return limit
