"""Offline, deterministic assistant: the default when no LLM key is configured.

Clearly labelled as offline in every answer. It is no language model: a few pt-BR intents
plus an echo, enough to demo and test the whole pipeline (memory included) without keys.

With tools offered (``step``) it also calls them, for a few clear intents in the last user turn:
a product question searches the catalogue, an order number asks its status, "meus pedidos" lists
them, a complaint opens a ticket, a request for a person calls one, a purchase searches and then
orders the first product found, an electricity-bill question reads the last bill. Once the outputs
are in the transcript it writes the answer from them. An intent whose tool is not offered gets
``complete``'s answer, as does anything else.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atende.domain.conversation import Turn
from atende.llm import ChatCompletion, ModelStep, ToolCall, ToolOutput, TranscriptItem

if TYPE_CHECKING:
    from atende.tools import ToolSpec

OFFLINE_LABEL = "🤖 [modo offline]"

# Checked in order against the accent-folded, lower-cased last user message.
_INTENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(horario|abre|fecha|funciona)"),
        "Nosso horário de atendimento aparece no perfil da empresa; posso registrar sua dúvida para a equipe.",
    ),
    (
        re.compile(r"\b(preco|valor|quanto custa|orcamento)"),
        "Para preços e orçamentos, um atendente confirma os valores atualizados com você.",
    ),
    (re.compile(r"\b(pedido|entrega|rastre)"), "Posso ajudar com seu pedido! Me diga o número dele, por favor."),
    (re.compile(r"\b(obrigad|valeu)"), "Eu que agradeço! Se precisar de mais alguma coisa, é só chamar."),
    (re.compile(r"\b(oi|ola|bom dia|boa tarde|boa noite)\b"), "Olá! 👋 Como posso ajudar?"),
)


_BILL_LINE = re.compile(r"^\[conta de luz lida automaticamente[^\]]*\] ([^\n]+)", re.MULTILINE)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class LocalChatModel:
    provider = "local"
    model = "atende-offline-1"

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        user_turns = [t for t in turns if t.role == "user"]
        last = user_turns[-1].text if user_turns else ""
        folded = _fold(last)
        bill = _BILL_LINE.search(last)
        if bill:
            # An electricity bill read from a photo (service.media): show what was read.
            answer = f"Li sua conta de luz: {bill.group(1).strip()}. Vou repassar para a equipe preparar seu orçamento."
        else:
            answer = next(
                (reply for pattern, reply in _INTENTS if pattern.search(folded)),
                "Recebi sua mensagem e vou repassar para a equipe.",
            )
        quote = last if len(last) <= 80 else last[:77] + "..."
        text = f"{OFFLINE_LABEL} {answer}\nVocê disse: “{quote}” (mensagem {len(user_turns)} desta conversa)."
        return ChatCompletion(
            text=text,
            provider=self.provider,
            model=self.model,
            input_tokens=sum(len(t.text.split()) for t in turns),
            output_tokens=len(text.split()),
        )

    def step(
        self, system_prompt: str, transcript: Sequence[TranscriptItem], tools: Sequence[ToolSpec], *, parallel_calls: bool = True
    ) -> ModelStep:
        turns = [item for item in transcript if isinstance(item, Turn)]
        last_user = max((i for i, item in enumerate(transcript) if isinstance(item, Turn) and item.role == "user"), default=-1)
        since = list(transcript[last_user + 1 :])  # this message's steps and outputs
        steps = [item for item in since if isinstance(item, ModelStep)]
        last_turn = transcript[last_user] if last_user >= 0 else None
        said = last_turn.text if isinstance(last_turn, Turn) else ""
        offered = {spec.name for spec in tools}
        intent = tool_intent(said) if not _BILL_LINE.search(said) else None
        input_tokens = sum(len(t.text.split()) for t in turns) + sum(len(o.output.split()) for o in since if isinstance(o, ToolOutput))

        if not steps:
            if intent is not None and intent.call[0] in offered:
                name, arguments = intent.call
                return self._calls(((name, arguments),), len(turns), 1, input_tokens)
            return self._answer(self.complete(system_prompt, turns).text, input_tokens)

        last_step = steps[-1]
        answered = {call.call_id for call in last_step.tool_calls}
        outputs = [o for o in since if isinstance(o, ToolOutput) and o.call_id in answered]
        if (
            intent is not None
            and intent.quantity is not None
            and len(steps) == 1
            and "create_order" in offered
            and [c.name for c in last_step.tool_calls] == ["search_products"]
        ):
            product_id = _first_product_id(outputs)
            if product_id is not None:
                arguments = {"items": [{"product_id": product_id, "quantity": intent.quantity}]}
                return self._calls((("create_order", arguments),), len(turns), 2, input_tokens)
        if not outputs:  # a step whose calls went unanswered: nothing to tell from
            return self._answer(self.complete(system_prompt, turns).text, input_tokens)
        rendered = "\n\n".join(render_output(o.name, o.output) for o in outputs)
        return self._answer(f"{OFFLINE_LABEL} {rendered}", input_tokens)

    def _calls(self, calls: Sequence[tuple[str, Mapping[str, Any]]], turn_count: int, step_number: int, input_tokens: int) -> ModelStep:
        tool_calls = tuple(
            ToolCall(f"local-{turn_count}-{step_number}-{i}", name, json.dumps(arguments, ensure_ascii=False))
            for i, (name, arguments) in enumerate(calls)
        )
        output_tokens = sum(len(c.arguments.split()) for c in tool_calls)
        return ModelStep("", tool_calls, self.provider, self.model, input_tokens=input_tokens, output_tokens=output_tokens)

    def _answer(self, text: str, input_tokens: int) -> ModelStep:
        return ModelStep(text, (), self.provider, self.model, input_tokens=input_tokens, output_tokens=len(text.split()))


# --- intents that call a tool ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolIntent:
    """The first tool call an intent asks for; ``quantity`` is set for a purchase (search, then order)."""

    call: tuple[str, dict[str, Any]]
    quantity: int | None = None


_NUMBERS = {
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
}
_QUANTITY = r"(\d{1,3}|" + "|".join(_NUMBERS) + r")"
# "falar com um atendente" outranks a complaint in the same message; a bare "atendente" does not
# ("reclamação sobre o atendente" is a ticket).
_ASK_FOR_HUMAN = re.compile(
    r"\b(falar|conversar|fala|atendimento) com (um |uma |o |a |algum |alguma )?(atendente|humano|humana|pessoa|alguem|gente de verdade)"
)
_HUMAN = re.compile(r"\b(atendente|humano|humana)\b")
_TICKET = re.compile(r"\b(chamado|reclamacao|reclamar|protocolo de atendimento)\b")
_PURCHASE = re.compile(
    r"\b(?:quero|queria|gostaria de|vou|posso|pode|preciso)\s+(?:comprar|pedir|encomendar|levar)\s+(?:"
    + _QUANTITY
    + r"\s+)?(?:unidades?\s+de\s+|x\s+|pacotes?\s+de\s+)?(.+)"
)
_ORDER_NUMBER = re.compile(r"\bpedido\s*(?:n[.o]?\s*|numero\s*|#\s*)?(\d{1,10})\b")
_RECENT = re.compile(r"\b(meus|minhas|ultimos|ultimas)\s+(pedidos|compras)\b")
_BILL = re.compile(r"\b(conta de (luz|energia)|orcamento solar|energia solar|placas? solar(es)?)\b")
_PRODUCT = (
    re.compile(r"\bquanto\s+(?:custa|custam|e|sai|saem|fica|ficam|esta|estao)\s+(.+)"),
    re.compile(r"\b(?:qual|quais)\s+(?:e\s+|sao\s+)?(?:o\s+|a\s+|os\s+|as\s+)?(?:preco|precos|valor|valores)\s+(.+)"),
    re.compile(r"\b(?:preco|valor)\s+(?:d[oae]s?\s+)(.+)"),
    re.compile(r"\b(?:voces|vcs|voce|vc)\s+(?:tem|teem|vendem|trabalham com|possuem)\s+(.+)"),
    re.compile(r"^\s*(?:e\s+)?(?:tem|vende|vendem)\s+(.+)"),
)
_LEADING = re.compile(r"^(?:(?:o|a|os|as|um|uma|uns|umas|de|do|da|dos|das|esse|essa|este|esta|aquele|aquela)\s+)+")
_TRAILING = re.compile(r"(?:\s+(?:ai|aqui|hoje|agora|ainda|por favor|pfv|pf|entao|mesmo))+$")


def _folded_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index of the original one it came from
    (accents and case never change where a word starts, so spans map back to the customer's words)."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in _fold(char):
            folded.append(piece)
            origin.append(index)
    return "".join(folded), origin


def _original_span(text: str, origin: list[int], start: int, end: int) -> str:
    if start >= end:
        return ""
    return text[origin[start] : origin[end - 1] + 1]


def _product_words(text: str, folded: str, origin: list[int], start: int) -> str:
    """The product the customer named from ``start`` on: the first clause, without articles,
    fillers or punctuation, in their own spelling (lower-cased)."""
    end = len(folded)
    stop = re.search(r"[?!.,;:\n]|\s+(?:e\s+)?(?:quanto|qual|por favor)\b", folded[start:])
    if stop:
        end = start + stop.start()
    clause = folded[start:end]
    leading = _LEADING.match(clause)
    offset = leading.end() if leading else 0
    trailing = _TRAILING.search(clause)
    tail = trailing.start() if trailing else len(clause)
    return " ".join(_original_span(text, origin, start + offset, start + max(tail, offset)).lower().split())


def tool_intent(said: str) -> ToolIntent | None:
    """The tool call a clear pt-BR intent in ``said`` asks for, or None."""
    folded, origin = _folded_with_map(said)
    clipped = " ".join(said.split())
    ticket = _TICKET.search(folded)
    if _ASK_FOR_HUMAN.search(folded) or (_HUMAN.search(folded) and not ticket):
        return ToolIntent(("request_human", {"reason": f"O cliente pediu para falar com um atendente: “{_clip(clipped, 150)}”"}))
    if ticket:
        about = re.search(r"\b(?:sobre|com|de|do|da)\s+(.+)|[:\-–]\s*(.+)", folded[ticket.end() :])
        detail = ""
        if about:
            group = 1 if about.group(1) is not None else 2
            start = ticket.end() + about.start(group)
            detail = " ".join(_original_span(said, origin, start, len(folded)).split()).rstrip(".!?")
        kind = "Reclamação" if folded[ticket.start() : ticket.end()].startswith("reclam") else "Chamado"
        subject = _clip(
            f"{kind}: {detail}" if detail else ("Reclamação do cliente" if kind == "Reclamação" else "Solicitação do cliente"), 80
        )
        return ToolIntent(("open_ticket", {"subject": subject, "description": _clip(clipped, 1000), "priority": "normal"}))
    purchase = _PURCHASE.search(folded)
    if purchase:
        words = _product_words(said, folded, origin, purchase.start(2))
        if words:
            amount = purchase.group(1) or "1"
            quantity = int(amount) if amount.isdigit() else _NUMBERS[amount]
            return ToolIntent(("search_products", {"query": words}), quantity=max(quantity, 1))
    number = _ORDER_NUMBER.search(folded)
    if number:
        return ToolIntent(("order_status", {"order_number": number.group(1)}))
    if _RECENT.search(folded):
        return ToolIntent(("recent_orders", {}))
    if _BILL.search(folded):
        return ToolIntent(("last_bill", {}))
    for pattern in _PRODUCT:
        match = pattern.search(folded)
        if match:
            words = _product_words(said, folded, origin, match.start(1))
            if words:
                return ToolIntent(("search_products", {"query": words}))
    return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _first_product_id(outputs: Sequence[ToolOutput]) -> str | None:
    for output in outputs:
        data = _parse(output.output).get("data")
        results = data.get("results") if isinstance(data, dict) else None
        if isinstance(results, list) and results and isinstance(results[0], dict) and results[0].get("product_id"):
            return str(results[0]["product_id"])
    return None


# --- answers written from tool outputs --------------------------------------------------------------


def _parse(output: str) -> dict[str, Any]:
    try:
        value = json.loads(output)
    except ValueError:
        return {"ok": False, "error": "invalid_output"}
    return value if isinstance(value, dict) else {"ok": True, "data": {"value": value}}


_ERRORS = {
    "timeout": "O sistema da loja não respondeu a tempo. Tente de novo em instantes ou peça para falar com um atendente.",
    "unavailable": "O sistema da loja está fora do ar agora. Tente de novo em instantes ou peça para falar com um atendente.",
    "out_of_stock": "Não há estoque suficiente desse produto no momento.",
    "invalid_quantity": "A quantidade pedida não é aceita para esse produto.",
    "too_many_items": "O pedido tem produtos diferentes demais; divida em mais de um pedido.",
    "empty_order": "O pedido precisa de pelo menos um produto.",
    "empty_query": "Me diga o nome, o tipo ou a marca do produto que você procura.",
    "invalid_ticket": "Para abrir o chamado, me conte o assunto e o que aconteceu.",
    "invalid_arguments": "Não entendi direito o pedido. Pode reformular?",
    "tool_error": "Não consegui concluir isso agora por uma falha no sistema da loja. Tente de novo mais tarde.",
    "unknown_tool": "Isso eu não consigo fazer por aqui; um atendente pode ajudar.",
    "one_action_at_a_time": "Vamos por partes: confirme primeiro a ação anterior.",
}
_NOT_FOUND = {
    "order_status": "Não encontrei nenhum pedido seu com esse número. Confira o número ou peça “meus pedidos” para ver os recentes.",
    "last_bill": "Ainda não recebi a foto de uma conta de luz sua. Envie uma foto da conta e eu leio os dados para o orçamento.",
    "create_order": "Não encontrei esse produto à venda. Quer que eu procure outro?",
    "search_products": "Não encontrei esse produto no catálogo.",
}


def render_output(name: str, output: str) -> str:
    """A pt-BR answer from one tool's output (``ToolResult.to_model()`` as JSON)."""
    result = _parse(output)
    if result.get("ok") is False:
        error = str(result.get("error") or "")
        if error == "not_found" and name in _NOT_FOUND:
            return _NOT_FOUND[name]
        if error in _ERRORS:
            detail = _pt_detail(result.get("message"))
            return _ERRORS[error] + (f" ({detail})" if detail else "")
        return f"Não consegui concluir essa consulta agora (erro: {error or 'desconhecido'}). Um atendente pode ajudar, se preferir."
    if result.get("truncated"):
        return "A resposta do sistema veio longa demais para eu resumir aqui. Pode detalhar um pouco mais o que procura?"
    data = result.get("data")
    data = data if isinstance(data, dict) else {}
    if data.get("awaiting_customer_confirmation"):  # a write previewed by the agent loop, not yet done
        return f"{data.get('summary') or 'Ação pronta'}\nPosso registrar? Responda “sim” para confirmar."
    renderer = _RENDERERS.get(name)
    return renderer(data) if renderer else _render_generic(data)


