"""Traffic that is not a customer's question must be acknowledged and never answered.

Inline payloads (one field away from the named fixtures) for the cases a review found:
protocol messages on Evolution, stringified booleans from relays, Meta's request_welcome.
"""

from __future__ import annotations

import json

from atende.channels.evolution import parse_evolution_webhook
from atende.channels.meta import parse_meta_webhook
from atende.channels.whaticket import parse_whaticket_webhook
from atende.domain.messages import Provider
from atende.domain.tenants import Channel
from tests.conftest import fixture_json

NOW = 1_763_726_400


def contact_id(sender: str) -> str:
    return f"c:{sender}"


def evolution_with(message: dict) -> dict:
    doc = fixture_json("evolution/text_conversation.json")
    doc["data"]["message"] = message
    doc["data"]["messageType"] = next(iter(message))
    return doc


def test_evolution_edits_deletions_and_poll_votes_are_ignored_not_noticed():
    for message in (
        {"protocolMessage": {"key": {"id": "3EB0A1B2C3D4E5F6A7B8"}, "type": "REVOKE"}},
        {"editedMessage": {"message": {"protocolMessage": {"editedMessage": {"conversation": "Corrigindo"}}}}},
        {"pollUpdateMessage": {"pollCreationMessageKey": {"id": "3EB0POLL"}, "vote": {}}},
    ):
        delivery = parse_evolution_webhook(evolution_with(message), contact_id, now=NOW)
        assert (delivery.messages, delivery.ignored) == ([], {"edit": 1}), message


def test_whaticket_stringified_from_me_is_ours_and_ignored():
    doc = fixture_json("whaticket/baileys_conversation.json")
    doc["key"]["fromMe"] = "true"
    channel = Channel.unrouted(Provider.WHATICKET, "loja-centro")
    delivery = parse_whaticket_webhook(doc, channel, contact_id, received_at=NOW)
    assert (delivery.messages, delivery.ignored) == ([], {"from_me": 1})


def test_meta_request_welcome_is_ignored_not_noticed():
    doc = json.loads(json.dumps(fixture_json("meta/text.json")))
    message = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "request_welcome"
    channel = Channel(tenant_id="padaria-pao-quente", provider=Provider.META, external_id="100000000000001")
    delivery = parse_meta_webhook(doc, lambda _: channel, contact_id)
    assert (delivery.messages, delivery.ignored) == ([], 1)
