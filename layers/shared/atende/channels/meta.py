"""Meta WhatsApp Cloud API — inbound side: subscription check, signature, normalisation.

Stdlib only (hmac, json, the shared readers of ``channels.payload``): this module is on the webhook's cold-start path.
Reference: ../shared/docs/providers.md §1 (envelope, message types, statuses, BSUIDs).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atende.channels.payload import decode_json as decode_json  # re-exported: the webhook decodes through this module
from atende.channels.payload import integer, items, number, obj, objects, text
from atende.domain.messages import (
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
from atende.errors import MalformedPayload, SignatureInvalid, SignatureMissing

SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE_PREFIX = "sha256="


def verify_subscription(query: Mapping[str, str], verify_token: str) -> str | None:
    """The GET handshake: the challenge to echo, or None when the request must get 403."""
    if query.get("hub.mode") != "subscribe":
        return None
    offered = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if offered is None or challenge is None or not verify_token:
        return None
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        return None
    return challenge


def verify_meta_signature(raw_body: bytes, header_value: str | None, app_secret: str) -> None:
    """HMAC-SHA256(app secret, raw body) against ``X-Hub-Signature-256``, in constant time.

    Always over the bytes as received: Meta signs its ASCII JSON with non-ASCII characters
    escaped (``Ol\\u00e1``), so any re-serialised form would fail.
    """
    if not header_value:
        raise SignatureMissing("X-Hub-Signature-256 header is missing")
    if not app_secret:
        # An empty key would make the HMAC forgeable by anyone: refuse rather than "verify".
        raise SignatureInvalid("no app secret configured")
    if not header_value.startswith(_SIGNATURE_PREFIX):
        raise SignatureInvalid("X-Hub-Signature-256 has no sha256= prefix")
    offered = header_value[len(_SIGNATURE_PREFIX) :].strip().lower()
    if not offered.isascii():  # compare_digest refuses non-ASCII str; no genuine signature has any
        raise SignatureInvalid("X-Hub-Signature-256 is not hex")
    expected = hmac.digest(app_secret.encode(), raw_body, "sha256").hex()  # one-shot C implementation
    if not hmac.compare_digest(expected, offered):
        raise SignatureInvalid("X-Hub-Signature-256 does not match the body")


def sign_meta_body(raw_body: bytes, app_secret: str) -> str:
    """The header value Meta would send (used by the local sandbox, events and tests)."""
    return _SIGNATURE_PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class WebhookErrorReport:
    """A ``value.errors[]`` entry: out-of-band errors Meta reports without a message."""

    channel_id: str | None
    code: int | None


@dataclass(slots=True)
class MetaDelivery:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookErrorReport] = field(default_factory=list)
    unknown_channels: int = 0  # changes for a phone_number_id no tenant owns
    ignored: int = 0  # items we could not use (no sender id, non-message fields...)


ChannelResolver = Callable[[str], Channel | None]
ContactIdFactory = Callable[[str], str]  # sender id (wa_id or BSUID) -> pseudonymous contact id


def parse_meta_webhook(doc: dict[str, Any], resolve_channel: ChannelResolver, contact_id: ContactIdFactory) -> MetaDelivery:
    """Normalise every ``entry × changes × messages/statuses/errors`` of one delivery.

    Each change is attributed to the channel of its ``metadata.phone_number_id`` (one app
    webhook serves many numbers); ``resolve_channel`` may answer an unrouted channel (tenant
    unknown yet) or None to drop the change as not ours. The
    envelope must have the documented shape (else MalformedPayload → 400); individual items
    that make no sense are counted as ignored rather than failing the whole delivery, because a
    4xx would make Meta drop (or retry) the good items along with the bad one.
    """
    if doc.get("object") != "whatsapp_business_account":
        raise MalformedPayload("object is not whatsapp_business_account")
    entries = doc.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayload("entry is not a list")
    out = MetaDelivery()
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedPayload("entry.changes is not a list")
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise MalformedPayload("change.value is not an object")
            if change.get("field") != "messages":
                out.ignored += 1  # account_update, template status...: other subscriptions
                continue
            _parse_value(change["value"], resolve_channel, contact_id, out)
    return out


def _parse_value(value: dict[str, Any], resolve_channel: ChannelResolver, contact_id: ContactIdFactory, out: MetaDelivery) -> None:
    phone_number_id = text(obj(value.get("metadata")).get("phone_number_id"))
    channel = resolve_channel(phone_number_id) if phone_number_id else None
    for err in objects(value.get("errors")):
        out.errors.append(WebhookErrorReport(channel.channel_id if channel else None, integer(err.get("code"))))
    if channel is None:
        if objects(value.get("messages")) or objects(value.get("statuses")):
            out.unknown_channels += 1
        return
    senders = _Senders(objects(value.get("contacts")))
    for raw in items(value.get("messages")):
        message = _parse_message(raw, channel, senders, contact_id)
        if message is None:
            out.ignored += 1
        else:
            out.messages.append(message)
    for raw in items(value.get("statuses")):
        status = _parse_status(raw, channel, contact_id)
        if status is None:
            out.ignored += 1
        else:
            out.statuses.append(status)


class _Senders:
    """The ``value.contacts[]`` of one change: who wrote, looked up by wa_id or BSUID."""

    __slots__ = ("_by_id", "_contacts")

    def __init__(self, contacts: list[dict[str, Any]]) -> None:
        self._contacts = contacts
        self._by_id: dict[str, dict[str, Any]] = {}
        for contact in contacts:
            for key in ("wa_id", "user_id"):
                if text(contact.get(key)):
                    self._by_id[contact[key]] = contact

    def profile(self, wa_id: str | None, user_id: str | None) -> dict[str, Any]:
        """The contact entry of this sender; for a message naming no sender, the change's only one.

        Some relayed payloads leave ``from``/``from_user_id`` off the message and name the sender
        only in ``contacts[]``. With a single sender there the message is theirs; with several it
        could be anyone's, and a reply to the wrong customer is worse than none: no profile.
        """
        if wa_id or user_id:
            return self._by_id.get(wa_id or "") or self._by_id.get(user_id or "") or {}
        distinct = {(text(c.get("wa_id")), text(c.get("user_id"))): c for c in self._contacts}
        distinct.pop((None, None), None)
        return next(iter(distinct.values())) if len(distinct) == 1 else {}


def _sender_contact(wa_id: str | None, user_id: str | None, name: str | None, contact_id: ContactIdFactory) -> ContactRef | None:
    # Key on the address we reply to: wa_id when Meta gives it (exactly as received), else the
    # BSUID. Status callbacks carry that same address (recipient_id / recipient_user_id), so a
    # reply and its statuses always land in the same contact partition. A customer who adopts
    # a username and stops exposing wa_id starts a new partition: a known, documented limit.
    key = wa_id or user_id
    if not key:
        return None
    return ContactRef(contact_id=contact_id(key), wa_id=wa_id, user_id=user_id, name=name)


def _parse_message(raw: Any, channel: Channel, senders: _Senders, contact_id: ContactIdFactory) -> InboundMessage | None:
    if not isinstance(raw, dict):
        return None
    message_id = text(raw.get("id"))
    wa_id = text(raw.get("from"))
    user_id = text(raw.get("from_user_id"))
    profile = senders.profile(wa_id, user_id)
    user_id = user_id or text(profile.get("user_id"))
    wa_id = wa_id or text(profile.get("wa_id"))
    name = text((profile.get("profile") or {}).get("name")) if isinstance(profile.get("profile"), dict) else None
    contact = _sender_contact(wa_id, user_id, name, contact_id)
    timestamp = integer(raw.get("timestamp"))
    if not message_id or contact is None or timestamp is None:
        return None
    type_name = text(raw.get("type")) or "unknown"
    if type_name == "request_welcome":  # the customer opened the chat: nothing was asked yet
        return None
    mtype = MessageType(type_name)
    body = raw.get(type_name)
    media: MediaRef | None = None
    extra: dict[str, Any]
    if mtype is MessageType.TEXT:  # the common case: no dispatch, no extra
        content = text(body.get("body")) if isinstance(body, dict) else None
        extra = {}
    else:
        content, media, extra = _CONTENT.get(mtype, _no_content)(body)
    if raw.get("errors"):
        errors = objects(raw.get("errors"))
        extra["error_code"] = integer(errors[0].get("code")) if errors else None
    context: ReplyContext | None = None
    raw_context = raw.get("context")
    if raw_context is not None:
        context, referred_product = _context(raw_context)
        if referred_product:
            # Beyond InboundMessage's documented keys: the catalogue product a "Message business"
            # tap was about ({"catalog_id"?, "product_retailer_id"}), so the question has its subject.
            extra["referred_product"] = referred_product
    referral = raw.get("referral")
    return InboundMessage(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.META,
        provider_message_id=message_id,
        contact=contact,
        timestamp=timestamp,
        type=mtype,
        text=content,
        media=media,
        context=context,
        referral=_referral(referral) if referral is not None else None,
        extra={k: v for k, v in extra.items() if v is not None} if extra else extra,
    )


# --- content per message type (providers.md §1.5); the keys follow InboundMessage.extra -----

Content = tuple[str | None, MediaRef | None, dict[str, Any]]


def _no_content(value: Any) -> Content:
    return None, None, {}


def _text(value: Any) -> Content:
    return text(obj(value).get("body")), None, {}


def _media(value: Any) -> Content:
    body = obj(value)
    media = MediaRef(
        media_id=text(body.get("id")),
        mime_type=text(body.get("mime_type")),
        sha256=text(body.get("sha256")),
        caption=text(body.get("caption")),
        filename=text(body.get("filename")),
        voice=body.get("voice") is True,
        animated=body.get("animated") is True,
        url=text(body.get("url")),
    )
    return media.caption, media, {}


def _interactive(value: Any) -> Content:
    body = obj(value)
    kind = text(body.get("type"))
    reply = obj(body.get(kind)) if kind else {}
    if kind == "nfm_reply":
        # A WhatsApp Flow answered: Meta's fixed body ("Sent") or the reply's name is the text; the
        # flow_token we gave the flow (its only identifier, the response has no flow id) is the reply id.
        label = text(reply.get("body")) or text(reply.get("name"))
        return label, None, {"interactive_type": kind, "reply_id": _flow_token(reply.get("response_json"))}
    extra = {"interactive_type": kind, "reply_id": text(reply.get("id")), "description": text(reply.get("description"))}
    # Without a title (some clients and relays drop it) the reply id is still the customer's
    # choice; a call_permission_reply carries only its answer ("accept" / "reject").
    label = text(reply.get("title")) or text(reply.get("id")) or text(reply.get("response"))
    return label, None, extra


def _flow_token(response_json: Any) -> str | None:
    if isinstance(response_json, str):
        try:
            response_json = json.loads(response_json)
        except (ValueError, RecursionError):
            return None
    return text(obj(response_json).get("flow_token"))


def _button(value: Any) -> Content:
    body = obj(value)
    payload = text(body.get("payload"))
    return text(body.get("text")) or payload, None, {"payload": payload}


def _reaction(value: Any) -> Content:
    body = obj(value)
    # A removal comes with an empty emoji or none at all: both become "", told apart from absence.
    return None, None, {"target_message_id": text(body.get("message_id")), "emoji": text(body.get("emoji")) or ""}


def _location(value: Any) -> Content:
    body = obj(value)
    extra = {
        "latitude": number(body.get("latitude")),
        "longitude": number(body.get("longitude")),
        "name": text(body.get("name")),
        "address": text(body.get("address")),
        "url": text(body.get("url")),
    }
    return None, None, extra


def _contacts(value: Any) -> Content:
    cards = []
    for card in objects(value):
        name = _card_name(obj(card.get("name")))
        phones = [phone for phone in (text(p.get("phone")) or text(p.get("wa_id")) for p in objects(card.get("phones"))) if phone]
        if name or phones:
            cards.append({"name": name or "", "phones": phones})
    return None, None, {"contacts": cards or None}


def _card_name(name: dict[str, Any]) -> str | None:
    formatted = text(name.get("formatted_name"))
    if formatted:
        return formatted
    parts = [part for part in (text(name.get("first_name")), text(name.get("last_name"))) if part]
    return " ".join(parts) or None


def _order(value: Any) -> Content:
    body = obj(value)
    items = []
    for item in objects(body.get("product_items")):
        product = text(item.get("product_retailer_id"))
        if product is None:
            continue
        fields = {
            "product_retailer_id": product,
            "quantity": integer(item.get("quantity")),
            "item_price": _amount(item.get("item_price")),
            "currency": text(item.get("currency")),
        }
        items.append({k: v for k, v in fields.items() if v is not None})
    order: dict[str, Any] = {"items": items}
    catalog_id = text(body.get("catalog_id"))
    if catalog_id:
        order["catalog_id"] = catalog_id
    return text(body.get("text")), None, {"order": order}


def _amount(value: Any) -> int | float | None:
    """A price as sent: 45 stays 45 (not 45.0), 24.9 stays 24.9."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return number(value)


