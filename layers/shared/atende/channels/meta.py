"""Meta WhatsApp Cloud API — inbound side: subscription check, signature, normalisation.

Stdlib only (hmac, json): this module is on the webhook's cold-start path.
Reference: ../shared/docs/providers.md §1 (envelope, message types, statuses, BSUIDs).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


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


def decode_json(raw_body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MalformedPayload("body is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedPayload("body is not a JSON object")
    return doc


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
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_number_id = _str(metadata.get("phone_number_id"))
    channel = resolve_channel(phone_number_id) if phone_number_id else None
    for err in _list(value.get("errors")):
        out.errors.append(WebhookErrorReport(channel.channel_id if channel else None, _int(err.get("code"))))
    if channel is None:
        if _list(value.get("messages")) or _list(value.get("statuses")):
            out.unknown_channels += 1
        return
    profiles = _contacts_by_sender(_list(value.get("contacts")))
    for raw in _raw_list(value.get("messages")):
        message = _parse_message(raw, channel, profiles, contact_id)
        if message is None:
            out.ignored += 1
        else:
            out.messages.append(message)
    for raw in _raw_list(value.get("statuses")):
        status = _parse_status(raw, channel, contact_id)
        if status is None:
            out.ignored += 1
        else:
            out.statuses.append(status)


def _contacts_by_sender(contacts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for contact in contacts:
        for key in ("wa_id", "user_id"):
            if _str(contact.get(key)):
                by_id[contact[key]] = contact
    return by_id


def _sender_contact(wa_id: str | None, user_id: str | None, name: str | None, contact_id: ContactIdFactory) -> ContactRef | None:
    # Key on the address we reply to: wa_id when Meta gives it (exactly as received), else the
    # BSUID. Status callbacks carry that same address (recipient_id / recipient_user_id), so a
    # reply and its statuses always land in the same contact partition. A customer who adopts
    # a username and stops exposing wa_id starts a new partition: a known, documented limit.
    key = wa_id or user_id
    if not key:
        return None
    return ContactRef(contact_id=contact_id(key), wa_id=wa_id, user_id=user_id, name=name)


def _parse_message(raw: Any, channel: Channel, profiles: dict[str, dict[str, Any]], contact_id: ContactIdFactory) -> InboundMessage | None:
    if not isinstance(raw, dict):
        return None
    message_id = _str(raw.get("id"))
    wa_id = _str(raw.get("from"))
    user_id = _str(raw.get("from_user_id"))
    profile = profiles.get(wa_id or "") or profiles.get(user_id or "") or {}
    user_id = user_id or _str(profile.get("user_id"))
    wa_id = wa_id or _str(profile.get("wa_id"))
    name = _str((profile.get("profile") or {}).get("name")) if isinstance(profile.get("profile"), dict) else None
    contact = _sender_contact(wa_id, user_id, name, contact_id)
    timestamp = _int(raw.get("timestamp"))
    if not message_id or contact is None or timestamp is None:
        return None
    type_name = _str(raw.get("type")) or "unknown"
    mtype = MessageType(type_name)
    body = raw.get(type_name) if isinstance(raw.get(type_name), dict) else {}
    text, media, extra = _content(mtype, body, raw)
    if raw.get("errors"):
        extra["error_code"] = _int(_list(raw.get("errors"))[0].get("code")) if _list(raw.get("errors")) else None
    return InboundMessage(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.META,
        provider_message_id=message_id,
        contact=contact,
        timestamp=timestamp,
        type=mtype,
        text=text,
        media=media,
        context=_context(raw.get("context")),
        referral=_referral(raw.get("referral")),
        extra={k: v for k, v in extra.items() if v is not None},
    )


def _content(mtype: MessageType, body: dict[str, Any], raw: dict[str, Any]) -> tuple[str | None, MediaRef | None, dict[str, Any]]:
    extra: dict[str, Any] = {}
    if mtype is MessageType.TEXT:
        return _str(body.get("body")), None, extra
    if mtype.value in _MEDIA_TYPES:
        media = MediaRef(
            media_id=_str(body.get("id")),
            mime_type=_str(body.get("mime_type")),
            sha256=_str(body.get("sha256")),
            caption=_str(body.get("caption")),
            filename=_str(body.get("filename")),
            voice=body.get("voice") is True,
            animated=body.get("animated") is True,
            url=_str(body.get("url")),
        )
        return media.caption, media, extra
    if mtype is MessageType.INTERACTIVE:
        kind = _str(body.get("type"))
        reply = body.get(kind) if kind and isinstance(body.get(kind), dict) else {}
        extra.update(interactive_type=kind, reply_id=_str(reply.get("id")))
        return _str(reply.get("title")), None, extra
    if mtype is MessageType.BUTTON:
        extra["payload"] = _str(body.get("payload"))
        return _str(body.get("text")), None, extra
    if mtype is MessageType.REACTION:
        extra.update(target_message_id=_str(body.get("message_id")), emoji=_str(body.get("emoji")) or "")
        return None, None, extra
    if mtype is MessageType.LOCATION:
        extra.update({k: body.get(k) for k in ("latitude", "longitude", "name", "address") if body.get(k) is not None})
        return None, None, extra
    if mtype is MessageType.SYSTEM:
        extra["system_type"] = _str(body.get("type"))
        return None, None, extra
    if mtype is MessageType.UNSUPPORTED:
        extra["unsupported_type"] = _str(body.get("type"))
    return None, None, extra


def _context(raw: Any) -> ReplyContext | None:
    if not isinstance(raw, dict):
        return None
    return ReplyContext(
        message_id=_str(raw.get("id")),
        from_id=_str(raw.get("from")),
        forwarded=raw.get("forwarded") is True,
        frequently_forwarded=raw.get("frequently_forwarded") is True,
    )


def _referral(raw: Any) -> Referral | None:
    if not isinstance(raw, dict):
        return None
    return Referral(
        source_type=_str(raw.get("source_type")),
        source_id=_str(raw.get("source_id")),
        source_url=_str(raw.get("source_url")),
        headline=_str(raw.get("headline")),
        body=_str(raw.get("body")),
        media_type=_str(raw.get("media_type")),
        ctwa_clid=_str(raw.get("ctwa_clid")),
    )


def _parse_status(raw: Any, channel: Channel, contact_id: ContactIdFactory) -> StatusUpdate | None:
    if not isinstance(raw, dict):
        return None
    message_id = _str(raw.get("id"))
    contact = _sender_contact(_str(raw.get("recipient_id")), _str(raw.get("recipient_user_id")), None, contact_id)
    timestamp = _int(raw.get("timestamp"))
    if not message_id or contact is None or timestamp is None:
        return None
    errors = _list(raw.get("errors"))
    first_error = errors[0] if errors else {}
    return StatusUpdate(
        tenant_id=channel.tenant_id,
        channel_id=channel.channel_id,
        provider=Provider.META,
        provider_message_id=message_id,
        contact=contact,
        status=DeliveryStatus(_str(raw.get("status")) or "unknown"),
        timestamp=timestamp,
        error_code=_int(first_error.get("code")),
        error_title=_str(first_error.get("title")),
    )


def _str(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if value.isascii():
        return value
    # JSON allows escaped lone surrogates ("\\ud800"); they are not text and would make every
    # later encode (queue body, LLM request, reply) fail. Replace them once, here.
    return value.encode("utf-8", "replace").decode("utf-8")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():  # "²".isdigit() is True
        return int(value)
    return None


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _raw_list(value: Any) -> list[Any]:
    """Items as sent, junk included, so junk is counted as ignored rather than silently dropped."""
    return value if isinstance(value, list) else []
