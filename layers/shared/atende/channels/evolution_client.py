"""Evolution API v2 — outbound side (send, read receipts, typing, media download). Processor only: imports httpx.

One injected ``httpx.Client``; one ``_post`` that turns every failure into a typed error of
``atende.errors`` chosen by HTTP status (Evolution has no error codes of its own; ``code`` is the
HTTP status). The one look inside an error body is for the structured ``{"exists": false}`` entry
Evolution puts in a 400 when the number is not on WhatsApp — never at message text. Exception
messages never carry the body, the number or the API key. Reference: providers.md §2.6, §2.7.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx

from atende.channels.outbound import OutboundInvalid, SentMessage, retry_after_seconds, unconfirmed_send, valid_unicode
from atende.channels.payload import integer, obj, text
from atende.errors import MediaUnavailable, ProviderAuthError, ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable

if TYPE_CHECKING:
    from atende.domain.messages import InboundMessage

MediaType = Literal["image", "video", "document", "audio"]
Presence = Literal["composing", "recording", "paused", "available", "unavailable"]

_MEDIA_TYPES = frozenset({"image", "video", "document", "audio"})
_PRESENCES = frozenset({"composing", "recording", "paused", "available", "unavailable"})
# sendPresence holds the HTTP request open for `delay` ms (the server sleeps, then sends
# "paused"), so a long delay is a Lambda paying to wait: 3 s is enough to look alive.
MAX_PRESENCE_MS = 3000
# Read timeout on top of the presence delay: Evolution also looks the number up on WhatsApp
# (onWhatsApp) before it starts sleeping.
_PRESENCE_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    data: bytes = field(repr=False)
    mime_type: str | None = None
    file_name: str | None = None


class EvolutionClient:
    """One Evolution instance. ``presence_ms`` > 0 adds a "typing…" indicator to ``acknowledge``."""

    def __init__(self, http: httpx.Client, *, base_url: str, instance: str, api_key: str, presence_ms: int = 0) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._instance = quote(instance, safe="")
        self._headers = {"apikey": api_key}
        self._presence_ms = presence_ms

    # --- Messenger -----------------------------------------------------------------------

    def acknowledge(self, message: InboundMessage) -> None:
        """Blue ticks, then (when configured) "typing…". Both cosmetic: the caller swallows non-auth errors.

        Evolution silently skips read receipts for ``@lid`` chats (providers.md §2.6): a 201 that did nothing.
        """
        address = message.contact.reply_address
        self.mark_read(address, message.provider_message_id)
        if self._presence_ms > 0:
            self.send_presence(address, presence="composing", delay_ms=self._presence_ms)

    def send_text(self, to: str, body: str, *, reply_to: str | None = None, callback_data: str | None = None) -> SentMessage:
        # ``callback_data`` is Meta's: this provider echoes nothing of ours in its status events.
        """``to`` is a JID ("…@s.whatsapp.net", "…@lid") or digits, sent exactly as received.

        A ``reply_to`` Evolution cannot find in its store is sent unquoted, not refused.
        """
        payload: dict[str, Any] = {"number": to, "text": valid_unicode(body)}
        if reply_to:
            payload["quoted"] = {"key": {"id": reply_to}}
        return _sent(self._post("message", "sendText", payload))

    # --- Evolution extras ------------------------------------------------------------------

    def send_media(
        self,
        to: str,
        mediatype: MediaType,
        media: str,
        *,
        mimetype: str | None = None,
        caption: str | None = None,
        file_name: str | None = None,
    ) -> SentMessage:
        """``media`` is an https URL or raw base64 (no ``data:`` prefix: Evolution would decode it as garbage)."""
        if mediatype not in _MEDIA_TYPES:
            raise OutboundInvalid(f"unknown Evolution mediatype {mediatype!r}")
        if not media or media.startswith("data:"):
            raise OutboundInvalid("media must be an https URL or raw base64")
        payload: dict[str, Any] = {"number": to, "mediatype": mediatype, "media": media}
        if mimetype:
            payload["mimetype"] = mimetype
        if caption:
            payload["caption"] = valid_unicode(caption)
        if file_name:
            payload["fileName"] = valid_unicode(file_name)
        return _sent(self._post("message", "sendMedia", payload))

    def send_reaction(self, remote_jid: str, message_id: str, emoji: str, *, from_me: bool = False) -> SentMessage:
        """React to a message in ``remote_jid``'s chat; ``emoji=""`` removes our reaction."""
        payload = {"key": {"remoteJid": remote_jid, "fromMe": from_me, "id": message_id}, "reaction": valid_unicode(emoji)}
        return _sent(self._post("message", "sendReaction", payload))

    def mark_read(self, remote_jid: str, message_id: str) -> None:
        self._post("chat", "markMessageAsRead", {"readMessages": [{"remoteJid": remote_jid, "fromMe": False, "id": message_id}]})

    def send_presence(self, to: str, *, presence: Presence = "composing", delay_ms: int) -> None:
        """Show ``presence`` for ``delay_ms`` (capped at 3 s). The call returns only after the delay."""
        if presence not in _PRESENCES:
            raise OutboundInvalid(f"unknown Evolution presence {presence!r}")
        delay = max(0, min(delay_ms, MAX_PRESENCE_MS))
        timeout = httpx.Timeout(delay / 1000 + _PRESENCE_MARGIN_S, connect=self._http.timeout.connect)
        self._post("chat", "sendPresence", {"number": to, "presence": presence, "delay": delay}, timeout=timeout)

    def download_media(self, message_id: str, *, max_bytes: int) -> DownloadedMedia:
        """Decrypted media of a message Evolution still has in its store (providers.md §2.6).

        Too large (declared or actual) → ``MediaUnavailable(too_large)``; a 400 (Evolution no longer
        has the message, or WhatsApp's CDN dropped the file) → ``MediaUnavailable(not_found)``:
        retrying changes neither. A body without valid base64 → ``ProviderUnavailable``, like any
        2xx that does not deliver.
        """
        try:
            doc = self._post("chat", "getBase64FromMediaMessage", {"message": {"key": {"id": message_id}}, "convertToMp4": False})
        except ProviderRejected as exc:
            raise MediaUnavailable(f"Evolution could not return the media ({exc})", reason="not_found") from exc
        declared = integer(obj(doc.get("size")).get("fileLength"))
        if declared is not None and declared > max_bytes:
            raise _too_large(declared, max_bytes)
        encoded = doc.get("base64")
        if not isinstance(encoded, str) or not encoded:
            raise ProviderUnavailable("Evolution API answered getBase64FromMediaMessage without base64")
        # Refuse before decoding anything: for base64 that validates, this is the decoded size exactly.
        if len(encoded) // 4 * 3 - encoded[-2:].count("=") > max_bytes:
            raise _too_large(None, max_bytes)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters
            raise ProviderUnavailable("Evolution API answered getBase64FromMediaMessage with invalid base64") from exc
        return DownloadedMedia(data=data, mime_type=text(doc.get("mimetype")), file_name=text(doc.get("fileName")))

    # --- transport -------------------------------------------------------------------------

    def _post(self, group: str, action: str, payload: dict[str, Any], *, timeout: httpx.Timeout | None = None) -> dict[str, Any]:
        url = f"{self._base_url}/{group}/{action}/{self._instance}"
        try:
            response = self._http.post(
                url, json=payload, headers=self._headers, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
            )
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"Evolution API {action} timed out") from exc
        except httpx.RequestError as exc:  # transport failures and undecodable responses alike
            raise ProviderUnavailable(f"Evolution API {action} unreachable: {type(exc).__name__}") from exc
        try:
            doc = response.json()
        except ValueError:  # includes UnicodeDecodeError
            doc = None
        if 200 <= response.status_code < 300:  # 201 documented; 200 from proxies and older servers
            # A 2xx without JSON: the request was accepted; the caller decides what that means
            # (a send is treated as sent — retrying could reply twice).
            return doc if isinstance(doc, dict) else {}
        raise evolution_error(response.status_code, doc, response.headers.get("retry-after"), action=action)


