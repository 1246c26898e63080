"""Evolution API v2 — inbound side: webhook envelope and normalisation.

Evolution relays Baileys (WhatsApp Web) events as ``{event, instance, data, ...}``; ``instance``
names the channel. Authentication is ``relay_auth``'s job; this module only reads the body.

Stdlib only: this module is on the webhook's cold-start path.
Reference: ../shared/docs/providers.md §2.3-2.5 (envelope, content types, addressing, events).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from atende.channels.payload import integer, number, obj, objects, text
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
)
from atende.domain.tenants import Channel
from atende.errors import MalformedPayload

EVENT_UPSERT = "messages.upsert"
EVENT_UPDATE = "messages.update"
EVENT_CONNECTION = "connection.update"
# Evolution's echoes of what was sent through its API (our own replies): never customer input.
_ECHO_EVENTS = frozenset({"send.message", "send.message.update"})

# Reasons an item is not turned into a message/status (``EvolutionDelivery.ignored`` keys).
FROM_ME = "from_me"
GROUP = "group"
BROADCAST = "broadcast"
NEWSLETTER = "newsletter"
ECHO = "echo"
EVENT = "event"
NO_SENDER = "no_sender"
JUNK = "junk"
EDIT = "edit"  # edits, deletions and other protocol messages

_PHONE_SERVER = "s.whatsapp.net"
_LID_SERVER = "lid"

# Keys Evolution adds next to the content (or that carry no content) inside ``data.message``.
# Edits, deletions, disappearing-message settings, poll votes, pins: protocol traffic, not
# something the customer asked (Evolution routes most edits to messages.edited, not all).
_NOT_A_MESSAGE = frozenset(
    {"protocolMessage", "editedMessage", "pollUpdateMessage", "keepInChatMessage", "pinInChatMessage", "encReactionMessage"}
)
_NOT_CONTENT = frozenset({"messageContextInfo", "base64", "mediaUrl", "speechToText", "senderKeyDistributionMessage"})
# Envelopes around the real content, each as ``{"message": {<content>}}``. Evolution flattens
# documentWithCaptionMessage at the top level, but not inside the other wrappers.
_WRAPPERS = frozenset(
    {
        "ephemeralMessage",
        "viewOnceMessage",
        "viewOnceMessageV2",
        "viewOnceMessageV2Extension",
        "documentWithCaptionMessage",
        "lottieStickerMessage",
    }
)
_MAX_WRAPPING = 4  # deeper nesting is not something WhatsApp sends: treat it as junk
_MEDIA_TYPES = {
    "imageMessage": MessageType.IMAGE,
    "audioMessage": MessageType.AUDIO,
    "videoMessage": MessageType.VIDEO,
    "ptvMessage": MessageType.VIDEO,  # round "video note"
    "documentMessage": MessageType.DOCUMENT,
    "stickerMessage": MessageType.STICKER,
}
_POLL_TYPES = frozenset({"pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3", "pollCreationMessageV4"})
# WhatsApp labels a message "forwarded many times" once it went through five or more chats. [uncertain]
_FREQUENTLY_FORWARDED_SCORE = 5
# ExternalAdReplyInfo.MediaType, which may serialise as its number.
_AD_MEDIA_TYPES = {1: "image", 2: "video"}

# messages.update statuses (Evolution's renderStatus names; numbers from servers that send raw ones).
_STATUS_NAMES = {0: "ERROR", 1: "PENDING", 2: "SERVER_ACK", 3: "DELIVERY_ACK", 4: "READ", 5: "PLAYED"}
_DELIVERY_STATUS = {
    "SERVER_ACK": DeliveryStatus.SENT,
    "DELIVERY_ACK": DeliveryStatus.DELIVERED,
    "READ": DeliveryStatus.READ,
    "PLAYED": DeliveryStatus.PLAYED,
    "ERROR": DeliveryStatus.FAILED,
}  # PENDING (not yet on WhatsApp's server) and DELETED say nothing about delivery


@dataclass(frozen=True, slots=True)
class EvolutionEnvelope:
    instance: str  # the Evolution instance name: selects the channel
    event: str  # lower-case dotted ("messages.upsert"), whatever form was sent
    apikey: str | None  # the instance token when Evolution exposes it, else None


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    state: str  # "open" | "connecting" | "close" | "refused" | anything newer, as sent
    status_reason: int | None  # Baileys DisconnectReason (401 = logged out, 200 on open)


@dataclass(slots=True)
class EvolutionDelivery:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)  # reason -> count (only reasons that occurred)
    connection: ConnectionChange | None = None

    def ignore(self, reason: str, count: int = 1) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + count


ContactIdFactory = Callable[[str], str]  # wa_id or LID JID -> pseudonymous contact id


def normalise_event(name: str) -> str:
    """``MESSAGES_UPSERT`` (subscription form) and ``messages-upsert`` (URL form) → ``messages.upsert``."""
    event = name.strip().lower()
    return event if "." in event else event.replace("_", ".").replace("-", ".")


def read_envelope(doc: Any) -> EvolutionEnvelope:
    """What the webhook needs before authenticating: instance, event and the body's apikey."""
    if not isinstance(doc, dict):
        raise MalformedPayload("body is not a JSON object")
    instance = doc.get("instance")
    if not isinstance(instance, str) or not instance:
        raise MalformedPayload("instance is missing or not a string")
    event = doc.get("event")
    if not isinstance(event, str) or not event.strip():
        raise MalformedPayload("event is missing or not a string")
    return EvolutionEnvelope(instance=instance, event=normalise_event(event), apikey=text(doc.get("apikey")))


