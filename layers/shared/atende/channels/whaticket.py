"""Whaticket (SaaS forks) — inbound side: normalise one already-authenticated webhook body.

Authentication (token in the URL, signature, replay window) is checked before this module runs;
here the body is still untrusted data. Stdlib only: this is on the webhook's cold-start path.
Reference: ../shared/docs/providers.md §3 (what the forks post, and why it differs per fork).

Whaticket SaaS forks POST one message per request and never retry. Accepted shapes:

* the raw Baileys ``proto.IWebMessageInfo`` (``key``, ``message``, ``pushName``, ``messageTimestamp``
  as a number, numeric string or protobuf Long);
* relay shapes ``{"number", "message": {...}}`` and ``{"message": {...}, "ticket": {"contact": {"number"}}}``;
* tolerant fork variants: ``{...raw, "normalized": {...}}``, extra ``ticket``/``contact`` objects, a
  ``body`` string, and Whazing's ``{messageId, messageBody, timestamp, mediaType, ticket, contact{phoneNumber, lid}}``.

The Baileys content itself is read by ``channels.baileys`` (shared with Evolution); this module
reads the envelope around it. Whaticket sends replies by phone number, so the sender is always
resolved to digits (never a JID), and media is never downloadable: relays carry only Baileys
metadata whose ``url``/``mediaKey`` point at WhatsApp's encrypted CDN, which the content reader
never copies (``extra["media_unavailable"]`` says so).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from atende.channels.baileys import BaileysContent, normalise_content
from atende.channels.payload import integer, number, obj, text
from atende.domain.messages import ContactRef, InboundMessage, MediaRef, MessageType, Provider
from atende.domain.tenants import Channel
from atende.errors import MalformedPayload, SenderUnresolvable

ContactIdFactory = Callable[[str], str]  # phone digits -> pseudonymous contact id

# Reasons a well-formed delivery produces no message (keys of WhaticketDelivery.ignored).
IGNORED_FROM_ME = "from_me"  # typed on the business phone, or an echo of our own reply
IGNORED_GROUP = "group"
IGNORED_BROADCAST = "broadcast"  # status updates (status@broadcast) and broadcast lists
IGNORED_NEWSLETTER = "newsletter"  # WhatsApp channels
IGNORED_EDIT = "edit"  # protocolMessage: edits, deletes, ephemeral settings...
IGNORED_STUB = "stub"  # Baileys stub without content (e.g. a message WhatsApp could not decrypt)

_MIN_DIGITS, _MAX_DIGITS = 8, 15  # E.164 allows 15; shorter than 8 is no reachable mobile number
_PHONE_JID_SUFFIXES = ("@s.whatsapp.net", "@c.us")  # Baileys; whatsapp-web.js based forks
_FORMATTING = str.maketrans("", "", " -().\t")
_MAX_ID_LENGTH = 128  # WhatsApp ids are 16-32 chars; anything huge is junk, not an id
# 2009-01-01: WhatsApp did not exist before; an older (or zero) timestamp is a default, not a time.
_MIN_TIMESTAMP = 1_230_768_000
_MAX_FUTURE_SKEW = 300  # seconds; the same tolerance as the delivery's own timestamp check
_MILLISECONDS = 10**11  # a seconds timestamp this large is year 5138: it was sent in milliseconds
# Whazing's ``mediaType``: Baileys content names with or without the "Message" suffix, or the
# whatsapp-web.js names ("chat", "ptt") of the forks built on it.
_WHAZING_TEXT = frozenset({"chat", "conversation", "extendedText", "text"})
_WHAZING_MEDIA = {
    "image": MessageType.IMAGE,
    "video": MessageType.VIDEO,
    "ptv": MessageType.VIDEO,
    "audio": MessageType.AUDIO,
    "ptt": MessageType.AUDIO,
    "document": MessageType.DOCUMENT,
    "documentWithCaption": MessageType.DOCUMENT,
    "sticker": MessageType.STICKER,
}


@dataclass(slots=True)
class WhaticketDelivery:
    messages: list[InboundMessage] = field(default_factory=list)  # 0 or 1: one message per request
    ignored: dict[str, int] = field(default_factory=dict)  # reason -> count (IGNORED_* above)


def parse_whaticket_webhook(doc: dict[str, Any], channel: Channel, contact_id: ContactIdFactory, *, received_at: int) -> WhaticketDelivery:
    """The customer message in one Whaticket delivery, or why there is none.

    Order: our own messages, then groups/broadcasts/newsletters and edits are ignored (counted,
    never rejected: the fork posts everything its integration sees). Then a body with no message
    at all is MalformedPayload (400), and a message whose sender has no usable phone number is
    SenderUnresolvable (422) — Whaticket can only answer a number, so there is nobody to answer.
    """
    if not isinstance(doc, dict):
        raise MalformedPayload("body is not a JSON object")
    key = obj(doc.get("key"))
    ticket = obj(doc.get("ticket"))
    ticket_contact = obj(ticket.get("contact"))
    contact = obj(doc.get("contact"))
    normalized = obj(doc.get("normalized"))

    if _truthy(key.get("fromMe")) or _truthy(doc.get("fromMe")):  # relays may stringify booleans
        return _ignored(IGNORED_FROM_ME)
    chat = _chat_kind(doc, key, ticket, ticket_contact, contact)
    if chat is not None:
        return _ignored(chat)

    content = _content(doc, normalized)
    if isinstance(content, str):
        return _ignored(content)

    wa_id = _sender_number(doc, normalized, key, ticket_contact, contact)
    name = _name(doc.get("pushName"), normalized.get("pushName"), ticket_contact.get("name"), contact.get("pushname"), contact.get("name"))
    timestamp = _timestamp(doc, received_at)
    message_id = _message_id(doc, key, normalized) or _hash_id(wa_id, content, timestamp)
    message = InboundMessage(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.WHATICKET,
        provider_message_id=message_id,
        # jid stays None: Whaticket's send API takes a number, never a JID.
        contact=ContactRef(contact_id=contact_id(wa_id), wa_id=wa_id, name=name),
        timestamp=timestamp,
        type=content.type,
        text=content.text,
        media=content.media,
        context=content.context,
        referral=content.referral,
        extra=content.extra,
    )
    return WhaticketDelivery(messages=[message])


def _ignored(reason: str) -> WhaticketDelivery:
    return WhaticketDelivery(ignored={reason: 1})


def _chat_kind(doc: dict[str, Any], key: dict[str, Any], *parts: dict[str, Any]) -> str | None:
    """The ignore reason when the chat is not a 1:1 conversation with a customer."""
    remote = text(key.get("remoteJid")) or ""
    if remote.endswith("@g.us") or any(part.get("isGroup") is True for part in (doc, *parts)):
        return IGNORED_GROUP
    # Baileys sets ``broadcast`` exactly when the chat is a broadcast JID (status or list).
    if remote.endswith("@broadcast") or doc.get("broadcast") is True:
        return IGNORED_BROADCAST
    if remote.endswith("@newsletter"):
        return IGNORED_NEWSLETTER
    return None


# --- sender --------------------------------------------------------------------------------------


def _sender_number(
    doc: dict[str, Any], normalized: dict[str, Any], key: dict[str, Any], ticket_contact: dict[str, Any], contact: dict[str, Any]
) -> str:
    """The sender's phone digits exactly as sent (a 12-digit DDD ≥ 31 number stays 12 digits).

    Fork-supplied numbers come first: they are what Whaticket itself answers. The chat JID comes
    last; a ``@lid`` JID hides the phone, so it only helps when Baileys also gives the phone JID
    (``remoteJidAlt`` in Baileys 7, ``senderPn`` in 6.7). A candidate that is present but not a
    phone number is skipped, and named in the error when nothing better follows.
    """
    candidates = (
        ("number", doc.get("number")),
        ("normalized.number", normalized.get("number")),
        ("ticket.contact.number", ticket_contact.get("number")),
        ("contact.phoneNumber", contact.get("phoneNumber")),
        ("contact.number", contact.get("number")),
        ("key.remoteJid", key.get("remoteJid")),
        ("key.remoteJidAlt", key.get("remoteJidAlt")),
        ("key.senderPn", key.get("senderPn")),
    )
    invalid: str | None = None
    hidden_by_lid = False
    for name, value in candidates:
        if value is None or value == "":
            continue
        digits = _phone_digits(value, jid_only=name.startswith("key."))
        if digits is not None:
            return digits
        if isinstance(value, str) and value.endswith("@lid"):
            hidden_by_lid = True
        elif invalid is None:
            invalid = name
    # Whazing names the LID separately; its digits look like a phone number, so never use them.
    if hidden_by_lid or text(contact.get("lid")):
        raise SenderUnresolvable("sender is a WhatsApp LID (@lid) and the payload gives no phone number")
    if invalid is not None:
        raise SenderUnresolvable(f"{invalid} is not a phone number of {_MIN_DIGITS}-{_MAX_DIGITS} digits and no other number was given")
    raise SenderUnresolvable("no sender number: none of number, ticket.contact.number, contact.phoneNumber/number, key.remoteJid")


def _phone_digits(value: Any, *, jid_only: bool) -> str | None:
    """Digits of a phone number or phone JID; None for anything else (group, LID, junk)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        value = str(value)
    if not isinstance(value, str):
        return None
    raw: str = value
    for suffix in _PHONE_JID_SUFFIXES:
        if raw.endswith(suffix):
            raw = raw[: -len(suffix)].split(":", 1)[0]  # "5511…:12@s.whatsapp.net" = device 12
            break
    else:
        if jid_only:
            return None
    digits = raw.strip().removeprefix("+").translate(_FORMATTING)
    if not (digits.isascii() and digits.isdigit() and _MIN_DIGITS <= len(digits) <= _MAX_DIGITS):
        return None
    return digits