def evolution_error(http_status: int, doc: Any, retry_after: str | None = None, *, action: str = "call") -> ProviderError:
    """Map an Evolution error response (``{"status", "error", "response": {"message": [...]}}``) to the error tree."""
    label = f"Evolution API {action} failed (HTTP {http_status})"
    if http_status == 429:
        return ProviderRateLimited(label, retry_after=retry_after_seconds(retry_after), code=http_status, http_status=http_status)
    if http_status in (401, 403):
        return ProviderAuthError(label, code=http_status, http_status=http_status)
    if http_status == 404:
        # Unknown instance (or a wrong base URL): every message would fail until the operator
        # fixes the channel's configuration, so it must not be dropped as "rejected".
        return ProviderAuthError(f"{label}: instance or route not found", code=http_status, http_status=http_status)
    if http_status >= 500 or http_status < 400:
        return ProviderUnavailable(label, code=http_status, http_status=http_status)
    if _not_on_whatsapp(doc):
        return ProviderRejected(f"{label}: recipient is not on WhatsApp", code=http_status, http_status=http_status)
    return ProviderRejected(label, code=http_status, http_status=http_status)


def _not_on_whatsapp(doc: Any) -> bool:
    # The send handlers throw BadRequestException(onWhatsApp result): {"exists": false, "jid", "number"}.
    messages = obj(obj(doc).get("response")).get("message")
    entries = messages if isinstance(messages, list) else [messages]
    return any(isinstance(entry, dict) and entry.get("exists") is False for entry in entries)


def _sent(doc: dict[str, Any]) -> SentMessage:
    message_id = text(obj(doc.get("key")).get("id"))
    if message_id is None:
        return unconfirmed_send("evolution")
    return SentMessage(message_id=message_id, accepted_status=text(doc.get("status")))


def _too_large(size: int | None, max_bytes: int) -> MediaUnavailable:
    shown = f"{size} bytes" if size is not None else "more"
    return MediaUnavailable(f"Evolution media is too large ({shown}; limit {max_bytes} bytes)", reason="too_large")
