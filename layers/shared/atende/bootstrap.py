"""Composition root: the one place that wires adapters to use cases.

Functions call ``build_*`` once per container; tests call them with fakes (an httpx transport,
moto-backed clients) instead of patching internals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atende.config import ProcessorSettings, WebhookSettings
from atende.service.ingress import MetaIngress
from atende.store.queue import InboundQueue
from atende.store.secrets import SecretStore

if TYPE_CHECKING:
    import httpx

    from atende.service.replies import ReplyService


def build_ingress(settings: WebhookSettings) -> MetaIngress:
    return MetaIngress(
        settings,
        InboundQueue(settings.inbound_queue_url),
        SecretStore(max_age=settings.cache_seconds, prefetch=(settings.meta_secret_id, settings.pseudonym_secret_id)),
    )


def build_reply_service(settings: ProcessorSettings, *, http_client: httpx.Client | None = None) -> ReplyService:
    import httpx

    from atende.channels.meta_client import MetaClient
    from atende.domain.tenants import Channel, Tenant
    from atende.llm import ChatModel, LlmKeys, LlmOptions, select_chat_model
    from atende.service.replies import ReplyPolicy, ReplyService
    from atende.store.conversations import ConversationStore
    from atende.store.tenants import TenantDirectory

    secrets = SecretStore(max_age=settings.cache_seconds)
    provider_http = http_client or httpx.Client(timeout=settings.provider_timeout_seconds)
    llm_options = LlmOptions(
        timeout_seconds=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        openai_base_url=settings.openai_base_url,
        gemini_base_url=settings.gemini_base_url,
        http_client=http_client,
    )

    def messenger_for(channel: Channel) -> MetaClient:
        token = secrets.get_field(channel.access_token_secret_id or settings.meta_token_secret_id, "access_token")
        return MetaClient(
            provider_http,
            base_url=settings.graph_api_base_url,
            api_version=settings.graph_api_version,
            phone_number_id=channel.external_id,
            access_token=token,
        )

    def model_for(tenant: Tenant) -> ChatModel:
        return select_chat_model(tenant, LlmKeys.from_secret(secrets.get_json(settings.llm_secret_id)), llm_options)

    return ReplyService(
        directory=TenantDirectory(settings.table_name, cache_seconds=settings.cache_seconds),
        conversations=ConversationStore(settings.table_name, settings.idempotency_table_name),
        messenger_for=messenger_for,
        model_for=model_for,
        policy=ReplyPolicy(claim_lease_seconds=settings.claim_lease_seconds, dedup_ttl_days=settings.dedup_ttl_days),
    )
