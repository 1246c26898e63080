"""The provider-agnostic message model every channel normalises into.

Instances travel through SQS as compact JSON (``to_json``/``from_json``), so the processor never
parses provider payloads. Unknown enum values map to ``UNKNOWN`` instead of crashing: providers
add types faster than we ship.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

ENVELOPE_VERSION = 1


class Provider(StrEnum):
    META = "meta"
    EVOLUTION = "evolution"
    WHATICKET = "whaticket"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    REACTION = "reaction"
    ORDER = "order"
    SYSTEM = "system"
    # Meta: the customer edited an earlier message (``extra["edited_message_id"]``; ``text`` = the
    # new text) or deleted it for everyone (``extra["revoked_message_id"]``). Neither is answered.
    EDIT = "edit"
    REVOKE = "revoke"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> MessageType:
        return cls.UNKNOWN


class EnvelopeKind(StrEnum):
    """What a queue message carries. Every message to or from one customer shares that customer's
    FIFO group, so bot replies, attendants' messages and scheduled ones never interleave."""

    MESSAGE = "message"  # a customer's inbound message
    STATUS = "status"  # a delivery status of one of our sends


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> DeliveryStatus:
        return cls.UNKNOWN

    @property
    def rank(self) -> int:
        """Statuses arrive out of order; a lower rank never overwrites a higher one."""
        return _STATUS_RANK[self]


_STATUS_RANK = {
    DeliveryStatus.UNKNOWN: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.PLAYED: 4,
    DeliveryStatus.FAILED: 5,
}

# Types that never deserve an answer: an emoji reaction or a sticker is not a question.
SILENT_TYPES = frozenset({MessageType.REACTION, MessageType.STICKER, MessageType.SYSTEM, MessageType.REVOKE})


@dataclass(frozen=True, slots=True)
class ContactRef:
    """Who wrote. ``contact_id`` is pseudonymous and is the only id allowed in keys and logs."""

    contact_id: str
    wa_id: str | None = None  # phone-based WhatsApp id (digits) as received: never "repaired" (9th digit)
    user_id: str | None = None  # Meta business-scoped user id (BSUID, 2026)
    name: str | None = None
    # The provider's chat address when it is not the bare wa_id: a Baileys JID
    # ("5511…@s.whatsapp.net", or "…@lid" when WhatsApp hides the phone). Replies go exactly here.
    jid: str | None = None

    @property
    def reply_address(self) -> str:
        address = self.jid or self.wa_id or self.user_id
        if not address:
            raise ValueError("contact has no address to reply to")
        return address


@dataclass(frozen=True, slots=True)
class MediaRef:
    media_id: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False
    url: str | None = None
    # The file itself, base64, when the provider's webhook carried it and it is small enough to
    # travel in the queue message (Evolution with webhook base64 on; ``INLINE_MEDIA_MAX_CHARS``).
    inline_base64: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ReplyContext:
    message_id: str | None = None
    from_id: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False


