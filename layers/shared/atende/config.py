"""The one place that reads configuration from the environment.

Settings are plain frozen dataclasses (not pydantic) on purpose: the webhook's cold start is
budgeted against a bare boto3 client, and importing pydantic costs more than this whole module.
Required variables fail loudly with ConfigError; only genuinely optional knobs have defaults,
and no default points at localhost.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from atende.errors import ConfigError

DEFAULT_GRAPH_API_BASE_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v24.0"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    inbound_queue_url: str
    meta_secret_id: str
    pseudonym_secret_id: str
    # Meta documents payloads up to 3 MB; anything larger is not a genuine delivery.
    max_body_bytes: int = 3 * 1024 * 1024
    # Secrets are cached per warm container; 5 min bounds staleness after a rotation.
    cache_seconds: int = 300
    # Evolution / Whaticket: each channel's webhook credentials live in the secret
    # ``{prefix}{provider}-{external_id}``; signed Whaticket deliveries are remembered in the
    # replay table for the timestamp window. Only the relay routes need them (Meta does not).
    channel_auth_secret_prefix: str | None = None
    replay_table_name: str | None = None
    replay_window_seconds: int = 300
    # An unknown instance/connection is remembered this long, so a flood of made-up names
    # cannot turn into one Secrets Manager call each.
    unknown_channel_cache_seconds: int = 60

    def require_relays(self) -> tuple[str, str]:
        if not self.channel_auth_secret_prefix or not self.replay_table_name:
            raise ConfigError("CHANNEL_AUTH_SECRET_PREFIX and REPLAY_TABLE_NAME are required for the Evolution/Whaticket routes")
        return self.channel_auth_secret_prefix, self.replay_table_name

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if env is None else env
        return cls(
            inbound_queue_url=_required(env, "INBOUND_QUEUE_URL"),
            meta_secret_id=_required(env, "META_SECRET_ID"),
            pseudonym_secret_id=_required(env, "PSEUDONYM_SECRET_ID"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 3 * 1024 * 1024, minimum=1024),
            cache_seconds=_int(env, "CONFIG_CACHE_SECONDS", 300),
            channel_auth_secret_prefix=_optional(env, "CHANNEL_AUTH_SECRET_PREFIX"),
            replay_table_name=_optional(env, "REPLAY_TABLE_NAME"),
            replay_window_seconds=_int(env, "REPLAY_WINDOW_SECONDS", 300, minimum=30),
            unknown_channel_cache_seconds=_int(env, "UNKNOWN_CHANNEL_CACHE_SECONDS", 60),
        )


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    table_name: str
    idempotency_table_name: str
    inbound_queue_url: str
    dead_letter_queue_url: str
    meta_token_secret_id: str
    llm_secret_id: str
    media_bucket: str
    graph_api_base_url: str = DEFAULT_GRAPH_API_BASE_URL
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    openai_base_url: str | None = None
    gemini_base_url: str | None = None
    # Must equal the queue's RedrivePolicy.maxReceiveCount: on that attempt we apologise instead
    # of failing again, so the customer is never left without an answer nor apologised to twice.
    max_receive_count: int = 10
    # Real attempts (deliveries that did work) before the last-attempt apology; SQS's count also
    # includes deliveries held for a burst or dragged behind a failing message, so it is higher.
    max_attempts: int = 5
    # Must equal the SQS event source's BatchSize: the last record of a full batch may be a burst's
    # cut-off middle (its followers wait in the queue), so it is held once for the next batch.
    batch_size: int = 5
    # A claim on an inbound message is a lease; it must outlive one invocation (= function timeout)
    # so a crashed invocation's claim expires before SQS makes the message visible again.
    claim_lease_seconds: int = 300
    # Meta redelivers webhooks for up to 7 days; one extra day of margin.
    dedup_ttl_days: int = 8
    llm_timeout_seconds: int = 20
    llm_max_retries: int = 2
    # Transcribing a 5-minute voice note or reading a video takes longer than a chat answer.
    media_timeout_seconds: int = 60
    media_max_retries: int = 1
    provider_timeout_seconds: int = 10
    cache_seconds: int = 300
    # Only the local stack sets this: a tenant tool endpoint on 127.0.0.1 (in Lambda, 127.0.0.1
    # is the runtime API, never a tenant's server).
    remote_tools_allow_loopback: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProcessorSettings:
        env = os.environ if env is None else env
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            idempotency_table_name=_required(env, "IDEMPOTENCY_TABLE_NAME"),
            inbound_queue_url=_required(env, "INBOUND_QUEUE_URL"),
            dead_letter_queue_url=_required(env, "DEAD_LETTER_QUEUE_URL"),
            meta_token_secret_id=_required(env, "META_TOKEN_SECRET_ID"),
            llm_secret_id=_required(env, "LLM_SECRET_ID"),
            media_bucket=_required(env, "MEDIA_BUCKET"),
            graph_api_base_url=_optional(env, "GRAPH_API_BASE_URL") or DEFAULT_GRAPH_API_BASE_URL,
            graph_api_version=_optional(env, "GRAPH_API_VERSION") or DEFAULT_GRAPH_API_VERSION,
            openai_base_url=_optional(env, "OPENAI_BASE_URL"),
            gemini_base_url=_optional(env, "GEMINI_BASE_URL"),
            max_receive_count=_int(env, "MAX_RECEIVE_COUNT", 10, minimum=2),
            max_attempts=_int(env, "MAX_ATTEMPTS", 5, minimum=1),
            batch_size=_int(env, "BATCH_SIZE", 5, minimum=1),
            claim_lease_seconds=_int(env, "CLAIM_LEASE_SECONDS", 300, minimum=1),
            dedup_ttl_days=_int(env, "DEDUP_TTL_DAYS", 8, minimum=7),
            llm_timeout_seconds=_int(env, "LLM_TIMEOUT_SECONDS", 20, minimum=1),
            llm_max_retries=_int(env, "LLM_MAX_RETRIES", 2),
            media_timeout_seconds=_int(env, "MEDIA_TIMEOUT_SECONDS", 60, minimum=1),
            media_max_retries=_int(env, "MEDIA_MAX_RETRIES", 1),
            provider_timeout_seconds=_int(env, "PROVIDER_TIMEOUT_SECONDS", 10, minimum=1),
            cache_seconds=_int(env, "CONFIG_CACHE_SECONDS", 300),
            remote_tools_allow_loopback=_optional(env, "REMOTE_TOOLS_ALLOW_LOOPBACK") == "true",
        )
