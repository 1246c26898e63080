"""The one Baileys content reader, and the proof that Evolution and Whaticket now agree on it.

The same Baileys ``message`` is fed through an Evolution ``messages.upsert`` and through a raw
Whaticket relay; both must normalise it exactly as ``normalise_content`` does, differing only in
what their envelopes add (Evolution's media id / S3 URL / inline bytes / transcript, Whaticket's
``media_unavailable``).
Reference: ../shared/docs/providers.md §2.4 (content types) and §3.2 (raw Baileys relays).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende.channels.baileys import (
    MEDIA_KEYS,
    MEDIA_TYPES,
    BaileysContent,
    content_key,
    normalise_content,
    parse_vcard,
    referral,
    reply_context,
)
from atende.channels.evolution import parse_evolution_webhook
from atende.channels.whaticket import parse_whaticket_webhook
from atende.domain.messages import (
    MAX_LIST_ITEMS,
    ContactRef,
    InboundMessage,
    MediaRef,
    MessageType,
    Provider,
    Referral,
    ReplyContext,
    parse_envelope,
)
from atende.domain.tenants import Channel
from tests.conftest import FIXTURES, fixture_json

MESSAGE_ID = "3EB0B4A1C2D3E4F5A6B7"
SENT_AT = 1763724000
SHOP = "551140028922"
QUOTE = {"stanzaId": "3EB0C7F1A2B3D4E5F60718", "participant": f"{SHOP}@s.whatsapp.net", "quotedMessage": {"conversation": "Posso ajudar?"}}
QUOTED = ReplyContext(message_id="3EB0C7F1A2B3D4E5F60718", from_id=SHOP)
# Keys only one envelope adds (InboundMessage.extra): not part of the content.
ENVELOPE_EXTRA = frozenset({"media_unavailable", "inline_media", "speech_to_text"})


# --- both envelopes ------------------------------------------------------------------------------


def via_evolution(message: dict[str, Any]) -> InboundMessage | str:
    """The message as Evolution posts it in a messages.upsert (messageType = Baileys' content type)."""
    data = {
        "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": MESSAGE_ID},
        "pushName": "Mariana Souza",
        "status": "DELIVERY_ACK",
        "message": message,
        "messageType": content_key(message) or "unknown",
        "messageTimestamp": SENT_AT,
    }
    delivery = parse_evolution_webhook(
        {"event": "messages.upsert", "instance": "padaria", "data": data}, lambda key: f"c:{key}", now=SENT_AT
    )
    return delivery.messages[0] if delivery.messages else next(iter(delivery.ignored))


def via_whaticket(message: dict[str, Any]) -> InboundMessage | str:
    """The message as a Whaticket SaaS integration posts it: the raw Baileys WebMessageInfo."""
    doc = {
        "key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": MESSAGE_ID},
        "messageTimestamp": SENT_AT,
        "pushName": "Mariana Souza",
        "message": message,
    }
    delivery = parse_whaticket_webhook(doc, Channel.unrouted(Provider.WHATICKET, "loja"), lambda key: f"c:{key}", received_at=SENT_AT)
    return delivery.messages[0] if delivery.messages else next(iter(delivery.ignored))


def content_of(parsed: InboundMessage | str) -> BaileysContent | str:
    """What a parsed message says about its content, without what its envelope added."""
    if isinstance(parsed, str):
        return parsed  # the ignore reason
    media = replace(parsed.media, media_id=None, url=None, inline_base64=None) if parsed.media else None
    return BaileysContent(
        kind="",
        type=parsed.type,
        text=parsed.text,
        media=None if media == MediaRef() else media,
        context=parsed.context,
        referral=parsed.referral,
        extra={k: v for k, v in parsed.extra.items() if k not in ENVELOPE_EXTRA},
    )


def expected_content(message: dict[str, Any]) -> BaileysContent | str:
    content = normalise_content(message)
    assert content is not None
    return "edit" if content.is_protocol else replace(content, kind="")


def assert_both_providers_agree(message: dict[str, Any]) -> tuple[InboundMessage | str, InboundMessage | str]:
    evolution, whaticket = via_evolution(message), via_whaticket(message)
    assert content_of(evolution) == content_of(whaticket) == expected_content(message)
    return evolution, whaticket


