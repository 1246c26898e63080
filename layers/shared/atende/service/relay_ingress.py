"""Webhook ingress for Evolution API and Whaticket: authenticate per channel, normalise, enqueue.

Unlike Meta (one app secret for the deployment), each Evolution instance / Whaticket connection
proves itself with its own credentials, kept in a per-channel webhook-auth secret the webhook may
read (the sending credentials live in another secret it may not). Unknown channels are 403 and
cached as absent, so made-up names cost nothing downstream. Every rejection queues nothing.

Orders of checks:
- Evolution names its channel in the body: size (413) → JSON (400) → envelope (400) → channel
  (403) → proofs (401/403) → normalise → enqueue (503 if the queue fails).
- Whaticket names its channel in the URL: size (413) → channel (403) → signature, timestamp,
  token (401/403) → JSON and sender (400/422) → replay (403) → enqueue (503; the signature is
  forgotten again so the relay's retry is accepted) → 202 ``{"queued": true}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol, TypeVar

from atende.channels import relay_auth
from atende.channels.payload import decode_json
from atende.config import WebhookSettings
from atende.domain.messages import InboundMessage, Provider, StatusUpdate
from atende.domain.tenants import EXTERNAL_ID_PATTERN, Channel
from atende.errors import (
    PayloadTooLarge,
    ReplayedDelivery,
    SignatureInvalid,
    SignatureMissing,
    StoreError,
    UnknownChannel,
    WebhookRejected,
)
from atende.observability import count, logger
from atende.service.alerts import MetricAlerts, OperatorAlerts
from atende.service.ingress import HttpResponse, Queue, cached_contact_id, json_response
from atende.store.queue import QueueItem

if TYPE_CHECKING:
    from atende.store.replay import ReplayGuard


class Secrets(Protocol):
    def get_field(self, secret_id: str, field: str) -> str: ...

    def find_json(self, secret_id: str, *, absent_for: float = ...) -> dict[str, str] | None: ...

    def refresh(self, secret_id: str, *, min_age: float = ...) -> bool: ...


T = TypeVar("T")


def channel_auth_secret_id(prefix: str, provider: Provider, external_id: str) -> str:
    """Name of a channel's webhook-auth secret (the webhook's IAM grant is ``{prefix}*``)."""
    return f"{prefix}{provider.value}-{external_id}"


def _rejected(provider: Provider, exc: WebhookRejected) -> HttpResponse:
    count("InboundRejected")
    logger.warning(f"{provider.value} webhook rejected", extra={"reason": exc.reason, "status": exc.status_code})
    return json_response(exc.status_code, {"error": exc.reason})


def _camel(reason: str) -> str:
    return "".join(part.title() for part in reason.split("_"))


class RelayIngress:
    """Base of the self-hosted providers' ingresses: per-channel webhook credentials (found by
    the channel's name, cached, re-read once after a failed proof), pseudonymous contact ids,
    one enqueue. A new provider of this kind subclasses it and adds ``receive``."""

    provider: Provider

    def __init__(self, settings: WebhookSettings, queue: Queue, secrets: Secrets, *, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._prefix, _ = settings.require_relays()
        self._queue = queue
        self._secrets = secrets
        self._clock = clock

    def _auth_secret(self, external_id: str | None) -> dict[str, str]:
        # The pattern check keeps arbitrary strings out of secret names and Secrets Manager calls.
        if not external_id or not EXTERNAL_ID_PATTERN.fullmatch(external_id):
            raise UnknownChannel("not a valid channel name")
        value = self._secrets.find_json(
            channel_auth_secret_id(self._prefix, self.provider, external_id), absent_for=self._settings.unknown_channel_cache_seconds
        )
        if value is None:
            raise UnknownChannel("no webhook credentials for this channel")
        return value

    def _verified(self, external_id: str | None, verify: Callable[[dict[str, str]], T]) -> T:
        """``verify`` against the channel's cached credentials; after a failure, once against fresh ones.

        An operator who rotates a channel's webhook secret must not lose the deliveries of the
        cache's lifetime (Evolution never retries a 401/403); a stale cache entry is re-read at
        most once per 30 s per channel, so bad requests cannot turn into a Secrets Manager flood.
        """
        try:
            return verify(self._auth_secret(external_id))
        except (SignatureInvalid, SignatureMissing):
            secret_id = channel_auth_secret_id(self._prefix, self.provider, str(external_id))
            if not self._secrets.refresh(secret_id, min_age=30.0):
                raise
            count("WebhookAuthRefreshed")
            return verify(self._auth_secret(external_id))

    def _contact_id(self, sender_id: str) -> str:
        key = self._secrets.get_field(self._settings.pseudonym_secret_id, "key")
        return cached_contact_id(key, sender_id)

    def _enqueue(self, messages: list[InboundMessage], statuses: list[StatusUpdate]) -> bool:
        messages = [m.bounded() for m in messages]
        items = [QueueItem(m.to_json(), m.group_id, m.provider_message_id) for m in messages]
        items += [QueueItem(s.to_json(), s.group_id, s.dedup_id) for s in statuses]
        if not items:
            return True
        try:
            self._queue.enqueue(items)
        except StoreError:
            count("EnqueueFailed")
            logger.exception("enqueue failed; asking the provider to retry", extra={"items": len(items), "provider": self.provider.value})
            return False
        count("InboundEnqueued", len(items))
        if messages:
            count("InboundAccepted", len(messages))
        if statuses:
            count("StatusAccepted", len(statuses))
        return True

    @staticmethod
    def _record_ignored(ignored: Mapping[str, int]) -> None:
        for reason, n in ignored.items():
            if n:
                count("InboundIgnored", n)
                count(f"InboundIgnored{_camel(reason)}", n)


class EvolutionIngress(RelayIngress):
    provider = Provider.EVOLUTION

    def __init__(
        self,
        settings: WebhookSettings,
        queue: Queue,
        secrets: Secrets,
        *,
        alerts: OperatorAlerts | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, queue, secrets, clock=clock)
        self._alerts = alerts or MetricAlerts()

    def receive(self, raw_body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        from atende.channels import evolution

        now = int(self._clock())
        try:
            if len(raw_body) > self._settings.max_body_bytes:
                raise PayloadTooLarge(f"body of {len(raw_body)} bytes exceeds {self._settings.max_body_bytes}")
            doc = decode_json(raw_body)
            envelope = evolution.read_envelope(doc)
            self._verified(
                envelope.instance,
                lambda secret: relay_auth.verify_evolution(
                    relay_auth.EvolutionAuth.from_secret(secret), raw_body, headers, envelope.apikey, now=now
                ),
            )
            delivery = evolution.parse_evolution_webhook(doc, self._contact_id, now=now)
        except WebhookRejected as exc:
            return _rejected(self.provider, exc)

        if not self._enqueue(delivery.messages, delivery.statuses):
            return json_response(503, {"error": "temporarily_unavailable"})
        self._record_ignored(delivery.ignored)
        if delivery.connection is not None:
            # After the enqueue: a 503 makes Evolution redeliver, and the alert must not repeat.
            count("ChannelConnectionUpdate")
            if delivery.connection.state == "close":
                channel_id = Channel.unrouted(self.provider, envelope.instance).channel_id
                self._alerts.channel_disconnected(
                    channel_id, state=delivery.connection.state, status_reason=delivery.connection.status_reason
                )
        return json_response(200, {"received": len(delivery.messages), "statuses": len(delivery.statuses)})


class WhaticketIngress(RelayIngress):
    provider = Provider.WHATICKET

    def __init__(
        self, settings: WebhookSettings, queue: Queue, secrets: Secrets, replay: ReplayGuard, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(settings, queue, secrets, clock=clock)
        self._replay = replay

    def receive(self, connection: str | None, raw_body: bytes, headers: Mapping[str, str], url_token: str | None = None) -> HttpResponse:
        from atende.channels import whaticket

        now = int(self._clock())
        window = self._settings.replay_window_seconds
        try:
            if len(raw_body) > self._settings.max_body_bytes:
                raise PayloadTooLarge(f"body of {len(raw_body)} bytes exceeds {self._settings.max_body_bytes}")
            signature = self._verified(
                connection,
                lambda secret: relay_auth.verify_whaticket(
                    relay_auth.WhaticketAuth.from_secret(secret), raw_body, headers, url_token, now=now, window_seconds=window
                ),
            )
            channel = Channel.unrouted(self.provider, str(connection))
            delivery = whaticket.parse_whaticket_webhook(decode_json(raw_body), channel, self._contact_id, received_at=now)
            # Remembered until the timestamp leaves the window (plus the tolerance on the other side).
            if signature is not None and not self._replay.first_seen(channel.channel_id, signature, expires_at=now + 2 * window):
                raise ReplayedDelivery("this signature was already accepted")
        except WebhookRejected as exc:
            return _rejected(self.provider, exc)

        if not delivery.messages:
            self._record_ignored(delivery.ignored)
            reason = next((r for r, n in delivery.ignored.items() if n), "nothing_to_answer")
            return json_response(200, {"queued": False, "ignored": reason})
        if not self._enqueue(delivery.messages, []):
            if signature is not None:
                try:
                    self._replay.forget(channel.channel_id, signature)
                except StoreError:
                    # The relay's retry will be refused as a replay: the message is lost unless
                    # the relay re-signs it. Loud, because it is the one lossy corner.
                    count("ReplayForgetFailed")
                    logger.exception("could not forget a signature after an enqueue failure")
            return json_response(503, {"error": "temporarily_unavailable"})
        self._record_ignored(delivery.ignored)
        return json_response(202, {"queued": True})
