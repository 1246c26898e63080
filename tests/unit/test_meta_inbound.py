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
    Referral,
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
# Number-change notices come without contacts[]: only the (old) number is known.
MARIANA_BY_NUMBER = ContactRef(contact_id=MARIANA.contact_id, wa_id="5511987654321")
QUOTED_BAKERY_MESSAGE = ReplyContext(message_id=BAKERY_MESSAGE_ID, from_id="551140028922")
CATALOG_ID = "1029384756473829"


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
    # Voice note: voice=True tells it from an attached audio file; Meta's lookaside url is kept (it still needs the token).
    "audio_voice.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBMUY0QzJEOThCN0U2QTUxAA==",
                MARIANA,
                1763724000,
                MessageType.AUDIO,
                media=MediaRef(
                    media_id="1098765432109876",
                    mime_type="audio/ogg; codecs=opus",
                    sha256="Yq3pXk2C9mR0tW7bN1vJ4sL8hD6fA5eZ0uI3oP2yT9c=",
                    voice=True,
                    url="https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1098765432109876&ext=1763724000&hash=ATuYq3pXk2C9mR0tW7bN1vJ4",
                ),
            )
        ]
    ),
    "video.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FGMUMwQjJEM0U0RjVBNkI3QzgA",
                JOAO,
                1763724060,
                MessageType.VIDEO,
                text="Olha como chegou o bolo 😍",
                media=MediaRef(
                    media_id="2233445566778899",
                    mime_type="video/mp4",
                    sha256="q9Zk1Lm3Nb5Vc7Xz9Aa2Ss4Dd6Ff8Gg0Hh2Jj4Kk6Ll=",
                    caption="Olha como chegou o bolo 😍",
                ),
            )
        ]
    ),
    "document.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBEMEM1QTdFMUYzQjlDMkQ0AA==",
                MARIANA,
                1763724120,
                MessageType.DOCUMENT,
                text="Segue o comprovante do Pix",
                media=MediaRef(
                    media_id="3344556677889900",
                    mime_type="application/pdf",
                    sha256="0Pq1Rs2Tu3Vw4Xy5Za6Bc7De8Fg9Hi0Jk1Lm2No3Pq4=",
                    caption="Segue o comprovante do Pix",
                    filename="comprovante-pix-21-11-2025.pdf",
                ),
            )
        ]
    ),
    "sticker.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBFNUY2QTdCOEM5RDBFMUYyAA==",
                MARIANA,
                1763724180,
                MessageType.STICKER,
                media=MediaRef(
                    media_id="4455667788990011",
                    mime_type="image/webp",
                    sha256="HcwyCKrTKXHk0a00ms4HWIA76GY0Du6q4Z9iuWfOwh0=",
                    animated=True,
                ),
            )
        ]
    ),
    # A chosen place: coordinates as floats plus Meta's name, address and map link.
    "location.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBCMUMyRDNFNEY1QTZCN0M4AA==",
                MARIANA,
                1763724240,
                MessageType.LOCATION,
                extra={
                    "latitude": -23.5614143,
                    "longitude": -46.6558819,
                    "name": "MASP - Museu de Arte de São Paulo",
                    "address": "Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200",
                    "url": "https://maps.google.com/?cid=14913466580946545454",
                },
            )
        ]
    ),
    # The customer's current position: coordinates only, no absent keys.
    "location_current.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FBOUY4RTdENkM1QjRBMzkyODEA",
                JOAO,
                1763724250,
                MessageType.LOCATION,
                extra={"latitude": -19.9320517, "longitude": -43.9380023},
            )
        ]
    ),
    # Two cards: one with formatted_name (and an organisation we do not keep), one with first + last name only.
    "contacts.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBDNEExQjdEMkU5RjMwQTZCAA==",
                MARIANA,
                1763724300,
                MessageType.CONTACTS,
                extra={
                    "contacts": [
                        {"name": "Carlos Almeida", "phones": ["+55 11 99876-5432", "+55 11 3456-7890"]},
                        {"name": "Fernanda Lima", "phones": ["+55 21 98765-4321"]},
                    ]
                },
            )
        ]
    ),
    "interactive_list_reply.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBGMUUyRDNDNEI1QTY5Nzg4AA==",
                MARIANA,
                1763724360,
                MessageType.INTERACTIVE,
                text="Zona Sul",
                context=QUOTED_BAKERY_MESSAGE,
                extra={"interactive_type": "list_reply", "reply_id": "entrega_zona_sul", "description": "Entrega em até 60 min — R$ 8,00"},
            )
        ]
    ),
    # A completed WhatsApp Flow: Meta's fixed body is the text; the flow_token we issued is the reply id.
    "interactive_nfm_reply.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBOUI4QzdENkU1RjQwMzEyAA==",
                MARIANA,
                1763724420,
                MessageType.INTERACTIVE,
                text="Sent",
                context=QUOTED_BAKERY_MESSAGE,
                extra={"interactive_type": "nfm_reply", "reply_id": "encomenda-bolo-7f3a9c"},
            )
        ]
    ),
    # Meta could not render an interactive reply: the message has no body, value.errors says why.
    "interactive_with_error.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBGOUU4RDdDNkI1QTQ5MzgyAA==",
                MARIANA,
                1763724960,
                MessageType.INTERACTIVE,
                context=QUOTED_BAKERY_MESSAGE,
            )
        ],
        errors=[WebhookErrorReport(channel_id=CHANNEL_ID, code=131000)],
    ),
    # Quick-reply button of a template we sent: the label is the text, our payload comes back.
    "button_template_reply.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBDM0Q0RTVGNkE3QjhDOUQwAA==",
                MARIANA,
                1763724480,
                MessageType.BUTTON,
                text="Confirmar",
                context=QUOTED_BAKERY_MESSAGE,
                extra={"payload": "CONFIRMAR_ENCOMENDA_4821"},
            )
        ]
    ),
    # Prices as Meta sent them: 45 stays an int, 24.9 a float.
    "order.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBEN0U4RjlBMEIxQzJEM0U0AA==",
                MARIANA,
                1763724540,
                MessageType.ORDER,
                text="Pode caprichar na cobertura!",
                extra={
                    "order": {
                        "catalog_id": CATALOG_ID,
                        "items": [
                            {"product_retailer_id": "PAO-QUEIJO-500G", "quantity": 2, "item_price": 24.9, "currency": "BRL"},
                            {"product_retailer_id": "BOLO-CENOURA-G", "quantity": 1, "item_price": 45, "currency": "BRL"},
                        ],
                    }
                },
            )
        ]
    ),
    "system_number_changed.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjA1QzRBOUUxRDdGMkI2QzgwAA==",
                MARIANA_BY_NUMBER,
                1763724600,
                MessageType.SYSTEM,
                text="Mariana Souza changed from 5511987654321 to 5511912345678",
                extra={"system_type": "user_changed_number", "new_wa_id": "5511912345678"},
            )
        ]
    ),
    "text_reply_context.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBFMUQyQzNCNEE1OTY4Nzc4AA==",
                MARIANA,
                1763724660,
                MessageType.TEXT,
                text="Pode ser às 10h então?",
                context=QUOTED_BAKERY_MESSAGE,
            )
        ]
    ),
    # "Message business" from a catalogue product: the product travels in the reply context.
    "text_product_inquiry.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBMkIzQzRENUU2RjcwODE5AA==",
                MARIANA,
                1763724720,
                MessageType.TEXT,
                text="Esse bolo serve quantas pessoas?",
                context=ReplyContext(message_id="wamid.HBgNNTUxMTQwMDI4OTIyFQIAERgSOUE4QjdDNkQ1RTRGM0EyQjFDAA==", from_id="551140028922"),
                extra={"referred_product": {"catalog_id": CATALOG_ID, "product_retailer_id": "BOLO-CENOURA-G"}},
            )
        ]
    ),
    "text_forwarded.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FCN0M2RDVFNEYzQTJCMUMwRDkA",
                JOAO,
                1763724780,
                MessageType.TEXT,
                text="Promoção: pão francês a R$ 0,50 só hoje!",
                context=ReplyContext(frequently_forwarded=True),
            )
        ]
    ),
    # First message from a Click-to-WhatsApp ad (image/thumbnail urls are not kept).
    "referral_ctwa.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FDOEQ5RTBGMUEyQjNDNEQ1RTYA",
                JOAO,
                1763724840,
                MessageType.TEXT,
                text="Olá! Quero saber da promoção do bolo de cenoura",
                referral=Referral(
                    source_type="ad",
                    source_id="120210987654321098",
                    source_url="https://fb.me/8Xk2pQ7rT",
                    headline="Bolo de cenoura com 20% off",
                    body="Só neste fim de semana na Padaria Pão Quente!",
                    media_type="image",
                    ctwa_clid="ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv",
                ),
            )
        ]
    ),
    # A burst from one customer in one change: every message kept, in order.
    "multi_message.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjA3QTFCMkMzRDRFNUY2MDcxAA==",
                MARIANA,
                1763724900,
                MessageType.TEXT,
                text="Vou passar aí mais tarde",
            ),
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjA3QTFCMkMzRDRFNUY2MDcyAA==",
                MARIANA,
                1763724901,
                MessageType.LOCATION,
                extra={"latitude": -23.5505199, "longitude": -46.6333094},
            ),
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjA3QTFCMkMzRDRFNUY2MDczAA==",
                MARIANA,
                1763724903,
                MessageType.REACTION,
                extra={"target_message_id": BAKERY_MESSAGE_ID, "emoji": "❤️"},
            ),
        ]
    ),
    # Reaction removed, the other way Meta says it: no emoji key at all.
    "reaction_removed_no_emoji.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBDMEQxRTJGM0E0QjVDNkQ3AA==",
                MARIANA,
                1763725020,
                MessageType.REACTION,
                extra={"target_message_id": BAKERY_MESSAGE_ID, "emoji": ""},
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
    # Two unusable messages (no id, no timestamp) and two unusable statuses (no id, no recipient)
    # are counted, while the good messages still go through; the one without ``from`` is the only
    # contact's (sender_only_in_contacts.json).
    "junk_items.json": MetaDelivery(
        messages=[
            message("wamid.JUNK.NOSENDER", MARIANA, 1763723501, MessageType.TEXT, text="sem remetente"),
            message("wamid.JUNK.GOOD", MARIANA, 1763723502, MessageType.TEXT, text="Ainda tem sonho de creme?"),
        ],
        ignored=4,
    ),
    # Coexistence numbers: the customer edited their text. The new text replaces the original's,
    # which ``edited_message_id`` names (text.json's message).
    "edit_text.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBFRDFUMkE5QzRCN0QzRTFGAA==",
                MARIANA,
                1763722845,
                MessageType.EDIT,
                text="Olá! Vocês abrem no domingo de manhã? 🥐",
                extra={"edited_message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA=="},
            )
        ]
    ),
    # An edited photo caption: the caption is the new text; the unchanged file is not fetched again.
    "edit_caption.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBFRDJDNUY4QTFEOUIzQzdFAA==",
                MARIANA,
                1763723100,
                MessageType.EDIT,
                text="Chegou assim, todo amassado 😞",
                extra={"edited_message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBBMjM0NTY3ODlBQkNERUYwAA=="},
            )
        ]
    ),
    # Deleted for everyone (multi_message.json's first message): silent, only the id is kept.
    "revoke.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBSRVZPS0U3RjNBOUMxRDJFAA==",
                MARIANA,
                1763725140,
                MessageType.REVOKE,
                extra={"revoked_message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjA3QTFCMkMzRDRFNUY2MDcxAA=="},
            )
        ]
    ),
    # The customer answered our call-permission request: no title or id, the answer is the text.
    "call_permission_reply.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FDQUxMUEVSTTlCOEE3QzZENUUA",
                JOAO,
                1763725200,
                MessageType.INTERACTIVE,
                text="accept",
                context=QUOTED_BAKERY_MESSAGE,
                extra={"interactive_type": "call_permission_reply"},
            )
        ]
    ),
    # A reply button that arrived without its title: the id we gave the button is the text.
    "button_reply_without_title.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBCVE5OT1RJVExFNEE1QjZDAA==",
                MARIANA,
                1763725260,
                MessageType.INTERACTIVE,
                text="falar_com_atendente",
                context=QUOTED_BAKERY_MESSAGE,
                extra={"interactive_type": "button_reply", "reply_id": "falar_com_atendente"},
            )
        ]
    ),
    # A template quick-reply without its label: our payload is the text.
    "button_template_without_text.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBCVE5OT1RFWFQ3RDhFOUYwAA==",
                MARIANA,
                1763725320,
                MessageType.BUTTON,
                text="CANCELAR_ENCOMENDA_4821",
                context=QUOTED_BAKERY_MESSAGE,
                extra={"payload": "CANCELAR_ENCOMENDA_4821"},
            )
        ]
    ),
    # No ``from`` on the message: the change's only contact is the sender.
    "sender_only_in_contacts.json": MetaDelivery(
        messages=[
            message(
                "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgUM0FTT05MWUNPTlRBQ1RTMUEyQjMA",
                JOAO,
                1763725380,
                MessageType.TEXT,
                text="Vocês têm pão sem glúten?",
            )
        ]
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


# --- content variants the named payloads do not show ------------------------------------------


def _with_content(type_: str, body: Any, **fields: Any) -> dict[str, Any]:
    """The text delivery with its one message turned into ``type_`` carrying ``body`` (and extra message fields)."""
    doc = _text_doc()
    raw = doc["entry"][0]["changes"][0]["value"]["messages"][0]
    del raw["text"]
    raw.update({"type": type_, type_: body, **fields})
    return doc


TEXT_ID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA=="


@pytest.mark.parametrize(
    ("type_", "body", "fields", "expected"),
    [
        pytest.param(
            "location",
            {"latitude": 0, "longitude": "-49.97"},
            {},
            {"latitude": 0.0, "longitude": -49.97},
            id="integer-and-string-coordinates",
        ),
        pytest.param(
            "contacts",
            [
                {"name": {"first_name": "Dona Cida"}, "phones": []},
                {"name": {}, "phones": [{"wa_id": "5511998765432"}, {"type": "HOME"}]},
                {"name": {}, "phones": []},
                "cartão",
            ],
            {},
            {"contacts": [{"name": "Dona Cida", "phones": []}, {"name": "", "phones": ["5511998765432"]}]},
            id="contacts-partial-cards",
        ),
        pytest.param("contacts", [{"org": {"company": "Padaria"}}], {}, {}, id="contacts-none-usable"),
        pytest.param(
            "interactive",
            {"type": "nfm_reply", "nfm_reply": {"name": "address_message", "response_json": "{não é json"}},
            {},
            {"interactive_type": "nfm_reply"},
            id="nfm-reply-unparsable-response",
        ),
        pytest.param(
            "interactive",
            {"type": "address_reply", "address_reply": {"values": {"city": "Campinas"}}},
            {},
            {"interactive_type": "address_reply"},
            id="interactive-unknown-kind",
        ),
        pytest.param(
            "edit",
            {"original_id": "wamid.ORIGINAL", "message": {"type": "text", "text": "novo"}},
            {},
            {"edited_message_id": "wamid.ORIGINAL"},
            id="edit-original-id-variant",
        ),
        pytest.param("edit", {"message": {"type": "text", "text": {"body": "novo"}}}, {}, {}, id="edit-without-original"),
        pytest.param("revoke", {"message_id": "wamid.ORIGINAL"}, {}, {"revoked_message_id": "wamid.ORIGINAL"}, id="revoke-message-id"),
        pytest.param("revoke", "wamid.ORIGINAL", {}, {}, id="revoke-not-an-object"),
        pytest.param(
            "order",
            {
                "product_items": [
                    {"quantity": 1, "item_price": 9.5},
                    {"product_retailer_id": "SONHO-CREME", "quantity": "3", "item_price": "n/d"},
                ]
            },
            {},
            {"order": {"items": [{"product_retailer_id": "SONHO-CREME", "quantity": 3}]}},
            id="order-junk-items",
        ),
        pytest.param(
            "system",
            {"body": "Mariana changed from 5511987654321 to 5511912345678", "new_wa_id": "5511912345678", "type": "user_changed_number"},
            {},
            {"system_type": "user_changed_number", "new_wa_id": "5511912345678"},
            id="system-legacy-new-wa-id",
        ),
        pytest.param(
            "text",
            {"body": "Tem desse?"},
            {"context": {"from": "551140028922", "id": BAKERY_MESSAGE_ID, "referred_product": {"catalog_id": CATALOG_ID}}},
            {},
            id="referred-product-without-product-id",
        ),
        pytest.param("unsupported", {"type": "gif"}, {"errors": "131051"}, {"unsupported_type": "gif"}, id="junk-errors"),
    ],
)
def test_content_variants_normalise_to_the_documented_extra(
    type_: str, body: Any, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    # Given a message of this type with partial or junk content
    doc = _with_content(type_, body, **fields)

    # When
    (inbound,) = parse(doc).messages

    # Then only usable values are kept, under the keys InboundMessage.extra documents, with their JSON types
    # (equality alone would take 0 for 0.0)
    assert inbound.extra == expected
    assert {k: type(v) for k, v in inbound.extra.items()} == {k: type(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    ("type_", "body", "text"),
    [
        pytest.param("edit", {"original_message_id": "wamid.O", "message": {"text": {"body": "novo"}}}, "novo", id="edit-no-inner-type"),
        pytest.param(
            "edit", {"original_message_id": "wamid.O", "message": {"type": "text", "text": "novo"}}, "novo", id="edit-text-string"
        ),
        pytest.param("edit", {"original_message_id": "wamid.O", "type": "text", "text": {"body": "novo"}}, "novo", id="edit-flattened"),
        pytest.param(
            "edit",
            {"original_message_id": "wamid.O", "message": {"type": "video", "video": {"caption": "novo"}}},
            "novo",
            id="edit-video-caption",
        ),
        pytest.param("edit", {"original_message_id": "wamid.O", "message": {"type": "text", "text": {"body": ""}}}, None, id="edit-empty"),
        pytest.param("edit", {"original_message_id": "wamid.O", "message": ["novo"]}, None, id="edit-junk-message"),
        pytest.param("interactive", {"type": "list_reply", "list_reply": {"id": "zona_sul"}}, "zona_sul", id="list-reply-without-title"),
        pytest.param("interactive", {"type": "button_reply", "button_reply": {"id": "sim", "title": ""}}, "sim", id="empty-title"),
        pytest.param("button", {"payload": "SIM", "text": ""}, "SIM", id="button-empty-text"),
        pytest.param("button", {}, None, id="button-empty"),
    ],
)
def test_text_fallbacks(type_: str, body: Any, text: str | None) -> None:
    # Given a message whose display text is elsewhere or missing / When
    (inbound,) = parse(_with_content(type_, body)).messages

    # Then the text is what the customer wrote or chose, or None when there is nothing
    assert (inbound.type, inbound.text, inbound.media) == (MessageType(type_), text, None)


def test_edit_and_revoke_survive_the_queue_with_their_ids() -> None:
    # Given an edit and a revoke / When they travel through SQS
    (edit,) = parse(fixture_json("meta/edit_text.json")).messages
    (revoke,) = parse(fixture_json("meta/revoke.json")).messages
    restored = [parse_envelope(edit.to_json()), parse_envelope(revoke.to_json())]

    # Then the ids of the messages they change are intact
    assert [(m.type, m.extra) for m in restored] == [
        (MessageType.EDIT, {"edited_message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA=="}),
        (MessageType.REVOKE, {"revoked_message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjA3QTFCMkMzRDRFNUY2MDcxAA=="}),
    ]


# --- sender only in contacts[] --------------------------------------------------------------


def _without_sender(contacts: Any) -> dict[str, Any]:
    doc = _text_doc()
    value = doc["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    value["contacts"] = contacts
    return doc


ANA = {"profile": {"name": "Ana", "username": "ana.doces"}, "user_id": "BR.5566778899001122"}
MARIANA_CONTACT = {"profile": {"name": "Mariana Souza"}, "wa_id": "5511987654321", "user_id": "BR.1029384756102938"}


@pytest.mark.parametrize(
    ("contacts", "expected"),
    [
        pytest.param([ANA], ContactRef(contact_id="c:BR.5566778899001122", user_id="BR.5566778899001122", name="Ana"), id="bsuid-only"),
        pytest.param([MARIANA_CONTACT, dict(MARIANA_CONTACT)], MARIANA, id="same-sender-twice"),
        pytest.param([MARIANA_CONTACT, {"profile": {"name": "?"}}, "junk"], MARIANA, id="others-without-ids"),
    ],
)
def test_sender_named_only_in_contacts_is_answered(contacts: Any, expected: ContactRef) -> None:
    # Given a message without from / from_user_id, its sender in contacts[] / When
    (inbound,) = parse(_without_sender(contacts)).messages

    # Then it is the contact's message, answered at the contact's address
    assert inbound.contact == expected


@pytest.mark.parametrize(
    "contacts",
    [
        pytest.param([MARIANA_CONTACT, ANA], id="two-senders"),
        pytest.param([], id="no-contacts"),
        pytest.param([{"profile": {"name": "Mariana Souza"}}], id="contact-without-ids"),
        pytest.param("5511987654321", id="contacts-not-a-list"),
    ],
)
def test_message_without_a_knowable_sender_is_ignored(contacts: Any) -> None:
    # Given a message without from / from_user_id and no single sender in contacts[] / When / Then:
    # guessing could answer the wrong customer
    assert parse(_without_sender(contacts)) == MetaDelivery(ignored=1)


def test_nfm_reply_without_body_is_read_by_its_name() -> None:
    # Given a Flow reply with no body (address messages may omit it)
    doc = _with_content(
        "interactive", {"type": "nfm_reply", "nfm_reply": {"name": "address_message", "response_json": '{"flow_token":"endereco-42"}'}}
    )

    # When / Then
    assert parse(doc).messages == [
        message(
            TEXT_ID,
            MARIANA,
            1763722800,
            MessageType.INTERACTIVE,
            text="address_message",
            extra={"interactive_type": "nfm_reply", "reply_id": "endereco-42"},
        )
    ]


def test_media_message_without_its_object_keeps_the_type() -> None:
    # Given an image message whose image object is missing
    doc = _with_content("image", None)

    # When / Then: nothing to download, but the type is known (the assistant sends its notice)
    assert parse(doc).messages == [message(TEXT_ID, MARIANA, 1763722800, MessageType.IMAGE, media=MediaRef())]


# --- queue envelope round trip --------------------------------------------------------------


ROUND_TRIP_ITEMS = {
    f"{name}[{index}]": item
    for name, delivery in sorted(EXPECTED.items())
    for index, item in enumerate([*delivery.messages, *delivery.statuses])
}


@pytest.mark.parametrize("item_id", sorted(ROUND_TRIP_ITEMS))
def test_queue_envelope_round_trips(item_id: str) -> None:
    # Given every normalised message and status of every fixture
    item = ROUND_TRIP_ITEMS[item_id]

    # When it travels through SQS as JSON
    restored = parse_envelope(item.to_json())

    # Then it comes back equal
    assert restored == item


def test_order_prices_keep_their_json_type_through_the_queue() -> None:
    # Given an order priced 24.9 and 45 (45 == 45.0 in Python, so equality alone cannot tell)
    (item,) = parse(fixture_json("meta/order.json")).messages

    # When it travels through SQS
    restored = parse_envelope(item.to_json())

    # Then 45 is still the integer Meta sent, and 24.9 a float
    assert isinstance(restored, InboundMessage)
    assert [type(i["item_price"]) for i in restored.extra["order"]["items"]] == [float, int]


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
