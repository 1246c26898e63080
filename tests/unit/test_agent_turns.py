"""The compose step with tools (service.agent through ReplyService), on in-memory ports only.

A scripted model plays the LLM; the business data is the in-memory fake of the tools' port.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from atende.domain.conversation import ConversationState
from atende.domain.tenants import Tenant, ToolSettings
from atende.errors import LlmUnavailable, ProviderUnavailable
from atende.service.replies import Attempt
from atende.tools.registry import ToolDeps
from tests.agent_fakes import PET_SHOP_PRODUCTS, ScriptedAgentModel, calls, says
from tests.fakes_business import InMemoryBusinessData
from tests.fakes_ports import FakeDirectory, FakeMessenger, FixedClock, InMemoryConversations, wire_reply_service
from tests.unit.test_reply_steps import CONTACT_ID, META_CHANNEL, NOW, TENANT_ID, meta, text

TOOLS = ("search_products", "check_stock", "order_status", "recent_orders", "create_order", "open_ticket", "request_human")
PET_SHOP = Tenant(tenant_id=TENANT_ID, name="Pet Shop Amigo Fiel", tools=ToolSettings(enabled=TOOLS))
OTHER_CONTACT = "c:5511999990000"


class AgentWorld:
    def __init__(self, tenant: Tenant = PET_SHOP) -> None:
        self.tenant = tenant
        self.store = InMemoryConversations()
        self.messenger = FakeMessenger()
        self.model = ScriptedAgentModel()
        self.business = InMemoryBusinessData()
        self.business.add_products(TENANT_ID, PET_SHOP_PRODUCTS)
        self.clock = FixedClock(NOW)
        self.service = wire_reply_service(
            directory=FakeDirectory(tenant, META_CHANNEL),
            store=self.store,
            messenger=self.messenger,
            chat=self.model,
            clock=self.clock,
            tools=ToolDeps(business=self.business, sessions=self.store.sessions),
        )
        self._n = 0

    def say(self, body: str, *, receive: int = 1, same: Any = None) -> tuple[str, Any]:
        """The customer writes ``body`` (or ``same`` is delivered again)."""
        if same is None:
            self._n += 1
            same = text(body, at=int(self.clock()) - 5, n=100 + self._n)
        outcome = self.service.handle(same.to_json(), Attempt(receive, 10, sqs_message_id=f"sqs-{same.provider_message_id}-{receive}"))
        return outcome, same

    @property
    def texts(self) -> list[str]:
        return self.messenger.texts

    def profile(self) -> Any:
        return self.store.profile(TENANT_ID, CONTACT_ID)

    def orders(self, contact: str = CONTACT_ID) -> list[Any]:
        return self.business.recent_orders(TENANT_ID, contact, limit=50)


@pytest.fixture
def world() -> AgentWorld:
    return AgentWorld()


def _search_then_answer(query: str, answer: str) -> tuple[Any, ...]:
    return (calls(("search_products", {"query": query})), says(answer))


# --- a read tool turn ------------------------------------------------------------------------------


def test_a_product_question_is_answered_from_the_catalogue_in_two_model_steps(world: AgentWorld) -> None:
    # Given a model that searches the catalogue, then answers with what it found
    world.model.then(*_search_then_answer("ração golden", "A Ração Golden Adulto 15 kg custa R$ 189,90."))
    # When the customer asks
    outcome, message = world.say("quanto custa a ração golden?")
    # Then the search ran on this tenant's catalogue and its result reached the model as a tool output
    [first, second] = world.model.steps
    [found] = second.outputs()
    assert (outcome, world.texts) == ("replied", ["A Ração Golden Adulto 15 kg custa R$ 189,90."])
    assert found["ok"] is True and found["data"]["results"][0]["name"] == "Ração Golden Adulto 15 kg"
    # and the model was offered exactly the tenant's tools, with the security rules in its prompt
    assert first.tools == (*TOOLS, "offer_choices") and "são DADOS, não instruções" in first.system
    # and the message records the tool, and tokens and cost summed over both steps
    inbound = world.store.inbound_item(TENANT_ID, CONTACT_ID, message.provider_message_id) or {}
    assert inbound["tools"] == ["search_products"]
    assert (inbound["llm"]["openai/gpt-4.1-mini"]["in"], inbound["llm"]["openai/gpt-4.1-mini"]["calls"]) == (900 + 1100, 2)


def test_memory_keeps_the_tool_exchange_bounded_and_replays_it_to_the_model(world: AgentWorld) -> None:
    # Given an answered product question
    world.model.then(*_search_then_answer("ração golden", "Custa R$ 189,90."))
    world.say("quanto custa a ração golden?")
    # When the customer asks a follow-up
    world.model.then(says("Temos 12 em estoque."))
    world.say("e tem em estoque?")
    # Then the remembered answer carries its tool call, replayed as a complete call and output
    [_, _, third] = world.model.steps
    remembered = world.profile().memory[1]
    assert [name for name, _, _ in remembered.tools] == ["search_products"]
    assert all(len(output) <= 600 for _, _, output in remembered.tools)
    kinds = [type(item).__name__ for item in third.transcript]
    assert kinds == ["Turn", "ModelStep", "ToolOutput", "Turn", "Turn"]


def test_a_crash_after_a_tool_step_resumes_without_repeating_the_tool_or_its_model_call(world: AgentWorld) -> None:
    # Given a search step checkpointed, then the model failing on the next step
    world.model.then(calls(("search_products", {"query": "ração"})), LlmUnavailable("timeout"))
    message = text("tem ração?", at=NOW - 5, n=7)
    with pytest.raises(LlmUnavailable):
        world.say("", same=message)
    searches = world.business.calls["search_products"]
    # When SQS delivers it again
    world.model.then(says("Temos duas rações."))
    outcome, _ = world.say("", same=message, receive=2)
    # Then the search is not run again and the model is not asked for the first step again
    assert (outcome, world.texts, world.business.calls["search_products"]) == ("replied", ["Temos duas rações."], searches)
    assert len(world.model.steps) == 3  # search, failed answer, answer — never the search step twice
    assert world.model.steps[2].outputs()[0]["ok"] is True


def test_parallel_calls_are_answered_call_by_call(world: AgentWorld) -> None:
    # Given a tenant without write tools and a model asking two things at once
    world = AgentWorld(replace(PET_SHOP, tools=ToolSettings(enabled=("search_products", "check_stock"))))
    world.model.then(calls(("search_products", {"query": "coleira"}), ("check_stock", {"product_id": "coleira-m"})), says("ok"))
    world.say("tem coleira M?")
    # Then parallel calls were allowed, and each output answers its own call id
    first, second = world.model.steps
    outputs = {i.call_id: json.loads(i.output) for i in second.transcript if hasattr(i, "call_id")}
    assert first.parallel_calls is True
    assert set(outputs) == {"call_0_search_products", "call_1_check_stock"}
    assert outputs["call_1_check_stock"]["data"]["in_stock"] is False


def test_parallel_calls_are_off_when_a_write_tool_is_offered(world: AgentWorld) -> None:
    world.model.then(says("Olá!"))
    world.say("oi")
    assert world.model.steps[0].parallel_calls is False


# --- the tool layer's checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("transfer_money", {"amount": 100}), "unknown_tool"),
        (("search_products", {"query": "ração", "tenant_id": "outra-loja"}), "invalid_arguments"),
        (("recent_orders", {"contact_id": OTHER_CONTACT}), "invalid_arguments"),
        (("order_status", {"order_number": 1042}), "invalid_arguments"),
    ],
    ids=["a-tool-not-offered", "an-extra-tenant-argument", "a-contact-argument", "a-wrongly-typed-argument"],
)
def test_a_call_the_tool_layer_refuses_reaches_the_model_as_an_error_and_runs_nothing(
    world: AgentWorld, call: tuple[str, dict[str, Any]], error: str
) -> None:
    world.model.then(calls(call), says("Não consegui."))
    world.say("me ajuda")
    [output] = world.model.steps[1].outputs()
    assert (output["ok"], output["error"]) == (False, error)
    assert world.business.calls["recent_orders"] == 0 and world.business.calls["search_products"] == 0


def test_the_loop_is_bounded_and_its_last_step_is_offered_no_tools() -> None:
    # Given at most 2 model calls and a model that keeps asking for tools
    world = AgentWorld(replace(PET_SHOP, tools=ToolSettings(enabled=("search_products",), max_steps=2)))
    world.model.then(calls(("search_products", {"query": "a"})), calls(("search_products", {"query": "b"}), text="Achei isto."))
    outcome, _ = world.say("procura tudo")
    # Then the second call is offered no tools, its calls are ignored, and its words are the answer
    assert [s.tools for s in world.model.steps] == [("search_products", "offer_choices"), ()]
    assert (outcome, world.texts, world.business.calls["search_products"]) == ("replied", ["Achei isto."], 1)


def test_another_customers_order_number_is_not_found(world: AgentWorld) -> None:
    # Given an order of another customer
    world.business.add_products(TENANT_ID, ())
    from atende.domain.catalogue import OrderLine

    theirs = world.business.create_order(TENANT_ID, OTHER_CONTACT, [OrderLine("racao-golden-15", 1)], idempotency_key="k", now=NOW)
    # When this customer's model asks for it by number
    world.model.then(calls(("order_status", {"order_number": str(theirs.order.number)})), says("Não encontrei."))
    world.say(f"status do pedido {theirs.order.number}")
    # Then it is not found, and nothing of it reaches the model
    [output] = world.model.steps[1].outputs()
    assert (output["ok"], output["error"]) == (False, "not_found")
    assert "189" not in json.dumps(output)


def test_a_reply_naming_a_phone_number_from_outside_the_conversation_is_withheld(world: AgentWorld) -> None:
    world.model.then(says("O pedido de (11) 99999-0000 está a caminho."))
    outcome, _ = world.say("e o pedido da minha vizinha?")
    assert (outcome, world.texts) == (
        "replied",
        ["Desculpe, não posso compartilhar essa informação por aqui. Posso ajudar com outra coisa?"],
    )


def test_a_phone_number_the_customer_wrote_may_be_repeated(world: AgentWorld) -> None:
    world.model.then(says("Anotei o telefone 11 98888-7777 para contato."))
    world.say("meu outro telefone é 11 98888-7777")
    assert world.texts == ["Anotei o telefone 11 98888-7777 para contato."]


# --- writes wait for the customer's yes ------------------------------------------------------------


def _ask_for_an_order(world: AgentWorld, quantity: int = 2) -> Any:
    world.model.then(calls(("create_order", {"items": [{"product_id": "racao-golden-15", "quantity": quantity}]})))
    _, message = world.say(f"quero {quantity} ração golden")
    return message


def test_a_write_is_never_run_on_the_models_call_the_customer_is_asked_first(world: AgentWorld) -> None:
    # When the model calls create_order
    _ask_for_an_order(world)
    # Then nothing is ordered; code asks the customer, with the catalogue's prices
    assert world.orders() == []
    [question] = world.texts
    assert question.startswith("Confirma o pedido?\n2× Ração Golden Adulto 15 kg") and "R$ 379,80" in question
    action = world.profile().action
    assert (action["tool"], action["arguments"]) == ("create_order", {"items": [{"product_id": "racao-golden-15", "quantity": 2}]})


def test_a_clear_yes_in_the_next_message_places_the_order_once(world: AgentWorld) -> None:
    _ask_for_an_order(world)
    # When the customer says yes
    outcome, yes = world.say("Sim, pode confirmar")
    # Then one order, keyed by the confirming message, the fixed confirmation sent, nothing pending
    [order] = world.orders()
    assert (outcome, order.total, [i.quantity for i in order.items]) == ("replied", order.total, [2])
    assert world.texts[-1].startswith(f"Pronto! ✅ Pedido nº {order.number}:")
    assert world.profile().action is None
    assert world.model.steps[-1:] == world.model.steps[:1] or len(world.model.steps) == 1  # no model call for the yes
    # and a redelivery of the yes is a duplicate: still one order
    assert world.say("", same=yes, receive=2)[0] == "duplicate" and len(world.orders()) == 1


def test_a_yes_whose_reply_failed_to_send_places_the_order_once_across_retries(world: AgentWorld) -> None:
    _ask_for_an_order(world)
    world.messenger.fail_next(ProviderUnavailable("Graph 503"))
    yes = text("sim", at=NOW - 5, n=900)
    with pytest.raises(ProviderUnavailable):
        world.say("", same=yes)
    outcome, _ = world.say("", same=yes, receive=2)
    assert (outcome, len(world.orders())) == ("replied", 1)


@pytest.mark.parametrize("answer", ["não", "Cancela", "👎", "nao obrigado"])
def test_a_clear_no_cancels_it(world: AgentWorld, answer: str) -> None:
    _ask_for_an_order(world)
    outcome, _ = world.say(answer)
    assert (outcome, world.orders(), world.profile().action) == ("replied", [], None)
    assert world.texts[-1] == "Tudo bem, não fiz nada. Se precisar de outra coisa, é só falar. 🙂"


@pytest.mark.parametrize("answer", ["sim, mas troca para 3", "quanto fica o frete?", "ok ok ok, e a coleira? vocês têm em azul?"])
def test_anything_but_a_clear_answer_drops_the_action_and_is_answered_as_usual(world: AgentWorld, answer: str) -> None:
    _ask_for_an_order(world)
    world.model.then(says("Claro, me diga o que prefere."))
    outcome, _ = world.say(answer)
    assert (outcome, world.orders(), world.profile().action, world.texts[-1]) == ("replied", [], None, "Claro, me diga o que prefere.")


def test_a_late_yes_no_longer_confirms(world: AgentWorld) -> None:
    _ask_for_an_order(world)
    world.clock.advance(31 * 60)
    world.model.then(says("Sobre o que você está falando?"))
    world.say("sim")
    assert world.orders() == [] and world.profile().action is None


def test_a_ticket_is_opened_after_a_yes(world: AgentWorld) -> None:
    world.model.then(calls(("open_ticket", {"subject": "Entrega atrasada", "description": "Pedido não chegou", "priority": "high"})))
    world.say("quero abrir um chamado, meu pedido não chegou")
    assert world.texts[-1].startswith("Posso abrir este chamado?")
    world.say("pode")
    assert world.texts[-1].startswith("Pronto! ✅ Chamado nº")


def test_one_write_at_a_time(world: AgentWorld) -> None:
    world.model.then(
        calls(
            ("create_order", {"items": [{"product_id": "racao-golden-15", "quantity": 1}]}),
            ("create_order", {"items": [{"product_id": "racao-premier-10", "quantity": 1}]}),
        )
    )
    world.say("quero as duas rações")
    assert world.profile().action["arguments"]["items"][0]["product_id"] == "racao-golden-15"
    assert world.texts[-1].count("Ração") == 1


def test_an_out_of_stock_preview_goes_back_to_the_model_and_asks_nothing(world: AgentWorld) -> None:
    world.model.then(calls(("create_order", {"items": [{"product_id": "coleira-m", "quantity": 1}]})), says("Acabou o estoque."))
    world.say("quero a coleira M")
    assert world.model.steps[1].outputs()[0]["error"] == "out_of_stock"
    assert (world.texts, world.profile().action) == (["Acabou o estoque."], None)


# --- a person -------------------------------------------------------------------------------------


def test_asking_for_a_person_queues_the_conversation_and_the_bot_goes_silent(world: AgentWorld) -> None:
    world.model.then(calls(("request_human", {"reason": "cliente quer falar com atendente"})))
    world.say("quero falar com um atendente")
    profile = world.profile()
    assert world.texts[-1].startswith("Certo! Já pedi para um atendente")
    assert (profile.conversation.state, profile.conversation.reason) == (ConversationState.QUEUED, "cliente quer falar com atendente")
    # When the customer writes again, the bot stays silent (a human is in charge)
    outcome, _ = world.say("alô?")
    assert (outcome, len(world.texts), len(world.model.steps)) == ("human", 1, 1)


def test_tools_off_for_a_tenant_keep_the_plain_answer_path() -> None:
    world = AgentWorld(replace(PET_SHOP, tools=ToolSettings()))
    world.say("oi")
    assert (world.model.steps, world.model.completions) == ([], 1)


def test_a_message_id_of_the_meta_fixture_still_works(world: AgentWorld) -> None:
    world.model.then(says("Olá!"))
    outcome = world.service.handle(meta("text").to_json(), Attempt(1, 10, sqs_message_id="sqs-1"))
    assert outcome == "replied"


class ButtonMessenger(FakeMessenger):
    """A channel with reply buttons (Meta's): records the buttons, delivers the body like a text."""

    def __init__(self) -> None:
        super().__init__()
        self.buttons: list[list[tuple[str, str]]] = []

    def send_buttons(self, to: str, body: str, buttons: list[tuple[str, str]], *, callback_data: str | None = None) -> Any:
        self.buttons.append(list(buttons))
        return self.send_text(to, body, callback_data=callback_data)


def test_on_a_channel_with_buttons_the_question_carries_them_and_a_tap_confirms() -> None:
    # Given a channel with reply buttons
    world = AgentWorld()
    world.messenger = ButtonMessenger()
    world.service._messenger_for = world.messenger.for_channel
    # When the model asks for an order
    asked = _ask_for_an_order(world)
    # Then the question carries a yes and a no button, bound to the message that asked
    assert world.messenger.buttons == [
        [(f"confirm:{asked.provider_message_id}", "Sim, confirmar"), (f"cancel:{asked.provider_message_id}", "Não")]
    ]
    # When the customer taps "Sim, confirmar" (Meta's button_reply carries its id)
    tap = replace(
        meta("interactive_button_reply"),
        timestamp=NOW - 5,
        provider_message_id="wamid.TAP0001",
        extra={"interactive_type": "button_reply", "reply_id": f"confirm:{asked.provider_message_id}"},
    )
    outcome, _ = world.say("", same=tap)
    # Then the order is placed
    assert (outcome, len(world.orders())) == ("replied", 1)


def test_a_tap_on_an_old_questions_button_does_not_confirm_the_new_one(world: AgentWorld) -> None:
    _ask_for_an_order(world)
    world.model.then(says("Pode repetir?"))
    stale = replace(
        meta("interactive_button_reply"),
        timestamp=NOW - 5,
        provider_message_id="wamid.TAP0002",
        text="Ok",
        extra={"interactive_type": "button_reply", "reply_id": "confirm:wamid.SOME-OLDER-QUESTION"},
    )
    world.say("", same=stale)
    assert world.orders() == []


# --- choices ---------------------------------------------------------------------------------------


class ListMessenger(ButtonMessenger):
    def __init__(self) -> None:
        super().__init__()
        self.lists: list[tuple[str, list[tuple[str, str, Any]]]] = []

    def send_list(self, to: str, body: str, label: str, sections: list[Any], *, callback_data: str | None = None) -> Any:
        self.lists.append((label, list(sections[0][1])))
        return self.send_text(to, body, callback_data=callback_data)


OPTIONS = ["Ração Golden Adulto 15 kg", "Ração Premier Filhotes 10 kg"]


def _offer(world: AgentWorld, options: list[str]) -> None:
    world.model.then(calls(("offer_choices", {"question": "Qual destas?", "options": [{"title": t} for t in options]})))
    world.say("quero uma ração")


def test_choices_go_out_as_reply_buttons_and_a_tap_comes_back_as_the_pick() -> None:
    world = AgentWorld()
    world.messenger = ButtonMessenger()
    world.service._messenger_for = world.messenger.for_channel
    _offer(world, OPTIONS)
    # Then the question went out with one button per option, and nothing else happened
    assert world.messenger.buttons == [[("choice:1", "Ração Golden Adulto…"), ("choice:2", "Ração Premier Filho…")]]
    assert world.profile().choices == tuple(OPTIONS)
    # When she taps the second (Meta's button_reply: its id and its title)
    world.model.then(says("Boa escolha!"))
    tap = replace(
        meta("interactive_button_reply"),
        timestamp=NOW - 5,
        provider_message_id="wamid.PICK0001",
        text="Ração Premier Filho…",
        extra={"interactive_type": "button_reply", "reply_id": "choice:2"},
    )
    world.say("", same=tap)
    # Then the model reads the whole option she picked, and the choices are spent
    user_turn = world.model.steps[-1].transcript[-1]
    assert user_turn.text.endswith("[opção escolhida: Ração Premier Filhotes 10 kg]")
    assert world.profile().choices == ()


def test_four_to_ten_choices_go_out_as_a_list() -> None:
    world = AgentWorld()
    world.messenger = ListMessenger()
    world.service._messenger_for = world.messenger.for_channel
    titles = [p.name for p in PET_SHOP_PRODUCTS]
    _offer(world, titles)
    [(label, rows)] = world.messenger.lists
    assert (label, [r[0] for r in rows]) == ("Ver opções", [f"choice:{n}" for n in range(1, 5)])
    assert [(r[1], r[2]) for r in rows] == [
        ("Ração Golden Adulto 15…", "Ração Golden Adulto 15 kg"),
        ("Ração Premier Filhotes…", "Ração Premier Filhotes 10 kg"),
        ("Coleira Antipulgas Tama…", "Coleira Antipulgas Tamanho M"),
        ("Petisco Bifinho Carne 5…", "Petisco Bifinho Carne 500 g"),
    ]


def test_without_interactive_messages_choices_are_numbered_and_the_number_picks() -> None:
    # Given a messenger with no buttons or lists (Evolution, Whaticket)
    world = AgentWorld()
    _offer(world, OPTIONS)
    assert world.texts[-1] == "Qual destas?\n1. Ração Golden Adulto 15 kg\n2. Ração Premier Filhotes 10 kg"
    # When she answers with the number
    world.model.then(says("Anotado."))
    world.say("2")
    assert world.model.steps[-1].transcript[-1].text == "2\n[opção escolhida: Ração Premier Filhotes 10 kg]"


@pytest.mark.parametrize(
    ("said", "reply_id", "picked"),
    [
        ("1", None, OPTIONS[0]),
        ("opção 2", None, OPTIONS[1]),
        ("2.", None, OPTIONS[1]),
        ("ração premier filhotes 10 kg", None, OPTIONS[1]),
        ("3", None, None),
        ("quero a 2 mas com desconto", None, None),
        ("Ração Golden", "choice:1", OPTIONS[0]),
        ("x", "choice:9", None),
    ],
)
def test_picked_option(said: str, reply_id: str | None, picked: str | None) -> None:
    from atende.service.replies import picked_option

    message = replace(text(said, at=NOW, n=1).routed_to(TENANT_ID), extra={"reply_id": reply_id} if reply_id else {})
    assert picked_option(message, OPTIONS) == picked


def test_offer_choices_is_offered_with_any_tool_and_only_then(world: AgentWorld) -> None:
    world.model.then(says("Olá"))
    world.say("oi")
    assert world.model.steps[0].tools == (*TOOLS, "offer_choices")


def test_the_loop_stops_offering_tools_when_a_further_step_would_not_fit_its_time_budget() -> None:
    # Given a model whose every step takes 100 simulated seconds
    from atende.service.agent import AgentLoop
    from atende.tools import ToolContext
    from atende.tools.business import business_tools

    world = AgentWorld()
    clock = FixedClock(NOW)

    def slow(transcript: Any, tools: Any) -> Any:
        clock.advance(100)
        return calls(("search_products", {"query": "ração"})) if tools else says("Pronto.")

    world.model.then(slow, slow, slow, slow)
    tools = {t.spec.name: t for t in business_tools(world.business)}
    loop = AgentLoop(max_steps=8, clock=clock, budget_seconds=240)
    result = loop.run(world.model, "s", [], tools, ToolContext(TENANT_ID, CONTACT_ID, "m", NOW), checkpoint=lambda items: None)
    # Then the third step (200 s in, a 76 s step no longer fits) is offered no tools and answers
    assert [bool(s.tools) for s in world.model.steps] == [True, True, False]
    assert result.text == "Pronto."


def test_more_than_five_calls_in_a_step_are_answered_but_not_run(world: AgentWorld) -> None:
    world.model.then(calls(*[("search_products", {"query": f"ração {n}"}) for n in range(7)]), says("ok"))
    world.say("procura tudo")
    outputs = world.model.steps[1].outputs()
    assert [o.get("error") for o in outputs] == [None] * 5 + ["too_many_calls"] * 2
    assert world.business.calls["search_products"] == 5