def _system(value: Any) -> Content:
    body = obj(value)
    # Webhooks up to v11 named the new number new_wa_id; later versions call it wa_id.
    new_wa_id = text(body.get("wa_id")) or text(body.get("new_wa_id"))
    return text(body.get("body")), None, {"system_type": text(body.get("type")), "new_wa_id": new_wa_id}


# Meta names the earlier message ``original_message_id``; the other names are what relays and
# older SDK fixtures were seen to use, read only when that one is missing.
_ORIGINAL_ID_KEYS = ("original_message_id", "original_id", "message_id")
_EDITABLE_KINDS = ("text", "image", "video", "document")  # what WhatsApp lets a customer edit


def _original_message_id(body: dict[str, Any]) -> str | None:
    for key in _ORIGINAL_ID_KEYS:
        found = text(body.get(key))
        if found:
            return found
    return None


def _edit(value: Any) -> Content:
    """An edit: ``edit{original_message_id, message{type, text{body}} | {type, image{caption}...}}``.

    The new content is read like a text message (a caption counts as the text); no media is
    kept, the file itself did not change.
    """
    body = obj(value)
    new = body.get("message")
    return _edited_text(new if isinstance(new, dict) else body), None, {"edited_message_id": _original_message_id(body)}


def _edited_text(message: dict[str, Any]) -> str | None:
    kind = text(message.get("type")) or next((k for k in _EDITABLE_KINDS if k in message), None)
    content = message.get(kind) if kind else None
    if isinstance(content, str):  # {"text": "..."} rather than {"text": {"body": "..."}}
        return text(content)
    content = obj(content)
    return text(content.get("body")) or text(content.get("caption"))


