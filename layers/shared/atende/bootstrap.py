"""Composition root: the one place that wires adapters to use cases.

Functions call ``build_*`` once per container; tests call them with fakes (an httpx transport,
moto-backed clients) instead of patching internals.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from atende.config import ProcessorSettings, WebhookSettings
from atende.service.ingress import MetaIngress
from atende.store.queue import InboundQueue
from atende.store.secrets import SecretStore

if TYPE_CHECKING:
    import httpx

    from atende.service.relay_ingress import EvolutionIngress, WhaticketIngress
    from atende.service.replies import ReplyService


class WebhookIngresses:
    """The webhook's use cases, built on first use: a container serving Meta never imports the
    Evolution/Whaticket code. They share the queue client and the secrets cache (the pseudonym
    key is fetched once per container whichever provider asks first)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.queue = InboundQueue(settings.inbound_queue_url)
        self.secrets = SecretStore(max_age=settings.cache_seconds, prefetch=(settings.meta_secret_id, settings.pseudonym_secret_id))

    @cached_property
    def meta(self) -> MetaIngress:
        return MetaIngress(self.settings, self.queue, self.secrets)

    @cached_property
    def evolution(self) -> EvolutionIngress:
        from atende.service.relay_ingress import EvolutionIngress

        return EvolutionIngress(self.settings, self.queue, self.secrets)

    @cached_property
    def whaticket(self) -> WhaticketIngress:
        from atende.service.relay_ingress import WhaticketIngress
        from atende.store.replay import ReplayGuard

        _, replay_table = self.settings.require_relays()
        return WhaticketIngress(self.settings, self.queue, self.secrets, ReplayGuard(replay_table))


def build_webhook(settings: WebhookSettings) -> WebhookIngresses:
    return WebhookIngresses(settings)


def build_reply_service(settings: ProcessorSettings, *, http_client: httpx.Client | None = None) -> ReplyService:
    import httpx

    from atende.channels.outbound import Messenger
    from atende.domain.messages import Provider
    from atende.domain.tenants import Channel, Tenant
    from atende.errors import ConfigError
    from atende.llm import ChatModel, LlmKeys, LlmOptions, select_chat_model
    from atende.media.sources import MediaSource
    from atende.media.store import MediaStore
    from atende.media.understanding import Transcriber, Vision
    from atende.service.media import MediaReader
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

    whaticket_tokens = None  # one login-token cache per container, shared by every Whaticket channel

    def messenger_for(channel: Channel) -> Messenger:
        nonlocal whaticket_tokens
        if channel.provider is Provider.META:
            from atende.channels.meta_client import MetaClient

            token = secrets.get_field(channel.access_token_secret_id or settings.meta_token_secret_id, "access_token")
            return MetaClient(
                provider_http,
                base_url=settings.graph_api_base_url,
                api_version=settings.graph_api_version,
                phone_number_id=channel.external_id,
                access_token=token,
            )
        if not channel.access_token_secret_id or not channel.base_url:
            raise ConfigError(f"channel {channel.channel_id} has no base_url or credentials secret")
        if channel.provider is Provider.EVOLUTION:
            from atende.channels.evolution_client import EvolutionClient

            return EvolutionClient(
                provider_http,
                base_url=channel.base_url,
                instance=channel.external_id,
                api_key=secrets.get_field(channel.access_token_secret_id, "api_key"),
                presence_ms=int(channel.options.get("presence_ms", 0)),
            )
        from atende.channels.whaticket_client import WhaticketClient, WhaticketCredentials, WhaticketTokenCache

        if whaticket_tokens is None:
            whaticket_tokens = WhaticketTokenCache()
        credentials = secrets.get_json(channel.access_token_secret_id)
        if credentials.get("token"):
            login = WhaticketCredentials(token=credentials["token"])
        elif credentials.get("email") and credentials.get("password"):
            login = WhaticketCredentials(email=credentials["email"], password=credentials["password"])
        else:
            raise ConfigError(f"secret {channel.access_token_secret_id} has neither token nor email/password")
        return WhaticketClient(
            provider_http,
            base_url=channel.base_url,
            credentials=login,
            token_cache=whaticket_tokens,
            whatsapp_id=channel.options.get("whatsapp_id"),
        )

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
        if channel.provider is Provider.META:
            from atende.media.meta_download import MetaMediaDownloader
            from atende.media.sources import MetaMediaSource

            token = secrets.get_field(channel.access_token_secret_id or settings.meta_token_secret_id, "access_token")
            downloader = MetaMediaDownloader(
                provider_http, base_url=settings.graph_api_base_url, api_version=settings.graph_api_version, access_token=token
            )
            return MetaMediaSource(downloader)
        if channel.provider is Provider.EVOLUTION:
            from atende.channels.evolution_client import EvolutionClient
            from atende.media.sources import EvolutionMediaSource

            if not isinstance(messenger, EvolutionClient):
                raise ConfigError(f"channel {channel.channel_id} is an Evolution channel without an Evolution client")
            return EvolutionMediaSource(messenger)
        return None  # Whaticket relays carry no downloadable media

    return ReplyService(
        directory=TenantDirectory(settings.table_name, cache_seconds=settings.cache_seconds),
        conversations=ConversationStore(settings.table_name, settings.idempotency_table_name),
        messenger_for=messenger_for,
        model_for=model_for,
        policy=ReplyPolicy(claim_lease_seconds=settings.claim_lease_seconds, dedup_ttl_days=settings.dedup_ttl_days),
        media=MediaReader(store=MediaStore(settings.media_bucket), transcriber_for=transcriber_for, vision_for=vision_for),
        media_source_for=media_source_for,
    )