@dataclass(frozen=True, slots=True)
class Referral:
    source_type: str | None = None
    source_id: str | None = None
    source_url: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    ctwa_clid: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    tenant_id: str | None  # None until the processor routes the channel to its tenant
    channel_id: str
    provider: Provider
    provider_message_id: str
    contact: ContactRef
    timestamp: int  # unix seconds, from the provider
    type: MessageType
    text: str | None = None
    media: MediaRef | None = None
    context: ReplyContext | None = None
    referral: Referral | None = None
    # Structured content, JSON-safe values only; the same keys whatever the provider
    # (``domain.content`` turns them into what the assistant reads):
    #   LOCATION     latitude, longitude (float), name?, address?, url?, live? (True)
    #   CONTACTS     contacts: [{"name": str, "phones": [str, ...]}]
    #   INTERACTIVE  interactive_type ("button_reply" | "list_reply" | "nfm_reply"), reply_id,
    #                description? (list rows); ``text`` = the title the customer tapped
    #   BUTTON       payload (template quick-reply); ``text`` = the button label
    #   REACTION     target_message_id, emoji ("" = reaction removed)
    #   ORDER        order: {"catalog_id"?, "items": [{"product_retailer_id", "quantity",
    #                "item_price"?, "currency"?}]}; ``text`` = the customer's note
    #   SYSTEM       system_type ("user_changed_number" ...), new_wa_id?; ``text`` = Meta's body
    #   UNSUPPORTED  unsupported_type (the provider's own name for it)
    #   EDIT         edited_message_id; ``text`` = the new text
    #   REVOKE       revoked_message_id
    #   AUDIO        speech_to_text? (Evolution's own transcript: used instead of transcribing)
    #   any          error_code (Meta attaches one to unsupported/failed items);
    #                referred_product {"catalog_id"?, "product_retailer_id"} (Meta: asked about
    #                a catalogue product); media_unavailable (True): the provider relays no
    #                downloadable media (Whaticket); inline_media (True): the webhook carried
    #                the file but it was too large to queue (it is fetched from the provider)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def group_id(self) -> str:
        """SQS FIFO MessageGroupId: per-conversation order (a channel belongs to one tenant)."""
        return f"{self.channel_id}#{self.contact.contact_id}"

    def routed_to(self, tenant_id: str) -> RoutedMessage:
        return RoutedMessage(**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "tenant_id"}, tenant_id=tenant_id)

    def bounded(self) -> InboundMessage:
        """This message cut down to what fits a queue message and an LLM turn.

        WhatsApp allows 65,536-character texts and providers send unbounded shared-contact lists;
        an SQS message holds 256 KiB. Oversized content is truncated (``extra["truncated"]``), so
        the delivery is queued instead of failing the enqueue and being redelivered forever.
        Cheap when nothing is oversized (the common case returns ``self``).
        """
        text_long = self.text is not None and len(self.text) > MAX_TEXT_CHARS
        caption = self.media.caption if self.media else None
        caption_long = caption is not None and len(caption) > MAX_TEXT_CHARS
        contacts = self.extra.get("contacts")
        items = (self.extra.get("order") or {}).get("items") if isinstance(self.extra.get("order"), dict) else None
        extra_long = (isinstance(contacts, list) and len(contacts) > MAX_LIST_ITEMS) or (
            isinstance(items, list) and len(items) > MAX_LIST_ITEMS
        )
        if not (text_long or caption_long or extra_long or _oversized(self.extra)):
            return self
        extra = _clip(self.extra)
        extra["truncated"] = True
        media = replace(self.media, caption=caption[:MAX_TEXT_CHARS]) if self.media and caption_long and caption else self.media
        text = self.text[:MAX_TEXT_CHARS] if self.text is not None else None
        return replace(self, text=text, media=media, extra=extra)

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "channel_id": self.channel_id,
            "provider": self.provider.value,
            "provider_message_id": self.provider_message_id,
            "contact": _fields(self.contact),
            "timestamp": self.timestamp,
            "type": self.type.value,
        }
        # Hand-built rather than dataclasses.asdict (a deep copy): this runs once per message on
        # the webhook's hot path.
        optional = {"text": self.text, "media": self.media, "context": self.context, "referral": self.referral}
        for key, value in optional.items():
            if value is not None and value != "":
                body[key] = value if isinstance(value, str) else _fields(value)
        if self.extra:
            body["extra"] = self.extra
        if self.tenant_id is not None:
            body["tenant_id"] = self.tenant_id
        return json.dumps({"v": ENVELOPE_VERSION, "kind": EnvelopeKind.MESSAGE.value, "message": body}, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class RoutedMessage(InboundMessage):
    """An inbound message whose channel the processor routed to its tenant: the tenant is known."""

    tenant_id: str


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    tenant_id: str | None  # None until the processor routes the channel to its tenant
    channel_id: str
    provider: Provider
    provider_message_id: str  # the id of OUR outbound message
    contact: ContactRef
    status: DeliveryStatus
    timestamp: int
    error_code: int | None = None
    error_title: str | None = None
    # What we attached to the send (Meta's biz_opaque_callback_data): "<inbound id>|<part>".
    callback_data: str | None = None

    @property
    def group_id(self) -> str:
        # Same group as the customer's messages: a status is processed after the reply it
        # refers to has been committed. A status that names its send (callback data) has a group
        # of its own: it may have to confirm a send whose message is still being retried, and
        # behind that message in its group it could not.
        base = f"{self.channel_id}#{self.contact.contact_id}"
        return f"{base}#s" if self.callback_data else base

    def names_send(self) -> tuple[str, int] | None:
        """(inbound provider message id, part) from our callback data, if it is ours."""
        if not self.callback_data or "|" not in self.callback_data:
            return None
        inbound_id, _, part = self.callback_data.rpartition("|")
        return (inbound_id, int(part)) if inbound_id and part.isdigit() else None

    def routed_to(self, tenant_id: str) -> StatusUpdate:
        return replace(self, tenant_id=tenant_id)

    @property
    def dedup_id(self) -> str:
        # One status per (message, status): redeliveries collapse, progressions do not.
        return f"{self.provider_message_id}:{self.status.value}"

    def to_json(self) -> str:
        body = _fields(self)
        body["contact"] = _fields(self.contact)
        return json.dumps({"v": ENVELOPE_VERSION, "kind": EnvelopeKind.STATUS.value, "status": body}, separators=(",", ":"))


INLINE_MEDIA_MAX_CHARS = 128 * 1024  # ~96 KB of media: a half-minute voice note; larger files are fetched
MAX_TEXT_CHARS = 4_096  # text/caption kept per message: Meta's own text limit, and plenty for the assistant
MAX_LIST_ITEMS = 20  # shared contacts, order items, phones per contact
MAX_EXTRA_STRING = 500  # any other string inside ``extra``
_MAX_EXTRA_JSON = 32 * 1024


def _oversized(extra: dict[str, Any]) -> bool:
    if not extra:
        return False
    try:
        return len(json.dumps(extra, separators=(",", ":"))) > _MAX_EXTRA_JSON
    except (TypeError, ValueError):
        return True


def _clip(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy with every list and string bounded (and nesting cut at 6 levels)."""
    if isinstance(value, str):
        return value[:MAX_EXTRA_STRING]
    if depth >= 6:
        return None
    if isinstance(value, dict):
        return {str(k)[:MAX_EXTRA_STRING]: _clip(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list):
        return [_clip(v, depth + 1) for v in value[:MAX_LIST_ITEMS]]
    return value


def _fields(obj: Any) -> dict[str, Any]:
    """A flat dataclass's non-absent fields (absent = None, False, empty string).

    Zero is a value (latitude 0.0, code 0), not absence. Enum members serialise as their value.
    """
    return {name: getattr(obj, name) for name in obj.__slots__ if not _absent(getattr(obj, name))}


def _absent(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, (str, dict, list)) and not value)


class EnvelopeError(ValueError):
    """A queue body that is not a valid envelope: a poison message, never retried usefully."""


def parse_envelope(body: str) -> InboundMessage | StatusUpdate:
    return read_envelope(body)[1]  # type: ignore[return-value]


def read_envelope(body: str) -> tuple[EnvelopeKind, object]:
    """(kind, payload) of a queue body; EnvelopeError for anything no retry could parse."""
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict) or doc.get("v") != ENVELOPE_VERSION:
            raise EnvelopeError(f"unsupported envelope version {doc.get('v') if isinstance(doc, dict) else None!r}")
        kind = EnvelopeKind(doc["kind"])
        return kind, _READERS[kind](doc[kind.value])
    except EnvelopeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvelopeError(f"invalid envelope: {type(exc).__name__}") from exc


def _message_from_dict(d: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        tenant_id=d.get("tenant_id"),
        channel_id=d["channel_id"],
        provider=Provider(d["provider"]),
        provider_message_id=d["provider_message_id"],
        contact=ContactRef(**d["contact"]),
        timestamp=int(d["timestamp"]),
        type=MessageType(d["type"]),
        text=d.get("text"),
        media=MediaRef(**d["media"]) if d.get("media") else None,
        context=ReplyContext(**d["context"]) if d.get("context") else None,
        referral=Referral(**d["referral"]) if d.get("referral") else None,
        extra=d.get("extra") or {},
    )


def _status_from_dict(d: dict[str, Any]) -> StatusUpdate:
    return StatusUpdate(
        tenant_id=d.get("tenant_id"),
        channel_id=d["channel_id"],
        provider=Provider(d["provider"]),
        provider_message_id=d["provider_message_id"],
        contact=ContactRef(**d["contact"]),
        status=DeliveryStatus(d["status"]),
        timestamp=int(d["timestamp"]),
        error_code=d.get("error_code"),
        error_title=d.get("error_title"),
        callback_data=d.get("callback_data"),
    )


_READERS: dict[EnvelopeKind, Any] = {EnvelopeKind.MESSAGE: _message_from_dict, EnvelopeKind.STATUS: _status_from_dict}
