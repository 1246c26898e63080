"""Actions the customer must confirm: a write a tool previewed, waiting for a clear yes.

The assistant never executes a write on the model's word. When the model calls a write tool
(create an order, open a ticket), the tool layer checks the arguments against the data, code
renders what will be done ("Confirma o pedido: 2× Ração Golden Adulto 15 kg — R$ 379,80?"), and
the action waits on the contact's profile. Only the customer's own next message decides it: a
clear yes executes it once (idempotent on that message's id), a clear no cancels it, anything
else drops it and the conversation goes on. What executes is what was stored, never new
arguments from the model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# A confirmation must come soon: an old "sim" is no longer about this order.
CONFIRMATION_TTL_SECONDS = 30 * 60
CONFIRM_BUTTON_PREFIX = "confirm:"
CANCEL_BUTTON_PREFIX = "cancel:"


class Decision(StrEnum):
    YES = "yes"
    NO = "no"
    OTHER = "other"  # not an answer to the question: the action is dropped, the message answered as usual


@dataclass(frozen=True, slots=True)
class PendingAction:
    tool: str
    arguments: dict[str, Any]
    summary: str  # what the customer is asked to confirm, rendered by code from validated data
    asked_in: str  # provider id of the message whose answer asked for the confirmation
    asked_at: int
    expires_at: int

    def to_item(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "arguments": self.arguments,
            "summary": self.summary,
            "asked_in": self.asked_in,
            "asked_at": self.asked_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> PendingAction | None:
        if not item or "tool" not in item:
            return None
        return cls(
            tool=str(item["tool"]),
            arguments=dict(item.get("arguments") or {}),
            summary=str(item.get("summary", "")),
            asked_in=str(item.get("asked_in", "")),
            asked_at=int(item.get("asked_at", 0)),
            expires_at=int(item.get("expires_at", 0)),
        )

    def expired(self, now: int) -> bool:
        return now >= self.expires_at


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Whole-message answers only: "sim, mas troca o sabor" is not a clear yes.
_YES = re.compile(
    r"(sim|s|ss|simm+|isso|isso mesmo|pode|pode sim|pode ser|pode fazer|pode confirmar|confirmo|confirmado|confirma|"
    r"confirmar|fechado|fechou|ok|okay|certo|beleza|blz|perfeito|claro|com certeza|quero|quero sim|"
    r"yes|y|yep|sure|confirm|confirmed)"
    r"( (por favor|pfv|pf|obrigad[oa]|please))?"
)
_NO = re.compile(
    r"(nao|n|nao quero|nao obrigad[oa]|cancela|cancelar|cancele|pode cancelar|deixa|deixa pra la|esquece|"
    r"negativo|no|nope|cancel)( (por favor|pfv|obrigad[oa]|please))?"
)
_THUMBS_UP = frozenset({"👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "✅", "👌"})
_THUMBS_DOWN = frozenset({"👎", "👎🏻", "👎🏼", "👎🏽", "👎🏾", "👎🏿", "❌"})


def decide(text: str | None, *, choice_id: str | None = None, pending: PendingAction) -> Decision:
    """The customer's answer to ``pending``: a button pressed for it, or a clear yes/no in words."""
    if choice_id:
        if choice_id == CONFIRM_BUTTON_PREFIX + pending.asked_in:
            return Decision.YES
        if choice_id == CANCEL_BUTTON_PREFIX + pending.asked_in:
            return Decision.NO
    stripped = (text or "").strip()
    if stripped in _THUMBS_UP:
        return Decision.YES
    if stripped in _THUMBS_DOWN:
        return Decision.NO
    folded = re.sub(r"[^\w ]+", " ", _fold(stripped))
    folded = re.sub(r"\s+", " ", folded).strip()
    if not folded or len(folded) > 40:
        return Decision.OTHER
    if _YES.fullmatch(folded):
        return Decision.YES
    if _NO.fullmatch(folded):
        return Decision.NO
    return Decision.OTHER