def _pt_detail(message: Any) -> str:
    """A tool's own explanation, when it is short and reads as Portuguese (tools may explain in English)."""
    text = " ".join(str(message or "").split())
    portuguese = re.search(r"[ãõçéêáíóú]|\b(não|produto|pedido|estoque|quantidade)\b", text.lower())
    return _clip(text, 200) if text and portuguese else ""


def _render_search(data: Mapping[str, Any]) -> str:
    query = str(data.get("query") or "")
    results = [r for r in data.get("results") or [] if isinstance(r, dict)]
    if not results:
        return f"Não encontrei “{query}” no catálogo. Quer tentar com outras palavras?" if query else _NOT_FOUND["search_products"]
    lines = []
    for result in results:
        line = f"• {result.get('name', '?')}"
        if result.get("price"):
            line += f" — {result['price']}"
        if result.get("in_stock") is False:
            line += " (sem estoque no momento)"
        lines.append(line)
    head = f"Encontrei para “{query}”:" if query else "Encontrei:"
    return "\n".join([head, *lines])


def _items(items: Any) -> list[str]:
    lines = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            line = f"• {item.get('quantity', 1)}× {item.get('name', item.get('product_id', '?'))}"
            total = item.get("line_total") or item.get("unit_price")
            lines.append(f"{line} — {total}" if total else line)
    return lines