# Named contents: the cases the two parsers used to disagree on, and the rest of the content types.
CONTENTS: dict[str, dict[str, Any]] = {
    "conversation": {"conversation": "Olá! Vocês abrem no domingo?"},
    "extended-text-quoting-us": {"extendedTextMessage": {"text": "Esse aqui", "contextInfo": QUOTE}},
    "lottie-sticker": {"lottieStickerMessage": {"message": {"stickerMessage": {"mimetype": "application/was", "isLottie": True}}}},
    "lottie-sticker-without-flags": {"lottieStickerMessage": {"message": {"stickerMessage": {"mimetype": "application/was"}}}},
    "animated-sticker": {"stickerMessage": {"mimetype": "image/webp", "isAnimated": True}},
    "native-flow-params": {
        "interactiveResponseMessage": {
            "contextInfo": QUOTE,
            "body": {"text": "Corpo"},
            "nativeFlowResponseMessage": {"name": "quick_reply", "paramsJson": '{"display_text":"Ver cardápio","id":"menu"}'},
        }
    },
    "native-flow-body-fallback": {
        "interactiveResponseMessage": {"body": {"text": "Encomendas"}, "nativeFlowResponseMessage": {"paramsJson": '{"id":"encomenda"}'}}
    },
    "native-flow-numeric-id-only": {"interactiveResponseMessage": {"nativeFlowResponseMessage": {"paramsJson": '{"id":42}'}}},
    "native-flow-junk-params": {
        "interactiveResponseMessage": {"body": {"text": "Sim"}, "nativeFlowResponseMessage": {"paramsJson": "{not json"}}
    },
    "vcard-waid": {
        "contactMessage": {
            "displayName": "Carlos",
            "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Carlos\nTEL;type=CELL;waid=5511999990000:+55 11 99999-0000\nEND:VCARD",
        }
    },
    "contacts-array-mixed": {
        "contactsArrayMessage": {
            "contacts": [
                {"displayName": "Ana", "vcard": "BEGIN:VCARD\r\nFN:Ana\r\nitem1.TEL;waid=5521991234567:+55 21 99123-4567\r\nEND:VCARD"},
                {"vcard": "BEGIN:VCARD\nFN:Doce Mel\nTEL;type=HOME:+55 31 3222-1100\nEND:VCARD"},
            ]
        }
    },
    "forwarded-once": {"extendedTextMessage": {"text": "Olha", "contextInfo": {"isForwarded": True, "forwardingScore": 1}}},
    "forwarded-five-times": {"extendedTextMessage": {"text": "Olha", "contextInfo": {"isForwarded": True, "forwardingScore": 5}}},
    "forwarding-score-only": {"imageMessage": {"mimetype": "image/jpeg", "contextInfo": {"forwardingScore": "9"}}},
    "audio-caption": {
        "audioMessage": {"mimetype": "audio/mpeg", "ptt": False, "caption": "O jingle", "contextInfo": {"isForwarded": True}}
    },
    "voice-note": {
        "audioMessage": {"mimetype": "audio/ogg; codecs=opus", "ptt": True, "fileSha256": "nqiDlb6kkV92Z1Zp6MzKlSiJvb/UJf4ib1E2laORiVI="}
    },
    "buttons-with-text": {
        "buttonsResponseMessage": {"selectedButtonId": "status", "selectedDisplayText": "Status do pedido", "contextInfo": QUOTE}
    },
    "buttons-id-only": {"buttonsResponseMessage": {"selectedButtonId": "horarios"}},
    "list-id-only": {"listResponseMessage": {"singleSelectReply": {"selectedRowId": "bolo_cenoura"}, "listType": 1}},
    "template-button-id-only": {"templateButtonReplyMessage": {"selectedId": "confirmar_pedido", "selectedIndex": 0}},
    "document-with-caption-wrapped": {
        "documentWithCaptionMessage": {
            "message": {"documentMessage": {"title": "nota.pdf", "mimetype": "application/pdf", "caption": "Nota"}}
        }
    },
    "view-once-in-ephemeral": {
        "ephemeralMessage": {"message": {"viewOnceMessageV2": {"message": {"imageMessage": {"caption": "Só uma vez"}}}}}
    },
    "live-location": {"liveLocationMessage": {"degreesLatitude": -23.55, "degreesLongitude": -46.63, "caption": "Chegando"}},
    "location": {"locationMessage": {"degreesLatitude": "-19.93", "degreesLongitude": -43.93, "name": "Praça", "address": "Centro"}},
    "reaction-removed": {"reactionMessage": {"key": {"id": "3EB0C7A9"}, "text": ""}},
    "poll": {"pollCreationMessageV3": {"name": "Qual sabor?", "options": [{"optionName": "Cenoura"}]}},
    "unknown": {"groupInviteMessage": {"groupJid": "120363025246125244@g.us"}},
    "non-object-content": {"imageMessage": "corrompido"},
    "ctwa-referral": {
        "extendedTextMessage": {
            "text": "Tenho interesse",
            "contextInfo": {"externalAdReply": {"title": "Café da manhã", "sourceType": "ad", "sourceId": "1202", "mediaType": 1}},
        }
    },
    "edit": {"editedMessage": {"message": {"protocolMessage": {"type": 14, "editedMessage": {"conversation": "Oi!"}}}}},
    "revoke-in-ephemeral": {"ephemeralMessage": {"message": {"protocolMessage": {"key": {"id": "3EB0A1"}, "type": "REVOKE"}}}},
    "poll-vote": {"pollUpdateMessage": {"pollCreationMessageKey": {"id": "3EB0A1"}}},
    "sender-key-rides-along": {"senderKeyDistributionMessage": {"groupId": "x"}, "conversation": "Oi", "messageContextInfo": {}},
}


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_the_same_baileys_content_normalises_identically_through_both_providers(name: str) -> None:
    # Given one Baileys message / When it arrives through Evolution and through Whaticket
    # Then both read exactly what the shared normaliser reads
    assert_both_providers_agree(CONTENTS[name])


