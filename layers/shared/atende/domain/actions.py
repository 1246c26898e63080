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


# Whole-message answers only, word by word: every word must belong to the answer's vocabulary
# (or be a courtesy), so "sim, mas troca para 3" or "pode mandar a coleira também" is not a yes.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_YES_WORDS = _words(
    "sim s ss simm isso pode confirmo confirmado confirma confirmar confirmada fechado fechou ok okay certo "
    "beleza blz perfeito claro certeza quero manda bora yes y yep yeah sure confirm confirmed"
)
_NO_WORDS = _words("nao n cancela cancelar cancele cancelado esquece deixa negativo no nope cancel quero")
_STRONG_NO = _words("nao n cancela cancelar cancele cancelado esquece negativo no nope cancel")
_COURTESY = _words("por favor pfv pf obrigado obrigada valeu please thanks mesmo com ser fazer pra la e go ahead it")
_THUMBS_UP = frozenset({"👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "✅", "👌"})
_THUMBS_DOWN = frozenset({"👎", "👎🏻", "👎🏼", "👎🏽", "👎🏾", "👎🏿", "❌"})


def decide(text: str | None, *, choice_id: str | None = None, pending: PendingAction) -> Decision:
    """The customer's answer to ``pending``: a button pressed for it, or a clear yes/no in words."""
    if choice_id:
        if choice_id == CONFIRM_BUTTON_PREFIX + pending.asked_in:
            return Decision.YES
        if choice_id == CANCEL_BUTTON_PREFIX + pending.asked_in:
            return Decision.NO
        # A tap on some other button (an older question's "Sim"): its title is no answer to this one.
        return Decision.OTHER
    stripped = (text or "").strip()
    if stripped in _THUMBS_UP:
        return Decision.YES
    if stripped in _THUMBS_DOWN:
        return Decision.NO
    words = re.sub(r"[^\w ]+", " ", _fold(stripped)).split()
    if not words or len(words) > 8:
        return Decision.OTHER
    if any(w in _STRONG_NO for w in words) and all(w in _NO_WORDS or w in _COURTESY for w in words):
        return Decision.NO
    if any(w in _YES_WORDS for w in words) and all(w in _YES_WORDS or w in _COURTESY for w in words):
        return Decision.YES
    return Decision.OTHER