def _revoke(value: Any) -> Content:
    return None, None, {"revoked_message_id": _original_message_id(obj(value))}


def _unsupported(value: Any) -> Content:
    return None, None, {"unsupported_type": text(obj(value).get("type"))}


_CONTENT: dict[MessageType, Callable[[Any], Content]] = {
    MessageType.TEXT: _text,
    MessageType.IMAGE: _media,
    MessageType.AUDIO: _media,
    MessageType.VIDEO: _media,
    MessageType.DOCUMENT: _media,
    MessageType.STICKER: _media,
    MessageType.INTERACTIVE: _interactive,
    MessageType.BUTTON: _button,
    MessageType.REACTION: _reaction,
    MessageType.LOCATION: _location,
    MessageType.CONTACTS: _contacts,
    MessageType.ORDER: _order,
    MessageType.SYSTEM: _system,
    MessageType.EDIT: _edit,
    MessageType.REVOKE: _revoke,
    MessageType.UNSUPPORTED: _unsupported,
}


def _context(raw: Any) -> tuple[ReplyContext | None, dict[str, str] | None]:
    """The quoted/forwarded context, and the catalogue product a "message business" tap refers to."""
    if not isinstance(raw, dict):
        return None, None
    context = ReplyContext(
        message_id=text(raw.get("id")),
        from_id=text(raw.get("from")),
        forwarded=raw.get("forwarded") is True,
        frequently_forwarded=raw.get("frequently_forwarded") is True,
    )
    product = obj(raw.get("referred_product"))
    retailer_id = text(product.get("product_retailer_id"))
    if retailer_id is None:
        return context, None
    referred = {"product_retailer_id": retailer_id}
    catalog_id = text(product.get("catalog_id"))
    if catalog_id:
        referred["catalog_id"] = catalog_id
    return context, referred


