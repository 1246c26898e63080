"""Tenants own channels and every per-business setting."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atende.domain.hours import BusinessHours
from atende.domain.messages import Provider
from atende.domain.texts import DEFAULT_LANGUAGE
from atende.media import HARD_LIMITS, MediaLimits

if TYPE_CHECKING:
    from datetime import datetime

TENANT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
# Evolution instance / Whaticket connection names: they become part of secret names and URLs.
EXTERNAL_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# Claims are keyed "{tenant}#…" in the table whose "replay#…" keys the webhook may write.
RESERVED_TENANT_IDS = frozenset({"replay"})
LLM_PROVIDERS = frozenset({"auto", "openai", "gemini", "local"})
BILL_EXTRACTION_MODES = frozenset({"off", "auto", "always"})
# Out of business hours: "answer" = the assistant keeps answering and says when people are back;
# "notice" = one out-of-hours message per session with the next opening, then silence (recorded).
OUT_OF_HOURS_POLICIES = frozenset({"answer", "notice"})
MAX_BURST_PAUSE_SECONDS = 15  # a longer pause would make every answer feel slow

DEFAULT_SYSTEM_PROMPT = (
    "Você é o assistente virtual de atendimento de {business_name} no WhatsApp. "
    "Responda em português do Brasil, com frases curtas, simpáticas e objetivas. "
    "Nunca invente preços, prazos ou políticas: se não souber, diga que vai verificar com a equipe."
)


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """How a tenant's customers' voice notes, images, documents and videos are handled."""

    # Send "🔊 Entendi: …" with the transcript before answering a voice note, so the customer can
    # see what was understood (off by default: it doubles the messages for every audio).
    transcript_echo: bool = False
    # When the tenant's provider is unavailable, try the other configured one (OpenAI ↔ Gemini).
    fallback: bool = True
    # Electricity-bill extraction from images: "auto" = when the caption or the image's
    # description mentions a bill; "always" (solar sellers); "off".
    bill_extraction: str = "auto"
    limits: MediaLimits = field(default_factory=MediaLimits)

    def __post_init__(self) -> None:
        if self.bill_extraction not in BILL_EXTRACTION_MODES:
            raise ValueError(f"bill_extraction must be one of {sorted(BILL_EXTRACTION_MODES)}")

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> MediaSettings:
        item = item or {}
        return cls(
            transcript_echo=bool(item.get("transcript_echo", False)),
            fallback=bool(item.get("fallback", True)),
            bill_extraction=str(item.get("bill_extraction") or "auto"),
            limits=MediaLimits.from_item(item.get("limits")),
        )

    def to_item(self) -> dict[str, Any]:
        defaults = MediaLimits()
        limits = {name: getattr(self.limits, name) for name in HARD_LIMITS if getattr(self.limits, name) != getattr(defaults, name)}
        return {
            "transcript_echo": self.transcript_echo,
            "fallback": self.fallback,
            "bill_extraction": self.bill_extraction,
            **({"limits": limits} if limits else {}),
        }


# The tools Atende ships (atende.tools): a tenant enables the ones it wants; the system prompt
# lists only those. ``remote`` points a tool (one of these, or a tenant tool) at the tenant's own
# HTTPS endpoint instead (atende.tools.remote validates that configuration).
BUILTIN_TOOLS = (
    "search_products",
    "check_stock",
    "order_status",
    "recent_orders",
    "create_order",
    "open_ticket",
    "customer_history",
    "last_bill",
    "request_human",
)
TOOL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{2,39}")
MAX_TOOL_STEPS = 8


@dataclass(frozen=True, slots=True)
class ToolSettings:
    enabled: tuple[str, ...] = ()
    # Model calls per message, the last one offered no tools (so it answers in words); default 4.
    max_steps: int = 4
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.max_steps <= MAX_TOOL_STEPS:
            raise ValueError(f"tools.max_steps must be between 1 and {MAX_TOOL_STEPS}")
        for name in (*self.enabled, *self.remote):
            if not TOOL_NAME_PATTERN.fullmatch(name):
                raise ValueError(f"tool name {name!r} must be 3-40 chars of a-z, 0-9 and '_', starting with a letter")
        unknown = [name for name in self.enabled if name not in BUILTIN_TOOLS and name not in self.remote]
        if unknown:
            raise ValueError(f"unknown tools {unknown}: enable built-in tools {list(BUILTIN_TOOLS)} or configure them under tools.remote")
        if len(set(self.enabled)) != len(self.enabled):
            raise ValueError("tools.enabled lists a tool twice")

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> ToolSettings:
        item = item or {}
        return cls(
            enabled=tuple(str(name) for name in item.get("enabled") or ()),
            max_steps=int(item.get("max_steps", 4)),
            remote={str(k): dict(v) for k, v in (item.get("remote") or {}).items()},
        )

    def to_item(self) -> dict[str, Any]:
        return {"enabled": list(self.enabled), "max_steps": self.max_steps, **({"remote": self.remote} if self.remote else {})}


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: str
    name: str
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    language: str = DEFAULT_LANGUAGE
    llm_provider: str = "auto"  # auto = the first configured of openai, gemini; else local
    llm_model: str | None = None
    memory_turns: int = 12  # turns (user or assistant) kept as conversation memory
    retention_days: int = 90
    texts: dict[str, str] = field(default_factory=dict)  # overrides of domain.texts keys
    media: MediaSettings = field(default_factory=MediaSettings)
    hours: BusinessHours = field(default_factory=BusinessHours.always_open)
    out_of_hours: str = "answer"
    # A session opens with the first message after this much silence (analytics, out-of-hours notice).
    session_idle_minutes: int = 30
    # Messages of one contact arriving within this pause of each other are read together and get
    # one answer (Brazilian customers write "oi" / "tudo bem?" / "queria saber…" in a row); 0 = off.
    burst_pause_seconds: int = 3
    # More messages than this from one contact within a clock minute: one notice, then no LLM calls
    # until the minute passes; 0 = off.
    flood_limit_per_minute: int = 20
    tools: ToolSettings = field(default_factory=ToolSettings)

    def __post_init__(self) -> None:
        if not TENANT_ID_PATTERN.fullmatch(self.tenant_id):  # not match(): "$" accepts a trailing newline
            raise ValueError("tenant_id must be 2-63 chars of a-z, 0-9 and '-'")
        if self.tenant_id in RESERVED_TENANT_IDS:
            raise ValueError(f"tenant_id {self.tenant_id!r} is reserved")
        if self.llm_provider not in LLM_PROVIDERS:
            raise ValueError(f"llm_provider must be one of {sorted(LLM_PROVIDERS)}")
        if not 2 <= self.memory_turns <= 50:
            raise ValueError("memory_turns must be between 2 and 50")
        if self.retention_days < 8:
            # Inbound records double as the 7-day redelivery guard; shorter retention would reopen it.
            raise ValueError("retention_days must be at least 8")
        if self.out_of_hours not in OUT_OF_HOURS_POLICIES:
            raise ValueError(f"out_of_hours must be one of {sorted(OUT_OF_HOURS_POLICIES)}")
        if not 5 <= self.session_idle_minutes <= 24 * 60:
            raise ValueError("session_idle_minutes must be between 5 and 1440")
        if not 0 <= self.burst_pause_seconds <= MAX_BURST_PAUSE_SECONDS:
            raise ValueError(f"burst_pause_seconds must be between 0 and {MAX_BURST_PAUSE_SECONDS}")
        if not 0 <= self.flood_limit_per_minute <= 600:
            raise ValueError("flood_limit_per_minute must be between 0 (off) and 600")

    def render_system_prompt(self, now: datetime | None = None) -> str:
        """The prompt with its placeholders filled: {business_name}, {business_hours}, {open_now}, {now_local}."""
        prompt = self.system_prompt.replace("{business_name}", self.name)
        if now is None or "{" not in prompt:
            return prompt
        open_now = self.hours.is_open(now)
        values = {
            "{business_hours}": self.hours.describe(now) if self.hours.configured else "atendimento 24 horas",
            "{open_now}": "sim" if open_now else "não",
            "{now_local}": self.hours.local_now_text(now),
        }
        for placeholder, value in values.items():
            prompt = prompt.replace(placeholder, value)
        return prompt

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Tenant:
        return cls(
            tenant_id=item["tenant_id"],
            name=item["name"],
            system_prompt=item.get("system_prompt") or DEFAULT_SYSTEM_PROMPT,
            language=item.get("language") or DEFAULT_LANGUAGE,
            llm_provider=item.get("llm_provider") or "auto",
            llm_model=item.get("llm_model") or None,
            memory_turns=int(item.get("memory_turns", 12)),
            retention_days=int(item.get("retention_days", 90)),
            texts=dict(item.get("texts") or {}),
            media=MediaSettings.from_item(item.get("media")),
            hours=BusinessHours.from_item(item.get("hours")),
            out_of_hours=str(item.get("out_of_hours") or "answer"),
            session_idle_minutes=int(item.get("session_idle_minutes", 30)),
            burst_pause_seconds=int(item.get("burst_pause_seconds", 3)),
            flood_limit_per_minute=int(item.get("flood_limit_per_minute", 20)),
            tools=ToolSettings.from_item(item.get("tools")),
        )

    def to_item(self) -> dict[str, Any]:
        """The tenant item's settings (``store.tenants`` adds the keys)."""
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "system_prompt": self.system_prompt,
            "language": self.language,
            "llm_provider": self.llm_provider,
            "llm_model": self.llm_model,
            "memory_turns": self.memory_turns,
            "retention_days": self.retention_days,
            "texts": self.texts or None,
            "media": self.media.to_item(),
            "hours": self.hours.to_item(),
            "out_of_hours": self.out_of_hours,
            "session_idle_minutes": self.session_idle_minutes,
            "burst_pause_seconds": self.burst_pause_seconds,
            "flood_limit_per_minute": self.flood_limit_per_minute,
            "tools": self.tools.to_item(),
        }


