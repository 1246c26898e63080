"""What the assistant reads from a customer's message, whatever the provider.

Text, captions and button/list choices reach the assistant as text; locations, shared contacts
and catalogue orders as one short structured line. Everything else answers None: reactions,
stickers and system notices deserve no reply (``SILENT_TYPES``), and a type the assistant cannot
read yet gets the tenant's polite "can't read this" notice instead of an LLM call.

Markers are Portuguese like the default system prompt; they describe, never invent: a missing
field is left out, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from atende.domain.messages import InboundMessage, MessageType

_MEDIA_LABELS = {
    MessageType.IMAGE: "imagem",
    MessageType.VIDEO: "vídeo",
    MessageType.DOCUMENT: "documento",
    MessageType.AUDIO: "áudio",
}
MAX_CONTACTS = 5  # a shared address book is summarised, not pasted
MAX_ORDER_ITEMS = 20


def user_turn_text(message: InboundMessage, media_turn: str | None = None, pending: Sequence[str] = ()) -> str:
    """Everything the assistant reads for one answer, rendered in one place.

    ``media_turn`` is what the media pipeline read from the file (a transcript, a description,
    a document's text, with the caption); ``pending`` are a burst's earlier messages, read
    together with this one as a single turn.
    """
    own = media_turn if message.type in _MEDIA_LABELS and media_turn else assistant_text(message)
    return "\n".join([*pending, own or f"[{message.type.value}]"])


def assistant_text(message: InboundMessage) -> str | None:
    """The user turn for the LLM, or None when there is nothing the assistant can read."""
    kind = message.type
    text = (message.text or "").strip()
    if kind in (MessageType.TEXT, MessageType.INTERACTIVE, MessageType.BUTTON):
        return text or None
    if kind in _MEDIA_LABELS:
        # Only the caption for now: the media itself is understood by the media pipeline.
        return f"[{_MEDIA_LABELS[kind]}] {text}" if text else None
    if kind is MessageType.LOCATION:
        return _location(message.extra)
    if kind is MessageType.CONTACTS:
        return _contacts(message.extra)
    if kind is MessageType.ORDER:
        return _order(message.extra, text)
    return None


def _location(extra: dict[str, Any]) -> str | None:
    lat, lon = extra.get("latitude"), extra.get("longitude")
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    label = "[localização em tempo real]" if extra.get("live") else "[localização]"
    place = " — ".join(str(extra[k]).strip() for k in ("name", "address") if isinstance(extra.get(k), str) and extra[k].strip())
    coords = f"({lat:.6f}, {lon:.6f})"
    return f"{label} {place} {coords}" if place else f"{label} {coords}"


def _contacts(extra: dict[str, Any]) -> str | None:
    cards = [c for c in extra.get("contacts") or [] if isinstance(c, dict)]
    if not cards:
        return None
    described = []
    for card in cards[:MAX_CONTACTS]:
        name = str(card.get("name") or "").strip() or "sem nome"
        phones = [str(p) for p in card.get("phones") or [] if p]
        described.append(f"{name}: {', '.join(phones)}" if phones else name)
    more = f" (+{len(cards) - MAX_CONTACTS} outros)" if len(cards) > MAX_CONTACTS else ""
    label = "[contato compartilhado]" if len(cards) == 1 else "[contatos compartilhados]"
    return f"{label} {'; '.join(described)}{more}"


def _order(extra: dict[str, Any], note: str) -> str | None:
    raw = extra.get("order")
    order: dict[str, Any] = raw if isinstance(raw, dict) else {}
    items = [i for i in order.get("items") or [] if isinstance(i, dict)]
    if not items and not note:
        return None
    lines = []
    for item in items[:MAX_ORDER_ITEMS]:
        line = f"{item.get('quantity', '?')} × {item.get('product_retailer_id', '?')}"
        if item.get("item_price") is not None:
            line += f" a {item['item_price']} {item.get('currency') or ''}".rstrip()
        lines.append(line)
    if len(items) > MAX_ORDER_ITEMS:
        lines.append(f"+{len(items) - MAX_ORDER_ITEMS} itens")
    out = "[pedido do catálogo] " + ("; ".join(lines) if lines else "sem itens")
    return f"{out}. Observação: {note}" if note else out