def _name(*candidates: Any) -> str | None:
    for value in candidates:
        name = text(value)
        if name is None or not name.strip():
            continue
        # Whaticket saves a contact without push name under its number: that is not a name.
        if name.strip().removeprefix("+").translate(_FORMATTING).isdigit():
            continue
        return name.strip()
    return None


# --- id and time -----------------------------------------------------------------------------------


def _message_id(doc: dict[str, Any], key: dict[str, Any], normalized: dict[str, Any]) -> str | None:
    for value in (key.get("id"), doc.get("messageId"), normalized.get("messageId")):
        if value is None or value == "":
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a fork's numeric id
        if not (isinstance(value, str) and len(value) <= _MAX_ID_LENGTH and value.isascii() and value.isprintable() and " " not in value):
            raise MalformedPayload("message id is not a plausible WhatsApp message id")
        return value
    return None


def _hash_id(wa_id: str, content: BaileysContent, timestamp: int) -> str:
    """A stable id for relays that drop ``key.id``.

    Whaticket forks never retry, but relays in front of them (n8n, proxies) may post the same
    message twice within seconds: hashing (number, content, minute) collapses those, while a
    customer who repeats the same "oi" a minute later is a new message and gets a new id. The
    minute comes from the message's own timestamp when the relay kept it, so a retry that
    arrives after a minute boundary still collapses; without one it is the receive time, and a
    retry straddling a minute boundary is (rarely) answered twice. Content without text
    (reaction, location...) is fingerprinted by its type and structured fields instead.
    """
    fingerprint = content.text or json.dumps({"type": content.type.value, **content.extra}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{wa_id}\n{fingerprint}\n{timestamp // 60}".encode()).hexdigest()
    return "wt-" + digest[:32]


def _timestamp(doc: dict[str, Any], received_at: int) -> int:
    """The message's own time when it is believable, else when we received it."""
    for value in (doc.get("messageTimestamp"), doc.get("timestamp")):
        seconds = integer(value)
        if seconds is None:
            as_float = number(value) if not isinstance(value, str) else None
            seconds = int(as_float) if as_float is not None else None
        if seconds is None:
            continue
        if seconds >= _MILLISECONDS:
            seconds //= 1000  # Whazing and some relays send JavaScript Date.now()
        if _MIN_TIMESTAMP <= seconds <= received_at + _MAX_FUTURE_SKEW:
            return seconds
    return received_at


# --- content ---------------------------------------------------------------------------------------


def _content(doc: dict[str, Any], normalized: dict[str, Any]) -> BaileysContent | str:
    """What the customer sent, or an ignore reason. MalformedPayload when there is nothing at all."""
    message = doc.get("message")
    if isinstance(message, dict) and message:
        return _baileys_content(message)
    if isinstance(message, str) and message.strip():
        return BaileysContent("conversation", MessageType.TEXT, text=text(message))
    if doc.get("isDeleted") is True or doc.get("edited") is True:
        return IGNORED_EDIT  # Whazing re-posts edited and deleted messages
    body = text(doc.get("body")) or text(doc.get("messageBody")) or text(normalized.get("body"))
    media_type = text(doc.get("mediaType"))
    if media_type is not None and (body is not None or media_type not in _WHAZING_TEXT):
        return _whazing_content(media_type, body)
    if body is not None:
        return BaileysContent("conversation", MessageType.TEXT, text=body)
    if message is None and integer(doc.get("messageStubType")) is not None:
        return IGNORED_STUB
    raise MalformedPayload("payload carries no message")


def _baileys_content(message: dict[str, Any]) -> BaileysContent | str:
    content = normalise_content(message)
    if content is None:
        raise MalformedPayload("message has no content")
    if content.is_protocol:
        return IGNORED_EDIT
    if content.is_media:
        # Only WhatsApp's encrypted CDN locators travel in a relay: nothing to download.
        return replace(content, extra={**content.extra, "media_unavailable": True})
    return content


def _whazing_content(media_type: str, body: str | None) -> BaileysContent:
    # Whaticket-family forks store a placeholder as the body of audio ("Áudio") and stickers
    # ("sticker"), the caption of images and videos, and the title (file name) of documents.
    kind = media_type.removesuffix("Message")
    if kind in _WHAZING_TEXT:
        return BaileysContent("conversation", MessageType.TEXT, text=body)
    mtype = _WHAZING_MEDIA.get(kind)
    if mtype is None:
        return BaileysContent(media_type, MessageType.UNKNOWN, extra={"unsupported_type": media_type})
    caption = body if mtype in (MessageType.IMAGE, MessageType.VIDEO) else None
    media = MediaRef(
        caption=caption,
        filename=body if mtype is MessageType.DOCUMENT else None,
        voice=kind == "ptt",
    )
    # An empty MediaRef would come back from the queue as None: make it None here.
    return BaileysContent(media_type, mtype, text=caption, media=None if media == MediaRef() else media, extra={"media_unavailable": True})


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