@dataclass(frozen=True, slots=True)
class Channel:
    """One WhatsApp connection of a tenant.

    ``external_id`` is what the provider's webhook names the connection by: Meta's
    phone_number_id, Evolution's instance name, the Whaticket connection name in our URL.

    ``tenant_id`` is None for an *unrouted* channel: what the Meta webhook knows from a payload
    before the processor looks the number up in the registry (see ``unrouted``).
    """

    tenant_id: str | None
    provider: Provider
    external_id: str
    display_phone_number: str | None = None
    # Secrets Manager id of this channel's sending credentials (Meta access token, Evolution
    # instance token, Whaticket token or login); None = the deployment-wide Meta token secret.
    access_token_secret_id: str | None = None
    base_url: str | None = None  # Evolution server / Whaticket backend; None for Meta
    # Provider-specific, non-secret settings (e.g. Evolution presence_ms, Whaticket whatsapp_id).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def channel_id(self) -> str:
        return f"{self.provider.value}:{self.external_id}"

    @classmethod
    def unrouted(cls, provider: Provider, external_id: str) -> Channel:
        return cls(tenant_id=None, provider=provider, external_id=external_id)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Channel:
        return cls(
            tenant_id=item["tenant_id"],
            provider=Provider(item["provider"]),
            external_id=item["external_id"],
            display_phone_number=item.get("display_phone_number"),
            access_token_secret_id=item.get("access_token_secret_id") or None,
            base_url=item.get("base_url") or None,
            options=dict(item.get("options") or {}),
        )