def _render_order(data: Mapping[str, Any]) -> str:
    status = data.get("status_label") or data.get("status") or "sem status"
    lines = [f"Pedido nº {data.get('order_number', '?')}: {status}.", *_items(data.get("items"))]
    if data.get("total"):
        lines.append(f"Total: {data['total']}.")
    return "\n".join(lines)


def _render_recent(data: Mapping[str, Any]) -> str:
    orders = [o for o in data.get("orders") or [] if isinstance(o, dict)]
    if not orders:
        return "Não encontrei pedidos seus por aqui."
    lines = ["Seus pedidos mais recentes:"]
    for order in orders:
        line = f"• nº {order.get('order_number', '?')} — {order.get('status_label', order.get('status', ''))}"
        if order.get("total"):
            line += f" — {order['total']}"
        if order.get("items_summary"):
            line += f" ({order['items_summary']})"
        lines.append(line)
    return "\n".join(lines)


def _render_create_order(data: Mapping[str, Any]) -> str:
    lines = _items(data.get("items"))
    total = f"Total: {data['total']}." if data.get("total") else ""
    if data.get("order_number"):
        return "\n".join([f"Pedido nº {data['order_number']} registrado! ✅", *lines, total]).strip()
    return "\n".join(["Resumo do pedido:", *lines, total, "Posso registrar? Responda “sim” para confirmar."]).strip()


