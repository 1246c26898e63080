"""Evolution API v2 — inbound side: webhook envelope and normalisation.

Evolution relays Baileys (WhatsApp Web) events as ``{event, instance, data, ...}``; ``instance``
names the channel. Authentication is ``relay_auth``'s job; this module only reads the body, and
of an upsert only the envelope: the Baileys content is read by ``channels.baileys`` (shared with
Whaticket), plus what Evolution adds next to it (``mediaUrl``, ``base64``, ``speechToText``).

Stdlib only: this module is on the webhook's cold-start path.
Reference: ../shared/docs/providers.md §2.3-2.5 (envelope, content types, addressing, events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from atende.channels.baileys import normalise_content, referral, reply_context
from atende.channels.payload import integer, obj, text
from atende.domain.messages import (
    INLINE_MEDIA_MAX_CHARS,
    MAX_TEXT_CHARS,
    ContactRef,
    DeliveryStatus,
    InboundMessage,
    MediaRef,
    MessageType,
    Provider,
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

# Evolution's OpenAI integration puts a voice note's transcript next to the content, as
# ``"[audio] " + transcript`` (a failed transcription reads "[audio] undefined").
_SPEECH_PREFIX = "[audio]"
_NO_TRANSCRIPT = frozenset({"", "undefined", "null"})

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
    content = normalise_content(message, hint=text(item.get("messageType")))
    if not message_id or timestamp is None or timestamp <= 0 or content is None:
        return JUNK
    if content.is_protocol:
        return EDIT
    media, extra = content.media, dict(content.extra)
    if content.is_media:
        media, extra = _evolution_media(media or MediaRef(), message_id, message, extra)
    if content.type is MessageType.AUDIO:
        transcript = _speech_to_text(message.get("speechToText")) or _speech_to_text(item.get("speechToText"))
        if transcript is not None:
            extra["speech_to_text"] = transcript  # the processor uses it instead of transcribing
    # Evolution moves the contextInfo of a text it rewrote to conversation up to data.contextInfo.
    data_info = item.get("contextInfo")
    return InboundMessage(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.EVOLUTION,
        provider_message_id=message_id,
        contact=contact,
        timestamp=timestamp,
        type=content.type,
        text=content.text,
        media=media,
        context=content.context or reply_context(data_info),
        referral=content.referral or referral(data_info),
        extra=extra,
    )


def _evolution_media(media: MediaRef, message_id: str, message: dict[str, Any], extra: dict[str, Any]) -> tuple[MediaRef, dict[str, Any]]:
    """Where Evolution's copy of the file is: its id, its S3 URL, or the bytes themselves."""
    # getBase64FromMediaMessage takes message.key.id; mediaUrl only when Evolution stores media in S3.
    media = replace(media, media_id=message_id, url=text(message.get("mediaUrl")))
    inline = text(message.get("base64"))
    if inline is not None:
        if len(inline) <= INLINE_MEDIA_MAX_CHARS:
            media = replace(media, inline_base64=inline)  # the processor skips getBase64FromMediaMessage
        else:
            # Too large for a queue message: the processor fetches it from Evolution instead.
            extra["inline_media"] = True
    return media, extra


def _speech_to_text(value: Any) -> str | None:
    transcript = text(value)
    if transcript is None:
        return None
    transcript = transcript.removeprefix(_SPEECH_PREFIX).strip()
    return None if transcript in _NO_TRANSCRIPT else transcript[:MAX_TEXT_CHARS]


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
