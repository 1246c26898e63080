"""Meta WhatsApp Cloud API — outbound side (Graph API). Processor only: imports httpx.

One injected ``httpx.Client``; one ``_post`` that turns every failure into a typed error chosen
by Meta's ``error.code`` (never by message text). Reference: providers.md §1.7, §1.9, §1.10.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import httpx

from atende.channels.outbound import OutboundInvalid, SentMessage, retry_after_seconds, unconfirmed_send, valid_unicode
from atende.errors import (
    OutsideServiceWindow,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SendOutcomeUnknown,
)

if TYPE_CHECKING:
    from atende.domain.messages import InboundMessage

__all__ = ["Button", "MediaKind", "MetaClient", "OutboundInvalid", "Row", "Section", "SentMessage", "meta_error", "valid_unicode"]

# Throughput, pair-rate, spam-rate and app-call-rate limits: back off and retry.
_RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056, 131057, 131064})
# "Something went wrong" / service temporarily unavailable on Meta's side.
_TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
_AUTH_CODES = frozenset({0, 10, 190}) | frozenset(range(200, 300))
_REENGAGEMENT = 131047


MediaKind = Literal["image", "audio", "video", "document", "sticker"]

# Meta's documented limits, in characters (providers.md §1.7, §1.9; Meta's pages as of Nov 2025).
_TEXT_LIMIT = 4096
_CALLBACK_DATA_LIMIT = 512  # Meta's limit for biz_opaque_callback_data
_CAPTION_LIMIT = 1024
_MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})
_CAPTIONED = frozenset({"image", "video", "document"})
_HEADER_LIMIT = 60
_FOOTER_LIMIT = 60
_BUTTONS_BODY_LIMIT = 1024
_MAX_BUTTONS = 3
_BUTTON_TITLE_LIMIT = 20
_BUTTON_ID_LIMIT = 256
_LIST_BODY_LIMIT = 4096
_LIST_LABEL_LIMIT = 20
_MAX_SECTIONS = 10
_MAX_ROWS = 10  # across all sections together
_SECTION_TITLE_LIMIT = 24
_ROW_TITLE_LIMIT = 24
_ROW_DESCRIPTION_LIMIT = 72
_ROW_ID_LIMIT = 200

Button = tuple[str, str]  # (id, title)
Row = tuple[str, str, str | None]  # (id, title, description)
Section = tuple[str | None, Sequence[Row]]  # (title, rows)


class MetaClient:
    """One WhatsApp business number. Every send raises ``OutboundInvalid`` before any HTTP call
    when it breaks Meta's limits, and answers the ``SentMessage`` Meta accepted."""

    def __init__(self, http: httpx.Client, *, base_url: str, api_version: str, phone_number_id: str, access_token: str) -> None:
        self._http = http
        self._messages_url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {access_token}"}

    # --- Messenger -----------------------------------------------------------------------

    def acknowledge(self, message: InboundMessage) -> None:
        """Blue ticks plus the typing indicator, in one call."""
        self.mark_read(message.provider_message_id, typing=True)

    def send_text(
        self, to: str, body: str, *, reply_to: str | None = None, preview_url: bool = False, callback_data: str | None = None
    ) -> SentMessage:
        """``callback_data`` travels as ``biz_opaque_callback_data``: Meta echoes it in this message's status webhooks."""
        text = {"preview_url": preview_url, "body": _required("text body", body, _TEXT_LIMIT)}
        return self._send(to, "text", text, reply_to, callback_data)

    # --- Cloud API extras ------------------------------------------------------------------

    def mark_read(self, message_id: str, *, typing: bool = True) -> None:
        """Blue ticks for the customer's message, plus the typing indicator (shown ≤ 25 s or until we reply)."""
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            payload["typing_indicator"] = {"type": "text"}
        self._post(payload)

    def send_media(
        self,
        to: str,
        kind: MediaKind,
        *,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        reply_to: str | None = None,
    ) -> SentMessage:
        """An uploaded media id or a public http(s) link (exactly one); caption for image/video/document, filename for documents."""
        if kind not in _MEDIA_KINDS:
            raise OutboundInvalid(f"unknown media kind {kind!r}")
        if (media_id is None) == (link is None):
            raise OutboundInvalid("give exactly one of media_id and link")
        media: dict[str, str]
        if media_id is not None:
            media = {"id": _required("media id", media_id)}
        else:
            media = {"link": _required("media link", link or "")}
            if not media["link"].startswith(("https://", "http://")):
                raise OutboundInvalid("media link must be an http(s) URL")
        if caption is not None:
            if kind not in _CAPTIONED:
                raise OutboundInvalid(f"{kind} takes no caption")
            media["caption"] = _required("caption", caption, _CAPTION_LIMIT)
        if filename is not None:
            if kind != "document":
                raise OutboundInvalid(f"{kind} takes no filename")
            media["filename"] = _required("filename", filename)
        return self._send(to, kind, media, reply_to)

    def send_template(
        self, to: str, name: str, language_code: str, *, components: Sequence[Mapping[str, Any]] | None = None
    ) -> SentMessage:
        """An approved template: the only message Meta delivers outside the 24-hour window.

        ``components`` go as given (header/body/button parameters); Meta checks them against the template.
        """
        template: dict[str, Any] = {
            "name": _required("template name", name),
            "language": {"code": _required("template language", language_code)},
        }
        if components:
            template["components"] = [_valid_json(dict(component)) for component in components]
        return self._send(to, "template", template, None)

    def send_reaction(self, to: str, message_id: str, emoji: str) -> SentMessage:
        """React to one of the customer's messages; ``emoji=""`` removes our reaction."""
        reaction = {"message_id": _required("reaction target", message_id), "emoji": valid_unicode(emoji)}
        return self._send(to, "reaction", reaction, None)

    def send_buttons(
        self,
        to: str,
        body: str,
        buttons: Sequence[Button],
        *,
        header: str | None = None,
        footer: str | None = None,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SentMessage:
        """Up to three reply buttons; the customer's tap comes back as an INTERACTIVE button_reply with the id."""
        if not 1 <= len(buttons) <= _MAX_BUTTONS:
            raise OutboundInvalid(f"reply buttons take 1 to {_MAX_BUTTONS} buttons, not {len(buttons)}")
        ids = [_required("button id", button_id, _BUTTON_ID_LIMIT) for button_id, _ in buttons]
        titles = [_required("button title", title, _BUTTON_TITLE_LIMIT) for _, title in buttons]
        _unique("button id", ids)
        _unique("button title", titles)
        replies = [{"type": "reply", "reply": {"id": button_id, "title": title}} for button_id, title in zip(ids, titles, strict=True)]
        interactive = {"type": "button", "body": {"text": _required("body", body, _BUTTONS_BODY_LIMIT)}, "action": {"buttons": replies}}
        return self._send(to, "interactive", _framed(interactive, header, footer), reply_to, callback_data)

    def send_list(
        self,
        to: str,
        body: str,
        button_label: str,
        sections: Sequence[Section],
        *,
        header: str | None = None,
        footer: str | None = None,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SentMessage:
        """A menu of up to ten rows in up to ten sections; a pick comes back as an INTERACTIVE list_reply with the row id."""
        if not 1 <= len(sections) <= _MAX_SECTIONS:
            raise OutboundInvalid(f"a list takes 1 to {_MAX_SECTIONS} sections, not {len(sections)}")
        total_rows = sum(len(rows) for _, rows in sections)
        if not 1 <= total_rows <= _MAX_ROWS:
            raise OutboundInvalid(f"a list takes 1 to {_MAX_ROWS} rows in all, not {total_rows}")
        action_sections = []
        for section_title, rows in sections:
            if not rows:
                raise OutboundInvalid("a list section needs at least one row")
            section: dict[str, Any] = {"rows": [_row(row) for row in rows]}
            if section_title is not None:
                section["title"] = _required("section title", section_title, _SECTION_TITLE_LIMIT)
            elif len(sections) > 1:
                raise OutboundInvalid("every section needs a title when there are several")
            action_sections.append(section)
        _unique("row id", [row["id"] for section in action_sections for row in section["rows"]])
        interactive = {
            "type": "list",
            "body": {"text": _required("body", body, _LIST_BODY_LIMIT)},
            "action": {"button": _required("list button label", button_label, _LIST_LABEL_LIMIT), "sections": action_sections},
        }
        return self._send(to, "interactive", _framed(interactive, header, footer), reply_to, callback_data)

    # --- one request shape, one error map ---------------------------------------------------

    def _send(self, to: str, kind: str, content: dict[str, Any], reply_to: str | None, callback_data: str | None = None) -> SentMessage:
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **_recipient(to),
            "type": kind,
            kind: content,
        }
        if reply_to:
            payload["context"] = {"message_id": reply_to}
        if callback_data:
            payload["biz_opaque_callback_data"] = callback_data[:_CALLBACK_DATA_LIMIT]
        doc = self._post(payload)
        messages = doc.get("messages") if isinstance(doc.get("messages"), list) else []
        if not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
            return unconfirmed_send("meta")
        status = messages[0].get("message_status")
        return SentMessage(message_id=str(messages[0]["id"]), accepted_status=status if isinstance(status, str) else None)

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self._messages_url, json=payload, headers=self._headers)
        except (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ConnectError) as exc:
            raise ProviderUnavailable(f"Graph API unreachable: {type(exc).__name__}") from exc
        except (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError) as exc:
            # The request went out; Meta may have accepted it. The caller reconciles before resending.
            raise SendOutcomeUnknown(f"Graph API answer lost: {type(exc).__name__}") from exc
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable("Graph API timed out") from exc
        except httpx.RequestError as exc:  # transport failures and undecodable responses alike
            raise ProviderUnavailable(f"Graph API unreachable: {type(exc).__name__}") from exc
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if response.status_code < 400:
            # Accepted without a JSON body: a send is treated as sent (retrying could reply twice).
            return doc if isinstance(doc, dict) else {}
        raise meta_error(response.status_code, doc, response.headers.get("retry-after"))