def _render_ticket(data: Mapping[str, Any]) -> str:
    subject = data.get("subject") or "seu chamado"
    if data.get("ticket_number"):
        return f"Chamado nº {data['ticket_number']} aberto: {subject}. A equipe vai responder por aqui."
    return f"Vou abrir um chamado: {subject}. Posso registrar? Responda “sim” para confirmar."


def _render_human(data: Mapping[str, Any]) -> str:
    return "Certo! Vou chamar um atendente para continuar com você. Aguarde um instante, por favor."


def _render_bill(data: Mapping[str, Any]) -> str:
    fields = [
        ("distribuidora", data.get("distributor")),
        ("valor total", f"R$ {str(data['total_amount_brl']).replace('.', ',')}" if data.get("total_amount_brl") else None),
        ("consumo", f"{data['consumption_kwh']} kWh" if data.get("consumption_kwh") is not None else None),
        ("vencimento", _date_br(data.get("due_date"))),
    ]
    read = "; ".join(f"{label}: {value}" for label, value in fields if value)
    if not read:
        return "Recebi sua conta de luz, mas não consegui ler os dados. Pode enviar uma foto mais nítida?"
    return f"Sua última conta de luz: {read}. Com isso a equipe prepara seu orçamento de energia solar."


def _date_br(value: Any) -> str | None:
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(value or ""))
    return f"{match.group(3)}/{match.group(2)}/{match.group(1)}" if match else None


def _render_generic(data: Mapping[str, Any]) -> str:
    facts = [f"{key}: {value}" for key, value in data.items() if isinstance(value, str | int | float | bool)][:5]
    return "Consultei o sistema da loja" + (": " + "; ".join(facts) + "." if facts else ".")


_RENDERERS = {
    "search_products": _render_search,
    "check_stock": lambda data: _render_search({"results": [data]}),
    "order_status": _render_order,
    "recent_orders": _render_recent,
    "create_order": _render_create_order,
    "open_ticket": _render_ticket,
    "request_human": _render_human,
    "last_bill": _render_bill,
}
