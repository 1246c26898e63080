"""Evolution API inbound normalisation: every named webhook → the exact EvolutionDelivery.

Reference: ../shared/docs/providers.md §2.3-2.5 (envelope, content types, LID addressing, events).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from atende.channels.evolution import (
    ConnectionChange,
    EvolutionDelivery,
    EvolutionEnvelope,
    parse_evolution_webhook,
    read_envelope,
)
from atende.domain.content import assistant_text
from atende.domain.messages import (
    INLINE_MEDIA_MAX_CHARS,
    ContactRef,
    DeliveryStatus,
    InboundMessage,
    MediaRef,
    MessageType,
    Provider,
    Referral,
    ReplyContext,
    StatusUpdate,
    parse_envelope,
)
from atende.errors import MalformedPayload
from tests.conftest import FIXTURES, fixture_json

INSTANCE = "padaria-evolution"
APIKEY = "B6D711FCDE4D4FD5936544120E713976"
CHANNEL_ID = "evolution:padaria-evolution"
NOW = 1763725000  # the webhook's clock: statuses carry no time of their own
BAKERY_MESSAGE_ID = "3EB0C7F1A2B3D4E5F60718"  # one of our own (API-sent) messages
QUOTED_BAKERY = ReplyContext(message_id=BAKERY_MESSAGE_ID, from_id="551140028922")


def contact_id(sender_key: str) -> str:
    """Deterministic stand-in for the keyed pseudonym: shows exactly which id was used as the key."""
    return f"c:{sender_key}"


def parse(doc: Any) -> EvolutionDelivery:
    return parse_evolution_webhook(doc, contact_id, now=NOW)


# The pseudonym key is the phone (digits exactly as received) when any JID names it, else the LID JID.
MARIANA = ContactRef(contact_id="c:5511987654321", wa_id="5511987654321", name="Mariana Souza", jid="5511987654321@s.whatsapp.net")
JOAO = ContactRef(contact_id="c:553188887766", wa_id="553188887766", name="João Pereira", jid="553188887766@s.whatsapp.net")
MARIANA_LID_ONLY = ContactRef(contact_id="c:187743615389712@lid", name="Mariana Souza", jid="187743615389712@lid")
MARIANA_AS_RECIPIENT = ContactRef(contact_id="c:5511987654321", wa_id="5511987654321", jid="5511987654321@s.whatsapp.net")
JOAO_AS_RECIPIENT = ContactRef(contact_id="c:553188887766", wa_id="553188887766", jid="553188887766@s.whatsapp.net")


def message(provider_message_id: str, contact: ContactRef, timestamp: int, type_: MessageType, **fields: Any) -> InboundMessage:
    return InboundMessage(
        tenant_id=None,
        channel_id=CHANNEL_ID,
        provider=Provider.EVOLUTION,
        provider_message_id=provider_message_id,
        contact=contact,
        timestamp=timestamp,
        type=type_,
        **fields,
    )


def status(provider_message_id: str, contact: ContactRef, status_: DeliveryStatus) -> StatusUpdate:
    return StatusUpdate(
        tenant_id=None,
        channel_id=CHANNEL_ID,
        provider=Provider.EVOLUTION,
        provider_message_id=provider_message_id,
        contact=contact,
        status=status_,
        timestamp=NOW,
    )


def media(message_id: str, mime_type: str, sha256: str | None, **fields: Any) -> MediaRef:
    # Evolution downloads by message id (getBase64FromMediaMessage takes key.id).
    return MediaRef(media_id=message_id, mime_type=mime_type, sha256=sha256, **fields)


IMAGE_CAPTION_BASE64 = fixture_json("evolution/image_caption.json")["data"]["message"]["base64"]  # a tiny JPEG

EXPECTED: dict[str, EvolutionDelivery] = {
    # --- text -------------------------------------------------------------------------------
    # Current servers: data.contextInfo is a copy of messageContextInfo (no quote): no context.
    "text_conversation.json": EvolutionDelivery(
        messages=[
            message(
                "A1F3C5E7B9D2F4A6C8E0B1D3F5A7C9E2",
                MARIANA,
                1763722800,
                MessageType.TEXT,
                text="Olá! Vocês abrem no domingo? 🥐",
            )
        ]
    ),
    # Raw extendedTextMessage (older servers / relays) quoting our message; DDD 31 keeps 12 digits.
    "text_extended.json": EvolutionDelivery(
        messages=[
            message(
                "3A7D2E9B4C1F8A6E5D3B",
                JOAO,
                1763722860,
                MessageType.TEXT,
                text="Quanto custa o bolo de cenoura?",
                context=QUOTED_BAKERY,
            )
        ]
    ),
    # 2.2.x rewrote extendedTextMessage to conversation and moved its contextInfo to data.contextInfo.
    "text_reply_rewritten.json": EvolutionDelivery(
        messages=[
            message(
                "C4E2A0B8D6F4E2C0A8B6D4F2E0C8A6B4",
                MARIANA,
                1763722870,
                MessageType.TEXT,
                text="Quero dois, pode separar?",
                context=QUOTED_BAKERY,
            )
        ]
    ),
    # Forwarded seven times (Evolution lifted the rewritten text's contextInfo to data.contextInfo).
    "text_forwarded_frequently.json": EvolutionDelivery(
        messages=[
            message(
                "D0F2B4A6C8E0D2F4B6A8C0E2D4F6B8A0",
                MARIANA,
                1763724220,
                MessageType.TEXT,
                text="Promoção de Natal: panetone 2 por R$ 50! Vale aí?",
                context=ReplyContext(forwarded=True, frequently_forwarded=True),
            )
        ]
    ),
    # --- media ------------------------------------------------------------------------------
    # Webhook base64 on: small enough to queue, the bytes travel inline (the processor skips
    # getBase64FromMediaMessage); fileSha256 (base64) becomes hex.
    "image_caption.json": EvolutionDelivery(
        messages=[
            message(
                "B7E9D1F3A5C7E9B1D3F5A7C9E1B3D5F7",
                MARIANA,
                1763723040,
                MessageType.IMAGE,
                text="Chegou assim 😞",
                media=media(
                    "B7E9D1F3A5C7E9B1D3F5A7C9E1B3D5F7",
                    "image/jpeg",
                    "a15ffd7a285320a876f84c861d3edb76f2b71e8f013d1e685cd621aa41d475b6",
                    caption="Chegou assim 😞",
                    inline_base64=IMAGE_CAPTION_BASE64,
                ),
            )
        ]
    ),
    # Voice note with S3 on (mediaUrl) and OpenAI transcription on: speechToText is not the
    # content, it is the transcript (Evolution's "[audio] " prefix dropped).
    "audio_ptt.json": EvolutionDelivery(
        messages=[
            message(
                "3A0B5C2D9E4F6A1B8C7D",
                MARIANA,
                1763723100,
                MessageType.AUDIO,
                extra={"speech_to_text": "Queria encomendar um bolo para sábado"},
                media=media(
                    "3A0B5C2D9E4F6A1B8C7D",
                    "audio/ogg; codecs=opus",
                    "9ea88395bea4915f76675669e8ccca952889bdbfd425fe226f513695a3918952",
                    voice=True,
                    url="https://s3.padariapaoquente.com.br/evolution/e3c1b0a4-7f2d-4c8e-9a51-2b6d3f8e1c07/"
                    "5511987654321@s.whatsapp.net/audioMessage/1763723100412_3A0B5C2D9E4F6A1B8C7D.oga",
                ),
            )
        ]
    ),
    # speechToText at data level (other Evolution builds): the same transcript extra.
    "audio_speech_to_text_data.json": EvolutionDelivery(
        messages=[
            message(
                "3A1C3E5B7D9F2A4C6E8B",
                MARIANA,
                1763724260,
                MessageType.AUDIO,
                media=media(
                    "3A1C3E5B7D9F2A4C6E8B",
                    "audio/ogg; codecs=opus",
                    "e29385fb48346ebc60b74577a21317af3166fa34253ad05d06e52d42e4d026f4",
                    voice=True,
                ),
                extra={"speech_to_text": "Vocês fazem bolo sem lactose?"},
            )
        ]
    ),
    # An audio file (not a voice note) sent with a caption: the caption is kept, and is the text.
    "audio_caption.json": EvolutionDelivery(
        messages=[
            message(
                "E3A5C7B9D1F3E5A7C9B1D3F5E7A9C1B3",
                MARIANA,
                1763724240,
                MessageType.AUDIO,
                text="Esse é o jingle da padaria que comentei",
                media=media(
                    "E3A5C7B9D1F3E5A7C9B1D3F5E7A9C1B3",
                    "audio/mpeg",
                    "87f6dacdf5222cb9917813818e86dfd00f06630248a97b7713dbbbc958f4bf4c",
                    caption="Esse é o jingle da padaria que comentei",
                ),
                context=ReplyContext(forwarded=True),
            )
        ]
    ),
    # fileSha256 serialised as an index-keyed byte object: not trusted, left out.
    "video.json": EvolutionDelivery(
        messages=[
            message(
                "D2F4A6C8E0B2D4F6A8C0E2B4D6F8A0C2",
                MARIANA,
                1763723160,
                MessageType.VIDEO,
                text="Olha o tamanho da fila hoje",
                media=media("D2F4A6C8E0B2D4F6A8C0E2B4D6F8A0C2", "video/mp4", None, caption="Olha o tamanho da fila hoje"),
            )
        ]
    ),
    "ptv.json": EvolutionDelivery(
        messages=[
            message(
                "E5A7C9B1D3F5E7A9C1B3D5F7E9A1C3B5",
                MARIANA,
                1763723220,
                MessageType.VIDEO,
                media=media(
                    "E5A7C9B1D3F5E7A9C1B3D5F7E9A1C3B5", "video/mp4", "9177e42a56a73b5c968ca11072ced40251aa24ab50988c69167c7d73d50ecfbe"
                ),
            )
        ]
    ),
    # Evolution's flattened form of documentWithCaptionMessage.
    "document_with_caption.json": EvolutionDelivery(
        messages=[
            message(
                "F8B0D2E4A6C8F0B2D4E6A8C0F2B4D6E8",
                MARIANA,
                1763723280,
                MessageType.DOCUMENT,
                text="Segue a lista do pedido da festa",
                media=media(
                    "F8B0D2E4A6C8F0B2D4E6A8C0F2B4D6E8",
                    "application/pdf",
                    "71a04b2cedeec97d88062eb03b7dc65b0660b26ae73065c122220012119a87fb",
                    caption="Segue a lista do pedido da festa",
                    filename="pedido-festa.pdf",
                ),
            )
        ]
    ),
    # The raw wrapped form, with no fileName: the title names the file.
    "document_with_caption_wrapped.json": EvolutionDelivery(
        messages=[
            message(
                "3A9C1E3B5D7F2A4C6E8B",
                JOAO,
                1763723290,
                MessageType.DOCUMENT,
                text="Orçamento do casamento",
                media=media(
                    "3A9C1E3B5D7F2A4C6E8B",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    "10b4b8f146bfc869ab1914b0b13c39ac3756a29b1e04fbdbf0fbb3dc2bfe5bbf",
                    caption="Orçamento do casamento",
                    filename="orcamento-casamento.xlsx",
                ),
            )
        ]
    ),
    "sticker.json": EvolutionDelivery(
        messages=[
            message(
                "A0C2E4B6D8F0A2C4E6B8D0F2A4C6E8B0",
                MARIANA,
                1763723340,
                MessageType.STICKER,
                media=media(
                    "A0C2E4B6D8F0A2C4E6B8D0F2A4C6E8B0",
                    "image/webp",
                    "5c0d9378664386169fc487141fd5da3ee2631dee6783517652ecaccffce163cc",
                    animated=True,
                ),
            )
        ]
    ),
    # A lottie sticker is a stickerMessage inside lottieStickerMessage: always animated.
    "lottie_sticker.json": EvolutionDelivery(
        messages=[
            message(
                "B4D6F8A0C2E4B6D8F0A2C4E6B8D0F2A4",
                MARIANA,
                1763724180,
                MessageType.STICKER,
                media=media(
                    "B4D6F8A0C2E4B6D8F0A2C4E6B8D0F2A4",
                    "application/was",
                    "0c10241efd21ff87c06c1126e57227adabf7ff1b0aaa16755181ff373b499469",
                    animated=True,
                ),
            )
        ]
    ),
    # --- location / contacts ----------------------------------------------------------------
    "location.json": EvolutionDelivery(
        messages=[
            message(
                "B3D5F7A9C1E3B5D7F9A1C3E5B7D9F1A3",
                MARIANA,
                1763723400,
                MessageType.LOCATION,
                extra={
                    "latitude": -23.5614141,
                    "longitude": -46.6558819,
                    "name": "Edifício Itália",
                    "address": "Av. Ipiranga, 344 - República, São Paulo - SP, 01046-010",
                    "url": "https://maps.google.com/?q=-23.5614141,-46.6558819",
                },
            )
        ]
    ),
    "live_location.json": EvolutionDelivery(
        messages=[
            message(
                "C6E8A0B2D4F6C8E0A2B4D6F8C0E2A4B6",
                MARIANA,
                1763723460,
                MessageType.LOCATION,
                text="Estou chegando para buscar a encomenda",
                extra={"latitude": -23.5505199, "longitude": -46.6333094, "live": True},
            )
        ]
    ),
    "contact_vcard.json": EvolutionDelivery(
        messages=[
            message(
                "D9F1B3A5C7E9D1F3B5A7C9E1D3F5B7A9",
                MARIANA,
                1763723520,
                MessageType.CONTACTS,
                # The vCard's waid is the phone: the contact's WhatsApp number, in digits.
                extra={"contacts": [{"name": "Carlos Almeida", "phones": ["5511988887777"]}]},
            )
        ]
    ),
    # CRLF vCards, "item1.TEL" grouped properties, and a TEL line without waid.
    "contacts_array.json": EvolutionDelivery(
        messages=[
            message(
                "E2A4C6B8D0F2E4A6C8B0D2F4E6A8C0B2",
                MARIANA,
                1763723580,
                MessageType.CONTACTS,
                extra={
                    "contacts": [
                        {"name": "Ana Beatriz Lima", "phones": ["5521991234567"]},
                        {"name": "Confeitaria Doce Mel", "phones": ["553132221100", "+55 31 98765-0000"]},
                    ]
                },
            )
        ]
    ),
    # --- reactions --------------------------------------------------------------------------
    "reaction.json": EvolutionDelivery(
        messages=[
            message(
                "F5B7D9A1C3E5F7B9D1A3C5E7F9B1D3A5",
                MARIANA,
                1763722980,
                MessageType.REACTION,
                extra={"target_message_id": BAKERY_MESSAGE_ID, "emoji": "👍"},
            )
        ]
    ),
    "reaction_removed.json": EvolutionDelivery(
        messages=[
            message(
                "A8C0E2B4D6F8A0C2E4B6D8F0A2C4E6B8",
                MARIANA,
                1763722990,
                MessageType.REACTION,
                extra={"target_message_id": BAKERY_MESSAGE_ID, "emoji": ""},
            )
        ]
    ),
    # --- replies to our buttons / lists / templates / native flows --------------------------
    "buttons_response.json": EvolutionDelivery(
        messages=[
            message(
                "B1D3F5A7C9E1B3D5F7A9C1E3B5D7F9A1",
                MARIANA,
                1763722920,
                MessageType.INTERACTIVE,
                text="Status do pedido",
                context=QUOTED_BAKERY,
                extra={"interactive_type": "button_reply", "reply_id": "order_status"},
            )
        ]
    ),
    # No display text: the button's id is the text (never the "can't read this" notice).
    "buttons_response_id_only.json": EvolutionDelivery(
        messages=[
            message(
                "F6B8D0A2C4E6F8B0D2A4C6E8F0B2D4A6",
                MARIANA,
                1763724270,
                MessageType.INTERACTIVE,
                text="horarios",
                context=QUOTED_BAKERY,
                extra={"interactive_type": "button_reply", "reply_id": "horarios"},
            )
        ]
    ),
    "list_response.json": EvolutionDelivery(
        messages=[
            message(
                "C8E0A2B4D6F8C0E2A4B6D8F0C2E4A6B8",
                MARIANA,
                1763722930,
                MessageType.INTERACTIVE,
                text="Bolo de cenoura",
                context=QUOTED_BAKERY,
                extra={"interactive_type": "list_reply", "reply_id": "bolo_cenoura", "description": "Com cobertura de chocolate"},
            )
        ]
    ),
    "template_button_reply.json": EvolutionDelivery(
        messages=[
            message(
                "D5F7B9A1C3E5D7F9B1A3C5E7D9F1B3A5",
                MARIANA,
                1763722940,
                MessageType.BUTTON,
                text="Confirmar pedido",
                context=QUOTED_BAKERY,
                extra={"payload": "confirmar_pedido"},
            )
        ]
    ),
    "interactive_native_flow.json": EvolutionDelivery(
        messages=[
            message(
                "E8A0C2B4D6F8E0A2C4B6D8F0E2A4C6B8",
                MARIANA,
                1763722950,
                MessageType.INTERACTIVE,
                text="Ver cardápio",
                context=QUOTED_BAKERY,
                extra={"interactive_type": "nfm_reply", "reply_id": "menu"},
            )
        ]
    ),
    # paramsJson names the reply id but no display text: the body text is what was tapped.
    "interactive_native_flow_body_text.json": EvolutionDelivery(
        messages=[
            message(
                "C7E9A1B3D5F7C9E1A3B5D7F9C1E3A5B7",
                MARIANA,
                1763724210,
                MessageType.INTERACTIVE,
                text="Encomendas para sábado",
                context=QUOTED_BAKERY,
                extra={"interactive_type": "nfm_reply", "reply_id": "encomenda_sabado"},
            )
        ]
    ),
    # --- wrappers and unsupported content ---------------------------------------------------
    # Disappearing-messages chat: the wrapped extendedTextMessage's contextInfo carries no quote.
    "ephemeral_wrapped.json": EvolutionDelivery(
        messages=[message("3A4E6B8C0D2F1A3B5C7D", MARIANA, 1763723640, MessageType.TEXT, text="Vocês entregam em Pinheiros?")]
    ),
    "view_once.json": EvolutionDelivery(
        messages=[
            message(
                "F1B3D5A7C9E1F3B5D7A9C1E3F5B7D9A1",
                MARIANA,
                1763723700,
                MessageType.IMAGE,
                media=media(
                    "F1B3D5A7C9E1F3B5D7A9C1E3F5B7D9A1", "image/jpeg", "d5409f4a5faecff150c23886a2624f0291362084d20375fc4de891462890b189"
                ),
            )
        ]
    ),
    "poll.json": EvolutionDelivery(
        messages=[
            message(
                "A4C6E8B0D2F4A6C8E0B2D4F6A8C0E2B4",
                MARIANA,
                1763723760,
                MessageType.UNSUPPORTED,
                extra={"unsupported_type": "pollCreationMessageV3"},
            )
        ]
    ),
    # Click-to-WhatsApp ad: externalAdReply becomes the referral.
    "ctwa_referral.json": EvolutionDelivery(
        messages=[
            message(
                "B9D1F3A5C7E9B1D3F5A7C9E1B3D5F7A9",
                MARIANA,
                1763723820,
                MessageType.TEXT,
                text="Olá! Tenho interesse e queria mais informações, por favor.",
                referral=Referral(
                    source_type="ad",
                    source_id="120212345678901234",
                    source_url="https://fb.me/9xQz7PaoQuente",
                    headline="Café da manhã completo por R$ 29,90",
                    body="Peça pelo WhatsApp e receba em casa 🥐☕",
                    media_type="image",
                    ctwa_clid="Afc8Qw3nX0p5r2LmVb7Tq1ZsYh4KdJ6gNwE9uPiRoA2xCyHtMvF8lBzSeUaGkDjOn",
                ),
            )
        ]
    ),
    # --- upserts that are not a customer talking to us --------------------------------------
    "from_me.json": EvolutionDelivery(ignored={"from_me": 1}),
    "group.json": EvolutionDelivery(ignored={"group": 1}),
    "status_broadcast.json": EvolutionDelivery(ignored={"broadcast": 1}),
    "newsletter.json": EvolutionDelivery(ignored={"newsletter": 1}),
    # --- LID addressing ---------------------------------------------------------------------
    # 2.3.5+: remoteJid is the LID, the phone is in remoteJidAlt → keyed and answered on the phone.
    "lid_with_alt.json": EvolutionDelivery(
        messages=[message("E0A2C4B6D8F0E2A4C6B8D0F2E4A6C8B0", MARIANA, 1763723940, MessageType.TEXT, text="Oi, ainda tem pão de queijo?")]
    ),
    # Later builds swap them back (remoteJid = phone, remoteJidAlt = LID): same contact.
    "lid_alt_swapped.json": EvolutionDelivery(
        messages=[message("F3B5D7A9C1E3F5B7D9A1C3E5F7B9D1A3", MARIANA, 1763723945, MessageType.TEXT, text="Pode ser às 17h?")]
    ),
    # 2.3.1-2.3.4 / raw Baileys 6.7 keys: the phone is in senderPn (here a 12-digit DDD-31 number).
    "lid_sender_pn.json": EvolutionDelivery(
        messages=[message("3AB1C3D5E7F9A2B4C6D8", JOAO, 1763724000, MessageType.TEXT, text="Bom dia! Tem broa de milho hoje?")]
    ),
    # 2.2.x: a LID and nothing else: keyed and answered on the LID JID.
    "lid_only.json": EvolutionDelivery(
        messages=[message("A6C8E0B2D4F6A8C0E2B4D6F8A0C2E4B6", MARIANA_LID_ONLY, 1763724060, MessageType.TEXT, text="Vocês aceitam Pix?")]
    ),
    # messageTimestamp as a protobuf Long {low, high, unsigned}; date_time is never used.
    "long_timestamp.json": EvolutionDelivery(
        messages=[message("B2D4F6A8C0E2B4D6F8A0C2E4B6D8F0A2", MARIANA, 1763724120, MessageType.TEXT, text="Obrigada! 😊")]
    ),
    # --- our own sends and their statuses ---------------------------------------------------
    "send_message_echo.json": EvolutionDelivery(ignored={"echo": 1}),
    "messages_update_read.json": EvolutionDelivery(statuses=[status(BAKERY_MESSAGE_ID, MARIANA_AS_RECIPIENT, DeliveryStatus.READ)]),
    # data as a list; the second update names the chat by LID with the phone in remoteJidAlt.
    "messages_update_delivered_list.json": EvolutionDelivery(
        statuses=[
            status("3EB0D4E5F6A7B8C9D0E1F2", MARIANA_AS_RECIPIENT, DeliveryStatus.DELIVERED),
            status("3EB09A8B7C6D5E4F3A2B1C", JOAO_AS_RECIPIENT, DeliveryStatus.DELIVERED),
        ]
    ),
    # Older servers send the Baileys number (4 = READ).
    "messages_update_numeric.json": EvolutionDelivery(statuses=[status("3EB07C8D9E0F1A2B3C4D5E", JOAO_AS_RECIPIENT, DeliveryStatus.READ)]),
    # The customer's message marked read on our side: not a status of ours.
    "messages_update_inbound.json": EvolutionDelivery(ignored={"event": 1}),
    # --- connection and other events --------------------------------------------------------
    "connection_close.json": EvolutionDelivery(connection=ConnectionChange(state="close", status_reason=401)),
    "connection_open.json": EvolutionDelivery(connection=ConnectionChange(state="open", status_reason=200)),
    "qrcode_updated.json": EvolutionDelivery(ignored={"event": 1}),
}


def test_every_evolution_fixture_has_an_expectation() -> None:
    # Given the named payloads on disk / Then each one is covered below (a new fixture needs a new expectation)
    assert {p.name for p in (FIXTURES / "evolution").glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_normalises_to_the_exact_delivery(name: str) -> None:
    # Given Evolution's webhook as delivered
    doc = fixture_json(f"evolution/{name}")

    # When
    delivery = parse(doc)

    # Then the whole normalised delivery is exactly the expected one
    assert delivery == EXPECTED[name]


# --- envelope ------------------------------------------------------------------------------


def test_envelope_names_instance_event_and_apikey() -> None:
    # Given / When
    envelope = read_envelope(fixture_json("evolution/text_conversation.json"))

    # Then
    assert envelope == EvolutionEnvelope(instance=INSTANCE, event="messages.upsert", apikey=APIKEY)


def test_envelope_without_exposed_apikey_has_none() -> None:
    # Given AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES=false (apikey null) / When / Then
    assert read_envelope(fixture_json("evolution/qrcode_updated.json")) == EvolutionEnvelope(INSTANCE, "qrcode.updated", None)


@pytest.mark.parametrize(
    ("sent", "normalised"),
    [
        ("messages.upsert", "messages.upsert"),
        ("MESSAGES_UPSERT", "messages.upsert"),
        ("messages-upsert", "messages.upsert"),
        ("CONNECTION_UPDATE", "connection.update"),
        (" Messages.Update ", "messages.update"),
    ],
)
def test_event_names_are_normalised(sent: str, normalised: str) -> None:
    # Given the event in one of the forms Evolution uses (event, subscription or URL name)
    doc = fixture_json("evolution/messages_update_read.json")
    doc["event"] = sent

    # When / Then
    assert read_envelope(doc).event == normalised


def test_upper_snake_event_is_parsed_like_the_dotted_one() -> None:
    # Given a relay that forwards the subscription name
    doc = fixture_json("evolution/text_conversation.json")
    doc["event"] = "MESSAGES_UPSERT"

    # When / Then
    assert parse(doc) == EXPECTED["text_conversation.json"]


_DROP = object()  # "remove this key" in the mutation helpers below


def _with(name: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(fixture_json(f"evolution/{name}"))
    for key, value in changes.items():
        if value is _DROP:
            del doc[key]
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([{"event": "messages.upsert", "instance": INSTANCE}], "body is not a JSON object"),
        ("messages.upsert", "body is not a JSON object"),
        (None, "body is not a JSON object"),
        (_with("text_conversation.json", instance=_DROP), "instance is missing or not a string"),
        (_with("text_conversation.json", instance=None), "instance is missing or not a string"),
        (_with("text_conversation.json", instance=42), "instance is missing or not a string"),
        (_with("text_conversation.json", instance=""), "instance is missing or not a string"),
        (_with("text_conversation.json", event=_DROP), "event is missing or not a string"),
        (_with("text_conversation.json", event=["messages.upsert"]), "event is missing or not a string"),
        (_with("text_conversation.json", event=7), "event is missing or not a string"),
        (_with("text_conversation.json", event="  "), "event is missing or not a string"),
    ],
    ids=[
        "list",
        "string",
        "null",
        "no-instance",
        "null-instance",
        "number-instance",
        "empty-instance",
        "no-event",
        "list-event",
        "number-event",
        "blank-event",
    ],
)
def test_malformed_envelope_is_rejected(doc: Any, message: str) -> None:
    # Given a body that is not an Evolution webhook envelope
    # When / Then: both entry points reject it with a 400, and nothing else
    for call in (read_envelope, parse):
        with pytest.raises(MalformedPayload) as caught:
            call(doc)
        assert type(caught.value) is MalformedPayload
        assert (caught.value.status_code, str(caught.value)) == (400, message)


# --- unusable items are counted, never fatal -------------------------------------------------


def _upsert(**data_changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(fixture_json("evolution/text_conversation.json"))
    for path, value in data_changes.items():
        target = doc["data"]
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "ignored"),
    [
        (_upsert(key=_DROP), {"no_sender": 1}),
        (_upsert(key="5511987654321@s.whatsapp.net"), {"no_sender": 1}),
        (_upsert(key__remoteJid="5511987654321@c.us"), {"no_sender": 1}),
        (_upsert(key__remoteJid="abc@s.whatsapp.net"), {"no_sender": 1}),
        (_upsert(key__remoteJid=None), {"no_sender": 1}),
        (_upsert(key__id=_DROP), {"junk": 1}),
        (_upsert(key__id=123), {"junk": 1}),
        (_upsert(messageTimestamp=_DROP), {"junk": 1}),
        (_upsert(messageTimestamp="²"), {"junk": 1}),
        (_upsert(messageTimestamp=0), {"junk": 1}),
        (_upsert(messageTimestamp=True), {"junk": 1}),
        (_upsert(message=_DROP), {"junk": 1}),
        (_upsert(message="Olá"), {"junk": 1}),
        (_upsert(message={"messageContextInfo": {"deviceListMetadataVersion": 2}}), {"junk": 1}),
        (_upsert(key__fromMe="true"), {"from_me": 1}),  # stringified by a relay: still ours, never answered
        (_upsert(key__fromMe="false"), None),
    ],
    ids=[
        "no-key",
        "key-string",
        "c.us-jid",
        "non-numeric-jid",
        "null-jid",
        "no-id",
        "numeric-id",
        "no-timestamp",
        "non-ascii-digit-timestamp",
        "zero-timestamp",
        "bool-timestamp",
        "no-message",
        "message-string",
        "context-only-message",
        "fromMe-string-true",
        "fromMe-string-false",
    ],
)
def test_unusable_upsert_items_are_counted(doc: dict[str, Any], ignored: dict[str, int] | None) -> None:
    # Given a text upsert with one field broken / When
    delivery = parse(doc)

    # Then the item is counted under its reason (None: still the customer's message)
    if ignored is None:
        assert delivery == EXPECTED["text_conversation.json"]
    else:
        assert delivery == EvolutionDelivery(ignored=ignored)


@pytest.mark.parametrize("data", [None, "messages.upsert", 42, [None, 7, "x", ["a"]]], ids=["null", "string", "number", "junk-list"])
def test_junk_data_is_counted_not_fatal(data: Any) -> None:
    # Given an upsert whose data is not an object (nor a list of objects) / When
    delivery = parse(_upsert() | {"data": data})

    # Then
    assert delivery == EvolutionDelivery(ignored={"junk": len(data) if isinstance(data, list) else 1})


def test_good_items_survive_junk_neighbours() -> None:
    # Given a list-shaped upsert mixing junk, a group message and a good one
    good = fixture_json("evolution/text_conversation.json")["data"]
    group = fixture_json("evolution/group.json")["data"]
    doc = _upsert() | {"data": [None, group, good, "x"]}

    # When / Then
    assert parse(doc) == EvolutionDelivery(messages=EXPECTED["text_conversation.json"].messages, ignored={"junk": 2, "group": 1})


def test_empty_data_list_is_nothing() -> None:
    # Given / When / Then
    assert parse(_upsert() | {"data": []}) == EvolutionDelivery()


@pytest.mark.parametrize(
    ("event", "data", "ignored"),
    [
        ("send.message.update", [{"keyId": "3EB0A"}, {"keyId": "3EB0B"}], {"echo": 2}),
        ("SEND_MESSAGE", {"key": {"id": "3EB0A"}}, {"echo": 1}),
        ("presence.update", {"id": "5511987654321@s.whatsapp.net", "presences": {}}, {"event": 1}),
        ("messages.delete", {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": False, "id": "A1F3"}, {"event": 1}),
        ("error", {"error": "Internal Server Error", "status": 500}, {"event": 1}),
        ("connection.update", {"instance": INSTANCE, "statusReason": 401}, {"junk": 1}),
        ("connection.update", "close", {"junk": 1}),
    ],
    ids=["send-update-list", "send-message", "presence", "delete", "error-webhook", "connection-no-state", "connection-string"],
)
def test_other_events_are_counted(event: str, data: Any, ignored: dict[str, int]) -> None:
    # Given / When / Then
    assert parse(_upsert() | {"event": event, "data": data}) == EvolutionDelivery(ignored=ignored)


# --- content details ---------------------------------------------------------------------


def _text_with_message(message_: dict[str, Any], message_type: str | None = None) -> InboundMessage:
    doc = _upsert(message=message_, messageType=message_type if message_type is not None else _DROP)
    (inbound,) = parse(doc).messages
    return inbound


def test_message_type_names_the_content_when_it_is_present() -> None:
    # Given a content key Evolution does not describe listed first, and messageType naming the text
    inbound = _text_with_message({"protocolMessage": {"type": "EPHEMERAL_SETTING"}, "conversation": "Oi"}, "conversation")

    # Then the text is what was read
    assert (inbound.type, inbound.text) == (MessageType.TEXT, "Oi")


def test_message_type_naming_an_absent_key_falls_back_to_the_content() -> None:
    # Given a stale messageType / When
    inbound = _text_with_message({"messageContextInfo": {}, "conversation": "Oi"}, "extendedTextMessage")

    # Then
    assert (inbound.type, inbound.text) == (MessageType.TEXT, "Oi")


def test_unknown_content_becomes_unknown_with_its_name() -> None:
    # Given a content type we do not read / When
    inbound = _text_with_message({"groupInviteMessage": {"groupJid": "120363025246125244@g.us", "inviteCode": "AbCd"}})

    # Then
    assert (inbound.type, inbound.extra) == (MessageType.UNKNOWN, {"unsupported_type": "groupInviteMessage"})


def test_wrappers_are_removed_recursively() -> None:
    # Given an image inside view-once inside a disappearing-message wrapper
    image = fixture_json("evolution/view_once.json")["data"]["message"]["viewOnceMessageV2"]["message"]["imageMessage"]
    inbound = _text_with_message({"ephemeralMessage": {"message": {"viewOnceMessageV2Extension": {"message": {"imageMessage": image}}}}})

    # Then
    assert inbound.type is MessageType.IMAGE
    assert inbound.media == MediaRef(
        media_id="A1F3C5E7B9D2F4A6C8E0B1D3F5A7C9E2",
        mime_type="image/jpeg",
        sha256="d5409f4a5faecff150c23886a2624f0291362084d20375fc4de891462890b189",
    )


def test_absurd_wrapper_nesting_is_unknown_content() -> None:
    # Given more wrappers than WhatsApp ever nests
    content: dict[str, Any] = {"conversation": "Oi"}
    for _ in range(6):
        content = {"ephemeralMessage": {"message": content}}

    # When / Then the parser stops unwrapping and calls it what it is
    inbound = _text_with_message(content)
    assert (inbound.type, inbound.extra) == (MessageType.UNKNOWN, {"unsupported_type": "ephemeralMessage"})


@pytest.mark.parametrize(
    ("file_sha256", "expected"),
    [
        ("3q2+7w==", None),  # valid base64, not 32 bytes
        ("not base64!", None),
        ({"0": 171, "1": 205}, None),
        ([171, 205], None),
        ("j7Ooz7Sm7U2U20dmLFnGXAhM3FS0XJZRxcIjDdA7LG8=", "8fb3a8cfb4a6ed4d94db47662c59c65c084cdc54b45c9651c5c2230dd03b2c6f"),
    ],
    ids=["short", "not-base64", "index-object", "list", "valid"],
)
def test_file_sha256_is_hex_only_from_a_base64_digest(file_sha256: Any, expected: str | None) -> None:
    # Given an image whose fileSha256 comes in one of the shapes seen across versions
    doc = fixture_json("evolution/image_caption.json")
    doc["data"]["message"]["imageMessage"]["fileSha256"] = file_sha256

    # When
    (inbound,) = parse(doc).messages

    # Then
    assert inbound.media is not None
    assert inbound.media.sha256 == expected


def test_small_inline_base64_travels_in_the_queue_message() -> None:
    # Given an image delivered with webhook base64 on
    doc = fixture_json("evolution/image_caption.json")
    inline = doc["data"]["message"]["base64"]

    # When
    (inbound,) = parse(doc).messages
    body = json.loads(inbound.to_json())

    # Then the bytes ride along, and no flag says they must be fetched
    assert body["message"]["media"]["inline_base64"] == inline
    assert "extra" not in body["message"]
    assert parse_envelope(inbound.to_json()) == inbound


def test_inline_base64_too_large_for_the_queue_is_left_to_the_processor() -> None:
    # Given an image whose inline base64 is over the queue allowance
    doc = fixture_json("evolution/image_caption.json")
    inline = "A" * (INLINE_MEDIA_MAX_CHARS + 4)
    doc["data"]["message"]["base64"] = inline

    # When
    (inbound,) = parse(doc).messages
    body = inbound.to_json()

    # Then only the flag travels
    assert inline not in body
    assert inbound.media is not None and inbound.media.inline_base64 is None
    assert json.loads(body)["message"]["extra"] == {"inline_media": True}


def test_base64_on_a_text_message_is_not_inline_media() -> None:
    # Given / When
    inbound = _text_with_message({"conversation": "Oi", "base64": "AAAA"})

    # Then
    assert inbound.extra == {}


@pytest.mark.parametrize(
    ("message_field", "data_field", "expected"),
    [
        ("[audio] Quero dois pães", None, "Quero dois pães"),
        (None, "[audio] Quero dois pães", "Quero dois pães"),
        ("Quero dois pães", None, "Quero dois pães"),  # no prefix: taken as it is
        ("[audio] No message", "[audio] No data", "No message"),  # the content's own field wins
        ("[audio] undefined", None, None),  # Evolution's failed transcription
        ("[audio]   ", None, None),
        ("[audio] " + "a" * 5000, None, "a" * 4096),
        (["[audio] oi"], 42, None),
    ],
    ids=["message-level", "data-level", "no-prefix", "message-wins", "undefined", "blank", "bounded", "junk"],
)
def test_speech_to_text_is_the_voice_notes_transcript(message_field: Any, data_field: Any, expected: str | None) -> None:
    # Given a voice note whose transcript Evolution put next to the content (or failed to)
    doc = fixture_json("evolution/audio_ptt.json")
    doc["data"]["message"]["speechToText"] = message_field
    if data_field is not None:
        doc["data"]["speechToText"] = data_field

    # When
    (inbound,) = parse(doc).messages

    # Then it is extra["speech_to_text"] (at most MAX_TEXT_CHARS), or absent
    assert inbound.extra.get("speech_to_text") == expected
    assert inbound.type is MessageType.AUDIO and inbound.text is None


def test_speech_to_text_on_something_else_than_audio_is_ignored() -> None:
    # Given / When
    inbound = _text_with_message({"conversation": "Oi", "speechToText": "[audio] Oi"})

    # Then
    assert inbound.extra == {}


@pytest.mark.parametrize(
    ("context_info", "expected"),
    [
        ({"isForwarded": True, "forwardingScore": 1}, ReplyContext(forwarded=True)),
        ({"isForwarded": True, "forwardingScore": 5}, ReplyContext(forwarded=True, frequently_forwarded=True)),
        ({"isForwarded": True, "forwardingScore": "127"}, ReplyContext(forwarded=True, frequently_forwarded=True)),
        (
            {"stanzaId": "3EB0C7F1A2B3D4E5F60718", "participant": "187743615389712@lid", "quotedMessage": {"conversation": "Oi"}},
            ReplyContext(message_id="3EB0C7F1A2B3D4E5F60718"),
        ),
        (
            {"stanzaId": "3EB0C7F1A2B3D4E5F60718", "participant": "551140028922:7@s.whatsapp.net"},
            ReplyContext(message_id="3EB0C7F1A2B3D4E5F60718", from_id="551140028922"),
        ),
        ({"expiration": 604800}, None),
        ("3EB0C7F1A2B3D4E5F60718", None),
    ],
    ids=["forwarded", "frequently-forwarded", "score-string", "quote-of-lid", "quote-device-jid", "no-quote", "junk"],
)
def test_reply_context(context_info: Any, expected: ReplyContext | None) -> None:
    # Given a raw extendedTextMessage carrying this contextInfo / When
    inbound = _text_with_message({"extendedTextMessage": {"text": "Oi", "contextInfo": context_info}})

    # Then
    assert inbound.context == expected


def test_content_context_wins_over_the_data_level_copy() -> None:
    # Given a button reply whose own contextInfo quotes us, while data.contextInfo quotes something else
    doc = fixture_json("evolution/buttons_response.json")
    doc["data"]["contextInfo"] = {"stanzaId": "SOMETHING-ELSE"}

    # When / Then
    assert parse(doc).messages[0].context == QUOTED_BAKERY


@pytest.mark.parametrize(("media_type", "expected"), [(2, "video"), ("VIDEO", "video"), ("NONE", None), (0, None), (True, None)], ids=str)
def test_ad_media_type(media_type: Any, expected: str | None) -> None:
    # Given the CTWA message with externalAdReply.mediaType in another serialisation
    doc = fixture_json("evolution/ctwa_referral.json")
    doc["data"]["contextInfo"]["externalAdReply"]["mediaType"] = media_type

    # When
    (inbound,) = parse(doc).messages

    # Then
    assert inbound.referral is not None
    assert inbound.referral.media_type == expected


def test_empty_ad_reply_is_no_referral() -> None:
    # Given / When
    inbound = _text_with_message({"extendedTextMessage": {"text": "Oi", "contextInfo": {"externalAdReply": {"containsAutoReply": False}}}})

    # Then
    assert inbound.referral is None


@pytest.mark.parametrize(
    ("params_json", "reply_id"),
    [('{"id":"menu"}', "menu"), ('{"id":42}', "42"), ("{not json", None), ('["menu"]', None), ('{"id":true}', None), (None, None)],
    ids=["string", "number", "invalid", "list", "bool", "absent"],
)
def test_native_flow_reply_id(params_json: Any, reply_id: str | None) -> None:
    # Given
    doc = fixture_json("evolution/interactive_native_flow.json")
    doc["data"]["message"]["interactiveResponseMessage"]["nativeFlowResponseMessage"]["paramsJson"] = params_json

    # When
    (inbound,) = parse(doc).messages

    # Then
    assert inbound.extra.get("reply_id") == reply_id
    assert inbound.extra["interactive_type"] == "nfm_reply"


@pytest.mark.parametrize("latitude", [10**400, "-23,56", None, float("nan")], ids=["huge-int", "comma-string", "null", "nan"])
def test_unusable_coordinates_are_left_out(latitude: Any) -> None:
    # Given a location whose latitude is not a finite number / When
    inbound = _text_with_message({"locationMessage": {"degreesLatitude": latitude, "degreesLongitude": -46.6558819}})

    # Then the message still goes through, without the latitude
    assert (inbound.type, inbound.extra) == (MessageType.LOCATION, {"longitude": -46.6558819})


def test_vcard_without_tel_lines_keeps_the_name() -> None:
    # Given / When
    inbound = _text_with_message({"contactMessage": {"vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Dona Cida\nEND:VCARD"}})

    # Then
    assert inbound.extra == {"contacts": [{"name": "Dona Cida", "phones": []}]}


@pytest.mark.parametrize(
    ("remote_jid", "contact"),
    [("5511987654321:12@s.whatsapp.net", MARIANA), ("187743615389712:3@lid", MARIANA_LID_ONLY)],
    ids=["phone", "lid"],
)
def test_device_suffix_is_dropped_from_the_sender_jid(remote_jid: str, contact: ContactRef) -> None:
    # Given a relay that forwards the device-qualified JID (a device, not a chat address) / When
    (inbound,) = parse(_upsert(key__remoteJid=remote_jid)).messages

    # Then
    assert inbound.contact == contact


def test_lone_surrogates_in_text_are_replaced_so_the_envelope_encodes() -> None:
    # Given / When
    inbound = _text_with_message({"conversation": "oi\ud800"})

    # Then
    assert inbound.text == "oi?"
    assert json.loads(inbound.to_json())["message"]["text"] == "oi?"


# --- messages.update -------------------------------------------------------------------------


def _update(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(fixture_json("evolution/messages_update_read.json"))
    for key, value in changes.items():
        if value is _DROP:
            del doc["data"][key]
        else:
            doc["data"][key] = value
    return doc


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SERVER_ACK", DeliveryStatus.SENT),
        ("DELIVERY_ACK", DeliveryStatus.DELIVERED),
        ("READ", DeliveryStatus.READ),
        ("PLAYED", DeliveryStatus.PLAYED),
        ("ERROR", DeliveryStatus.FAILED),
        (0, DeliveryStatus.FAILED),
        (2, DeliveryStatus.SENT),
        (3, DeliveryStatus.DELIVERED),
        ("4", DeliveryStatus.READ),
        (5, DeliveryStatus.PLAYED),
    ],
)
def test_status_mapping(raw: Any, expected: DeliveryStatus) -> None:
    # Given / When / Then
    assert parse(_update(status=raw)).statuses == [status(BAKERY_MESSAGE_ID, MARIANA_AS_RECIPIENT, expected)]


@pytest.mark.parametrize(
    ("changes", "ignored"),
    [
        ({"status": "PENDING"}, {"event": 1}),
        ({"status": 1}, {"event": 1}),
        ({"status": "DELETED"}, {"event": 1}),
        ({"status": "EDITED"}, {"event": 1}),
        ({"status": _DROP}, {"junk": 1}),
        ({"status": 9}, {"junk": 1}),
        ({"status": None}, {"junk": 1}),
        ({"keyId": _DROP}, {"junk": 1}),
        ({"fromMe": _DROP}, {"event": 1}),
        ({"fromMe": "false"}, {"event": 1}),
        ({"remoteJid": "120363025246125244@g.us"}, {"group": 1}),
        ({"remoteJid": "status@broadcast"}, {"broadcast": 1}),
        ({"remoteJid": _DROP}, {"no_sender": 1}),
    ],
    ids=[
        "pending",
        "pending-number",
        "deleted",
        "edited",
        "no-status",
        "unknown-number",
        "null-status",
        "no-id",
        "no-fromMe",
        "fromMe-string-false",
        "group",
        "broadcast",
        "no-jid",
    ],
)
def test_unusable_updates_are_counted(changes: dict[str, Any], ignored: dict[str, int]) -> None:
    # Given / When / Then
    assert parse(_update(**changes)) == EvolutionDelivery(ignored=ignored)


def test_stringified_from_me_update_is_still_ours() -> None:
    # Given a relay that stringifies booleans / When / Then
    assert parse(_update(fromMe="true")).statuses == [status(BAKERY_MESSAGE_ID, MARIANA_AS_RECIPIENT, DeliveryStatus.READ)]


def test_nested_key_update_from_older_servers() -> None:
    # Given an update that carries the Baileys key instead of the flattened keyId/remoteJid/fromMe
    doc = _update(keyId=_DROP, remoteJid=_DROP, fromMe=_DROP)
    doc["data"]["key"] = {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": True, "id": BAKERY_MESSAGE_ID}

    # When / Then
    assert parse(doc).statuses == [status(BAKERY_MESSAGE_ID, MARIANA_AS_RECIPIENT, DeliveryStatus.READ)]


@pytest.mark.parametrize(
    ("inbound_fixture", "update_jids"),
    [
        ("lid_with_alt.json", {"remoteJid": "187743615389712@lid", "remoteJidAlt": "5511987654321@s.whatsapp.net"}),
        ("lid_with_alt.json", {"remoteJid": "5511987654321@s.whatsapp.net"}),
        ("lid_only.json", {"remoteJid": "187743615389712@lid"}),
        ("text_extended.json", {"remoteJid": "553188887766@s.whatsapp.net"}),
    ],
    ids=["lid-with-alt", "phone", "lid-only", "ddd31"],
)
def test_reply_status_lands_on_the_same_contact_as_the_message(inbound_fixture: str, update_jids: dict[str, str]) -> None:
    # Given the customer's message, and Evolution's update for our reply to its reply address
    (inbound,) = parse(fixture_json(f"evolution/{inbound_fixture}")).messages
    callback = _update(**update_jids)

    # When
    (update,) = parse(callback).statuses

    # Then both share one pseudonymous contact (and so one FIFO group and one partition)
    assert update.contact.contact_id == inbound.contact.contact_id
    assert update.group_id == inbound.group_id
    assert update.contact.reply_address == inbound.contact.reply_address


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("text_conversation.json", "5511987654321@s.whatsapp.net"),
        ("text_extended.json", "553188887766@s.whatsapp.net"),
        ("lid_with_alt.json", "5511987654321@s.whatsapp.net"),
        ("lid_sender_pn.json", "553188887766@s.whatsapp.net"),
        ("lid_only.json", "187743615389712@lid"),
    ],
)
def test_reply_address_is_the_phone_jid_else_the_lid(name: str, address: str) -> None:
    # Given / When
    (inbound,) = parse(fixture_json(f"evolution/{name}")).messages

    # Then
    assert inbound.contact.reply_address == address


# --- what travels through the queue ----------------------------------------------------------

ALL_MESSAGES = [(name, m) for name, d in sorted(EXPECTED.items()) for m in d.messages]
ALL_STATUSES = [(name, s) for name, d in sorted(EXPECTED.items()) for s in d.statuses]
ALL_ITEMS: list[tuple[str, InboundMessage | StatusUpdate]] = [*ALL_MESSAGES, *ALL_STATUSES]


@pytest.mark.parametrize(("name", "item"), ALL_ITEMS, ids=[n for n, _ in ALL_ITEMS])
def test_queue_envelope_round_trips(name: str, item: InboundMessage | StatusUpdate) -> None:
    # Given a normalised item / When it travels through SQS as JSON / Then it comes back equal
    assert parse_envelope(item.to_json()) == item


@pytest.mark.parametrize(("name", "item"), ALL_MESSAGES, ids=[n for n, _ in ALL_MESSAGES])
def test_extra_is_json_safe(name: str, item: InboundMessage) -> None:
    # Given / When / Then: strict JSON (no NaN, no tuples or other non-JSON types) survives unchanged
    assert json.loads(json.dumps(item.extra, allow_nan=False)) == item.extra


def test_queue_envelope_of_a_lid_only_sender_is_compact() -> None:
    # Given / When
    body = EXPECTED["lid_only.json"].messages[0].to_json()

    # Then None/False/empty fields are left out and the LID JID is the address
    assert json.loads(body) == {
        "v": 1,
        "kind": "message",
        "message": {
            "channel_id": CHANNEL_ID,
            "provider": "evolution",
            "provider_message_id": "A6C8E0B2D4F6A8C0E2B4D6F8A0C2E4B6",
            "contact": {"contact_id": "c:187743615389712@lid", "name": "Mariana Souza", "jid": "187743615389712@lid"},
            "timestamp": 1763724060,
            "type": "text",
            "text": "Vocês aceitam Pix?",
        },
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("text_extended.json", "Quanto custa o bolo de cenoura?"),
        ("list_response.json", "Bolo de cenoura"),
        ("image_caption.json", "[imagem] Chegou assim 😞"),
        ("live_location.json", "[localização em tempo real] (-23.550520, -46.633309)"),
        (
            "contacts_array.json",
            "[contatos compartilhados] Ana Beatriz Lima: 5521991234567; Confeitaria Doce Mel: 553132221100, +55 31 98765-0000",
        ),
        ("reaction.json", None),
        ("poll.json", None),
    ],
)
def test_the_assistant_reads_the_shared_schema(name: str, expected: str | None) -> None:
    # Given a normalised Evolution message / When the assistant's view of it is built
    (inbound,) = EXPECTED[name].messages

    # Then the provider-agnostic extra keys are the ones domain.content understands
    assert assistant_text(inbound) == expected