def _required(what: str, value: str, limit: int | None = None) -> str:
    """A non-blank string within ``limit`` characters (code points, as Meta's pages count them), made encodable."""
    if not isinstance(value, str) or not value.strip():
        raise OutboundInvalid(f"{what} is empty")
    if limit is not None and len(value) > limit:
        raise OutboundInvalid(f"{what} has {len(value)} characters; Meta allows {limit}")
    return valid_unicode(value)


def _unique(what: str, values: list[str]) -> None:
    if len(set(values)) != len(values):
        raise OutboundInvalid(f"{what}s must be unique within the message")


def _row(row: Row) -> dict[str, str]:
    row_id, title, description = row
    out = {"id": _required("row id", row_id, _ROW_ID_LIMIT), "title": _required("row title", title, _ROW_TITLE_LIMIT)}
    if description is not None:
        out["description"] = _required("row description", description, _ROW_DESCRIPTION_LIMIT)
    return out


def _framed(interactive: dict[str, Any], header: str | None, footer: str | None) -> dict[str, Any]:
    """Optional text header and footer around an interactive message."""
    if header is not None:
        interactive["header"] = {"type": "text", "text": _required("header", header, _HEADER_LIMIT)}
    if footer is not None:
        interactive["footer"] = {"text": _required("footer", footer, _FOOTER_LIMIT)}
    return interactive