def parse_evolution_webhook(doc: Any, contact_id: ContactIdFactory, *, now: int) -> EvolutionDelivery:
    """Normalise one Evolution delivery for the channel its ``instance`` names (tenant unknown yet).

    Only a bad envelope fails the delivery (MalformedPayload → 400, which Evolution does not retry);
    an unusable item is counted in ``ignored`` so the good items of the same delivery still go
    through. ``now`` stamps status updates, which carry no time of their own.
    """
    envelope = read_envelope(doc)
    channel = Channel.unrouted(Provider.EVOLUTION, envelope.instance)
    out = EvolutionDelivery()
    data = doc.get("data")
    if envelope.event == EVENT_UPSERT:
        for item in _items(data):
            message = _parse_upsert(item, channel, contact_id)
            if isinstance(message, str):
                out.ignore(message)
            else:
                out.messages.append(message)
    elif envelope.event == EVENT_UPDATE:
        for item in _items(data):
            status = _parse_update(item, channel, contact_id, now)
            if isinstance(status, str):
                out.ignore(status)
            else:
                out.statuses.append(status)
    elif envelope.event == EVENT_CONNECTION:
        out.connection = _connection(data)
        if out.connection is None:
            out.ignore(JUNK)
    elif envelope.event in _ECHO_EVENTS:
        out.ignore(ECHO, len(_items(data)) or 1)
    else:
        out.ignore(EVENT)
    return out


def _items(data: Any) -> list[Any]:
    # ``data`` is one object, or (messages.update on some versions) a list of them. Anything
    # else is returned as one item so that it is counted as junk rather than vanishing.
    return data if isinstance(data, list) else [data]


def _is_true(value: Any) -> bool:
    # A relay that stringifies booleans must not turn our own messages into customer input
    # (the assistant would answer itself).
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# --- addressing ------------------------------------------------------------------------------


def _chat_kind(remote_jid: Any) -> str | None:
    """The ignore reason for chats that are not a one-to-one conversation with a customer."""
    if not isinstance(remote_jid, str):
        return None
    if remote_jid.endswith("@g.us"):
        return GROUP
    if remote_jid.endswith("@broadcast"):  # status@broadcast (stories) and broadcast lists
        return BROADCAST
    if remote_jid.endswith("@newsletter"):
        return NEWSLETTER
    return None


def _jid_user(jid: Any, server: str) -> str | None:
    """The numeric user part of ``<digits>[:device]@<server>``, or None."""
    if not isinstance(jid, str):
        return None
    user, at, host = jid.partition("@")
    user = user.split(":", 1)[0]
    if not at or host != server or not user.isascii() or not user.isdigit():
        return None
    return user


