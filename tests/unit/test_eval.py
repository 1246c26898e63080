"""The eval harness (eval/), offline: pass^k, the scorer, the no-key path, and one trial end to end
with a scripted assistant and a scripted customer on the real reply pipeline. No network."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eval import run as eval_run
from eval.harness import END, KICKOFF, LlmCustomer, ScriptedCustomer, World, run_trial, split_end
from eval.scoring import Expected, FinalState, normalise, pass_hat, pass_hat_k, said, score
from eval.tasks import BUSINESSES, TASKS, Task, select
from tests.agent_fakes import ScriptedAgentModel, calls, says

START = 1763722800 + 2 * 3600  # Friday 2025-11-21, 10:00 in São Paulo: prices in force in llm_prices.json
BUY_TWO = next(t for t in TASKS if t.task_id == "pet-preco-e-compra-2")


# --- pass^k -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (4, 4, 4, 1.0),
        (4, 0, 1, 0.0),
        (4, 3, 1, 0.75),
        (4, 3, 2, 0.5),  # C(3,2)/C(4,2) = 3/6
        (4, 3, 3, 0.25),  # C(3,3)/C(4,3) = 1/4
        (4, 3, 4, 0.0),
        (4, 2, 2, 1 / 6),
        (5, 2, 2, 0.1),  # 1/10
        (8, 6, 4, 15 / 70),  # C(6,4)/C(8,4)
    ],
)
def test_pass_hat_k_is_c_choose_k_over_n_choose_k(n: int, c: int, k: int, expected: float) -> None:
    assert pass_hat_k(n, c, k) == pytest.approx(expected)


def test_pass_hat_is_averaged_over_tasks() -> None:
    # A task always solved and one solved 2 times out of 4
    assert pass_hat({"a": (4, 4), "b": (4, 2)}, 2) == pytest.approx({1: 0.75, 2: (1 + 1 / 6) / 2})


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, 2, 5), (4, 2, 0)])
def test_pass_hat_k_refuses_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_hat_k(n, c, k)


# --- the scorer --------------------------------------------------------------------------------------

EXPECTED = Expected(
    orders=({"racao-golden-15": 2},), tickets=("high",), must_say=("R$ 189,90", ("a caminho", "enviado")), must_not_say=("Arranhador",)
)
GOOD = FinalState(
    orders=({"racao-golden-15": 2},),
    tickets=("high",),
    conversation="bot",
    texts=("A RAÇÃO custa *r$189,90*.", "Seu pedido foi ENVIADO ontem."),
)


def test_a_state_meeting_every_criterion_is_a_success_facts_compared_without_accents_case_or_spaces() -> None:
    assert score(EXPECTED, GOOD).success is True
    assert normalise(" Ração  Golden\u00a0R$ 189,90 ") == "racaogoldenr$189,90"
    assert said(("em falta", "esgotad"), ["Infelizmente está ESGOTADA."])


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"orders": ()}, "orders"),
        ({"orders": ({"racao-golden-15": 1},)}, "orders"),
        ({"orders": ({"racao-golden-15": 2}, {"racao-golden-15": 2})}, "orders"),
        ({"orders": ({"racao-golden-15": 2, "petisco-bifinho": 1},)}, "orders"),
        ({"tickets": ()}, "tickets"),
        ({"tickets": ("normal",)}, "tickets"),
        ({"conversation": "queued"}, "conversation"),
        ({"texts": ("Seu pedido foi enviado.",)}, "must_say"),
        ({"texts": (*GOOD.texts, "Sua vizinha comprou um arranhador.")}, "must_not_say"),
        ({"other_orders": 1}, "other contact"),
        ({"other_tickets": 1}, "other contact"),
    ],
    ids=[
        "no-order",
        "wrong-quantity",
        "an-extra-order",
        "an-extra-product",
        "no-ticket",
        "wrong-priority",
        "wrong-conversation-state",
        "a-fact-not-said",
        "a-forbidden-text-said",
        "an-order-for-someone-else",
        "a-ticket-for-someone-else",
    ],
)
def test_each_missed_criterion_fails_the_trial_and_is_named(changes: dict[str, Any], kind: str) -> None:
    from dataclasses import replace

    result = score(EXPECTED, replace(GOOD, **changes))
    assert result.success is False
    assert [f.split(":")[0] for f in result.failures] == [kind]


def test_every_failure_is_reported_not_just_the_first() -> None:
    result = score(EXPECTED, FinalState(orders=(), tickets=(), conversation="queued", texts=()))
    assert [f.split(":")[0] for f in result.failures] == ["orders", "tickets", "conversation", "must_say", "must_say"]


# --- the task set ------------------------------------------------------------------------------------


def test_the_task_set_covers_three_businesses_with_consistent_criteria() -> None:
    assert len(TASKS) >= 12 and len({t.task_id for t in TASKS}) == len(TASKS)
    assert {t.business.key for t in TASKS} == {b.key for b in BUSINESSES} == {"pet", "optical", "solar"}
    for task in TASKS:
        enabled = task.business.tenant.tools.enabled
        catalogue = {p.product_id for p in task.business.products}
        assert all(set(order) <= catalogue for order in task.expected.orders), task.task_id
        assert not task.expected.orders or "create_order" in enabled, task.task_id
        assert not task.expected.tickets or "open_ticket" in enabled, task.task_id
        assert task.expected.conversation != "queued" or "request_human" in enabled, task.task_id
        assert task.business.tenant.burst_pause_seconds == 0
        assert all(normalise(f if isinstance(f, str) else f[0]) for f in task.expected.must_say)
        # the instructions name only order numbers the trial seeds
        rendered = task.instructions.render(World(task, ScriptedAgentModel(), start=START).numbers)
        assert "{" not in rendered and "Seu objetivo:" in rendered
    assert all(t.last_bill for t in TASKS if t.business.key == "solar")


def test_tasks_are_selected_by_id_or_business() -> None:
    assert [t.task_id for t in select("pet-preco-e-compra-2,solar")] == [
        "pet-preco-e-compra-2",
        "solar-orcamento-pela-conta",
        "solar-consumo-alto",
        "solar-falar-com-pessoa",
    ]
    with pytest.raises(ValueError, match="nope"):
        select("nope")


def test_a_trial_seeds_orders_of_this_customer_and_of_another_and_the_last_bill() -> None:
    world = World(BUY_TWO, ScriptedAgentModel(), start=START)
    assert world.numbers == {"pedido_entregue": 1001, "pedido_a_caminho": 1002, "pedido_vizinha": 1003}
    assert world.orders_of_customer() == 2
    assert len(world.business.orders_by_contact[(world.tenant_id, world.other_contact_id)]) == 1
    solar = next(t for t in TASKS if t.task_id == "solar-orcamento-pela-conta")
    profile = World(solar, ScriptedAgentModel(), start=START).store.profile("sol-forte-energia", "c:5511965432109")
    assert profile.last_bill is not None and profile.last_bill["consumption_kwh"] == 520


# --- the command line --------------------------------------------------------------------------------


def test_without_a_key_it_says_so_with_a_rough_cost_and_runs_nothing(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def never(*args: Any) -> int:
        raise AssertionError("no trial may run without a key")

    monkeypatch.setattr(eval_run, "_run", never)
    assert eval_run.main(["--k", "2"]) == 0
    out, err = capsys.readouterr()
    [line] = out.splitlines()
    assert "OPENAI_API_KEY" in line and f"{len(TASKS)} tasks × k=2 = {2 * len(TASKS)} trials" in line and "R$ " in line
    assert err == ""


def test_help_works(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        eval_run.main(["--help"])
    assert exited.value.code == 0 and "--user-model" in capsys.readouterr().out


def test_an_unknown_task_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert eval_run.main(["--tasks", "nope"]) == 2
    assert "unknown tasks ['nope']" in capsys.readouterr().err


# --- one trial end to end (scripted assistant, scripted customer) --------------------------------------


def _scripted_assistant() -> ScriptedAgentModel:
    return ScriptedAgentModel().then(
        calls(("search_products", {"query": "ração golden adulto 15 kg"})),
        says("A Ração Golden Adulto 15 kg custa R$ 189,90 e temos em estoque. 🐶"),
        calls(("create_order", {"items": [{"product_id": "racao-golden-15", "quantity": 2}]})),
    )


def _trial(customer: ScriptedCustomer, task: Task = BUY_TWO) -> Any:
    return run_trial(task, assistant=_scripted_assistant(), customer=lambda instructions: customer, start=START)


def test_a_trial_runs_the_real_pipeline_the_order_is_placed_only_after_the_customers_yes() -> None:
    customer = ScriptedCustomer(["Oi! Quanto custa a ração Golden Adulto 15 kg?", "Quero 2 pacotes", "sim", f"Obrigada! {END}"])
    trial = _trial(customer)
    # Two orders were seeded for this customer: the third appears with the "sim", not before
    assert [(t.customer, t.outcome, t.orders) for t in trial.turns] == [
        ("Oi! Quanto custa a ração Golden Adulto 15 kg?", "replied", 2),
        ("Quero 2 pacotes", "replied", 2),
        ("sim", "replied", 3),
        ("Obrigada!", "replied", 3),
    ]
    # The customer read what the pipeline sent: the price, then the code's confirmation question
    assert customer.seen[1] == ["A Ração Golden Adulto 15 kg custa R$ 189,90 e temos em estoque. 🐶"]
    assert customer.seen[2][0].startswith("Confirma o pedido?\n2× Ração Golden Adulto 15 kg — R$ 379,80")
    assert customer.seen[3][0].startswith("Pronto! ✅ Pedido nº 1004")
    assert (trial.success, trial.end, trial.state.orders, trial.state.conversation) == (
        True,
        "customer_done",
        ({"racao-golden-15": 2},),
        "bot",
    )
    # Tokens and cost come from the inbound items: search + answer, create_order, the thank-you answer
    assert (trial.assistant.calls, trial.assistant.input_tokens) == (4, 900 + 1100 + 900 + 1100)
    assert trial.assistant.cost_brl > 0
    assert json.loads(json.dumps(trial.to_json()))["final_state"]["orders"] == [{"racao-golden-15": 2}]


def test_a_trial_where_the_customer_says_no_fails_on_the_orders() -> None:
    trial = _trial(ScriptedCustomer(["Quanto custa a ração Golden Adulto 15 kg?", "Quero 2", "não"]))
    assert trial.success is False and trial.state.orders == ()
    assert [f.split(":")[0] for f in trial.score.failures] == ["orders"]


def test_after_a_handoff_the_trial_ends_when_the_customer_is_not_answered() -> None:
    task = next(t for t in TASKS if t.task_id == "otica-falar-com-pessoa")
    assistant = ScriptedAgentModel().then(calls(("request_human", {"reason": "grau dos óculos"})))
    customer = ScriptedCustomer(["Quero falar com uma pessoa sobre o grau dos meus óculos", "alô?", "ainda aí?"])
    trial = run_trial(task, assistant=assistant, customer=lambda instructions: customer, start=START)
    assert [t.outcome for t in trial.turns] == ["replied", "human"]
    assert (trial.end, trial.state.conversation, trial.success) == ("handed_off", "queued", True)


class _Completions:
    """The SDK's ``chat.completions`` as the simulated customer calls it (no network)."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []

    def create(self, **request: Any) -> Any:
        from types import SimpleNamespace as NS

        self.requests.append({**request, "messages": [dict(m) for m in request["messages"]]})
        usage = NS(prompt_tokens=500, completion_tokens=20, prompt_tokens_details=NS(cached_tokens=100))
        return NS(choices=[NS(message=NS(content=self.replies.pop(0)))], usage=usage)


