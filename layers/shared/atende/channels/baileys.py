"""Baileys message content (WhatsApp Web's ``proto.IMessage`` as JSON) → the shared message parts.

Evolution API and the Whaticket SaaS forks both relay Baileys content; this is the one reader of
it, so the two providers cannot disagree about a sticker or a button reply. The providers' own
modules read only their envelopes (key, sender, timestamps, Evolution's ``mediaUrl``/``base64``/
``speechToText``, the forks' relay shapes) and call ``normalise_content`` for the rest.

What comes out follows ``InboundMessage``: a ``MessageType``, the text the customer typed or
tapped, a ``MediaRef`` (without provider ids: only the relay knows how its media is fetched), the
quoted/forwarded context, a click-to-WhatsApp referral and the documented ``extra`` keys.

Stdlib only: this module is on the webhook's cold-start path.
Reference: ../shared/docs/providers.md §2.4 (content types) and §3.2 (raw Baileys relays).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from atende.channels.payload import integer, number, obj, objects, text
from atende.domain.messages import MAX_LIST_ITEMS, MediaRef, MessageType, Referral, ReplyContext

# Content key → type, for content whose file lives on WhatsApp's CDN.
MEDIA_TYPES: Final[Mapping[str, MessageType]] = MappingProxyType(
    {
        "imageMessage": MessageType.IMAGE,
        "videoMessage": MessageType.VIDEO,
        "ptvMessage": MessageType.VIDEO,  # round "video note"
        "audioMessage": MessageType.AUDIO,
        "documentMessage": MessageType.DOCUMENT,
        "stickerMessage": MessageType.STICKER,
    }
)
# Type → the content key a phone sends it under (what a relay's fake customer builds).
MEDIA_KEYS: Final[Mapping[MessageType, str]] = MappingProxyType(
    {
        MessageType.IMAGE: "imageMessage",
        MessageType.VIDEO: "videoMessage",
        MessageType.AUDIO: "audioMessage",
        MessageType.DOCUMENT: "documentMessage",
        MessageType.STICKER: "stickerMessage",
    }
)
# Envelopes whose ``.message`` holds the real content (Baileys ``normalizeMessageContent``).
# A lottie sticker is a stickerMessage inside lottieStickerMessage, and always animated.
WRAPPERS: Final = frozenset(
    {
        "ephemeralMessage",
        "viewOnceMessage",
        "viewOnceMessageV2",
        "viewOnceMessageV2Extension",
        "documentWithCaptionMessage",
        "lottieStickerMessage",
    }
)
# Edits, deletions, disappearing-message settings, poll votes, pins, keep-in-chat: protocol
# traffic about other messages, never something the customer asked. (``editedMessage`` wraps the
# protocolMessage of an edit, so it is protocol traffic whatever it holds.)
PROTOCOL_TYPES: Final = frozenset(
    {"protocolMessage", "editedMessage", "pollUpdateMessage", "keepInChatMessage", "pinInChatMessage", "encReactionMessage"}
)
# Content WhatsApp defines that the assistant cannot take part in (yet).
_UNSUPPORTED_TYPES = frozenset({"pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3", "pollCreationMessageV4"})
_MAX_WRAPPING = 4  # ephemeral → viewOnce → documentWithCaption is 3; deeper is not WhatsApp
# WhatsApp labels a message "forwarded many times" once it went through five or more chats. [uncertain]
FREQUENTLY_FORWARDED_SCORE: Final = 5
_CAPTIONED = frozenset({MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT, MessageType.AUDIO})
_PHONE_JID_SUFFIXES = ("@s.whatsapp.net", "@c.us")  # Baileys; whatsapp-web.js based forks
# ExternalAdReplyInfo.MediaType, which may serialise as its number.
_AD_MEDIA_TYPES = {1: "image", 2: "video"}
_VCARD_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class BaileysContent:
    """One Baileys content, normalised. ``kind`` is its Baileys name after unwrapping."""

    kind: str
    type: MessageType
    text: str | None = None
    media: MediaRef | None = None  # None for non-media types, and for media nothing is known about
    context: ReplyContext | None = None
    referral: Referral | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # InboundMessage.extra keys; never None values

    @property
    def is_protocol(self) -> bool:
        """An edit, deletion or other protocol message: not a customer message."""
        return self.kind in PROTOCOL_TYPES

    @property
    def is_media(self) -> bool:
        return self.type in MEDIA_KEYS


def content_key(message: Mapping[str, Any], hint: str | None = None) -> str | None:
    """The content field of a Baileys ``message`` (Baileys ``getContentType``), wrappers not removed.

    The first ``conversation`` or ``…Message`` field that is set, skipping the group
    key-distribution field that rides along with real content; relay additions (Evolution's
    ``base64``, ``mediaUrl``, ``speechToText``, ``messageContextInfo``) are never content. ``hint``
    (Evolution's ``messageType``) wins when it names a content field that is present.
    """
    if hint is not None and _is_content_field(hint) and message.get(hint) is not None:
        return hint
    return next((name for name, value in message.items() if value is not None and _is_content_field(name)), None)


def _is_content_field(name: str) -> bool:
    return name == "conversation" or ("Message" in name and name != "senderKeyDistributionMessage")


def normalise_content(message: Any, *, hint: str | None = None) -> BaileysContent | None:
    """What the customer sent in one Baileys ``message``, or None when it holds no content at all.

    Never raises on junk: content that cannot be read is ``UNKNOWN`` with its name in
    ``extra["unsupported_type"]`` (so the customer is told, instead of being ignored).
    """
    if not isinstance(message, dict):
        return None
    kind = content_key(message, hint)
    if kind is None:
        return None
    lottie = False
    for _ in range(_MAX_WRAPPING):
        if kind not in WRAPPERS:
            break
        lottie = lottie or kind == "lottieStickerMessage"
        inner = obj(message[kind]).get("message")
        inner_kind = content_key(inner) if isinstance(inner, dict) else None
        if inner_kind is None:
            return _unknown(kind)  # an envelope around nothing we can read
        message, kind = inner, inner_kind
    if kind in WRAPPERS:
        return _unknown(kind)
    raw = message[kind]
    if kind == "conversation":
        return BaileysContent(kind, MessageType.TEXT, text=text(raw))
    if kind in PROTOCOL_TYPES:
        return BaileysContent(kind, MessageType.SYSTEM, extra={"system_type": kind})
    if not isinstance(raw, dict):
        return _unknown(kind)
    info = obj(raw.get("contextInfo"))
    content = _read(kind, raw, lottie=lottie)
    return BaileysContent(
        kind,
        content.type,
        text=content.text,
        media=content.media,
        context=None if content.type is MessageType.REACTION else reply_context(info),
        referral=referral(info),
        extra={k: v for k, v in content.extra.items() if v is not None},
    )


def _unknown(kind: str) -> BaileysContent:
    return BaileysContent(kind, MessageType.UNKNOWN, extra={"unsupported_type": kind})


@dataclass(frozen=True, slots=True)
class _Read:
    type: MessageType
    text: str | None = None
    media: MediaRef | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _read(kind: str, body: dict[str, Any], *, lottie: bool) -> _Read:
    if kind in MEDIA_TYPES:
        return _media(MEDIA_TYPES[kind], body, lottie=lottie)
    reader = _READERS.get(kind)
    if reader is not None:
        return reader(body)
    if kind in _UNSUPPORTED_TYPES:
        return _Read(MessageType.UNSUPPORTED, extra={"unsupported_type": kind})
    return _Read(MessageType.UNKNOWN, extra={"unsupported_type": kind})


def _extended_text(body: dict[str, Any]) -> _Read:
    return _Read(MessageType.TEXT, text(body.get("text")))


def _reaction(body: dict[str, Any]) -> _Read:
    # A removal is an empty text: it stays "", told apart from absence.
    target = text(obj(body.get("key")).get("id"))
    return _Read(MessageType.REACTION, extra={"target_message_id": target, "emoji": text(body.get("text")) or ""})


# --- media -----------------------------------------------------------------------------------


def _media(mtype: MessageType, body: dict[str, Any], *, lottie: bool) -> _Read:
    # WhatsApp's proto has no audio caption, but relays that send one (Evolution's sendMedia
    # with an audio) keep it: it is text the customer wrote.
    caption = text(body.get("caption")) if mtype in _CAPTIONED else None
    media = MediaRef(
        mime_type=text(body.get("mimetype")),
        sha256=_sha256_hex(body.get("fileSha256")),
        caption=caption,
        filename=(text(body.get("fileName")) or text(body.get("title"))) if mtype is MessageType.DOCUMENT else None,
        voice=mtype is MessageType.AUDIO and body.get("ptt") is True,
        animated=mtype is MessageType.STICKER and (lottie or body.get("isAnimated") is True or body.get("isLottie") is True),
    )
    # The queue envelope leaves empty fields out, so an empty MediaRef would come back as None:
    # make it None here and the message is the same before and after the queue.
    return _Read(mtype, caption, None if media == MediaRef() else media)


def _sha256_hex(value: Any) -> str | None:
    # A base64 string on most versions; an index-keyed byte object on others (ignored).
    if not isinstance(value, str):
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None


# --- location and contacts -------------------------------------------------------------------


def _pin(body: dict[str, Any]) -> _Read:
    return _location(body, live=body.get("isLive") is True)


def _live_location(body: dict[str, Any]) -> _Read:
    return _location(body, live=True)


def _location(body: dict[str, Any], *, live: bool) -> _Read:
    extra: dict[str, Any] = {
        "latitude": number(body.get("degreesLatitude")),
        "longitude": number(body.get("degreesLongitude")),
        "name": text(body.get("name")),
        "address": text(body.get("address")),
        "url": text(body.get("url")),
        "live": True if live else None,
    }
    # What the customer wrote with it: a live location's caption, a pin's comment.
    return _Read(MessageType.LOCATION, text(body.get("caption")) or text(body.get("comment")), extra=extra)


def _contact(body: dict[str, Any]) -> _Read:
    return _contacts([body])


def _contacts_array(body: dict[str, Any]) -> _Read:
    return _contacts(objects(body.get("contacts")))


def _contacts(cards: list[dict[str, Any]]) -> _Read:
    # A whole address book can be shared: only what the queue and the assistant can use is read
    # (``bounded`` would cut it there anyway), and the cut is marked like ``bounded`` marks it.
    read = [_card(card) for card in cards[:MAX_LIST_ITEMS]]
    extra: dict[str, Any] = {"contacts": [card for card, _ in read]}
    if len(cards) > MAX_LIST_ITEMS or any(cut for _, cut in read):
        extra["truncated"] = True
    return _Read(MessageType.CONTACTS, extra=extra)


def _card(contact: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """One shared contact as ``{"name", "phones"}`` (from its display name and vCard), and whether phones were cut."""
    full_name, phones = parse_vcard(text(contact.get("vcard")) or "")
    card = {"name": text(contact.get("displayName")) or full_name or "", "phones": phones[:MAX_LIST_ITEMS]}
    return card, len(phones) > MAX_LIST_ITEMS


def parse_vcard(vcard: str) -> tuple[str | None, list[str]]:
    """The FN and the phones of a vCard.

    WhatsApp writes ``item1.TEL;type=CELL;waid=5511912345678:+55 11 91234-5678``: the property may
    carry a group prefix and parameters. ``waid`` is the contact's WhatsApp number in digits, the
    one the business can message, so it is the phone when present; otherwise the value as written
    (a vCard 4 ``tel:`` URI loses its scheme). Folded lines (RFC 6350 §3.2) are unfolded.
    """
    unfolded: list[str] = []
    for line in _VCARD_LINE_BREAK.split(vcard):
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += line[1:]
        else:
            unfolded.append(line)
    full_name: str | None = None
    phones: list[str] = []
    for line in unfolded:
        head, colon, value = line.partition(":")
        if not colon:
            continue
        prop, *params = head.split(";")
        prop = prop.rsplit(".", 1)[-1].strip().upper()  # "item1.TEL" → "TEL"
        value = value.strip()
        if prop == "FN" and value and full_name is None:
            full_name = value
        elif prop == "TEL":
            phone = _waid(params) or value.removeprefix("tel:").strip()
            if phone:
                phones.append(phone)
    return full_name, phones


def _waid(params: list[str]) -> str | None:
    for param in params:
        name, _, value = param.partition("=")
        value = value.strip()
        if name.strip().lower() == "waid" and value.isascii() and value.isdigit():
            return value
    return None


# --- replies to our buttons, lists and native flows ------------------------------------------


def _button_reply(body: dict[str, Any]) -> _Read:
    # Without its label (some clients send only the id) the id is the text: the customer did
    # answer, and an id like "horarios" reads better than the "can't read this" notice.
    reply_id = text(body.get("selectedButtonId"))
    extra = {"interactive_type": "button_reply", "reply_id": reply_id}
    return _Read(MessageType.INTERACTIVE, text(body.get("selectedDisplayText")) or reply_id, extra=extra)


def _list_reply(body: dict[str, Any]) -> _Read:
    reply_id = text(obj(body.get("singleSelectReply")).get("selectedRowId"))
    extra = {"interactive_type": "list_reply", "reply_id": reply_id, "description": text(body.get("description"))}
    return _Read(MessageType.INTERACTIVE, text(body.get("title")) or reply_id, extra=extra)


def _template_reply(body: dict[str, Any]) -> _Read:
    payload = text(body.get("selectedId"))
    return _Read(MessageType.BUTTON, text(body.get("selectedDisplayText")) or payload, extra={"payload": payload})


def _native_flow(body: dict[str, Any]) -> _Read:
    """A native-flow reply (quick reply, list or Flow tapped on an ``interactiveMessage``).

    ``paramsJson`` names what was tapped: its ``id`` (a Flow's ``flow_token`` otherwise) is the
    reply id and its ``display_text``/``title`` the text; else the reply's body text, else the id.
    """
    params = _params(obj(body.get("nativeFlowResponseMessage")).get("paramsJson"))
    reply_id = _identifier(params.get("id")) or text(params.get("flow_token"))
    label = text(params.get("display_text")) or text(params.get("title")) or text(obj(body.get("body")).get("text"))
    return _Read(MessageType.INTERACTIVE, label or reply_id, extra={"interactive_type": "nfm_reply", "reply_id": reply_id})


def _params(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):  # a relay that already decoded it
        return raw
    value = text(raw)
    if value is None:
        return {}
    try:
        params = json.loads(value)
    except (ValueError, RecursionError):
        return {}
    return params if isinstance(params, dict) else {}


def _identifier(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return text(value)


# Content key → reader, for the non-media content the assistant understands.
_READERS: dict[str, Callable[[dict[str, Any]], _Read]] = {
    "extendedTextMessage": _extended_text,
    "locationMessage": _pin,
    "liveLocationMessage": _live_location,
    "contactMessage": _contact,
    "contactsArrayMessage": _contacts_array,
    "reactionMessage": _reaction,
    "buttonsResponseMessage": _button_reply,
    "listResponseMessage": _list_reply,
    "templateButtonReplyMessage": _template_reply,
    "interactiveResponseMessage": _native_flow,
}


# --- contextInfo ------------------------------------------------------------------------------


def reply_context(context_info: Any) -> ReplyContext | None:
    """The quote (``stanzaId``, ``participant``) and forwarding marks of a ``contextInfo``."""
    info = obj(context_info)
    message_id = text(info.get("stanzaId"))
    score = integer(info.get("forwardingScore")) or 0
    context = ReplyContext(
        message_id=message_id,
        # The quoted message's author, when it is a phone JID (a LID is not guessed).
        from_id=_phone_of(info.get("participant")) if message_id else None,
        forwarded=info.get("isForwarded") is True or score > 0,
        frequently_forwarded=score >= FREQUENTLY_FORWARDED_SCORE,
    )
    return None if context == ReplyContext() else context


def _phone_of(jid: Any) -> str | None:
    """The digits of ``<digits>[:device]@s.whatsapp.net`` (or ``@c.us``), else None."""
    if not isinstance(jid, str):
        return None
    for suffix in _PHONE_JID_SUFFIXES:
        if jid.endswith(suffix):
            user = jid.removesuffix(suffix).split(":", 1)[0]
            return user if user.isascii() and user.isdigit() else None
    return None


def referral(context_info: Any) -> Referral | None:
    """Click-to-WhatsApp ad attribution (``contextInfo.externalAdReply``) on the first message."""
    ad = obj(obj(context_info).get("externalAdReply"))
    found = Referral(
        source_type=text(ad.get("sourceType")),
        source_id=text(ad.get("sourceId")),
        source_url=text(ad.get("sourceUrl")),
        headline=text(ad.get("title")),
        body=text(ad.get("body")),
        media_type=_ad_media_type(ad.get("mediaType")),
        ctwa_clid=text(ad.get("ctwaClid")),
    )
    return None if found == Referral() else found


def _ad_media_type(value: Any) -> str | None:
    name = _AD_MEDIA_TYPES.get(value) if isinstance(value, int) and not isinstance(value, bool) else text(value)
    return name.lower() if name and name.upper() != "NONE" else None