def _address(candidates: Iterable[Any]) -> tuple[str | None, str | None]:
    """(wa_id, reply JID): the first phone JID among ``candidates``, else the first LID JID.

    The phone's digits are kept exactly as WhatsApp sent them (a Brazilian DDD ≥ 31 number has
    12 digits; never add or drop a 9th digit). With no phone (LID-only senders on 2.2.x) the reply
    goes to the LID JID itself, which Evolution can send to.
    """
    jids = list(candidates)
    for jid in jids:
        wa_id = _jid_user(jid, _PHONE_SERVER)
        if wa_id:
            return wa_id, f"{wa_id}@{_PHONE_SERVER}"
    for jid in jids:
        lid = _jid_user(jid, _LID_SERVER)
        if lid:
            return None, f"{lid}@{_LID_SERVER}"
    return None, None


def _contact(candidates: Iterable[Any], name: str | None, contact_id: ContactIdFactory) -> ContactRef | None:
    # The pseudonym is keyed on the phone when known, else on the LID JID: the same rule for
    # messages and statuses, so a reply and its statuses share the customer's partition.
    wa_id, jid = _address(candidates)
    if jid is None:
        return None
    return ContactRef(contact_id=contact_id(wa_id or jid), wa_id=wa_id, name=name, jid=jid)


# --- messages.upsert -------------------------------------------------------------------------


def _parse_upsert(item: Any, channel: Channel, contact_id: ContactIdFactory) -> InboundMessage | str:
    """The normalised message, or the reason it is ignored."""
    if not isinstance(item, dict):
        return JUNK
    key = obj(item.get("key"))
    if _is_true(key.get("fromMe")):  # typed on the phone or sent by us: arrives here too
        return FROM_ME
    chat_kind = _chat_kind(key.get("remoteJid"))
    if chat_kind:
        return chat_kind
    # 2.3.5+ keeps remoteJid=@lid and puts the phone in remoteJidAlt; 2.3.1-2.3.4 used senderPn.
    contact = _contact((key.get("remoteJidAlt"), key.get("senderPn"), key.get("remoteJid")), text(item.get("pushName")), contact_id)
    if contact is None:
        return NO_SENDER
    message_id = text(key.get("id"))
    # messageTimestamp (seconds), never date_time: that one is the server's local time marked Z.
    timestamp = integer(item.get("messageTimestamp"))
    message = obj(item.get("message"))
    found = _find_content(message, text(item.get("messageType")))
    if not message_id or timestamp is None or timestamp <= 0 or found is None:
        return JUNK
    kind, body = found
    if kind in _NOT_A_MESSAGE:
        return EDIT
    mtype, body_text, media, extra = _content(kind, body, message_id, text(message.get("mediaUrl")))
    inline = text(message.get("base64")) if media is not None else None
    if media is not None and inline is not None:
        if len(inline) <= INLINE_MEDIA_MAX_CHARS:
            media = replace(media, inline_base64=inline)  # the processor skips getBase64FromMediaMessage
        else:
            # Too large for a queue message: the processor fetches it from Evolution instead.
            extra["inline_media"] = True
    context_infos = (obj(obj(body).get("contextInfo")), obj(item.get("contextInfo")))
    return InboundMessage(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.EVOLUTION,
        provider_message_id=message_id,
        contact=contact,
        timestamp=timestamp,
        type=mtype,
        text=body_text,
        media=media,
        context=_reply_context(context_infos),
        referral=_referral(context_infos),
        extra={k: v for k, v in extra.items() if v is not None},
    )


def _find_content(message: dict[str, Any], hint: str | None) -> tuple[str, Any] | None:
    """(content type, content) with wrappers removed; ``hint`` = Evolution's messageType."""
    for _ in range(_MAX_WRAPPING + 1):
        if hint and hint not in _NOT_CONTENT and message.get(hint) is not None:
            kind: str | None = hint
        else:
            kind = next((k for k, v in message.items() if k not in _NOT_CONTENT and v is not None), None)
        if kind is None:
            return None
        if kind not in _WRAPPERS:
            return kind, message[kind]
        message, hint = obj(obj(message[kind]).get("message")), None
    return None