def _referral(raw: Any) -> Referral | None:
    if not isinstance(raw, dict):
        return None
    return Referral(
        source_type=text(raw.get("source_type")),
        source_id=text(raw.get("source_id")),
        source_url=text(raw.get("source_url")),
        headline=text(raw.get("headline")),
        body=text(raw.get("body")),
        media_type=text(raw.get("media_type")),
        ctwa_clid=text(raw.get("ctwa_clid")),
    )


def _parse_status(raw: Any, channel: Channel, contact_id: ContactIdFactory) -> StatusUpdate | None:
    if not isinstance(raw, dict):
        return None
    message_id = text(raw.get("id"))
    contact = _sender_contact(text(raw.get("recipient_id")), text(raw.get("recipient_user_id")), None, contact_id)
    timestamp = integer(raw.get("timestamp"))
    if not message_id or contact is None or timestamp is None:
        return None
    errors = objects(raw.get("errors"))
    first_error = errors[0] if errors else {}
    return StatusUpdate(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.META,
        provider_message_id=message_id,
        contact=contact,
        status=DeliveryStatus(text(raw.get("status")) or "unknown"),
        timestamp=timestamp,
        error_code=integer(first_error.get("code")),
        error_title=text(first_error.get("title")),
        # Echo of what we attached to the send: lets a retry reconcile a send whose answer was lost.
        callback_data=(text(raw.get("biz_opaque_callback_data")) or "")[:512] or None,
    )
