"""Meta inbound normalisation: every named payload → exact InboundMessage / StatusUpdate objects.

Reference: ../shared/docs/providers.md §1.4-1.6 (envelope, message types, statuses, BSUIDs).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from atende.channels.meta import MetaDelivery, WebhookErrorReport, parse_meta_webhook
from atende.domain.messages import (
    ContactRef,
    DeliveryStatus,
    EnvelopeError,
    InboundMessage,
    MediaRef,
    MessageType,
    Provider,
    ReplyContext,
    StatusUpdate,
    parse_envelope,
)
from atende.domain.tenants import Channel
from atende.errors import MalformedPayload
from local.sandbox import status_webhook
from tests.conftest import FIXTURES, fixture_json

TENANT = "padaria-pao-quente"
PHONE_NUMBER_ID = "100000000000001"
CHANNEL = Channel(tenant_id=TENANT, provider=Provider.META, external_id=PHONE_NUMBER_ID)
CHANNEL_ID = "meta:100000000000001"
BAKERY_MESSAGE_ID = "wamid.HBgNNTUxMTQwMDI4OTIyFQIAERgSQjdGMjVBRDNDQzI4RDNFNjQ4AA=="  # one of our own messages


def resolve(phone_number_id: str) -> Channel | None:
    return CHANNEL if phone_number_id == PHONE_NUMBER_ID else None


def contact_id(sender_id: str) -> str:
    """Deterministic stand-in for the keyed pseudonym: shows exactly which id was used as the key."""
    return f"c:{sender_id}"


def parse(doc: dict[str, Any]) -> MetaDelivery:
    return parse_meta_webhook(doc, resolve, contact_id)


# The pseudonym key is the reply address: wa_id exactly as received when Meta gives it, else the BSUID;
# statuses carry the same address (recipient_id), so a reply and its statuses share one contact.
MARIANA = ContactRef(contact_id="c:5511987654321", wa_id="5511987654321", user_id="BR.1029384756102938", name="Mariana Souza")
MARIANA_AS_RECIPIENT = ContactRef(contact_id=MARIANA.contact_id, wa_id="5511987654321", user_id="BR.1029384756102938")
JOAO = ContactRef(contact_id="c:553188887766", wa_id="553188887766", name="João Pereira")


def message(provider_message_id: str, contact: ContactRef, timestamp: int, type_: MessageType, **fields: Any) -> InboundMessage:
    return InboundMessage(
        tenant_id=TENANT,
        channel_id=CHANNEL_ID,
        provider=Provider.META,
        provider_message_id=provider_message_id,
        contact=contact,
        timestamp=timestamp,
        type=type_,
        **fields,
    )


def status(status_: DeliveryStatus, timestamp: int, **fields: Any) -> StatusUpdate:
    return StatusUpdate(
        tenant_id=TENANT,
        channel_id=CHANNEL_ID,
        provider=Provider.META,
        provider_message_id="wamid.OUTBOUND",
        contact=MARIANA_AS_RECIPIENT,
        status=status_,
        timestamp=timestamp,
        **fields,
    )


EXPECTED: dict[str, MetaDelivery] = {
    "text.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA==",
                MARIANA,
                1763722800,
                MessageType.TEXT,
                text="Olá! Vocês abrem no domingo? 🥐",
            )
        ]
    ),
    # DDD 31: the 12-digit WhatsApp id is kept exactly as received, never "repaired" with a 9th digit.
    "text_ddd31.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FBQjEyMzQ1Njc4OTBBQkNERUYA",
                JOAO,
                1763722860,
                MessageType.TEXT,
                text="Quanto custa o bolo de cenoura?",
            )
        ]
    ),
    "interactive_button_reply.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA5OEY1QkQ1RTJCNkE4MDFCAA==",
                MARIANA,
                1763722920,
                MessageType.INTERACTIVE,
                text="Status do pedido",
                context=ReplyContext(message_id=BAKERY_MESSAGE_ID, from_id="551140028922"),
                extra={"interactive_type": "button_reply", "reply_id": "order_status"},
            )
        ]
    ),
    "reaction.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA3QzIyRjE4OTk5RTBBMzJDAA==",
                MARIANA,
                1763722980,
                MessageType.REACTION,
                extra={"target_message_id": BAKERY_MESSAGE_ID, "emoji": "👍"},
            )
        ]
    ),
    # Reaction removed: Meta sends an empty emoji; it stays "" so it can be told apart from a reaction.
    "reaction_removed.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBVTlJFQUNUMDAwMDAwMDAwMDAxAA==",
                MARIANA,
                1763722990,
                MessageType.REACTION,
                extra={"target_message_id": BAKERY_MESSAGE_ID, "emoji": ""},
            )
        ]
    ),
    "image.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBBMjM0NTY3ODlBQkNERUYwAA==",
                MARIANA,
                1763723040,
                MessageType.IMAGE,
                text="Chegou assim 😞",
                media=MediaRef(
                    media_id="1479537139650973",
                    mime_type="image/jpeg",
                    sha256="8tEh1pC7cpXb0G/5Ksw0Q6jF+r0lT7uDs0yA5HtrZtQ=",
                    caption="Chegou assim 😞",
                ),
            )
        ]
    ),
    # Username user: no wa_id anywhere; the BSUID is both the pseudonym key and the reply address.
    "bsuid_only.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgUQlIuNTU2Njc3ODg5OTAwMTEyMhUCABIYFjNFQjBGRkVFRERDQ0JCQUE5OTg4AA==",
                ContactRef(contact_id="c:BR.5566778899001122", user_id="BR.5566778899001122", name="Ana"),
                1763723100,
                MessageType.TEXT,
                text="Oi, vocês fazem entrega?",
            )
        ]
    ),
    "unsupported_poll.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBQT0xMMDAwMDAwMDAwMDAxAA==",
                MARIANA,
                1763723400,
                MessageType.UNSUPPORTED,
                extra={"unsupported_type": "poll_creation", "error_code": 131051},
            )
        ]
    ),
    "status_sent.json": MetaDelivery(statuses=[status(DeliveryStatus.SENT, 1763722805)]),
    "status_delivered.json": MetaDelivery(statuses=[status(DeliveryStatus.DELIVERED, 1763722810)]),
    "status_read.json": MetaDelivery(statuses=[status(DeliveryStatus.READ, 1763722830)]),
    "status_failed_131047.json": MetaDelivery(
        statuses=[status(DeliveryStatus.FAILED, 1763722806, error_code=131047, error_title="Re-engagement message")]
    ),
    "multi_entry.json": MetaDelivery(
        messages=[
            message("wamid.MULTI.A1", MARIANA, 1763723200, MessageType.TEXT, text="Bom dia"),
            message("wamid.MULTI.B1", JOAO, 1763723201, MessageType.TEXT, text="Tem pão de queijo?"),
        ],
        statuses=[status(DeliveryStatus.DELIVERED, 1763723202)],
    ),
    "unknown_phone_number.json": MetaDelivery(unknown_channels=1),
    "errors_only.json": MetaDelivery(errors=[WebhookErrorReport(channel_id=CHANNEL_ID, code=130429)]),
    "account_update.json": MetaDelivery(ignored=1),
    # Three unusable messages (no id, no sender, no timestamp) and two unusable statuses (no id, no
    # recipient) are counted, while the one good message still goes through.
    "junk_items.json": MetaDelivery(
        messages=[message("wamid.JUNK.GOOD", MARIANA, 1763723502, MessageType.TEXT, text="Ainda tem sonho de creme?")],
        ignored=5,
    ),
}


def test_every_meta_fixture_has_an_expectation() -> None:
    # Given the named payloads on disk / Then each one is covered below (a new fixture needs a new expectation)
    assert {p.name for p in (FIXTURES / "meta").glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_normalises_to_the_exact_delivery(name: str) -> None:
    # Given Meta's payload as delivered
    doc = fixture_json(f"meta/{name}")

    # When
    delivery = parse(doc)

    # Then the whole normalised delivery is exactly the expected one
    assert delivery == EXPECTED[name]


def test_bsuid_only_sender_is_answered_at_the_bsuid() -> None:
    # Given a username user (no wa_id) / When
    (inbound,) = parse(fixture_json("meta/bsuid_only.json")).messages

    # Then
    assert inbound.contact.reply_address == "BR.5566778899001122"


def test_ddd31_sender_is_answered_at_the_12_digit_id_received() -> None:
    # Given a Belo Horizonte (DDD 31) customer / When
    (inbound,) = parse(fixture_json("meta/text_ddd31.json")).messages

    # Then
    assert inbound.contact.reply_address == "553188887766"


@pytest.mark.parametrize(
    ("inbound_fixture", "recipient"),
    [("text.json", "5511987654321"), ("bsuid_only.json", "BR.5566778899001122")],
    ids=["wa_id", "bsuid"],
)
def test_reply_status_lands_on_the_same_contact_as_the_message(inbound_fixture: str, recipient: str) -> None:
    # Given the customer's message, and Meta's status callback for our reply to its reply address
    (inbound,) = parse(fixture_json(f"meta/{inbound_fixture}")).messages
    assert inbound.contact.reply_address == recipient
    callback = json.loads(status_webhook(PHONE_NUMBER_ID, "wamid.REPLY", recipient, "delivered", 1763722900))

    # When
    (update,) = parse(callback).statuses

    # Then both share one pseudonymous contact (and so one FIFO group and one partition)
    assert update.contact.contact_id == inbound.contact.contact_id
    assert update.group_id == inbound.group_id


# --- malformed envelopes: the whole delivery is a 400 ------------------------------------


def _text_doc() -> dict[str, Any]:
    return copy.deepcopy(fixture_json("meta/text.json"))


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("object",), "page", "object is not whatsapp_business_account"),
        (("entry",), {"id": "102290129340398"}, "entry is not a list"),
        (("entry", 0, "changes"), {"field": "messages"}, "entry.changes is not a list"),
        (("entry", 0), "102290129340398", "entry.changes is not a list"),
        (("entry", 0, "changes", 0, "value"), [], "change.value is not an object"),
        (("entry", 0, "changes", 0), "messages", "change.value is not an object"),
    ],
    ids=["object-page", "entry-object", "changes-object", "entry-string", "value-list", "change-string"],
)
def test_malformed_envelope_is_rejected(path: tuple[Any, ...], value: Any, message: str) -> None:
    # Given a text delivery with one envelope level replaced by the wrong shape
    doc = _set(_text_doc(), path, value)

    # When
    with pytest.raises(MalformedPayload) as caught:
        parse(doc)

    # Then
    assert type(caught.value) is MalformedPayload
    assert (caught.value.status_code, str(caught.value)) == (400, message)


def test_missing_object_is_rejected() -> None:
    # Given a JSON object that is not a webhook at all / When / Then
    with pytest.raises(MalformedPayload, match=r"^object is not whatsapp_business_account$"):
        parse({"hello": "world"})


# --- unknown values never crash -------------------------------------------------------------


def test_unknown_message_type_becomes_unknown() -> None:
    # Given a message type Meta may add in the future
    doc = _text_doc()
    raw = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    raw["type"] = "poll_creation"
    raw["poll_creation"] = raw.pop("text")

    # When
    (inbound,) = parse(doc).messages

    # Then
    assert inbound == message(raw["id"], MARIANA, 1763722800, MessageType.UNKNOWN)


def test_unknown_status_becomes_unknown() -> None:
    # Given a status value we do not know yet
    doc = copy.deepcopy(fixture_json("meta/status_sent.json"))
    doc["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"

    # When / Then
    assert parse(doc).statuses == [status(DeliveryStatus.UNKNOWN, 1763722805)]


def test_non_object_items_are_counted_as_ignored() -> None:
    # Given a text delivery whose messages/statuses lists also carry non-objects
    doc = _text_doc()
    value = doc["entry"][0]["changes"][0]["value"]
    value["messages"] += ["wamid.solto", 42, None]
    value["statuses"] = [["wamid.OUTBOUND", "sent"]]

    # When
    delivery = parse(doc)

    # Then the good message survives and the four junk items are counted
    assert (len(delivery.messages), delivery.ignored) == (1, 4)


def test_junk_timestamp_is_ignored_not_a_crash() -> None:
    # Given a message whose timestamp is a non-ASCII "digit"
    doc = _text_doc()
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "²"

    # When / Then: the item is ignored; the delivery does not fail
    assert parse(doc) == MetaDelivery(ignored=1)


# --- queue envelope round trip --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("text.json", "messages"),
        ("interactive_button_reply.json", "messages"),
        ("image.json", "messages"),
        ("reaction.json", "messages"),
        ("bsuid_only.json", "messages"),
        ("unsupported_poll.json", "messages"),
        ("status_failed_131047.json", "statuses"),
        ("status_read.json", "statuses"),
    ],
)
def test_queue_envelope_round_trips(name: str, kind: str) -> None:
    # Given a normalised item
    (item,) = getattr(EXPECTED[name], kind)

    # When it travels through SQS as JSON
    restored = parse_envelope(item.to_json())

    # Then it comes back equal
    assert restored == item


def test_queue_envelope_is_compact_json() -> None:
    # Given the DDD-31 text / When
    body = EXPECTED["text_ddd31.json"].messages[0].to_json()

    # Then None/False/empty fields are left out
    assert json.loads(body) == {
        "v": 1,
        "kind": "message",
        "message": {
            "tenant_id": TENANT,
            "channel_id": CHANNEL_ID,
            "provider": "meta",
            "provider_message_id": "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FBQjEyMzQ1Njc4OTBBQkNERUYA",
            "contact": {"contact_id": "c:553188887766", "wa_id": "553188887766", "name": "João Pereira"},
            "timestamp": 1763722860,
            "type": "text",
            "text": "Quanto custa o bolo de cenoura?",
        },
    }


def test_removed_reaction_round_trips() -> None:
    # Given a reaction removal (emoji "") / When it travels through SQS
    (item,) = EXPECTED["reaction_removed.json"].messages

    # Then the removal is still recognisable
    assert parse_envelope(item.to_json()) == item


def test_zero_values_survive_the_round_trip() -> None:
    # Given a shared location on the equator (latitude 0.0)
    item = message("wamid.LOC", MARIANA, 1763723600, MessageType.LOCATION, extra={"latitude": 0.0, "longitude": -49.97})

    # When / Then
    assert parse_envelope(item.to_json()) == item


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "null",
        "[1]",
        '{"v":2,"kind":"message","message":{}}',
        '{"kind":"message","message":{}}',
        '{"v":1,"kind":"reaction","reaction":{}}',
        '{"v":1,"message":{}}',
        '{"v":1,"kind":"message","message":{"tenant_id":"padaria-pao-quente"}}',
        '{"v":1,"kind":"status","status":{"tenant_id":"t","channel_id":"c","provider":"telegram","provider_message_id":"m",'
        '"contact":{"contact_id":"c_1"},"status":"sent","timestamp":1}}',
    ],
    ids=["garbage", "null", "list", "wrong-version", "no-version", "unknown-kind", "no-kind", "missing-fields", "unknown-provider"],
)
def test_invalid_queue_envelope_is_an_envelope_error(body: str) -> None:
    # Given a poison queue body / When / Then
    with pytest.raises(EnvelopeError):
        parse_envelope(body)


def test_lone_surrogates_in_text_are_replaced_so_the_envelope_encodes() -> None:
    # Given a valid-JSON payload whose text carries an escaped lone surrogate
    doc = fixture_json("meta/text.json")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "oi\ud800"
    # When
    [message] = parse(doc).messages
    # Then the text is usable downstream (queue body, LLM, reply)
    assert message.text == "oi?"
    assert json.loads(message.to_json())["message"]["text"] == "oi?"
