"""What the processor needs from any provider client, and what a send returns.

Each provider client (``meta_client``, ``evolution_client``, ``whaticket_client``) takes an
injected ``httpx.Client`` and translates every failure into the ``atende.errors`` tree:
``ProviderUnavailable``/``ProviderRateLimited`` (transient: the record is retried),
``ProviderAuthError`` (credentials: retried, then dead-lettered for a redrive once fixed, with an
alarm), ``ProviderRejected`` (this exact request will never succeed: recorded, not retried).
Requests that break a provider's documented limits raise ``OutboundInvalid`` before any HTTP call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from atende.errors import AtendeError

if TYPE_CHECKING:
    from atende.domain.messages import InboundMessage


class OutboundInvalid(AtendeError, ValueError):
    """A message we were asked to send breaks the provider's limits (caught before sending)."""


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: str  # the provider's id, or one we minted when the provider returns none
    accepted_status: str | None = None  # provider's acceptance state when it reports one


def valid_unicode(text: str) -> str:
    """Replace lone surrogates (valid JSON escapes, invalid text) so the body can be encoded."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the HTTP-date form is not used by these providers)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


def unconfirmed_send(provider: str) -> SentMessage:
    """A 2xx answer to a send that carries no message id (or no JSON): treated as sent.

    Retrying would risk a second reply to the customer; the provider accepted the request. The
    id is ours (no status callback will ever name it) and the metric makes the oddity visible.
    """
    from atende.observability import count

    count("ProviderSendUnconfirmed")
    return SentMessage(message_id=f"{provider}-unconfirmed-{uuid.uuid4().hex}", accepted_status="unconfirmed")


class Messenger(Protocol):
    def acknowledge(self, message: InboundMessage) -> None:
        """Read receipt, plus a typing indicator where the provider has one; no-op where neither exists."""

    def send_text(self, to: str, body: str, *, reply_to: str | None = None, callback_data: str | None = None) -> SentMessage:
        """Send ``body`` to ``to`` (a ``ContactRef.reply_address``), quoting ``reply_to`` when given.

        ``callback_data`` names the send (the claim and part); providers that echo it in their
        status events (Meta's ``biz_opaque_callback_data``) let a retry reconcile a lost answer.
        Raises ``SendOutcomeUnknown`` when the request went out but its answer was lost.
        """
