"""Whaticket inbound normalisation: every named payload → the exact delivery, or the exact rejection.

Reference: ../shared/docs/providers.md §3.2 (raw Baileys messages, relay shapes, fork variants).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende.channels.whaticket import WhaticketDelivery, parse_whaticket_webhook
from atende.domain.content import assistant_text
from atende.domain.messages import ContactRef, InboundMessage, MediaRef, MessageType, Provider, ReplyContext, parse_envelope
from atende.domain.tenants import Channel
from atende.errors import MalformedPayload, SenderUnresolvable
from tests.conftest import FIXTURES, fixture_json

CHANNEL = Channel.unrouted(Provider.WHATICKET, "loja-centro")
CHANNEL_ID = "whaticket:loja-centro"
RECEIVED_AT = 1763724600  # 2025-11-21 11:30:00 UTC, after every fixture's own timestamp
SHOP = "551140028922"  # the bakery's own number: the author of the messages customers quote

MARIANA = ContactRef(contact_id="c:5511987654321", wa_id="5511987654321", name="Mariana Souza")
# DDD 31: 12 digits, exactly as sent — never "repaired" with a 9th digit.
JOAO = ContactRef(contact_id="c:553188887766", wa_id="553188887766", name="João Pereira")


def contact_id(digits: str) -> str:
    """Deterministic stand-in for the keyed pseudonym: shows exactly which digits were the key."""
    return f"c:{digits}"


def parse(doc: dict[str, Any], *, received_at: int = RECEIVED_AT) -> WhaticketDelivery:
    return parse_whaticket_webhook(doc, CHANNEL, contact_id, received_at=received_at)


def hash_id(number: str, text: str, timestamp: int) -> str:
    """The documented fallback id, computed independently of the parser."""
    return "wt-" + hashlib.sha256(f"{number}\n{text}\n{timestamp // 60}".encode()).hexdigest()[:32]


def message(provider_message_id: str, contact: ContactRef, timestamp: int, type_: MessageType, **fields: Any) -> InboundMessage:
    return InboundMessage(
        tenant_id=None,  # unrouted: the processor routes the connection to its tenant
        channel_id=CHANNEL_ID,
        provider=Provider.WHATICKET,
        provider_message_id=provider_message_id,
        contact=contact,
        timestamp=timestamp,
        type=type_,
        **fields,
    )


def delivered(*messages: InboundMessage) -> WhaticketDelivery:
    return WhaticketDelivery(messages=list(messages), ignored={})


def ignored(reason: str) -> WhaticketDelivery:
    return WhaticketDelivery(messages=[], ignored={reason: 1})


@dataclass(frozen=True)
class Rejected:
    error: type[MalformedPayload]
    status_code: int
    message: str


UNAVAILABLE = {"media_unavailable": True}
# fileSha256 of the media fixtures, as hex: the plaintext's digest, not a CDN locator.
SHA256 = {
    "baileys_audio_caption.json": "36b05d2c82a7946931beda7ab2a66c208a48e32952cc92a2482f92b5f36c7f17",
    "baileys_audio_ptt.json": "6a7b988f80eb9d934bec21c92baf3b22e7d777cb2f0f6e9deec7975e87216003",
    "baileys_document.json": "8670131b1c062087688c49cf8cae826170d05802244839b61c647a7482e7d25d",
    "baileys_document_with_caption.json": "3093025bc2f5852d6995e7fc9ba0b6899b9192877b36345c1b2a9c6454a145c1",
    "baileys_image_caption.json": "192aa5d9dd6167d21b9679882327d97c9e8883ce32a5464015365cea8e4387c9",
    "baileys_lottie_sticker.json": "777dd59f7226378b074ddf3ca9d11fbae3c701bd4eee73cc214a278fd3d55ad0",
    "baileys_sticker.json": "52b31cd031455b29cca63b77bbb4cfb2fc94aeb28ac56f528f3cc5ad521b2df0",
    "baileys_view_once_image.json": "0956db73fd6469f797534f54d78b4bf8d6834b6f118d6e42cbfe0f0a8ebc3eb3",
}

EXPECTED: dict[str, WhaticketDelivery | Rejected] = {
    # --- relay / fork shapes -------------------------------------------------------------------------
    # No key, no timestamp, no name: id hashed from (number, text, minute of receipt).
    "relay_number_conversation.json": delivered(
        message(
            hash_id("5511987654321", "Boa tarde! Vocês têm pão de queijo hoje?", RECEIVED_AT),
            ContactRef(contact_id="c:5511987654321", wa_id="5511987654321"),
            RECEIVED_AT,
            MessageType.TEXT,
            text="Boa tarde! Vocês têm pão de queijo hoje?",
        )
    ),
    # Sender and name from ticket.contact; the tapped button's label is the text, its id the reply_id.
    "relay_ticket_button_response.json": delivered(
        message(
            hash_id("553188887766", "Ver cardápio", RECEIVED_AT),
            JOAO,
            RECEIVED_AT,
            MessageType.INTERACTIVE,
            text="Ver cardápio",
            context=ReplyContext(message_id="3EB0D6A1C4F27B9E8A31", from_id=SHOP),
            extra={"interactive_type": "button_reply", "reply_id": "cardapio"},
        )
    ),
    # pushName ("João") wins over the name saved on the ticket.
    "relay_ticket_list_response.json": delivered(
        message(
            "3A7F2C9B1E4D8A6C5B3F",
            ContactRef(contact_id="c:553188887766", wa_id="553188887766", name="João"),
            1763722920,
            MessageType.INTERACTIVE,
            text="Bolo de cenoura",
            context=ReplyContext(message_id="3EB0F1E2D3C4B5A69788", from_id=SHOP),
            extra={
                "interactive_type": "list_reply",
                "reply_id": "produto_bolo_cenoura",
                "description": "Fatia ou inteiro, com cobertura de chocolate",
            },
        )
    ),
    "relay_number_with_plus_and_spaces.json": delivered(
        message("3A8293A4B5C6D7E8F90A", JOAO, 1763724060, MessageType.TEXT, text="Pode separar duas baguetes?")
    ),
    # key without id: hashed from the message's own minute, not the receipt's.
    "relay_without_key_id.json": delivered(
        message(hash_id("5511987654321", "Pode ser às 15h?", 1763724180), MARIANA, 1763724180, MessageType.TEXT, text="Pode ser às 15h?")
    ),
    # The chat JID is a LID; the fork's "normalized" object carries the phone number.
    "fork_normalized_wrapper.json": delivered(
        message("3D4E5F60718293A4B5C6D7E8F90A1B2C", MARIANA, 1763723640, MessageType.TEXT, text="Qual o valor da entrega pro Brooklin?")
    ),
    # contact.phoneNumber is used; contact.lid never is.
    "whazing_style.json": delivered(
        message("3A5D7F9B1C3E5A7C9E1F", JOAO, 1763723700, MessageType.TEXT, text="Vocês aceitam vale-refeição?")
    ),
    # --- raw Baileys messages ------------------------------------------------------------------------
    "baileys_conversation.json": delivered(
        message("A5C2E1B7F09D3C4E8B6A2D1F0E9C7B5A", MARIANA, 1763722800, MessageType.TEXT, text="Olá! Vocês abrem no domingo? 🥐")
    ),
    "baileys_extended_text_quoted.json": delivered(
        message(
            "B83D0E5A7C1F9264D8E0A3B5C7F1E2D4",
            MARIANA,
            1763722860,
            MessageType.TEXT,
            text="Esse aqui, com 12 unidades",
            context=ReplyContext(message_id="3EB0B2F4A1C9D8E7F6A5", from_id=SHOP),
        )
    ),
    "baileys_long_timestamp.json": delivered(
        message("3A0D9C8B7A6F5E4D3C2B", JOAO, 1763722980, MessageType.TEXT, text="Quanto custa o bolo de cenoura?")
    ),
    "baileys_string_timestamp.json": delivered(
        message("C4E6A8B0D2F413579BDF02468ACE1357", MARIANA, 1763723040, MessageType.TEXT, text="Obrigada! Vou passar aí às 17h")
    ),
    # Media: type, mime type and caption only — WhatsApp's encrypted url/mediaKey are never copied.
    "baileys_image_caption.json": delivered(
        message(
            "D9F1B3A5C7E902468ACE13579BDF0246",
            MARIANA,
            1763723100,
            MessageType.IMAGE,
            text="Chegou assim 😞",
            media=MediaRef(mime_type="image/jpeg", sha256=SHA256["baileys_image_caption.json"], caption="Chegou assim 😞"),
            extra=UNAVAILABLE,
        )
    ),
    "baileys_audio_ptt.json": delivered(
        message(
            "3AE5F7091B3D5F7A9C1E",
            JOAO,
            1763723160,
            MessageType.AUDIO,
            media=MediaRef(mime_type="audio/ogg; codecs=opus", sha256=SHA256["baileys_audio_ptt.json"], voice=True),
            extra=UNAVAILABLE,
        )
    ),
    "baileys_document.json": delivered(
        message(
            "E2A4C6E8F0B2D4F6A8C0E2B4D6F8A0C2",
            MARIANA,
            1763723220,
            MessageType.DOCUMENT,
            media=MediaRef(mime_type="application/pdf", sha256=SHA256["baileys_document.json"], filename="Comprovante_PIX.pdf"),
            extra=UNAVAILABLE,
        )
    ),
    "baileys_document_with_caption.json": delivered(
        message(
            "3A93A4B5C6D7E8F90A1B",
            JOAO,
            1763724240,
            MessageType.DOCUMENT,
            text="Segue a lista para a festa de sábado",
            media=MediaRef(
                mime_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                sha256=SHA256["baileys_document_with_caption.json"],
                caption="Segue a lista para a festa de sábado",
                filename="pedido_festa.xlsx",
            ),
            context=ReplyContext(forwarded=True),
            extra=UNAVAILABLE,
        )
    ),
    "baileys_sticker.json": delivered(
        message(
            "F7B9D1F3A5C7E9B1D3F5A7C9E1B3D5F7",
            MARIANA,
            1763723280,
            MessageType.STICKER,
            media=MediaRef(mime_type="image/webp", sha256=SHA256["baileys_sticker.json"]),
            extra=UNAVAILABLE,
        )
    ),
    # An audio file sent with a caption: the caption is kept (and is the text).
    "baileys_audio_caption.json": delivered(
        message(
            "3AF7A9B1C3D5E7F9A1B3",
            JOAO,
            1763724250,
            MessageType.AUDIO,
            text="Esse é o jingle da padaria que comentei",
            media=MediaRef(
                mime_type="audio/mpeg", sha256=SHA256["baileys_audio_caption.json"], caption="Esse é o jingle da padaria que comentei"
            ),
            context=ReplyContext(forwarded=True),
            extra=UNAVAILABLE,
        )
    ),
    # A lottie sticker is a stickerMessage inside lottieStickerMessage: always animated.
    "baileys_lottie_sticker.json": delivered(
        message(
            "3AC4D6E8F0A2B4C6D8E0",
            JOAO,
            1763724190,
            MessageType.STICKER,
            media=MediaRef(mime_type="application/was", sha256=SHA256["baileys_lottie_sticker.json"], animated=True),
            extra=UNAVAILABLE,
        )
    ),
    "baileys_view_once_image.json": delivered(
        message(
            "8293A4B5C6D7E8F90A1B2C3D4E5F6071",
            MARIANA,
            1763724300,
            MessageType.IMAGE,
            text="Só pra você ver o defeito",
            media=MediaRef(mime_type="image/jpeg", sha256=SHA256["baileys_view_once_image.json"], caption="Só pra você ver o defeito"),
            extra=UNAVAILABLE,
        )
    ),
    "baileys_location.json": delivered(
        message(
            "3A2C4E6F8B0D2F4A6C8E",
            JOAO,
            1763723340,
            MessageType.LOCATION,
            extra={
                "latitude": -19.9320131,
                "longitude": -43.9380218,
                "name": "Praça da Liberdade",
                "address": "Funcionários, Belo Horizonte - MG",
            },
        )
    ),
    "baileys_contact.json": delivered(
        message(
            "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
            MARIANA,
            1763723400,
            MessageType.CONTACTS,
            # The vCard's waid is the phone: the contact's WhatsApp number, in digits.
            extra={"contacts": [{"name": "Carla Mendes", "phones": ["5511912345678"]}]},
        )
    ),
    "baileys_contacts_array.json": delivered(
        message(
            "3AB5C6D7E8F90A1B2C3D",
            JOAO,
            1763724480,
            MessageType.CONTACTS,
            extra={
                "contacts": [
                    {"name": "Ana Lima", "phones": ["5521998877665"]},
                    # A TEL without waid keeps its value as written.
                    {"name": "Rafael Costa", "phones": ["553199112233", "+55 31 3222-1100"]},
                ]
            },
        )
    ),
    "baileys_reaction.json": delivered(
        message(
            "1B2C3D4E5F60718293A4B5C6D7E8F90A",
            MARIANA,
            1763723460,
            MessageType.REACTION,
            extra={"target_message_id": "3EB0C7A9E1F3B5D70246", "emoji": "👍"},
        )
    ),
    # Disappearing-messages wrapper unwrapped; its contextInfo carries no reply, so no context.
    "baileys_ephemeral_wrapped.json": delivered(
        message("3A9B8C7D6E5F4A3B2C1D", JOAO, 1763723520, MessageType.TEXT, text="Vocês entregam no Centro?")
    ),
    "baileys_template_button.json": delivered(
        message(
            "2C3D4E5F60718293A4B5C6D7E8F90A1B",
            MARIANA,
            1763723580,
            MessageType.BUTTON,
            text="Confirmar pedido",
            context=ReplyContext(message_id="3EB0E5D4C3B2A1908F7E", from_id=SHOP),
            extra={"payload": "confirmar_pedido_8841"},
        )
    ),
    # No display text: the button's id is the text (never the "can't read this" notice).
    "baileys_buttons_id_only.json": delivered(
        message(
            "3A08B1C2D3E4F5A6B7C8",
            JOAO,
            1763724280,
            MessageType.INTERACTIVE,
            text="horarios",
            context=ReplyContext(message_id="3EB0C7F1A2B3D4E5F60718", from_id=SHOP),
            extra={"interactive_type": "button_reply", "reply_id": "horarios"},
        )
    ),
    # A quick reply tapped on a native-flow message: id and text from paramsJson.
    "baileys_native_flow.json": delivered(
        message(
            "3AD5E7F9A1B3C5D7E9F1",
            JOAO,
            1763724200,
            MessageType.INTERACTIVE,
            text="Falar com atendente",
            context=ReplyContext(message_id="3EB0C7F1A2B3D4E5F60718", from_id=SHOP),
            extra={"interactive_type": "nfm_reply", "reply_id": "atendente"},
        )
    ),
    "baileys_forwarded_frequently.json": delivered(
        message(
            "3AE6F8A0B2C4D6E8F0A2",
            JOAO,
            1763724230,
            MessageType.TEXT,
            text="Promoção de Natal: panetone 2 por R$ 50! Vale aí?",
            context=ReplyContext(forwarded=True, frequently_forwarded=True),
        )
    ),
    # Baileys 7 keeps the LID as remoteJid and gives the phone JID in remoteJidAlt.
    "baileys_lid_with_alt.json": delivered(
        message("93A4B5C6D7E8F90A1B2C3D4E5F607182", MARIANA, 1763724360, MessageType.TEXT, text="Consigo retirar hoje depois das 18h?")
    ),
    "baileys_poll_unknown.json": delivered(
        message("3AA4B5C6D7E8F90A1B2C", JOAO, 1763724420, MessageType.UNSUPPORTED, extra={"unsupported_type": "pollCreationMessageV3"})
    ),
    # --- ignored, never rejected ---------------------------------------------------------------------
    "baileys_from_me.json": ignored("from_me"),
    "baileys_group.json": ignored("group"),
    "baileys_status_broadcast.json": ignored("broadcast"),
    "baileys_edit_protocol.json": ignored("edit"),
    # --- rejected ------------------------------------------------------------------------------------
    "baileys_lid_without_number.json": Rejected(
        SenderUnresolvable, 422, "sender is a WhatsApp LID (@lid) and the payload gives no phone number"
    ),
    "no_number_no_jid.json": Rejected(
        SenderUnresolvable, 422, "no sender number: none of number, ticket.contact.number, contact.phoneNumber/number, key.remoteJid"
    ),
    "number_without_message.json": Rejected(MalformedPayload, 400, "payload carries no message"),
}


def test_every_whaticket_fixture_has_an_expectation() -> None:
    # Given the named payloads on disk / Then each one is covered (a new fixture needs a new expectation)
    assert {p.name for p in (FIXTURES / "whaticket").glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_normalises_to_the_exact_delivery_or_rejection(name: str) -> None:
    # Given a Whaticket delivery as posted
    doc = fixture_json(f"whaticket/{name}")
    expected = EXPECTED[name]

    if isinstance(expected, Rejected):
        # When / Then: exactly this error, status and message
        with pytest.raises(MalformedPayload) as caught:
            parse(doc)
        assert (type(caught.value), caught.value.status_code, str(caught.value)) == (expected.error, expected.status_code, expected.message)
    else:
        # When / Then: the whole normalised delivery
        assert parse(doc) == expected


DELIVERED = sorted(name for name, expected in EXPECTED.items() if isinstance(expected, WhaticketDelivery) and expected.messages)


@pytest.mark.parametrize("name", DELIVERED)
def test_normalised_message_round_trips_through_the_queue_envelope(name: str) -> None:
    # Given a normalised message, routed as the processor would
    expected = EXPECTED[name]
    assert isinstance(expected, WhaticketDelivery)
    (item,) = expected.messages
    routed = item.routed_to("padaria-pao-quente")

    # When both travel through SQS as JSON / Then they come back equal (the queue carries data,
    # not the RoutedMessage type: the processor routes every message it reads)
    assert (parse_envelope(item.to_json()), parse_envelope(routed.to_json())) == (item, replace(item, tenant_id="padaria-pao-quente"))


@pytest.mark.parametrize(
    "name",
    [
        "baileys_image_caption.json",
        "baileys_audio_ptt.json",
        "baileys_document.json",
        "baileys_sticker.json",
        "baileys_view_once_image.json",
        "baileys_lottie_sticker.json",
        "baileys_audio_caption.json",
    ],
)
def test_encrypted_media_locators_never_reach_the_queue(name: str) -> None:
    # Given a media message with WhatsApp's encrypted CDN locators
    doc = fixture_json(f"whaticket/{name}")
    (inbound,) = parse(doc).messages

    # When it is serialised for the queue
    body = inbound.to_json()

    # Then none of the url / directPath / mediaKey / sha256 values is in it
    locators = [v for k, v in _walk(doc["message"]) if k in ("url", "directPath", "mediaKey", "fileSha256", "fileEncSha256")]
    assert len(locators) == 5
    assert [s for s in locators if s in body] == []


def _walk(node: Any) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            pairs.append((key, value))
            pairs.extend(_walk(value))
    return pairs


# --- fallback id: hash of (number, text, minute) ------------------------------------------------------


def _relay(text: str = "Pode ser às 15h?", number: str = "5511987654321", timestamp: int | None = 1763724180) -> dict[str, Any]:
    doc: dict[str, Any] = {"number": number, "message": {"conversation": text}}
    if timestamp is not None:
        doc["messageTimestamp"] = timestamp
    return doc


def _id(doc: dict[str, Any], *, received_at: int = RECEIVED_AT) -> str:
    (inbound,) = parse(doc, received_at=received_at).messages
    return inbound.provider_message_id


def test_hash_id_is_stable_within_the_same_minute() -> None:
    # Given the same message posted twice by a retrying relay, 59 s apart within one minute (11:23:00-11:23:59)
    first, retry = _relay(timestamp=1763724180), _relay(timestamp=1763724239)

    # When / Then both get one id (so the retry is deduplicated), the documented hash
    assert _id(first) == _id(retry) == hash_id("5511987654321", "Pode ser às 15h?", 1763724180)


def test_hash_id_differs_across_minutes_numbers_and_texts() -> None:
    # Given variations of one message / When
    ids = {
        "original": _id(_relay()),
        "next minute": _id(_relay(timestamp=1763724240)),
        "other customer": _id(_relay(number="553188887766")),
        "other text": _id(_relay(text="Pode ser às 16h?")),
    }

    # Then every variation is a different message
    assert len(set(ids.values())) == 4
    assert all(value.startswith("wt-") and len(value) == 35 for value in ids.values())


def test_hash_id_without_timestamp_uses_the_minute_of_receipt() -> None:
    # Given a relay that drops both key.id and messageTimestamp
    doc = _relay(timestamp=None)

    # When it arrives twice within one minute, then again in the next minute
    same_minute = {_id(doc, received_at=1763724600), _id(doc, received_at=1763724659)}
    next_minute = _id(doc, received_at=1763724660)

    # Then
    assert same_minute == {hash_id("5511987654321", "Pode ser às 15h?", 1763724600)}
    assert next_minute == hash_id("5511987654321", "Pode ser às 15h?", 1763724660)


def test_hash_id_of_a_textless_message_fingerprints_its_content() -> None:
    # Given two reactions without key.id, on different messages, in the same minute
    def reaction(target: str) -> dict[str, Any]:
        return {
            "number": "5511987654321",
            "messageTimestamp": 1763723460,
            "message": {"reactionMessage": {"key": {"id": target}, "text": "❤️"}},
        }

    # When / Then they are two messages
    assert _id(reaction("3EB0C7A9E1F3B5D70246")) != _id(reaction("3EB0C7A9E1F3B5D70247"))


def test_key_id_wins_over_whazing_message_id() -> None:
    # Given a payload carrying both ids / When / Then
    doc = {**_relay(), "key": {"id": "3EB0AAAABBBBCCCCDDDD"}, "messageId": "3A5D7F9B1C3E5A7C9E1F"}
    assert _id(doc) == "3EB0AAAABBBBCCCCDDDD"


@pytest.mark.parametrize(
    "junk", ["3EB0 AAAA", "x" * 129, "3EB0\u00e9", ["3EB0"], {"id": "3EB0"}], ids=["space", "huge", "non-ascii", "list", "object"]
)
def test_implausible_message_id_is_rejected(junk: Any) -> None:
    # Given a key.id that cannot be a WhatsApp message id / When / Then
    with pytest.raises(MalformedPayload, match=r"^message id is not a plausible WhatsApp message id$"):
        parse({**_relay(), "key": {"id": junk}})


# --- sender resolution -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "digits"),
    [
        ({"number": "5511987654321", "ticket": {"contact": {"number": "553188887766"}}}, "5511987654321"),
        ({"ticket": {"contact": {"number": "553188887766"}}, "contact": {"phoneNumber": "5511987654321"}}, "553188887766"),
        ({"contact": {"phoneNumber": "5511987654321", "number": "553188887766"}}, "5511987654321"),
        ({"contact": {"number": "553188887766"}, "key": {"remoteJid": "5511987654321@s.whatsapp.net"}}, "553188887766"),
        ({"key": {"remoteJid": "553188887766@s.whatsapp.net"}}, "553188887766"),
        ({"key": {"remoteJid": "5511987654321@c.us"}}, "5511987654321"),
        ({"key": {"remoteJid": "218765432109876@lid", "senderPn": "5511987654321@s.whatsapp.net"}}, "5511987654321"),
        ({"number": "+55 11 98765-4321"}, "5511987654321"),
        ({"number": "55.11.98765.4321"}, "5511987654321"),
        ({"number": 553188887766}, "553188887766"),
        ({"number": "553188887766@s.whatsapp.net"}, "553188887766"),
        ({"number": "12345678"}, "12345678"),
        ({"number": "123456789012345"}, "123456789012345"),
        # An unusable candidate is skipped when a later one is a number.
        ({"number": "0800", "key": {"remoteJid": "5511987654321@s.whatsapp.net"}}, "5511987654321"),
        ({"number": "Mariana", "ticket": {"contact": {"number": "5511987654321"}}}, "5511987654321"),
    ],
    ids=[
        "number-first",
        "ticket-before-contact",
        "phoneNumber-before-number",
        "contact-before-jid",
        "jid-12-digits",
        "c.us-jid",
        "lid-with-senderPn",
        "plus-spaces-dash",
        "dots",
        "json-integer",
        "jid-in-number",
        "8-digits",
        "15-digits",
        "short-then-jid",
        "name-then-ticket",
    ],
)
def test_sender_resolution_order_and_formats(doc: dict[str, Any], digits: str) -> None:
    # Given a text message with these sender fields / When
    (inbound,) = parse({**doc, "message": {"conversation": "Oi"}}).messages

    # Then the digits are kept exactly as sent (no 9th digit added or removed)
    assert (inbound.contact.wa_id, inbound.contact.contact_id, inbound.contact.jid) == (digits, f"c:{digits}", None)
    assert inbound.contact.reply_address == digits


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"number": "1234567"}, "number is not a phone number of 8-15 digits and no other number was given"),
        ({"number": "1234567890123456"}, "number is not a phone number of 8-15 digits and no other number was given"),
        ({"number": "５５１１９８７６５４３２１"}, "number is not a phone number of 8-15 digits and no other number was given"),
        ({"number": "55+11987654321"}, "number is not a phone number of 8-15 digits and no other number was given"),
        ({"number": True}, "number is not a phone number of 8-15 digits and no other number was given"),
        (
            {"contact": {"phoneNumber": "", "lid": "184467440737095@lid"}},
            "sender is a WhatsApp LID (@lid) and the payload gives no phone number",
        ),
        ({"number": "218765432109876@lid"}, "sender is a WhatsApp LID (@lid) and the payload gives no phone number"),
        ({"key": {"remoteJid": "5511987654321"}}, "key.remoteJid is not a phone number of 8-15 digits and no other number was given"),
        ({}, "no sender number: none of number, ticket.contact.number, contact.phoneNumber/number, key.remoteJid"),
    ],
    ids=[
        "7-digits",
        "16-digits",
        "fullwidth-digits",
        "inner-plus",
        "boolean",
        "whazing-lid-only",
        "lid-in-number",
        "bare-remoteJid",
        "nothing",
    ],
)
def test_unresolvable_sender_is_rejected_with_a_clear_reason(doc: dict[str, Any], error: str) -> None:
    # Given a text message without a usable sender number / When
    with pytest.raises(SenderUnresolvable) as caught:
        parse({**doc, "message": {"conversation": "Oi"}})

    # Then 422, and the message names what was wrong (never the value itself)
    assert (caught.value.status_code, str(caught.value)) == (422, error)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"pushName": "Mariana Souza", "ticket": {"contact": {"name": "Mari (cliente)"}}}, "Mariana Souza"),
        ({"pushName": "", "ticket": {"contact": {"name": "Mariana Souza"}}}, "Mariana Souza"),
        ({"ticket": {"contact": {"name": "5511987654321"}}}, None),  # Whaticket saves nameless contacts under their number
        ({"pushName": "+55 11 98765-4321"}, None),
        ({"contact": {"pushname": "Mari", "name": "Mariana Souza"}}, "Mari"),
        ({"pushName": "  Mariana Souza  "}, "Mariana Souza"),
    ],
    ids=["pushName-first", "ticket-name", "number-as-name", "formatted-number-as-name", "whazing-pushname", "trimmed"],
)
def test_contact_name(fields: dict[str, Any], name: str | None) -> None:
    # Given / When
    (inbound,) = parse({**_relay(), **fields}).messages

    # Then
    assert inbound.contact.name == name


# --- what is ignored, and in which order -------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"key": {"remoteJid": "120363025246125486@g.us", "fromMe": True, "id": "3EB0A1"}, "message": {"conversation": "Oi"}}, "from_me"),
        ({"fromMe": True, "messageBody": "Seu pedido saiu", "contact": {"phoneNumber": "5511987654321"}}, "from_me"),
        # A group stays a group even when a fork also names the author's number.
        ({"number": "5511987654321", "key": {"remoteJid": "120363025246125486@g.us"}, "message": {"conversation": "Oi"}}, "group"),
        ({"number": "5511987654321", "ticket": {"isGroup": True}, "message": {"conversation": "Oi"}}, "group"),
        ({"messageBody": "Oi", "contact": {"phoneNumber": "120363025246125486", "isGroup": True}}, "group"),
        ({"key": {"remoteJid": "1763724000@broadcast"}, "message": {"conversation": "Promoção"}}, "broadcast"),
        ({"key": {"remoteJid": "120363198765432101@newsletter"}, "message": {"conversation": "Novidades"}}, "newsletter"),
        # Edits and deletes: plain, wrapped in editedMessage, or inside a disappearing-message wrapper.
        ({"number": "5511987654321", "message": {"protocolMessage": {"key": {"id": "3EB0A1"}, "type": "REVOKE"}}}, "edit"),
        (
            {
                "number": "5511987654321",
                "message": {"editedMessage": {"message": {"protocolMessage": {"type": 14, "editedMessage": {"conversation": "Oi!"}}}}},
            },
            "edit",
        ),
        ({"number": "5511987654321", "message": {"ephemeralMessage": {"message": {"protocolMessage": {"type": 3}}}}}, "edit"),
        # An edit is ignored even when its sender could not be answered.
        ({"key": {"remoteJid": "218765432109876@lid"}, "message": {"protocolMessage": {"type": "REVOKE"}}}, "edit"),
        ({"messageBody": "Oi!", "edited": True, "contact": {"phoneNumber": "5511987654321"}}, "edit"),
        ({"messageBody": "", "isDeleted": True, "contact": {"phoneNumber": "5511987654321"}}, "edit"),
        ({"key": {"remoteJid": "5511987654321@s.whatsapp.net", "id": "3EB0A1"}, "message": None, "messageStubType": 2}, "stub"),
    ],
    ids=[
        "fromMe-before-group",
        "whazing-fromMe",
        "group-jid",
        "ticket-isGroup",
        "whazing-isGroup",
        "broadcast-list",
        "newsletter",
        "revoke",
        "editedMessage-wrapper",
        "ephemeral-setting",
        "edit-from-lid",
        "whazing-edited",
        "whazing-deleted",
        "decryption-stub",
    ],
)
def test_ignored_deliveries_name_their_reason(doc: dict[str, Any], reason: str) -> None:
    # Given / When / Then
    assert parse(doc) == ignored(reason)


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        ({"number": "5511987654321", "message": {}}, "payload carries no message"),
        ({"number": "5511987654321", "message": "   "}, "payload carries no message"),
        ({"number": "5511987654321", "body": ""}, "payload carries no message"),
        ({"number": "5511987654321", "message": {"messageContextInfo": {"deviceListMetadataVersion": 2}}}, "message has no content"),
        ({"number": "5511987654321", "message": {"conversation": None}}, "message has no content"),
    ],
    ids=["empty-message", "blank-string", "empty-body", "context-only", "null-content"],
)
def test_payload_without_content_is_malformed(doc: dict[str, Any], error: str) -> None:
    # Given / When
    with pytest.raises(MalformedPayload) as caught:
        parse(doc)

    # Then a plain 400, not the 422 of an unknown sender
    assert (type(caught.value), caught.value.status_code, str(caught.value)) == (MalformedPayload, 400, error)


# --- content details ---------------------------------------------------------------------------------


def _content(message_: dict[str, Any], **fields: Any) -> InboundMessage:
    (inbound,) = parse(
        {
            "key": {"remoteJid": "5511987654321@s.whatsapp.net", "id": "3EB0C0FFEE"},
            "messageTimestamp": 1763724000,
            **fields,
            "message": message_,
        }
    ).messages
    return inbound


def _expect(type_: MessageType, **fields: Any) -> InboundMessage:
    return message("3EB0C0FFEE", ContactRef(contact_id="c:5511987654321", wa_id="5511987654321"), 1763724000, type_, **fields)


@pytest.mark.parametrize(
    ("message_", "expected"),
    [
        # Reaction removed: WhatsApp sends an empty text; it stays "" so it can be told apart.
        (
            {"reactionMessage": {"key": {"id": "3EB0C7A9E1F3B5D70246"}, "text": ""}},
            _expect(MessageType.REACTION, extra={"target_message_id": "3EB0C7A9E1F3B5D70246", "emoji": ""}),
        ),
        (
            {"liveLocationMessage": {"degreesLatitude": "-23.5613", "degreesLongitude": -46.6565, "caption": "Estou chegando"}},
            _expect(MessageType.LOCATION, text="Estou chegando", extra={"latitude": -23.5613, "longitude": -46.6565, "live": True}),
        ),
        (
            {"videoMessage": {"mimetype": "video/mp4", "caption": "Olha o bolo", "seconds": 12, "url": "https://mmg.whatsapp.net/v/x.enc"}},
            _expect(MessageType.VIDEO, text="Olha o bolo", media=MediaRef(mime_type="video/mp4", caption="Olha o bolo"), extra=UNAVAILABLE),
        ),
        (
            {"stickerMessage": {"mimetype": "image/webp", "isAnimated": True}},
            _expect(MessageType.STICKER, media=MediaRef(mime_type="image/webp", animated=True), extra=UNAVAILABLE),
        ),
        (
            {"audioMessage": {"mimetype": "audio/mpeg", "ptt": False, "seconds": 95}},
            _expect(MessageType.AUDIO, media=MediaRef(mime_type="audio/mpeg"), extra=UNAVAILABLE),
        ),
        # A button reply without its label: the id is the text (never the "can't read" notice).
        (
            {"buttonsResponseMessage": {"selectedButtonId": "horarios"}},
            _expect(MessageType.INTERACTIVE, text="horarios", extra={"interactive_type": "button_reply", "reply_id": "horarios"}),
        ),
        (
            {"extendedTextMessage": {"text": "Olha essa promoção", "contextInfo": {"isForwarded": True, "forwardingScore": 7}}},
            _expect(MessageType.TEXT, text="Olha essa promoção", context=ReplyContext(forwarded=True, frequently_forwarded=True)),
        ),
        # The author of a quoted message that is not a phone JID is not guessed.
        (
            {"extendedTextMessage": {"text": "Isso", "contextInfo": {"stanzaId": "3EB0AB", "participant": "218765432109876@lid"}}},
            _expect(MessageType.TEXT, text="Isso", context=ReplyContext(message_id="3EB0AB")),
        ),
        (
            {
                "contactMessage": {
                    # A folded FN line, a vCard 4 "tel:" URI, and a TEL with only its waid parameter
                    "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Dona\n  Lúcia\nTEL;TYPE=CELL:tel:+5511955554444\n"
                    "TEL;waid=5511966665555:\nEND:VCARD"
                }
            },
            _expect(MessageType.CONTACTS, extra={"contacts": [{"name": "Dona Lúcia", "phones": ["+5511955554444", "5511966665555"]}]}),
        ),
        (
            {"contactMessage": {"displayName": "Sem telefone"}},
            _expect(MessageType.CONTACTS, extra={"contacts": [{"name": "Sem telefone", "phones": []}]}),
        ),
        # A native-flow reply without params: the body text is what was tapped.
        (
            {"interactiveResponseMessage": {"body": {"text": "Sim"}}},
            _expect(MessageType.INTERACTIVE, text="Sim", extra={"interactive_type": "nfm_reply"}),
        ),
        ({"imageMessage": "corrompido"}, _expect(MessageType.UNKNOWN, extra={"unsupported_type": "imageMessage"})),
        # senderKeyDistributionMessage rides along with real content; it is not the content.
        (
            {"senderKeyDistributionMessage": {"groupId": "x"}, "conversation": "Oi", "messageContextInfo": {}},
            _expect(MessageType.TEXT, text="Oi"),
        ),
        (
            {
                "ephemeralMessage": {
                    "message": {
                        "viewOnceMessage": {
                            "message": {
                                "documentWithCaptionMessage": {"message": {"documentMessage": {"fileName": "nota.pdf", "caption": "Nota"}}}
                            }
                        }
                    }
                }
            },
            _expect(MessageType.DOCUMENT, text="Nota", media=MediaRef(caption="Nota", filename="nota.pdf"), extra=UNAVAILABLE),
        ),
    ],
    ids=[
        "reaction-removed",
        "live-location",
        "video",
        "animated-sticker",
        "audio-not-voice",
        "button-without-label",
        "frequently-forwarded",
        "quote-from-lid",
        "vcard-folded-uri-waid",
        "vcard-missing",
        "native-flow-reply",
        "non-object-content",
        "sender-key-distribution",
        "three-wrappers",
    ],
)
def test_baileys_content(message_: dict[str, Any], expected: InboundMessage) -> None:
    # Given / When / Then
    assert _content(message_) == expected


def test_wrapper_nesting_is_bounded() -> None:
    # Given ephemeral wrappers nested deeper than any real message
    nested: dict[str, Any] = {"conversation": "Oi"}
    for _ in range(6):
        nested = {"ephemeralMessage": {"message": nested}}

    # When / Then the parser stops unwrapping and calls it what it is
    assert _content(nested) == _expect(MessageType.UNKNOWN, extra={"unsupported_type": "ephemeralMessage"})


def test_shared_contacts_are_capped() -> None:
    # Given an address book of 40 cards with 25 numbers each
    vcard = "BEGIN:VCARD\nFN:Cliente\n" + "".join(f"TEL:+55 11 9000{i:04d}\n" for i in range(25)) + "END:VCARD"
    inbound = _content({"contactsArrayMessage": {"contacts": [{"displayName": f"Cliente {i}", "vcard": vcard} for i in range(40)]}})

    # When / Then 20 cards of 20 numbers travel (MAX_LIST_ITEMS), and the cut is marked
    cards = inbound.extra["contacts"]
    assert (len(cards), {len(card["phones"]) for card in cards}, inbound.extra["truncated"]) == (20, {20}, True)


@pytest.mark.parametrize(
    ("fields", "type_", "text", "media"),
    [
        ({"mediaType": "ptt", "messageBody": "Áudio"}, MessageType.AUDIO, None, MediaRef(voice=True)),
        # Nothing is known about the media beyond its type: no MediaRef (the queue would drop an empty one).
        ({"mediaType": "audioMessage", "messageBody": "Áudio"}, MessageType.AUDIO, None, None),
        (
            {"mediaType": "image", "messageBody": "Foto da vitrine"},
            MessageType.IMAGE,
            "Foto da vitrine",
            MediaRef(caption="Foto da vitrine"),
        ),
        ({"mediaType": "imageMessage"}, MessageType.IMAGE, None, None),
        ({"mediaType": "document", "messageBody": "cardapio.pdf"}, MessageType.DOCUMENT, None, MediaRef(filename="cardapio.pdf")),
        ({"mediaType": "stickerMessage", "messageBody": "sticker"}, MessageType.STICKER, None, None),
    ],
    ids=["ptt", "audio", "image", "image-no-caption", "document", "sticker"],
)
def test_whazing_media(fields: dict[str, Any], type_: MessageType, text: str | None, media: MediaRef | None) -> None:
    # Given a Whazing-style post of a media message / When
    (inbound,) = parse({"messageId": "3A5D7F9B1C3E5A7C9E1F", "contact": {"phoneNumber": "5511987654321"}, **fields}).messages

    # Then placeholders ("Áudio", "sticker") never become text, and the media is marked unavailable
    assert inbound == message(
        "3A5D7F9B1C3E5A7C9E1F",
        ContactRef(contact_id="c:5511987654321", wa_id="5511987654321"),
        RECEIVED_AT,
        type_,
        text=text,
        media=media,
        extra=UNAVAILABLE,
    )


@pytest.mark.parametrize(
    ("fields", "type_", "text", "extra"),
    [
        ({"mediaType": "chat", "messageBody": "Oi"}, MessageType.TEXT, "Oi", {}),
        ({"mediaType": "extendedTextMessage", "messageBody": "Oi"}, MessageType.TEXT, "Oi", {}),
        (
            {"mediaType": "pollCreationMessageV3", "messageBody": "Qual sabor?"},
            MessageType.UNKNOWN,
            None,
            {"unsupported_type": "pollCreationMessageV3"},
        ),
    ],
    ids=["chat", "extended-text", "poll"],
)
def test_whazing_other_types(fields: dict[str, Any], type_: MessageType, text: str | None, extra: dict[str, Any]) -> None:
    # Given / When
    (inbound,) = parse({"messageId": "3A5D7F9B1C3E5A7C9E1F", "contact": {"phoneNumber": "5511987654321"}, **fields}).messages

    # Then
    assert (inbound.type, inbound.text, inbound.media, inbound.extra) == (type_, text, None, extra)


def test_body_string_is_text_when_there_is_no_message_object() -> None:
    # Given a fork that posts the text as "body" / When / Then
    (inbound,) = parse({"number": "5511987654321", "body": "Tem sonho de creme?"}).messages
    assert (inbound.type, inbound.text) == (MessageType.TEXT, "Tem sonho de creme?")


def test_message_object_wins_over_the_forks_body_placeholder() -> None:
    # Given a raw voice note whose fork also added its "Áudio" placeholder body / When
    (inbound,) = parse({"number": "5511987654321", "body": "Áudio", "message": {"audioMessage": {"ptt": True}}}).messages

    # Then
    assert (inbound.type, inbound.text, inbound.media) == (MessageType.AUDIO, None, MediaRef(voice=True))


# --- timestamps --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "timestamp"),
    [
        ({"messageTimestamp": {"low": 1763724000, "high": 0, "unsigned": False}}, 1763724000),
        ({"messageTimestamp": "1763724000"}, 1763724000),
        ({"messageTimestamp": 1763724000.0}, 1763724000),
        ({"timestamp": 1763724000123}, 1763724000),  # Whazing/JavaScript milliseconds
        ({"messageTimestamp": 0}, RECEIVED_AT),  # protobuf default
        ({"messageTimestamp": {"low": -1, "high": -1, "unsigned": False}}, RECEIVED_AT),
        ({"messageTimestamp": RECEIVED_AT + 301}, RECEIVED_AT),  # from the future
        ({"messageTimestamp": RECEIVED_AT + 300}, RECEIVED_AT + 300),
        ({"messageTimestamp": "ontem"}, RECEIVED_AT),
        ({"messageTimestamp": True}, RECEIVED_AT),
        ({"messageTimestamp": "junk", "timestamp": 1763724000}, 1763724000),
    ],
    ids=["long", "string", "float", "milliseconds", "zero", "negative-long", "future", "skew-limit", "words", "boolean", "fallback-field"],
)
def test_timestamp_is_the_messages_own_when_plausible(fields: dict[str, Any], timestamp: int) -> None:
    # Given / When
    (inbound,) = parse({"number": "5511987654321", "message": {"conversation": "Oi"}, **fields}).messages

    # Then
    assert inbound.timestamp == timestamp


# --- what the assistant reads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("relay_ticket_list_response.json", "Bolo de cenoura"),
        ("baileys_template_button.json", "Confirmar pedido"),
        ("baileys_image_caption.json", "[imagem] Chegou assim 😞"),
        ("baileys_location.json", "[localização] Praça da Liberdade — Funcionários, Belo Horizonte - MG (-19.932013, -43.938022)"),
        ("baileys_contact.json", "[contato compartilhado] Carla Mendes: 5511912345678"),
        ("baileys_reaction.json", None),
        ("baileys_sticker.json", None),
        ("baileys_poll_unknown.json", None),
    ],
)
def test_extra_follows_the_shared_schema(name: str, text: str | None) -> None:
    # Given a normalised message / When / Then domain.content reads it like any provider's
    (inbound,) = parse(fixture_json(f"whaticket/{name}")).messages
    assert assistant_text(inbound) == text


# --- robustness ------------------------------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(
    json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=25
)
FIXTURE_DOCS = [fixture_json(f"whaticket/{name}") for name in sorted(EXPECTED)]


def _mutate(doc: Any, path: list[int], replacement: Any) -> Any:
    if not path or not isinstance(doc, (dict, list)) or not doc:
        return replacement
    keys = list(doc.keys()) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    changed = copy.copy(doc)
    changed[key] = _mutate(doc[key], path[1:], replacement)
    return changed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=len(FIXTURE_DOCS) - 1),
    path=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=6),
    replacement=json_value,
)
def test_any_mutation_is_a_delivery_or_a_400_never_a_crash(index: int, path: list[int], replacement: Any) -> None:
    # Given a fixture with one node replaced by arbitrary JSON
    doc = _mutate(FIXTURE_DOCS[index], path, replacement)
    if not isinstance(doc, dict):
        return

    # When
    try:
        delivery = parse(doc)
    except MalformedPayload as exc:
        # Then either a 4xx rejection...
        assert exc.status_code in (400, 422)
        return

    # ...or a delivery of at most one message that survives the queue
    assert len(delivery.messages) + sum(delivery.ignored.values()) == 1
    for inbound in delivery.messages:
        assert parse_envelope(inbound.to_json()) == inbound
        assert inbound.contact.wa_id is not None and inbound.contact.wa_id.isdigit()