def _fixture_contents() -> dict[str, dict[str, Any]]:
    """The Baileys message of every named fixture of both providers that carries one."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((FIXTURES / "evolution").glob("*.json")):
        doc = fixture_json(f"evolution/{path.name}")
        data = doc.get("data")
        if doc.get("event") == "messages.upsert" and isinstance(data, dict) and isinstance(data.get("message"), dict):
            found[f"evolution/{path.name}"] = data["message"]
    for path in sorted((FIXTURES / "whaticket").glob("*.json")):
        message = fixture_json(f"whaticket/{path.name}").get("message")
        if isinstance(message, dict) and message:
            found[f"whaticket/{path.name}"] = message
    return found


FIXTURE_CONTENTS = _fixture_contents()


@pytest.mark.parametrize("name", sorted(FIXTURE_CONTENTS))
def test_every_fixtures_content_normalises_identically_through_both_providers(name: str) -> None:
    # Given the content of a named payload of either provider / When it is carried by both envelopes / Then
    assert_both_providers_agree(FIXTURE_CONTENTS[name])


def test_the_fixture_sweep_covers_both_providers() -> None:
    assert {name.split("/")[0] for name in FIXTURE_CONTENTS} == {"evolution", "whaticket"}
    assert len(FIXTURE_CONTENTS) >= 60


def test_the_envelopes_add_only_their_own_media_facts() -> None:
    # Given a voice note / When
    evolution, whaticket = assert_both_providers_agree(CONTENTS["voice-note"])

    # Then Evolution names its copy (getBase64FromMediaMessage takes key.id) and Whaticket says there is none
    assert isinstance(evolution, InboundMessage) and isinstance(whaticket, InboundMessage)
    digest = "9ea88395bea4915f76675669e8ccca952889bdbfd425fe226f513695a3918952"
    assert evolution.media == MediaRef(media_id=MESSAGE_ID, mime_type="audio/ogg; codecs=opus", sha256=digest, voice=True)
    assert (evolution.extra, whaticket.extra) == ({}, {"media_unavailable": True})
    assert whaticket.media == MediaRef(mime_type="audio/ogg; codecs=opus", sha256=digest, voice=True)


# --- what the normaliser reads ---------------------------------------------------------------------


def read(message: dict[str, Any]) -> BaileysContent:
    content = normalise_content(message)
    assert content is not None
    return content


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            CONTENTS["lottie-sticker"],
            BaileysContent("stickerMessage", MessageType.STICKER, media=MediaRef(mime_type="application/was", animated=True)),
        ),
        (
            CONTENTS["lottie-sticker-without-flags"],
            BaileysContent("stickerMessage", MessageType.STICKER, media=MediaRef(mime_type="application/was", animated=True)),
        ),
        (
            CONTENTS["native-flow-params"],
            BaileysContent(
                "interactiveResponseMessage",
                MessageType.INTERACTIVE,
                text="Ver cardápio",
                context=QUOTED,
                extra={"interactive_type": "nfm_reply", "reply_id": "menu"},
            ),
        ),
        (
            CONTENTS["native-flow-body-fallback"],
            BaileysContent(
                "interactiveResponseMessage",
                MessageType.INTERACTIVE,
                text="Encomendas",
                extra={"interactive_type": "nfm_reply", "reply_id": "encomenda"},
            ),
        ),
        (
            CONTENTS["native-flow-numeric-id-only"],
            BaileysContent(
                "interactiveResponseMessage", MessageType.INTERACTIVE, text="42", extra={"interactive_type": "nfm_reply", "reply_id": "42"}
            ),
        ),
        (
            {
                "interactiveResponseMessage": {
                    "nativeFlowResponseMessage": {"name": "flow", "paramsJson": '{"flow_token":"pedido-881","nome":"Ana"}'}
                }
            },
            BaileysContent(
                "interactiveResponseMessage",
                MessageType.INTERACTIVE,
                text="pedido-881",
                extra={"interactive_type": "nfm_reply", "reply_id": "pedido-881"},
            ),
        ),
        (
            CONTENTS["native-flow-junk-params"],
            BaileysContent("interactiveResponseMessage", MessageType.INTERACTIVE, text="Sim", extra={"interactive_type": "nfm_reply"}),
        ),
        (
            CONTENTS["vcard-waid"],
            BaileysContent("contactMessage", MessageType.CONTACTS, extra={"contacts": [{"name": "Carlos", "phones": ["5511999990000"]}]}),
        ),
        (
            CONTENTS["forwarded-five-times"],
            BaileysContent(
                "extendedTextMessage", MessageType.TEXT, text="Olha", context=ReplyContext(forwarded=True, frequently_forwarded=True)
            ),
        ),
        (
            CONTENTS["forwarding-score-only"],
            BaileysContent(
                "imageMessage",
                MessageType.IMAGE,
                media=MediaRef(mime_type="image/jpeg"),
                context=ReplyContext(forwarded=True, frequently_forwarded=True),
            ),
        ),
        (
            CONTENTS["audio-caption"],
            BaileysContent(
                "audioMessage",
                MessageType.AUDIO,
                text="O jingle",
                media=MediaRef(mime_type="audio/mpeg", caption="O jingle"),
                context=ReplyContext(forwarded=True),
            ),
        ),
        (
            CONTENTS["buttons-id-only"],
            BaileysContent(
                "buttonsResponseMessage",
                MessageType.INTERACTIVE,
                text="horarios",
                extra={"interactive_type": "button_reply", "reply_id": "horarios"},
            ),
        ),
        (
            CONTENTS["list-id-only"],
            BaileysContent(
                "listResponseMessage",
                MessageType.INTERACTIVE,
                text="bolo_cenoura",
                extra={"interactive_type": "list_reply", "reply_id": "bolo_cenoura"},
            ),
        ),
        (
            CONTENTS["template-button-id-only"],
            BaileysContent(
                "templateButtonReplyMessage", MessageType.BUTTON, text="confirmar_pedido", extra={"payload": "confirmar_pedido"}
            ),
        ),
        (
            CONTENTS["document-with-caption-wrapped"],
            BaileysContent(
                "documentMessage",
                MessageType.DOCUMENT,
                text="Nota",
                media=MediaRef(mime_type="application/pdf", caption="Nota", filename="nota.pdf"),
            ),
        ),
        (
            CONTENTS["poll"],
            BaileysContent("pollCreationMessageV3", MessageType.UNSUPPORTED, extra={"unsupported_type": "pollCreationMessageV3"}),
        ),
        (CONTENTS["non-object-content"], BaileysContent("imageMessage", MessageType.UNKNOWN, extra={"unsupported_type": "imageMessage"})),
        (
            {"viewOnceMessageV2": {"message": {}}},
            BaileysContent("viewOnceMessageV2", MessageType.UNKNOWN, extra={"unsupported_type": "viewOnceMessageV2"}),
        ),
        (CONTENTS["edit"], BaileysContent("editedMessage", MessageType.SYSTEM, extra={"system_type": "editedMessage"})),
        (
            CONTENTS["ctwa-referral"],
            BaileysContent(
                "extendedTextMessage",
                MessageType.TEXT,
                text="Tenho interesse",
                referral=Referral(source_type="ad", source_id="1202", headline="Café da manhã", media_type="image"),
            ),
        ),
    ],
    ids=[
        "lottie",
        "lottie-no-flags",
        "native-flow-params",
        "native-flow-body-fallback",
        "native-flow-numeric-id",
        "native-flow-flow-token",
        "native-flow-junk-params",
        "vcard-waid",
        "forwarded-five-times",
        "forwarding-score-only",
        "audio-caption",
        "buttons-id-only",
        "list-id-only",
        "template-id-only",
        "document-with-caption",
        "poll",
        "non-object",
        "empty-wrapper",
        "edit",
        "ctwa-referral",
    ],
)
def test_normalise_content(message: dict[str, Any], expected: BaileysContent) -> None:
    # Given / When / Then
    assert read(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"messageContextInfo": {"deviceListMetadataVersion": 2}},
        {"conversation": None},
        {"base64": "AAAA", "mediaUrl": "https://x"},
        "Oi",
        None,
    ],
    ids=["empty", "context-only", "null-content", "evolution-additions-only", "string", "none"],
)
def test_no_content_at_all_is_none(message: Any) -> None:
    assert normalise_content(message) is None


@pytest.mark.parametrize(
    ("message", "hint", "key"),
    [
        ({"messageContextInfo": {}, "conversation": "Oi"}, None, "conversation"),
        ({"protocolMessage": {"type": 3}, "conversation": "Oi"}, "conversation", "conversation"),
        ({"protocolMessage": {"type": 3}, "conversation": "Oi"}, None, "protocolMessage"),
        ({"conversation": "Oi"}, "extendedTextMessage", "conversation"),  # a stale hint
        ({"speechToText": "[audio] oi", "audioMessage": {}}, "speechToText", "audioMessage"),  # not a content field
        ({"senderKeyDistributionMessage": {}, "imageMessage": {}}, None, "imageMessage"),
        ({"ephemeralMessage": {"message": {"conversation": "Oi"}}}, None, "ephemeralMessage"),  # wrappers are not removed
    ],
    ids=["skips-context", "hint-wins", "first-field", "stale-hint", "hint-not-content", "sender-key", "wrapper"],
)
def test_content_key_follows_baileys_get_content_type(message: dict[str, Any], hint: str | None, key: str) -> None:
    assert content_key(message, hint) == key


def test_wrapper_nesting_is_bounded() -> None:
    # Given more wrappers than WhatsApp ever nests
    nested: dict[str, Any] = {"conversation": "Oi"}
    for _ in range(6):
        nested = {"ephemeralMessage": {"message": nested}}

    # When / Then unwrapping stops, and the content is called what it is
    assert read(nested) == BaileysContent("ephemeralMessage", MessageType.UNKNOWN, extra={"unsupported_type": "ephemeralMessage"})


@pytest.mark.parametrize("kind", ["protocolMessage", "editedMessage", "pollUpdateMessage", "keepInChatMessage", "pinInChatMessage"])
def test_protocol_traffic_is_flagged(kind: str) -> None:
    assert read({kind: {"key": {"id": "3EB0A1"}}}).is_protocol


@pytest.mark.parametrize(
    ("vcard", "name", "phones"),
    [
        ("BEGIN:VCARD\nFN:Carlos\nTEL;type=CELL;waid=5511999990000:+55 11 99999-0000\nEND:VCARD", "Carlos", ["5511999990000"]),
        ("BEGIN:VCARD\nFN:Sem WhatsApp\nTEL;type=HOME:+55 31 3222-1100\nEND:VCARD", "Sem WhatsApp", ["+55 31 3222-1100"]),
        ("BEGIN:VCARD\nitem1.TEL;WAID=5521991234567:+55 21 99123-4567\nEND:VCARD", None, ["5521991234567"]),
        ("BEGIN:VCARD\nTEL;waid=abc:+55 11 98888-7777\nEND:VCARD", None, ["+55 11 98888-7777"]),  # junk waid: the value
        ("BEGIN:VCARD\nTEL;TYPE=CELL:tel:+5511955554444\nTEL;waid=5511966665555:\nEND:VCARD", None, ["+5511955554444", "5511966665555"]),
        ("BEGIN:VCARD\nFN:Dona\n  Lúcia\nEND:VCARD", "Dona Lúcia", []),
        ("", None, []),
    ],
    ids=["waid", "no-waid", "grouped-upper-waid", "junk-waid", "uri-and-bare-waid", "folded-fn", "empty"],
)
def test_parse_vcard(vcard: str, name: str | None, phones: list[str]) -> None:
    assert parse_vcard(vcard) == (name, phones)


def test_a_shared_address_book_is_cut_to_the_queue_limit_and_marked() -> None:
    # Given 30 cards of 30 numbers
    vcard = "BEGIN:VCARD\nFN:Cliente\n" + "".join(f"TEL:+55 11 9000{i:04d}\n" for i in range(30)) + "END:VCARD"
    content = read({"contactsArrayMessage": {"contacts": [{"vcard": vcard}] * 30}})

    # When / Then
    cards = content.extra["contacts"]
    assert (len(cards), {len(card["phones"]) for card in cards}, content.extra["truncated"]) == (MAX_LIST_ITEMS, {MAX_LIST_ITEMS}, True)


@pytest.mark.parametrize(
    ("context_info", "expected"),
    [
        ({"isForwarded": True}, ReplyContext(forwarded=True)),
        ({"isForwarded": True, "forwardingScore": 4}, ReplyContext(forwarded=True)),
        ({"isForwarded": True, "forwardingScore": 5}, ReplyContext(forwarded=True, frequently_forwarded=True)),
        ({"forwardingScore": {"low": 6, "high": 0, "unsigned": False}}, ReplyContext(forwarded=True, frequently_forwarded=True)),
        ({"isForwarded": "true"}, None),  # not a boolean: not believed
        (
            {"stanzaId": "3EB0AB", "participant": "5511987654321:4@s.whatsapp.net"},
            ReplyContext(message_id="3EB0AB", from_id="5511987654321"),
        ),
        ({"stanzaId": "3EB0AB", "participant": "5511987654321@c.us"}, ReplyContext(message_id="3EB0AB", from_id="5511987654321")),
        ({"stanzaId": "3EB0AB", "participant": "218765432109876@lid"}, ReplyContext(message_id="3EB0AB")),
        ({"participant": "5511987654321@s.whatsapp.net", "isForwarded": True}, ReplyContext(forwarded=True)),  # no quote, no author
        ({"expiration": 604800}, None),
        ([1, 2], None),
    ],
    ids=[
        "forwarded",
        "score-4",
        "score-5",
        "long-score",
        "string-bool",
        "device-jid",
        "c-us",
        "lid",
        "author-without-quote",
        "nothing",
        "junk",
    ],
)
def test_reply_context(context_info: Any, expected: ReplyContext | None) -> None:
    assert reply_context(context_info) == expected


def test_referral_needs_an_ad() -> None:
    assert (referral({"externalAdReply": {"containsAutoReply": False}}), referral("x")) == (None, None)


def test_media_keys_and_types_are_inverse() -> None:
    # The sandboxes build content from MEDIA_KEYS; the parsers read it with MEDIA_TYPES.
    assert all(MEDIA_TYPES[key] is mtype for mtype, key in MEDIA_KEYS.items())


# --- robustness ------------------------------------------------------------------------------------

# Field names the reader looks at, so that random documents reach its branches.
FIELDS = [
    "message",
    "contextInfo",
    "text",
    "caption",
    "vcard",
    "contacts",
    "paramsJson",
    "nativeFlowResponseMessage",
    "body",
    "isForwarded",
]
CONTENT_KEYS = sorted(
    {*MEDIA_TYPES, "conversation", "ephemeralMessage", "lottieStickerMessage", "contactsArrayMessage", "interactiveResponseMessage"}
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS + CONTENT_KEYS) | st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=st.dictionaries(st.sampled_from(CONTENT_KEYS), json_value, max_size=3))
def test_any_content_normalises_without_raising_and_survives_the_queue(message: dict[str, Any]) -> None:
    # Given arbitrary JSON under real content keys / When
    content = normalise_content(message)

    # Then a content (or None) whose extra is strict JSON, and whose message round-trips the queue
    if content is None:
        return
    assert json.loads(json.dumps(content.extra, allow_nan=False)) == content.extra
    inbound = InboundMessage(
        tenant_id=None,
        channel_id="whaticket:loja",
        provider=Provider.WHATICKET,
        provider_message_id=MESSAGE_ID,
        contact=ContactRef(contact_id="c:1"),
        timestamp=SENT_AT,
        type=content.type,
        text=content.text,
        media=content.media,
        context=content.context,
        referral=content.referral,
        extra=content.extra,
    )
    assert parse_envelope(inbound.to_json()) == inbound
