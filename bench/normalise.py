"""Section (b2): signature check + normalisation, ours against pywa's, on the same payloads.

Ours: ``verify_meta_signature`` + ``decode_json`` + ``parse_meta_webhook`` with trivial
resolver and contact-id callables (the webhook's cached DynamoDB/secret lookups are not the
subject here). pywa, two ways, both without any network (a ``WhatsApp`` with no token and no
server never builds an HTTP client):

- ``pywa_custom_server``: what pywa documents for custom servers,
  ``WhatsApp.webhook_update_validator`` then ``WhatsApp.webhook_update_handler``, which parses
  and dispatches the typed ``Message`` to a registered ``MessageHandler``;
- ``pywa_parse_only``: the minimum pywa needs to reach the same ``Message``,
  ``utils.webhook_updates_validator`` + ``RawUpdate`` + ``Message.from_update``.

The verdict compares ours with the leaner of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pywa
from pywa import WhatsApp, handlers, utils
from pywa.types import Message, RawUpdate

from atende.channels.meta import decode_json, parse_meta_webhook, sign_meta_body, verify_meta_signature
from atende.domain.messages import Provider
from atende.domain.tenants import Channel
from atende.errors import SignatureInvalid
from bench.profiles import Profile
from bench.scenario import MetaText, message_id
from bench.stats import chunks, interleaved_cpu, ratio, summary
from local.seed import DEMO

Delivery = tuple[bytes, str]  # raw body, X-Hub-Signature-256

METHOD = {
    "ours": "atende.channels.meta: verify_meta_signature + decode_json + parse_meta_webhook (fixed-Channel resolver, sender id as id)",
    "pywa_custom_server": (
        f"pywa {pywa.__version__}: WhatsApp(server=None, token=None, app_secret=..., verify_token=...) with one "
        "handlers.MessageHandler; per message WhatsApp.webhook_update_validator(body, signature) then "
        "WhatsApp.webhook_update_handler(body) (blake2s update hash, duplicate cache, RawUpdate, handler "
        "resolution, Message.from_update, callback)"
    ),
    "pywa_parse_only": (
        f"pywa {pywa.__version__}: pywa.utils.webhook_updates_validator(app_secret, body, signature) + "
        "pywa.types.RawUpdate(body, ...) + pywa.types.Message.from_update(client, update)"
    ),
}
NOTE = (
    "time.process_time per message over blocks of distinct signed Meta text deliveries (own message id, "
    "same shape), contenders taking turns block by block after a warm-up block; median of block means. "
    "Every contender checks the HMAC over the raw bytes and ends with a typed message object."
)


def measure(profile: Profile) -> dict[str, Any]:
    meta = MetaText.load()
    block = max(1, profile.normalise_messages // profile.blocks)
    # The warm-up gets its own message ids: pywa skips an update it has already seen.
    deliveries = [_signed(meta.variant(message_id=message_id(n))) for n in range(block + profile.normalise_messages)]
    warmup, measured = deliveries[:block], deliveries[block:]
    contenders = {"ours": _ours(), "pywa_custom_server": _pywa_custom_server(), "pywa_parse_only": _pywa_parse_only()}
    interleaved_cpu(contenders, [warmup])
    return _report(interleaved_cpu(contenders, chunks(measured, block)), len(measured))


def _signed(raw: bytes) -> Delivery:
    return raw, sign_meta_body(raw, DEMO.app_secret)


def _ours() -> Callable[[Delivery], object]:
    channel = Channel(DEMO.tenant_id, Provider.META, DEMO.phone_number_id)

    def resolve(_phone_number_id: str) -> Channel:
        return channel

    def contact_id(sender_id: str) -> str:
        return sender_id

    def normalise(delivery: Delivery) -> object:
        raw, signature = delivery
        verify_meta_signature(raw, signature, DEMO.app_secret)
        return parse_meta_webhook(decode_json(raw), resolve, contact_id).messages[0]

    return normalise


def _pywa_client() -> WhatsApp:
    # No token: no API object, no httpx client. No server: no routes, nothing listens.
    return WhatsApp(server=None, verify_token=DEMO.verify_token, app_secret=DEMO.app_secret)


def _pywa_custom_server() -> Callable[[Delivery], object]:
    client = _pywa_client()
    received: list[Message] = []
    client.add_handlers(handlers.MessageHandler(lambda _client, message: received.append(message)))

    def normalise(delivery: Delivery) -> object:
        raw, signature = delivery
        if client.webhook_update_validator(raw, signature) is not None:
            raise SignatureInvalid("pywa rejected the signature")
        client.webhook_update_handler(raw)
        return received.pop()  # IndexError if pywa did not produce the Message

    return normalise


def _pywa_parse_only() -> Callable[[Delivery], object]:
    client = _pywa_client()

    def normalise(delivery: Delivery) -> object:
        raw, signature = delivery
        if not utils.webhook_updates_validator(app_secret=DEMO.app_secret, request_body=raw, x_hub_signature=signature):
            raise SignatureInvalid("pywa rejected the signature")
        return Message.from_update(client=client, update=RawUpdate(raw, hmac_header=signature, update_hash=""))

    return normalise


def _report(samples: dict[str, list[float]], messages: int) -> dict[str, Any]:
    stats = {name: summary(values) for name, values in samples.items()}
    ours = stats["ours"]["median"]
    leanest = min(stats["pywa_custom_server"]["median"], stats["pywa_parse_only"]["median"])
    return {
        "us_per_message": stats,
        "ratio_ours_to_pywa_custom_server": ratio(ours, stats["pywa_custom_server"]["median"]),
        "ratio_ours_to_pywa_parse_only": ratio(ours, stats["pywa_parse_only"]["median"]),
        "messages": messages,
        "method": METHOD,
        "goal": "ours <= the leaner pywa path (ratio <= 1.0)",
        "pass": ours <= leanest,
        "note": NOTE,
    }