_Content = tuple[MessageType, str | None, MediaRef | None, dict[str, Any]]  # type, text, media, extra


def _content(kind: str, raw: Any, message_id: str, media_url: str | None) -> _Content:
    if kind == "conversation":
        return MessageType.TEXT, text(raw), None, {}
    body = obj(raw)
    if kind == "extendedTextMessage":
        return MessageType.TEXT, text(body.get("text")), None, {}
    if kind in _MEDIA_TYPES:
        mtype = _MEDIA_TYPES[kind]
        media = MediaRef(
            media_id=message_id,  # what getBase64FromMediaMessage takes (message.key.id)
            mime_type=text(body.get("mimetype")),
            sha256=_sha256_hex(body.get("fileSha256")),
            caption=text(body.get("caption")),
            filename=(text(body.get("fileName")) or text(body.get("title"))) if mtype is MessageType.DOCUMENT else None,
            voice=kind == "audioMessage" and body.get("ptt") is True,
            animated=kind == "stickerMessage" and body.get("isAnimated") is True,
            url=media_url,  # only when Evolution stores media in its S3
        )
        return mtype, media.caption, media, {}
    if kind in ("locationMessage", "liveLocationMessage"):
        extra: dict[str, Any] = {
            "latitude": _coordinate(body.get("degreesLatitude")),
            "longitude": _coordinate(body.get("degreesLongitude")),
            "name": text(body.get("name")),
            "address": text(body.get("address")),
            "url": text(body.get("url")),
        }
        if kind == "liveLocationMessage":
            extra["live"] = True
            return MessageType.LOCATION, text(body.get("caption")), None, extra
        return MessageType.LOCATION, None, None, extra
    if kind == "contactMessage":
        return MessageType.CONTACTS, None, None, {"contacts": [_card(body)]}
    if kind == "contactsArrayMessage":
        return MessageType.CONTACTS, None, None, {"contacts": [_card(c) for c in objects(body.get("contacts"))]}
    if kind == "reactionMessage":
        target = text(obj(body.get("key")).get("id"))
        return MessageType.REACTION, None, None, {"target_message_id": target, "emoji": text(body.get("text")) or ""}
    if kind == "buttonsResponseMessage":
        extra = {"interactive_type": "button_reply", "reply_id": text(body.get("selectedButtonId"))}
        return MessageType.INTERACTIVE, text(body.get("selectedDisplayText")), None, extra
    if kind == "listResponseMessage":
        extra = {
            "interactive_type": "list_reply",
            "reply_id": text(obj(body.get("singleSelectReply")).get("selectedRowId")),
            "description": text(body.get("description")),
        }
        return MessageType.INTERACTIVE, text(body.get("title")), None, extra
    if kind == "templateButtonReplyMessage":
        return MessageType.BUTTON, text(body.get("selectedDisplayText")), None, {"payload": text(body.get("selectedId"))}
    if kind == "interactiveResponseMessage":
        reply_id = _native_flow_id(obj(body.get("nativeFlowResponseMessage")).get("paramsJson"))
        extra = {"interactive_type": "nfm_reply", "reply_id": reply_id}
        return MessageType.INTERACTIVE, text(obj(body.get("body")).get("text")), None, extra
    if kind in _POLL_TYPES:
        return MessageType.UNSUPPORTED, None, None, {"unsupported_type": kind}
    return MessageType.UNKNOWN, None, None, {"unsupported_type": kind}


def _coordinate(value: Any) -> float | None:
    try:
        return number(value)
    except OverflowError:  # a JSON integer too large for a float (e.g. 10**400)
        return None


def _sha256_hex(value: Any) -> str | None:
    # A base64 string on most versions; an index-keyed byte object on others (ignored).
    if not isinstance(value, str):
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None


def _card(contact: dict[str, Any]) -> dict[str, Any]:
    """One shared contact as ``{"name", "phones"}``; phones read from the vCard's TEL lines."""
    vcard = text(contact.get("vcard")) or ""
    phones: list[str] = []
    full_name = None
    for line in vcard.splitlines():
        prop, colon, value = line.partition(":")
        if not colon:
            continue
        name = prop.split(";", 1)[0].rsplit(".", 1)[-1].strip().upper()  # "item1.TEL;waid=…" → "TEL"
        value = value.strip()
        if name == "TEL" and value:
            phones.append(value)
        elif name == "FN" and value:
            full_name = value
    return {"name": text(contact.get("displayName")) or full_name or "", "phones": phones}


