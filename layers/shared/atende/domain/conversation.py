"""Conversation rules: bounded memory, the 24-hour window, reply splitting, conversation state,
sessions and the per-contact flood window."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
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
    # An assistant turn's tool calls before its text: (name, arguments JSON, output JSON), bounded
    # by ``remember`` so memory stays one small item.
    tools: tuple[tuple[str, str, str], ...] = ()

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"r": self.role, "t": self.text, "at": self.at}
        if self.tools:
            item["x"] = [list(call) for call in self.tools]
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Turn:
        role: Role = "assistant" if item["r"] == "assistant" else "user"
        tools = tuple((str(c[0]), str(c[1]), str(c[2])) for c in item.get("x") or () if len(c) == 3)
        return cls(role=role, text=str(item["t"]), at=int(item["at"]), tools=tools)


MEMORY_TOOL_CALLS = 4  # per remembered turn
MEMORY_TOOL_ARGUMENT_CHARS = 300
MEMORY_TOOL_OUTPUT_CHARS = 600


def remember(memory: Sequence[Turn], new_turns: Sequence[Turn], limit: int) -> list[Turn]:
    """Append turns and keep only the newest ``limit``, each truncated to MEMORY_TURN_CHARS (tool
    calls to MEMORY_TOOL_CALLS, with their arguments and outputs cut short)."""
    clipped = [
        Turn(
            t.role,
            t.text[:MEMORY_TURN_CHARS],
            t.at,
            tuple((n, a[:MEMORY_TOOL_ARGUMENT_CHARS], o[:MEMORY_TOOL_OUTPUT_CHARS]) for n, a, o in t.tools[-MEMORY_TOOL_CALLS:]),
        )
        for t in new_turns
    ]
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


# --- conversation state --------------------------------------------------------------------


class ConversationState(StrEnum):
    BOT = "bot"  # the assistant answers
    QUEUED = "queued"  # waiting for a human: the bot stays silent, messages are still recorded
    ASSIGNED = "assigned"  # a human is in charge: the bot stays silent
    RESOLVED = "resolved"  # closed; the next customer message goes back to the bot

    @classmethod
    def _missing_(cls, value: object) -> ConversationState:
        return cls.BOT


HUMAN_STATES = frozenset({ConversationState.QUEUED, ConversationState.ASSIGNED})


@dataclass(frozen=True, slots=True)
class Conversation:
    """One per contact, on the profile item the pipeline already reads (no extra round trip)."""

    state: ConversationState = ConversationState.BOT
    priority: int = 0  # queued conversations: higher first
    assignee: str | None = None
    snoozed_until: int | None = None  # a human parked it: silent until then, a customer message wakes it
    changed_at: int = 0
    reason: str | None = None  # why it was queued for a person (the assistant's request_human), ≤ 200 chars

    def human_in_charge(self, now: int) -> bool:
        return self.state in HUMAN_STATES or (self.snoozed_until is not None and self.snoozed_until > now)

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"state": self.state.value, "priority": self.priority, "changed_at": self.changed_at}
        if self.assignee:
            item["assignee"] = self.assignee
        if self.snoozed_until is not None:
            item["snoozed_until"] = self.snoozed_until
        if self.reason:
            item["reason"] = self.reason
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> Conversation:
        if not item:
            return cls()
        snoozed = item.get("snoozed_until")
        return cls(
            state=ConversationState(str(item.get("state") or "bot")),
            priority=int(item.get("priority", 0)),
            assignee=str(item["assignee"]) if item.get("assignee") else None,
            snoozed_until=int(snoozed) if snoozed is not None else None,
            changed_at=int(item.get("changed_at", 0)),
            reason=str(item["reason"]) if item.get("reason") else None,
        )


# --- sessions ------------------------------------------------------------------------------


class SessionOutcome(StrEnum):
    OPEN = "open"
    IDLE = "idle"  # closed by inactivity (the next message opened a new session)
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """LLM tokens and cost of one model within a message or a session (cost as a decimal string)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_brl: Decimal = Decimal(0)
    calls: int = 0

    def plus(self, other: ModelUsage) -> ModelUsage:
        return ModelUsage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_brl + other.cost_brl,
            self.calls + other.calls,
        )

    def to_item(self) -> dict[str, Any]:
        return {
            "in": self.input_tokens,
            "cached": self.cached_input_tokens,
            "out": self.output_tokens,
            "cost_brl": self.cost_brl,
            "calls": self.calls,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ModelUsage:
        return cls(
            int(item.get("in", 0)),
            int(item.get("cached", 0)),
            int(item.get("out", 0)),
            Decimal(str(item.get("cost_brl", 0))),
            int(item.get("calls", 0)),
        )


def merge_usage(into: dict[str, ModelUsage], usage: dict[str, ModelUsage]) -> dict[str, ModelUsage]:
    """Per-model usage summed (keys are "provider/model")."""
    merged = dict(into)
    for model, figures in usage.items():
        merged[model] = merged[model].plus(figures) if model in merged else figures
    return merged


@dataclass(frozen=True, slots=True)
class Session:
    """A run of messages with no silence longer than the tenant's ``session_idle_minutes``."""

    started_at: int
    last_at: int
    messages_in: int = 0
    messages_out: int = 0
    usage: dict[str, ModelUsage] = field(default_factory=dict)
    human: bool = False  # a human took part
    outcome: SessionOutcome = SessionOutcome.OPEN
    out_of_hours_notified: bool = False
    ended_at: int | None = None

    @property
    def session_id(self) -> str:
        return f"{self.started_at:010d}"

    @property
    def cost_brl(self) -> Decimal:
        return sum((u.cost_brl for u in self.usage.values()), Decimal(0))

    def is_idle(self, now: int, idle_seconds: int) -> bool:
        return now - self.last_at >= idle_seconds

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "started_at": self.started_at,
            "last_at": self.last_at,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "usage": {model: u.to_item() for model, u in self.usage.items()},
            "tokens_in": sum(u.input_tokens for u in self.usage.values()),
            "tokens_out": sum(u.output_tokens for u in self.usage.values()),
            "cost_brl": self.cost_brl,
            "human": self.human,
            "outcome": self.outcome.value,
            "out_of_hours_notified": self.out_of_hours_notified,
        }
        if self.ended_at is not None:
            item["ended_at"] = self.ended_at
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> Session | None:
        if not item:
            return None
        return cls(
            started_at=int(item["started_at"]),
            last_at=int(item["last_at"]),
            messages_in=int(item.get("messages_in", 0)),
            messages_out=int(item.get("messages_out", 0)),
            usage={str(k): ModelUsage.from_item(v) for k, v in (item.get("usage") or {}).items()},
            human=bool(item.get("human", False)),
            outcome=SessionOutcome(str(item.get("outcome") or "open")),
            out_of_hours_notified=bool(item.get("out_of_hours_notified", False)),
            ended_at=int(item["ended_at"]) if item.get("ended_at") is not None else None,
        )


