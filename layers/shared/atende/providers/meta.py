"""Meta's WhatsApp Cloud API: one app (the deployment's) receives the webhooks of every number.

Webhook: ``GET /webhooks/meta`` answers the subscription challenge, ``POST /webhooks/meta`` takes
deliveries signed with the app secret (``X-Hub-Signature-256``). Outbound: the Graph API, with the
number's own access token when it was registered with one, else the deployment's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atende.domain.messages import Provider
from atende.providers import IngressContext, OutboundContext, ProviderBundle, Ref, Route, WebhookRequest

if TYPE_CHECKING:
    from atende.channels.outbound import Messenger
    from atende.domain.tenants import Channel
    from atende.media.sources import MediaSource
    from atende.service.ingress import HttpResponse, MetaIngress

SIGNATURE_HEADER = "x-hub-signature-256"


def _ingress(context: IngressContext) -> MetaIngress:
    from atende.service.ingress import MetaIngress

    return MetaIngress(context.settings, context.queue, context.secrets)


def _subscribe(ingress: MetaIngress, request: WebhookRequest) -> HttpResponse:
    return ingress.subscribe(request.query())


def _receive(ingress: MetaIngress, request: WebhookRequest) -> HttpResponse:
    return ingress.receive(request.body(), request.header(SIGNATURE_HEADER))


def _access_token(channel: Channel, context: OutboundContext) -> str:
    secret_id = channel.access_token_secret_id or context.settings.meta_token_secret_id
    return context.secrets.get_field(secret_id, "access_token")


def _messenger(channel: Channel, context: OutboundContext) -> Messenger:
    from atende.channels.meta_client import MetaClient

    return MetaClient(
        context.http,
        base_url=context.settings.graph_api_base_url,
        api_version=context.settings.graph_api_version,
        phone_number_id=channel.external_id,
        access_token=_access_token(channel, context),
    )


def _media_source(channel: Channel, messenger: Messenger, context: OutboundContext) -> MediaSource:
    from atende.media.meta_download import MetaMediaDownloader
    from atende.media.sources import MetaMediaSource

    downloader = MetaMediaDownloader(
        context.http,
        base_url=context.settings.graph_api_base_url,
        api_version=context.settings.graph_api_version,
        access_token=_access_token(channel, context),
    )
    return MetaMediaSource(downloader)


BUNDLE: ProviderBundle[MetaIngress] = ProviderBundle(
    provider=Provider.META,
    parser=Ref("atende.channels.meta:parse_meta_webhook"),
    proofs=(Ref("atende.channels.meta:verify_meta_signature"), Ref("atende.channels.meta:verify_subscription")),
    registration=Ref("atende.service.registration:register_meta_channel"),
    ingress=_ingress,
    routes=(
        Route("GET", "/webhooks/meta", _subscribe),
        Route("POST", "/webhooks/meta", _receive),
    ),
    messenger=_messenger,
    media_source=_media_source,
)