def _native_flow_id(params_json: Any) -> str | None:
    raw = text(params_json)
    if raw is None:
        return None
    try:
        params = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    reply_id = params.get("id") if isinstance(params, dict) else None
    if isinstance(reply_id, int) and not isinstance(reply_id, bool):
        return str(reply_id)
    return text(reply_id)


def _reply_context(infos: Iterable[dict[str, Any]]) -> ReplyContext | None:
    # On the content object (raw Baileys, Evolution for non-text types) or moved to
    # data.contextInfo (Evolution when it rewrites extendedTextMessage to conversation).
    for info in infos:
        message_id = text(info.get("stanzaId"))
        forwarded = info.get("isForwarded") is True
        if message_id or forwarded:
            score = integer(info.get("forwardingScore")) or 0
            return ReplyContext(
                message_id=message_id,
                from_id=_jid_user(info.get("participant"), _PHONE_SERVER) if message_id else None,
                forwarded=forwarded,
                frequently_forwarded=score >= _FREQUENTLY_FORWARDED_SCORE,
            )
    return None


def _referral(infos: Iterable[dict[str, Any]]) -> Referral | None:
    """Click-to-WhatsApp ad attribution (``contextInfo.externalAdReply``) on the first message."""
    for info in infos:
        ad = obj(info.get("externalAdReply"))
        referral = Referral(
            source_type=text(ad.get("sourceType")),
            source_id=text(ad.get("sourceId")),
            source_url=text(ad.get("sourceUrl")),
            headline=text(ad.get("title")),
            body=text(ad.get("body")),
            media_type=_ad_media_type(ad.get("mediaType")),
            ctwa_clid=text(ad.get("ctwaClid")),
        )
        if referral != Referral():
            return referral
    return None


def _ad_media_type(value: Any) -> str | None:
    name = _AD_MEDIA_TYPES.get(value) if isinstance(value, int) and not isinstance(value, bool) else text(value)
    return name.lower() if name and name.upper() != "NONE" else None


# --- messages.update -------------------------------------------------------------------------


def _parse_update(item: Any, channel: Channel, contact_id: ContactIdFactory, now: int) -> StatusUpdate | str:
    """A delivery status of one of OUR messages, or the reason the item is ignored."""
    if not isinstance(item, dict):
        return JUNK
    key = obj(item.get("key"))  # older servers nest the key; current ones flatten it
    if not _is_true(item.get("fromMe", key.get("fromMe"))):
        return EVENT  # the customer's own messages being read/played on our side
    chat_kind = _chat_kind(item.get("remoteJid", key.get("remoteJid")))
    if chat_kind:
        return chat_kind
    raw_status = item.get("status")
    code = integer(raw_status)
    status_name = _STATUS_NAMES.get(code) if code is not None else (raw_status.upper() if isinstance(raw_status, str) else None)
    message_id = text(item.get("keyId")) or text(key.get("id"))
    if status_name is None or not message_id:
        return JUNK
    if status_name not in _DELIVERY_STATUS:
        return EVENT
    candidates = (
        item.get("remoteJidAlt"),
        item.get("senderPn"),
        item.get("remoteJid"),
        key.get("remoteJidAlt"),
        key.get("senderPn"),
        key.get("remoteJid"),
    )
    contact = _contact(candidates, None, contact_id)
    if contact is None:
        return NO_SENDER
    return StatusUpdate(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.EVOLUTION,
        provider_message_id=message_id,
        contact=contact,
        status=_DELIVERY_STATUS[status_name],
        timestamp=now,
    )


# --- connection.update -----------------------------------------------------------------------


def _connection(data: Any) -> ConnectionChange | None:
    state = text(obj(data).get("state"))
    if state is None:
        return None
    return ConnectionChange(state=state, status_reason=integer(obj(data).get("statusReason")))
