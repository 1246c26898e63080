"""Webhook ingress for Meta: verify, normalise, enqueue, answer fast.

Never calls an LLM, downloads media or reads the tenant registry. Order of checks: size (413)
→ signature present (401) → signature valid (403) → JSON shape (400) → enqueue. Every
rejection queues nothing. Meta's signature key is the deployment's app secret, so nothing
per-channel is needed to authenticate; the processor routes each phone_number_id to its tenant
(unknown numbers are dropped there, with a metric). No DynamoDB on this path: a smaller cold
start, no throttling turned into 5xx for Meta, and no table access in this function's role.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol

from atende.channels import meta
from atende.config import WebhookSettings
from atende.domain.messages import Provider
from atende.domain.privacy import pseudonymous_contact_id
from atende.domain.tenants import Channel
from atende.errors import PayloadTooLarge, StoreError, WebhookRejected
from atende.observability import count, logger
from atende.store.queue import QueueItem


class Secrets(Protocol):
    def get_field(self, secret_id: str, field: str) -> str: ...


class Queue(Protocol):
    def enqueue(self, items: list[QueueItem]) -> None: ...


_JSON = MappingProxyType({"content-type": "application/json"})


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: str
    headers: Mapping[str, str] = _JSON


@lru_cache(maxsize=4096)
def cached_contact_id(key: str, sender_id: str) -> str:
    # Customers write in bursts: the same sender's id is recomputed for every message otherwise.
    return pseudonymous_contact_id(key.encode(), sender_id)


def json_response(status: int, doc: Mapping[str, object]) -> HttpResponse:
    return HttpResponse(status, json.dumps(doc, separators=(",", ":")))


class MetaIngress:
    def __init__(self, settings: WebhookSettings, queue: Queue, secrets: Secrets) -> None:
        self._settings = settings
        self._queue = queue
        self._secrets = secrets

    def subscribe(self, query: Mapping[str, str]) -> HttpResponse:
        verify_token = self._secrets.get_field(self._settings.meta_secret_id, "verify_token")
        challenge = meta.verify_subscription(query, verify_token)
        if challenge is None:
            count("WebhookVerifyRejected")
            logger.warning("meta subscription rejected", extra={"reason": "mode_or_token"})
            return HttpResponse(403, "Forbidden", {"content-type": "text/plain"})
        count("WebhookVerified")
        return HttpResponse(200, challenge, {"content-type": "text/plain"})

    def receive(self, raw_body: bytes, signature: str | None) -> HttpResponse:
        try:
            if len(raw_body) > self._settings.max_body_bytes:
                raise PayloadTooLarge(f"body of {len(raw_body)} bytes exceeds {self._settings.max_body_bytes}")
            app_secret = self._secrets.get_field(self._settings.meta_secret_id, "app_secret")
            meta.verify_meta_signature(raw_body, signature, app_secret)
            doc = meta.decode_json(raw_body)
            delivery = meta.parse_meta_webhook(doc, self._resolve_channel, self._contact_id)
        except WebhookRejected as exc:
            count("InboundRejected")
            logger.warning("meta webhook rejected", extra={"reason": exc.reason, "status": exc.status_code})
            return json_response(exc.status_code, {"error": exc.reason})

        items = [QueueItem(m.bounded().to_json(), m.group_id, m.provider_message_id) for m in delivery.messages]
        items += [QueueItem(s.to_json(), s.group_id, s.dedup_id) for s in delivery.statuses]
        if items:
            try:
                self._queue.enqueue(items)
            except StoreError:
                # 5xx on purpose: Meta redelivers, and the processor's claim makes redelivery harmless.
                count("EnqueueFailed")
                logger.exception("enqueue failed; asking Meta to retry", extra={"items": len(items)})
                return json_response(503, {"error": "temporarily_unavailable"})
            count("InboundEnqueued", len(items))
        self._record(delivery)
        return HttpResponse(200, f'{{"received":{len(delivery.messages)},"statuses":{len(delivery.statuses)}}}')

    @staticmethod
    def _resolve_channel(phone_number_id: str) -> Channel | None:
        return Channel.unrouted(Provider.META, phone_number_id)

    def _contact_id(self, sender_id: str) -> str:
        key = self._secrets.get_field(self._settings.pseudonym_secret_id, "key")
        return cached_contact_id(key, sender_id)

    def _record(self, delivery: meta.MetaDelivery) -> None:
        if delivery.messages:
            count("InboundAccepted", len(delivery.messages))
        if delivery.statuses:
            count("StatusAccepted", len(delivery.statuses))
        if delivery.ignored:
            count("InboundIgnored", delivery.ignored)
        for error in delivery.errors:
            count("ProviderWebhookError")
            logger.warning("meta reported an error", extra={"channel_id": error.channel_id, "code": error.code})
        # DEBUG, not INFO: formatting a JSON record costs more than verifying and parsing the
        # message (`make bench`), statuses triple the volume, and the processor logs each message
        # at INFO with its correlation id. Counts are in the metrics above.
        if delivery.messages and logger.log_level <= logging.DEBUG:  # don't build the extras for nothing
            logger.debug(
                "inbound enqueued",
                extra={
                    "provider_message_ids": [m.provider_message_id for m in delivery.messages],
                    "contact_ids": [m.contact.contact_id for m in delivery.messages],
                    "channel_ids": sorted({m.channel_id for m in delivery.messages}),
                },
            )