def test_the_simulated_customer_plays_the_instructions_reading_the_shop_as_the_other_side() -> None:
    from types import SimpleNamespace

    completions = _Completions("oi, quanto custa a ração golden?", f"quero 2 {END}")
    customer = LlmCustomer(SimpleNamespace(chat=SimpleNamespace(completions=completions)), "gpt-4.1-mini", "Pet Shop", "Seu objetivo: X")
    assert customer.next_message([]) == "oi, quanto custa a ração golden?"
    assert customer.next_message(["Custa R$ 189,90.", "Quer levar?"]) == f"quero 2 {END}"
    first, second = completions.requests
    system = first["messages"][0]["content"]
    assert first["model"] == "gpt-4.1-mini" and "Seu objetivo: X" in system and END in system
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][1]["content"] == KICKOFF and second["messages"][3]["content"] == "Custa R$ 189,90.\n\nQuer levar?"
    assert (customer.usage.input_tokens, customer.usage.cached_input_tokens, customer.usage.output_tokens, customer.usage.calls) == (
        1000,
        200,
        40,
        2,
    )


def test_the_end_marker_ends_the_conversation_and_what_precedes_it_is_sent() -> None:
    assert split_end(f"valeu! {END}") == ("valeu!", True)
    assert split_end(END) == ("", True)
    assert split_end("e o frete?") == ("e o frete?", False)


def test_the_report_has_pass_hat_per_task_and_overall_and_a_table() -> None:
    tasks = [BUY_TWO]
    trials = eval_run.run_eval(
        tasks,
        2,
        assistant=_scripted_assistant,
        customer=lambda task, instructions: ScriptedCustomer(["Quanto custa a ração Golden Adulto 15 kg?", "Quero 2", "sim"]),
        start=START,
    )
    report = eval_run.build_report(tasks, trials, k=2, model="gpt-4.1-mini", user_model="gpt-4.1-mini")
    assert (report["trials"], report["successes"], report["pass_hat"]) == (2, 2, {"1": 1.0, "2": 1.0})
    assert report["tasks"][0]["pass_hat"] == {"1": 1.0, "2": 1.0} and len(report["tasks"][0]["runs"]) == 2
    assert float(report["usage"]["assistant"]["cost_brl"]) > 0 and report["usage"]["customer"]["cost_brl"] == "0.000000"
    json.dumps(report)
    printed = eval_run.table(report)
    assert "pet-preco-e-compra-2" in printed and "pass^2" in printed and "mean of 1 tasks" in printed
