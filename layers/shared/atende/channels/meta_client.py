"""Meta WhatsApp Cloud API — outbound side (Graph API). Processor only: imports httpx.

One injected ``httpx.Client``; one ``_post`` that turns every failure into a typed error chosen
by Meta's ``error.code`` (never by message text). Reference: providers.md §1.7, §1.9, §1.10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from atende.errors import (
    OutsideServiceWindow,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)

# Throughput, pair-rate, spam-rate and app-call-rate limits: back off and retry.
_RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056, 131057, 131064})
# "Something went wrong" / service temporarily unavailable on Meta's side.
_TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
_AUTH_CODES = frozenset({0, 190}) | frozenset(range(10, 11)) | frozenset(range(200, 300))
_REENGAGEMENT = 131047


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str
    accepted_status: str | None = None  # "accepted" | "held_for_quality_assessment" (may be absent)


class MetaClient:
    def __init__(self, http: httpx.Client, *, base_url: str, api_version: str, phone_number_id: str, access_token: str) -> None:
        self._http = http
        self._messages_url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {access_token}"}

    def send_text(self, to: str, body: str, *, reply_to: str | None = None, preview_url: bool = False) -> SentMessage:
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **_recipient(to),
            "type": "text",
            "text": {"preview_url": preview_url, "body": valid_unicode(body)},
        }
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        doc = self._post(payload)
        messages = doc.get("messages") if isinstance(doc.get("messages"), list) else []
        if not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
            raise ProviderUnavailable("Graph API answered 2xx without a message id")
        return SentMessage(message_id=str(messages[0]["id"]), accepted_status=messages[0].get("message_status"))

    def mark_read(self, message_id: str, *, typing: bool = True) -> None:
        """Blue ticks for the customer's message, plus the typing indicator (shown ≤ 25 s or until we reply)."""
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            payload["typing_indicator"] = {"type": "text"}
        self._post(payload)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self._messages_url, json=payload, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable("Graph API timed out") from exc
        except httpx.RequestError as exc:  # transport failures and undecodable responses alike
            raise ProviderUnavailable(f"Graph API unreachable: {type(exc).__name__}") from exc
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if response.status_code < 400:
            if not isinstance(doc, dict):
                raise ProviderUnavailable(f"Graph API answered {response.status_code} with a non-JSON body")
            return doc
        raise meta_error(response.status_code, doc, response.headers.get("retry-after"))


def valid_unicode(text: str) -> str:
    """Replace lone surrogates (valid JSON escapes, invalid text) so the body can be encoded."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _recipient(address: str) -> dict[str, str]:
    # Business-scoped user ids (BSUID, "BR.123…") go in `recipient`; phone-based WhatsApp ids in
    # `to`, exactly as received (never "repair" a Brazilian number's 9th digit).
    return {"recipient": address} if "." in address else {"to": address}


def meta_error(http_status: int, doc: Any, retry_after: str | None = None) -> ProviderError:
    """Map a Graph API error response to the error tree, by ``error.code`` first."""
    error = doc.get("error") if isinstance(doc, dict) and isinstance(doc.get("error"), dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    label = f"Graph API error {code if code is not None else 'without code'} (HTTP {http_status})"
    if code == _REENGAGEMENT:
        return OutsideServiceWindow(label, code=code, http_status=http_status)
    if code in _RATE_LIMIT_CODES or http_status == 429:
        return ProviderRateLimited(label, retry_after=_seconds(retry_after), code=code, http_status=http_status)
    if code in _AUTH_CODES or (code is None and http_status in (401, 403)):
        return ProviderAuthError(label, code=code, http_status=http_status)
    if code in _TRANSIENT_CODES or http_status >= 500:
        return ProviderUnavailable(label, code=code, http_status=http_status)
    return ProviderRejected(label, code=code, http_status=http_status)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
