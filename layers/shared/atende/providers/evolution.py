"""Evolution API v2 (self-hosted Baileys): each instance proves its deliveries with its own secrets.

Webhook: ``POST /webhooks/evolution`` (and ``/webhooks/evolution/{event}``: ``webhook_by_events``
appends the event name; the body's ``event`` is what counts); the instance is named in the body.
Outbound: the instance's REST API with its token; media through ``getBase64FromMediaMessage``
unless the webhook carried the bytes.
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
    from atende.service.relay_ingress import EvolutionIngress


def _ingress(context: IngressContext) -> EvolutionIngress:
    from atende.service.relay_ingress import EvolutionIngress

    return EvolutionIngress(context.settings, context.queue, context.secrets)


def _receive(ingress: EvolutionIngress, request: WebhookRequest) -> HttpResponse:
    return ingress.receive(request.body(), request.headers())


def _messenger(channel: Channel, context: OutboundContext) -> Messenger:
    base_url, secret_id = sending_endpoint(channel)
    from atende.channels.evolution_client import EvolutionClient

    return EvolutionClient(
        context.http,
        base_url=base_url,
        instance=channel.external_id,
        api_key=context.secrets.get_field(secret_id, "api_key"),
        presence_ms=int(channel.options.get("presence_ms", 0)),
    )


def _media_source(channel: Channel, messenger: Messenger, context: OutboundContext) -> MediaSource:
    from atende.channels.evolution_client import EvolutionClient
    from atende.media.sources import EvolutionMediaSource

    if not isinstance(messenger, EvolutionClient):
        raise ConfigError(f"channel {channel.channel_id} is an Evolution channel without an Evolution client")
    return EvolutionMediaSource(messenger)


BUNDLE: ProviderBundle[EvolutionIngress] = ProviderBundle(
    provider=Provider.EVOLUTION,
    parser=Ref("atende.channels.evolution:parse_evolution_webhook"),
    proofs=(Ref("atende.channels.relay_auth:verify_evolution"),),
    registration=Ref("atende.service.registration:register_evolution_channel"),
    ingress=_ingress,
    routes=(
        Route("POST", "/webhooks/evolution", _receive),
        Route("POST", "/webhooks/evolution/{event}", _receive),
    ),
    messenger=_messenger,
    media_source=_media_source,
)
