"""Tools on the conversation itself: the customer's history, their last electricity bill, and a
request for a human. Scoped like every tool to the ``ToolContext`` (this tenant, this contact)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atende.tools import ToolContext, ToolResult, ToolSpec

if TYPE_CHECKING:
    from atende.domain.catalogue import Order
    from atende.domain.conversation import Session

HISTORY_SESSIONS = 5
REASON_CHARS = 200


def _object(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(properties), "additionalProperties": False}


def _day(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


class CustomerHistory:
    """Past sessions (when, how long, whether a person helped, how it ended) and recent orders.

    Round trips: one Query for the sessions (``ConversationPort.sessions``), one for the orders
    when the tenant keeps orders in Atende.
    """

    spec = ToolSpec(
        name="customer_history",
        description=(
            "Histórico deste cliente com a empresa: conversas anteriores (data, mensagens, se um atendente participou, "
            "como terminou) e pedidos recentes. Use quando o cliente falar de um atendimento ou compra anterior."
        ),
        parameters=_object({}),
    )

    def __init__(
        self,
        sessions: Callable[[str, str], Sequence[Session]],
        orders: Callable[[str, str], Sequence[Order]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._orders = orders

    def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        sessions = sorted(self._sessions(ctx.tenant_id, ctx.contact_id), key=lambda s: s.started_at)
        past = [s for s in sessions if s.session_id != ctx.session_id][-HISTORY_SESSIONS:]
        data: dict[str, Any] = {
            "sessions_before_this_one": len([s for s in sessions if s.session_id != ctx.session_id]),
            "recent_sessions": [
                {
                    "date": _day(s.started_at),
                    "messages_from_customer": s.messages_in,
                    "messages_to_customer": s.messages_out,
                    "attendant_took_part": s.human,
                    "ended": s.outcome.value,
                }
                for s in reversed(past)
            ],
        }
        if self._orders is not None:
            orders = self._orders(ctx.tenant_id, ctx.contact_id)
            data["recent_orders"] = [
                {"number": o.number, "date": _day(o.created_at), "status": o.status.value, "total": str(o.total)} for o in orders
            ]
        return ToolResult.success(data)

    def preview(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        return self.run(ctx, arguments)


class LastBill:
    """The latest electricity bill read from this customer's photos (for a solar quote). No round
    trip: it is on the contact's profile, which the pipeline already read."""

    spec = ToolSpec(
        name="last_bill",
        description=(
            "A última conta de luz que este cliente enviou em foto, como foi lida: valor total, vencimento, consumo em kWh, "
            "distribuidora e a confiança da leitura. Use para orçamentos de energia solar."
        ),
        parameters=_object({}),
    )

    def __init__(self, last_bill: Mapping[str, Any] | None) -> None:
        self._bill = dict(last_bill) if last_bill else None

    def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        if not self._bill:
            return ToolResult.failure("not_found", "This customer has not sent a photo of an electricity bill yet.")
        from atende.media.understanding import bill_from_item

        bill = bill_from_item(self._bill)
        if not bill.is_electricity_bill:
            return ToolResult.failure("not_found", "The last image this customer sent was not an electricity bill.")
        return ToolResult.success(
            {
                "total_amount_brl": str(bill.total_amount_brl) if bill.total_amount_brl is not None else None,
                "due_date": bill.due_date.isoformat() if bill.due_date else None,
                "consumption_kwh": bill.consumption_kwh,
                "distributor": bill.distributor,
                "confidence": str(bill.confidence),
                "not_read": list(bill.missing),
            }
        )

    def preview(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        return self.run(ctx, arguments)


class RequestHuman:
    """Ask for a person. Running it changes nothing by itself: the agent loop sees the request,
    ends the turn with the fixed handoff message, and the commit puts the conversation in the
    queue (``queued``: the bot stays silent until an attendant resolves it)."""

    spec = ToolSpec(
        name="request_human",
        description=(
            "Chama um atendente humano para continuar a conversa. Use quando o cliente pedir uma pessoa, "
            "estiver insatisfeito, ou quando o pedido estiver fora do que você pode resolver."
        ),
        parameters=_object({"reason": {"type": "string", "description": "Motivo em poucas palavras (até 200 caracteres)."}}),
    )

    def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        reason = " ".join(str(arguments.get("reason", "")).split())[:REASON_CHARS]
        return ToolResult.success({"requested": True, "reason": reason})

    def preview(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        return self.run(ctx, arguments)


MAX_CHOICES = 10  # Meta's list: ten rows
CHOICE_TITLE_CHARS = 72  # kept whole for the pick; cut to a button's 20 or a list row's 24 only on screen


class OfferChoices:
    """Ask the customer to pick one of a few options. Running it changes nothing: the agent loop
    ends the turn with the question, sent as reply buttons (≤ 3) or a list (≤ 10) where the
    channel has them and as a numbered text elsewhere; the customer's pick (a tap, or its number)
    comes back as the next message's text. Offered whenever the tenant has tools."""

    spec = ToolSpec(
        name="offer_choices",
        description=(
            "Mostra ao cliente de 2 a 10 opções para ele escolher uma (por exemplo, produtos encontrados ou horários). "
            "Encerra esta resposta: a escolha dele chega na próxima mensagem. Títulos curtos (até 24 caracteres aparecem inteiros)."
        ),
        parameters=_object(
            {
                "question": {"type": "string", "description": "A pergunta, em uma ou duas frases."},
                "options": {
                    "type": "array",
                    "description": "As opções, na ordem em que devem aparecer",
                    "items": _object({"title": {"type": "string", "description": "Texto curto da opção"}}),
                },
            }
        ),
    )

    def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        titles = [" ".join(str(o.get("title", "")).split())[:CHOICE_TITLE_CHARS] for o in arguments.get("options", [])]
        titles = list(dict.fromkeys(t for t in titles if t))
        question = " ".join(str(arguments.get("question", "")).split())[:1000]
        if not 2 <= len(titles) <= MAX_CHOICES or not question:
            return ToolResult.failure("invalid_choices", f"Give a question and 2 to {MAX_CHOICES} different short options.")
        return ToolResult.success({"question": question, "options": titles})

    def preview(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        return self.run(ctx, arguments)
