"""Whaticket (and forks) behind a small signing relay: each connection proves its deliveries.

Webhook: ``POST /webhooks/whaticket/{connection}`` (signed: ``X-Timestamp`` + ``X-Signature``,
replay-protected), ``POST /webhooks/whaticket`` with the connection in ``X-Atende-Channel``, and
``POST /webhooks/whaticket/{connection}/{token}`` (the weaker URL-token option, for forks that
cannot sign). Outbound: ``POST /api/messages/send`` with a static token or a login JWT. Relays
carry no downloadable media.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atende.domain.messages import Provider
from atende.errors import ConfigError
from atende.providers import IngressContext, OutboundContext, ProviderBundle, Ref, Route, WebhookRequest, sending_endpoint

if TYPE_CHECKING:
    from atende.channels.outbound import Messenger
    from atende.domain.tenants import Channel
    from atende.media.sources import MediaSource
    from atende.service.ingress import HttpResponse
    from atende.service.relay_ingress import WhaticketIngress

CHANNEL_HEADER = "x-atende-channel"


def _ingress(context: IngressContext) -> WhaticketIngress:
    from atende.service.relay_ingress import WhaticketIngress
    from atende.store.replay import ReplayGuard

    _, replay_table = context.settings.require_relays()
    return WhaticketIngress(context.settings, context.queue, context.secrets, ReplayGuard(replay_table))


def _receive_named_in_header(ingress: WhaticketIngress, request: WebhookRequest) -> HttpResponse:
    headers = request.headers()
    return ingress.receive(headers.get(CHANNEL_HEADER), request.body(), headers)


def _receive(ingress: WhaticketIngress, request: WebhookRequest) -> HttpResponse:
    return ingress.receive(request.params["connection"], request.body(), request.headers())


def _receive_with_url_token(ingress: WhaticketIngress, request: WebhookRequest) -> HttpResponse:
    return ingress.receive(request.params["connection"], request.body(), request.headers(), request.params["token"])


def _messenger(channel: Channel, context: OutboundContext) -> Messenger:
    base_url, secret_id = sending_endpoint(channel)
    from atende.channels.whaticket_client import WhaticketClient, WhaticketCredentials, WhaticketTokenCache

    credentials = context.secrets.get_json(secret_id)
    if credentials.get("token"):
        login = WhaticketCredentials(token=credentials["token"])
    elif credentials.get("email") and credentials.get("password"):
        login = WhaticketCredentials(email=credentials["email"], password=credentials["password"])
    else:
        raise ConfigError(f"secret {secret_id} has neither token nor email/password")
    return WhaticketClient(
        context.http,
        base_url=base_url,
        credentials=login,
        token_cache=context.shared(WhaticketTokenCache),  # one login-token cache per container, for every connection
        whatsapp_id=channel.options.get("whatsapp_id"),
    )


def _media_source(channel: Channel, messenger: Messenger, context: OutboundContext) -> MediaSource | None:
    return None  # relays carry encrypted Baileys metadata, no downloadable file: the reader says so


BUNDLE: ProviderBundle[WhaticketIngress] = ProviderBundle(
    provider=Provider.WHATICKET,
    parser=Ref("atende.channels.whaticket:parse_whaticket_webhook"),
    proofs=(Ref("atende.channels.relay_auth:verify_whaticket"),),
    registration=Ref("atende.service.registration:register_whaticket_channel"),
    ingress=_ingress,
    routes=(
        Route("POST", "/webhooks/whaticket", _receive_named_in_header),
        Route("POST", "/webhooks/whaticket/{connection}", _receive),
        Route("POST", "/webhooks/whaticket/{connection}/{token}", _receive_with_url_token),
    ),
    messenger=_messenger,
    media_source=_media_source,
)