def _valid_json(value: Any) -> Any:
    """``value`` with every string made encodable (template parameters may echo customer text)."""
    if isinstance(value, str):
        return valid_unicode(value)
    if isinstance(value, Mapping):
        return {key: _valid_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid_json(item) for item in value]
    return value


def _recipient(address: str) -> dict[str, str]:
    if not address:
        raise OutboundInvalid("no recipient address")
    # Business-scoped user ids (BSUID, "BR.123…") go in `recipient`; phone-based WhatsApp ids in
    # `to`, exactly as received (never "repair" a Brazilian number's 9th digit).
    return {"recipient": address} if "." in address else {"to": address}


def meta_error(http_status: int, doc: Any, retry_after: str | None = None) -> ProviderError:
    """Map a Graph API error response to the error tree, by ``error.code`` first."""
    found = doc.get("error") if isinstance(doc, dict) else None
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    label = f"Graph API error {code if code is not None else 'without code'} (HTTP {http_status})"
    if code == _REENGAGEMENT:
        return OutsideServiceWindow(label, code=code, http_status=http_status)
    if code in _RATE_LIMIT_CODES or http_status == 429:
        return ProviderRateLimited(label, retry_after=retry_after_seconds(retry_after), code=code, http_status=http_status)
    if code in _AUTH_CODES or (code is None and http_status in (401, 403)):
        return ProviderAuthError(label, code=code, http_status=http_status)
    if code in _TRANSIENT_CODES or http_status >= 500:
        return ProviderUnavailable(label, code=code, http_status=http_status)
    return ProviderRejected(label, code=code, http_status=http_status)