def advance_session(current: Session | None, at: int, idle_seconds: int) -> tuple[Session, Session | None]:
    """The session an inbound message at ``at`` belongs to, and the one it closed by inactivity (if any)."""
    if current is not None and current.outcome is SessionOutcome.OPEN and not current.is_idle(at, idle_seconds):
        return current, None
    closed = None
    if current is not None and current.outcome is SessionOutcome.OPEN:
        closed = replace(current, outcome=SessionOutcome.IDLE, ended_at=current.last_at)
    return Session(started_at=at, last_at=at), closed


def count_in_session(
    session: Session, *, at: int, messages_in: int = 1, messages_out: int = 0, usage: dict[str, ModelUsage] | None = None
) -> Session:
    return replace(
        session,
        last_at=max(session.last_at, at),
        messages_in=session.messages_in + messages_in,
        messages_out=session.messages_out + messages_out,
        usage=merge_usage(session.usage, usage or {}),
    )


# --- flood limit ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FloodWindow:
    """Messages of one contact in the current clock minute (on the profile)."""

    minute: int = 0  # unix minute
    count: int = 0
    notified: bool = False

    def counted(self, at: int) -> FloodWindow:
        minute = at // 60
        if minute != self.minute:
            return FloodWindow(minute, 1, False)
        return replace(self, count=self.count + 1)

    def over(self, limit: int) -> bool:
        return limit > 0 and self.count > limit

    def to_item(self) -> dict[str, Any]:
        return {"minute": self.minute, "count": self.count, "notified": self.notified}

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> FloodWindow:
        if not item:
            return cls()
        return cls(int(item.get("minute", 0)), int(item.get("count", 0)), bool(item.get("notified", False)))


MAX_PENDING_TURNS = 10  # a burst's earlier messages, waiting on the profile for the burst's one answer
