"""Composition root: the one place that wires adapters to use cases.

Functions call ``build_*`` once per container; tests call them with fakes (an httpx transport,
moto-backed clients) instead of patching internals.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, cast

from atende.config import ProcessorSettings, WebhookSettings
from atende.domain.messages import Provider
from atende.store.queue import InboundQueue
from atende.store.secrets import SecretStore

if TYPE_CHECKING:
    import httpx

    from atende.providers import ProviderBundle
    from atende.service.replies import ReplyService


class WebhookIngresses:
    """The webhook's use cases, one per provider, each built by its bundle on first use: a
    container serving Meta never imports the Evolution/Whaticket code. They share the queue
    client and the secrets cache (the pseudonym key is fetched once per container whichever
    provider asks first)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.queue = InboundQueue(settings.inbound_queue_url)
        self.secrets = SecretStore(max_age=settings.cache_seconds, prefetch=(settings.meta_secret_id, settings.pseudonym_secret_id))
        self._built: dict[Provider, object] = {}

    def ingress[IngressT](self, bundle: ProviderBundle[IngressT]) -> IngressT:
        if bundle.provider not in self._built:
            self._built[bundle.provider] = bundle.ingress(self)
        return cast(IngressT, self._built[bundle.provider])


def build_webhook(settings: WebhookSettings) -> WebhookIngresses:
    return WebhookIngresses(settings)


def build_reply_service(settings: ProcessorSettings, *, http_client: httpx.Client | None = None) -> ReplyService:
    import httpx

    from atende.channels.outbound import Messenger
    from atende.domain.tenants import Channel, Tenant
    from atende.llm import ChatModel, LlmKeys, LlmOptions, select_chat_model
    from atende.media.sources import MediaSource
    from atende.media.store import MediaStore
    from atende.media.understanding import Transcriber, Vision
    from atende.providers import BUNDLES, OutboundContext
    from atende.service.media import MediaReader
    from atende.service.replies import ReplyPolicy, ReplyService
    from atende.store.business import BusinessStore
    from atende.store.conversations import ConversationStore
    from atende.store.tenants import TenantDirectory
    from atende.tools.registry import ToolDeps

    secrets = SecretStore(max_age=settings.cache_seconds)
    provider_http = http_client or httpx.Client(timeout=settings.provider_timeout_seconds)
    llm_options = LlmOptions(
        timeout_seconds=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        openai_base_url=settings.openai_base_url,
        gemini_base_url=settings.gemini_base_url,
        http_client=http_client,
    )
    # Shared by every provider's factories: the secrets cache, the HTTP client and per-provider
    # state such as Whaticket's login-token cache (one per container, for every connection).
    outbound = OutboundContext(settings=settings, secrets=secrets, http=provider_http)

    def messenger_for(channel: Channel) -> Messenger:
        return BUNDLES[channel.provider].messenger(channel, outbound)

    def llm_keys() -> LlmKeys:
        return LlmKeys.from_secret(secrets.get_json(settings.llm_secret_id))

    def model_for(tenant: Tenant) -> ChatModel:
        return select_chat_model(tenant, llm_keys(), llm_options)

    media_options = replace(llm_options, timeout_seconds=settings.media_timeout_seconds, max_retries=settings.media_max_retries)

    def transcriber_for(tenant: Tenant) -> Transcriber:
        from atende.media.understanding import select_transcriber

        return select_transcriber(tenant.llm_provider, llm_keys(), media_options, fallback=tenant.media.fallback)

    def vision_for(tenant: Tenant) -> Vision:
        from atende.media.understanding import select_vision

        return select_vision(tenant.llm_provider, llm_keys(), media_options, fallback=tenant.media.fallback)

    def media_source_for(channel: Channel, messenger: Messenger) -> MediaSource | None:
        # Built per message like the messenger: the token comes from the (cached) secrets store.
        return BUNDLES[channel.provider].media_source(channel, messenger, outbound)

    conversations = ConversationStore(settings.table_name, settings.idempotency_table_name)
    # The assistant's tools: Atende's own business data, the contact's sessions, and the
    # tenants' endpoints (their HMAC keys from Secrets Manager). Built once; per message only
    # the tools the tenant enabled are bound (atende.tools.registry).
    tools = ToolDeps(
        business=BusinessStore(settings.table_name),
        sessions=conversations.sessions,
        secrets=secrets,
        allow_loopback=settings.remote_tools_allow_loopback,
    )
    return ReplyService(
        directory=TenantDirectory(settings.table_name, cache_seconds=settings.cache_seconds),
        conversations=conversations,
        messenger_for=messenger_for,
        model_for=model_for,
        policy=ReplyPolicy(claim_lease_seconds=settings.claim_lease_seconds, dedup_ttl_days=settings.dedup_ttl_days),
        media=MediaReader(store=MediaStore(settings.media_bucket), transcriber_for=transcriber_for, vision_for=vision_for),
        media_source_for=media_source_for,
        tools=tools,
    )
