"""The offline model's tool steps: which pt-BR intents call which tool with which arguments, the
purchase that searches then orders, the answer written from tool outputs, and the fallback to
``complete`` when the intent's tool is not offered. Tool names and argument shapes are the
contract the tools are built on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from atende.domain.conversation import Turn
from atende.llm import ModelStep, ToolCall, ToolOutput, TranscriptItem
from atende.llm.local import OFFLINE_LABEL, LocalChatModel
from atende.tools import ToolResult, ToolSpec

SYSTEM = "Você é o assistente virtual do Pet Shop Amigo."
NAMES = ("search_products", "check_stock", "order_status", "recent_orders", "create_order", "open_ticket", "request_human", "last_bill")
ALL_TOOLS = [
    ToolSpec(name, f"a ferramenta {name}", {"type": "object", "properties": {}, "required": [], "additionalProperties": False})
    for name in NAMES
]


def tools(*names: str) -> list[ToolSpec]:
    return [spec for spec in ALL_TOOLS if spec.name in names]


def said(text: str) -> list[TranscriptItem]:
    return [Turn("user", "Oi!", 1763722800), Turn("assistant", "Olá! 👋 Como posso ajudar?", 1763722801), Turn("user", text, 1763722860)]


def calls(step: ModelStep) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, json.loads(call.arguments)) for call in step.tool_calls]


def output(call: ToolCall, result: ToolResult) -> ToolOutput:
    return ToolOutput(call.call_id, call.name, json.dumps(result.to_model(), ensure_ascii=False))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Quanto custa o bolo de cenoura?", ("search_products", {"query": "bolo de cenoura"})),
        ("Vocês têm ração golden?", ("search_products", {"query": "ração golden"})),
        ("vcs tem Ração Golden 15kg aí?", ("search_products", {"query": "ração golden 15kg"})),
        ("Qual o preço do pão de queijo?", ("search_products", {"query": "pão de queijo"})),
        ("tem bolo de chocolate hoje?", ("search_products", {"query": "bolo de chocolate"})),
        ("Status do pedido 1042", ("order_status", {"order_number": "1042"})),
        ("meu pedido 1042 já saiu?", ("order_status", {"order_number": "1042"})),
        ("Cadê o pedido nº 1042?", ("order_status", {"order_number": "1042"})),
        ("Quero ver meus pedidos", ("recent_orders", {})),
        (
            "Quero abrir um chamado",
            (
                "open_ticket",
                {"subject": "Solicitação do cliente", "description": "Quero abrir um chamado", "priority": "normal"},
            ),
        ),
        (
            "Reclamação: a ração chegou com o saco rasgado",
            (
                "open_ticket",
                {
                    "subject": "Reclamação: a ração chegou com o saco rasgado",
                    "description": "Reclamação: a ração chegou com o saco rasgado",
                    "priority": "normal",
                },
            ),
        ),
        (
            "Quero falar com um atendente",
            ("request_human", {"reason": "O cliente pediu para falar com um atendente: “Quero falar com um atendente”"}),
        ),
        ("humano, por favor", ("request_human", {"reason": "O cliente pediu para falar com um atendente: “humano, por favor”"})),
        ("Quero comprar 2 ração golden", ("search_products", {"query": "ração golden"})),
        ("quero pedir duas coxinhas", ("search_products", {"query": "coxinhas"})),
        ("Minha conta de luz veio alta", ("last_bill", {})),
        ("Queria um orçamento solar", ("last_bill", {})),
    ],
)
def test_a_clear_intent_calls_its_tool_with_the_customers_words(text: str, expected: tuple[str, dict[str, Any]]) -> None:
    # Given every tool offered / When
    step = LocalChatModel().step(SYSTEM, said(text), ALL_TOOLS)

    # Then one call, no text yet
    assert (calls(step), step.text, step.provider, step.model) == ([expected], "", "local", "atende-offline-1")


def test_call_ids_are_deterministic() -> None:
    first = LocalChatModel().step(SYSTEM, said("status do pedido 1042"), ALL_TOOLS)
    again = LocalChatModel().step(SYSTEM, said("status do pedido 1042"), ALL_TOOLS)
    assert first == again
    assert [c.call_id for c in first.tool_calls] == ["local-3-1-0"]


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("Quanto custa o bolo de cenoura?", ("order_status", "open_ticket")),
        ("status do pedido 1042", ("search_products",)),
        ("quero falar com um atendente", ()),
        ("Vocês aceitam Pix?", NAMES),
        ("Oi, bom dia!", NAMES),
    ],
    ids=["price-without-search", "order-without-order-status", "human-without-tools", "no-intent", "greeting"],
)
def test_without_the_tool_the_answer_is_completes(text: str, offered: tuple[str, ...]) -> None:
    # Given an intent whose tool is not offered, or no tool intent at all
    transcript = said(text)

    # When
    step = LocalChatModel().step(SYSTEM, transcript, tools(*offered))

    # Then the same words ``complete`` answers today, as a final step
    expected = LocalChatModel().complete(SYSTEM, [t for t in transcript if isinstance(t, Turn)]).text
    assert (step.text, step.tool_calls) == (expected, ())


def test_a_photographed_bill_is_answered_from_the_turn_not_the_tool() -> None:
    text = "[imagem] foto\n[conta de luz lida automaticamente; confiança alta] distribuidora: Enel SP; valor total: R$ 187,43"
    step = LocalChatModel().step(SYSTEM, said(text), ALL_TOOLS)
    assert step.tool_calls == () and step.text.startswith(f"{OFFLINE_LABEL} Li sua conta de luz: distribuidora: Enel SP")


SEARCH_RESULT = ToolResult.success(
    {
        "query": "ração golden",
        "results": [
            {"product_id": "p-golden-15", "name": "Ração Golden Adulto 15 kg", "price": "R$ 189,90", "in_stock": True},
            {"product_id": "p-golden-3", "name": "Ração Golden Filhotes 3 kg", "price": "R$ 54,90", "in_stock": False},
        ],
    }
)


def test_a_search_output_becomes_an_answer_with_names_and_prices() -> None:
    # Given the search the model asked for, answered
    model = LocalChatModel()
    transcript = said("Vocês têm ração golden?")
    step = model.step(SYSTEM, transcript, ALL_TOOLS)

    # When the output is in the transcript
    final = model.step(SYSTEM, [*transcript, step, output(step.tool_calls[0], SEARCH_RESULT)], ALL_TOOLS)

    # Then a labelled pt-BR answer from the output
    assert final.tool_calls == ()
    assert final.text == (
        f"{OFFLINE_LABEL} Encontrei para “ração golden”:\n"
        "• Ração Golden Adulto 15 kg — R$ 189,90\n"
        "• Ração Golden Filhotes 3 kg — R$ 54,90 (sem estoque no momento)"
    )


def test_a_purchase_searches_then_orders_the_first_product_found() -> None:
    # Given a purchase with a quantity, search and order offered
    model = LocalChatModel()
    transcript = said("Quero comprar 2 ração golden")
    offered = tools("search_products", "create_order")

    # When the model steps, the search is answered, and it steps again
    search = model.step(SYSTEM, transcript, offered)
    order = model.step(SYSTEM, [*transcript, search, output(search.tool_calls[0], SEARCH_RESULT)], offered)

    # Then it searched the product words, then ordered the first result's id in that quantity
    assert calls(search) == [("search_products", {"query": "ração golden"})]
    assert calls(order) == [("create_order", {"items": [{"product_id": "p-golden-15", "quantity": 2}]})]
    assert order.tool_calls[0].call_id != search.tool_calls[0].call_id


def test_a_purchase_without_create_order_answers_with_the_search() -> None:
    model = LocalChatModel()
    transcript = said("Quero comprar 2 ração golden")
    search = model.step(SYSTEM, transcript, tools("search_products"))
    final = model.step(SYSTEM, [*transcript, search, output(search.tool_calls[0], SEARCH_RESULT)], tools("search_products"))
    assert final.tool_calls == () and "Ração Golden Adulto 15 kg — R$ 189,90" in final.text


def test_a_purchase_with_nothing_found_explains_instead_of_ordering() -> None:
    model = LocalChatModel()
    transcript = said("quero pedir 3 ração premium")
    search = model.step(SYSTEM, transcript, ALL_TOOLS)
    empty = ToolResult.success({"query": "ração premium", "results": []})
    final = model.step(SYSTEM, [*transcript, search, output(search.tool_calls[0], empty)], ALL_TOOLS)
    assert (final.tool_calls, final.text) == (
        (),
        f"{OFFLINE_LABEL} Não encontrei “ração premium” no catálogo. Quer tentar com outras palavras?",
    )


ORDER = ToolResult.success(
    {
        "order_number": "1042",
        "status": "shipped",
        "status_label": "saiu para entrega",
        "items": [{"product_id": "p-golden-15", "name": "Ração Golden Adulto 15 kg", "quantity": 2, "line_total": "R$ 379,80"}],
        "total": "R$ 379,80",
    }
)


@pytest.mark.parametrize(
    ("text", "result", "answer"),
    [
        (
            "status do pedido 1042",
            ORDER,
            "Pedido nº 1042: saiu para entrega.\n• 2× Ração Golden Adulto 15 kg — R$ 379,80\nTotal: R$ 379,80.",
        ),
        (
            "status do pedido 9999",
            ToolResult.failure("not_found", "Nenhum pedido deste cliente com esse número."),
            "Não encontrei nenhum pedido seu com esse número. Confira o número ou peça “meus pedidos” para ver os recentes.",
        ),
        (
            "meus pedidos",
            ToolResult.success(
                {"orders": [{"order_number": "1042", "status_label": "entregue", "total": "R$ 96,50", "items_summary": "1× Petisco"}]}
            ),
            "Seus pedidos mais recentes:\n• nº 1042 — entregue — R$ 96,50 (1× Petisco)",
        ),
        ("meus pedidos", ToolResult.success({"orders": []}), "Não encontrei pedidos seus por aqui."),
        (
            "quero abrir um chamado",
            ToolResult.success({"ticket_number": "77", "subject": "Solicitação do cliente"}),
            "Chamado nº 77 aberto: Solicitação do cliente. A equipe vai responder por aqui.",
        ),
        (
            "reclamação: veio errado",
            ToolResult.success({"awaiting_customer_confirmation": True, "summary": "Chamado: Reclamação: veio errado (prioridade normal)"}),
            "Chamado: Reclamação: veio errado (prioridade normal)\nPosso registrar? Responda “sim” para confirmar.",
        ),
        (
            "quero falar com um atendente",
            ToolResult.success({"requested": True, "reason": "pediu"}),
            "Certo! Vou chamar um atendente para continuar com você. Aguarde um instante, por favor.",
        ),
        (
            "minha conta de luz",
            ToolResult.success({"total_amount_brl": "187.43", "due_date": "2025-12-10", "consumption_kwh": 245, "distributor": "Enel SP"}),
            "Sua última conta de luz: distribuidora: Enel SP; valor total: R$ 187,43; consumo: 245 kWh; vencimento: 10/12/2025. "
            "Com isso a equipe prepara seu orçamento de energia solar.",
        ),
        (
            "minha conta de luz",
            ToolResult.failure("not_found", "This customer has not sent a photo of an electricity bill yet."),
            "Ainda não recebi a foto de uma conta de luz sua. Envie uma foto da conta e eu leio os dados para o orçamento.",
        ),
        (
            "vocês têm ração golden?",
            ToolResult.failure("timeout", "the store's endpoint did not answer in 3 s"),
            "O sistema da loja não respondeu a tempo. Tente de novo em instantes ou peça para falar com um atendente.",
        ),
        (
            "vocês têm ração golden?",
            ToolResult.failure("out_of_stock", "Estoque insuficiente de “Ração Golden”: 1 disponível(is)."),
            "Não há estoque suficiente desse produto no momento. (Estoque insuficiente de “Ração Golden”: 1 disponível(is).)",
        ),
        (
            "vocês têm ração golden?",
            ToolResult.failure("weird_failure"),
            "Não consegui concluir essa consulta agora (erro: weird_failure). Um atendente pode ajudar, se preferir.",
        ),
    ],
    ids=[
        "order",
        "order-not-found",
        "recent",
        "recent-none",
        "ticket",
        "awaiting-confirmation",
        "human",
        "bill",
        "bill-missing",
        "timeout",
        "pt-br-detail",
        "unknown-error",
    ],
)
def test_tool_outputs_become_a_labelled_pt_br_answer(text: str, result: ToolResult, answer: str) -> None:
    # Given the call the model asked for, answered by the tool
    model = LocalChatModel()
    transcript = said(text)
    step = model.step(SYSTEM, transcript, ALL_TOOLS)

    # When the model is called with the output (and no tools: the loop's last step)
    final = model.step(SYSTEM, [*transcript, step, output(step.tool_calls[0], result)], [])

    # Then
    assert (final.tool_calls, final.text) == ((), f"{OFFLINE_LABEL} {answer}")


def test_parallel_outputs_are_answered_together() -> None:
    # Given a step with two calls (another provider's, say), both answered
    step = ModelStep("", (ToolCall("a", "search_products", "{}"), ToolCall("b", "order_status", "{}")), "openai", "gpt-4.1-mini")
    transcript = [*said("ração golden e pedido 1042"), step, output(step.tool_calls[0], SEARCH_RESULT), output(step.tool_calls[1], ORDER)]

    final = LocalChatModel().step(SYSTEM, transcript, ALL_TOOLS)

    assert (
        final.text.startswith(f"{OFFLINE_LABEL} Encontrei para “ração golden”:") and "\n\nPedido nº 1042: saiu para entrega." in final.text
    )


def test_remembered_tool_exchanges_do_not_count_as_this_messages_steps() -> None:
    # Given memory replayed as a step before the last user turn (service.agent.memory_transcript)
    remembered = ModelStep("", (ToolCall("m1c0", "order_status", '{"order_number":"1042"}'),), "memory", "memory")
    transcript = [
        Turn("user", "status do pedido 1042", 1),
        remembered,
        ToolOutput("m1c0", "order_status", json.dumps(ORDER.to_model())),
        Turn("assistant", "Pedido nº 1042: saiu para entrega.", 2),
        Turn("user", "vocês têm ração golden?", 3),
    ]

    # When / Then the new message gets its own first call
    assert calls(LocalChatModel().step(SYSTEM, transcript, ALL_TOOLS)) == [("search_products", {"query": "ração golden"})]


def test_usage_is_counted_in_words() -> None:
    step = LocalChatModel().step(SYSTEM, said("status do pedido 1042"), ALL_TOOLS)
    assert (step.input_tokens, step.cached_tokens, step.output_tokens) == (1 + 5 + 4, 0, 2)
