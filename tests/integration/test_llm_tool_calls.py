"""Tool steps through the real SDKs (openai, google-genai) against local fakes of their APIs.

The SDKs run unmodified on an injected ``httpx`` client whose transport is the fake: what is
asserted is the exact request the SDK put on the wire (tools offered, tool options, the results
sent back per call id, Gemini's declarations, function responses and replayed thought signatures)
and how a realistic answer becomes a ``ModelStep``. The fakes refuse malformed tool exchanges
with a 400 as the APIs do, so an adapter that builds one fails here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from atende.domain.conversation import Turn
from atende.errors import LlmAuthError, LlmRejected, LlmUnavailable
from atende.llm import LlmOptions, ModelStep, ToolCall, ToolOutput, TranscriptItem
from atende.llm.gemini import GeminiChatModel
from atende.llm.openai import OpenAIChatModel
from atende.store.dynamo import from_attrs, to_attrs
from atende.tools import ToolResult, ToolSpec
from atende.tools.business import CreateOrder, OrderStatusTool, SearchProducts
from atende.tools.conversation import RequestHuman
from tests.fakes import FakeGeminiChat, FakeOpenAI

SYSTEM = "Você é o assistente virtual do Pet Shop Amigo. Responda em português do Brasil."
ASKED = Turn("user", "Vocês têm ração golden? E qual o status do pedido 1042?", 1763722860)
HISTORY: list[TranscriptItem] = [
    Turn("user", "Oi, boa tarde!", 1763722800),
    Turn("assistant", "Olá! 👋 Como posso ajudar?", 1763722805),
    ASKED,
]
SEARCH, ORDER, CREATE, HUMAN = SearchProducts.spec, OrderStatusTool.spec, CreateOrder.spec, RequestHuman.spec
TOOLS = [SEARCH, ORDER]
SEARCH_OUTPUT = ToolResult.success(
    {"query": "ração golden", "results": [{"product_id": "p-golden-15", "name": "Ração Golden Adulto 15 kg", "price": "R$ 189,90"}]}
).to_model()
ORDER_OUTPUT = ToolResult.success({"order_number": "1042", "status": "shipped", "status_label": "enviado", "total": "R$ 96,50"}).to_model()
NOT_FOUND = ToolResult.failure("not_found", "Nenhum pedido deste cliente com esse número.").to_model()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- OpenAI: Chat Completions with strict function tools ----------------------------------------------

OPENAI_KEY = "sk-proj-test"
OPENAI_USAGE = {
    "prompt_tokens": 1412,
    "completion_tokens": 46,
    "total_tokens": 1458,
    "prompt_tokens_details": {"cached_tokens": 1152, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def _openai(fake: FakeOpenAI, *, max_retries: int = 0) -> OpenAIChatModel:
    http = httpx.Client(transport=fake.transport())
    return OpenAIChatModel(OPENAI_KEY, "gpt-4.1-mini", LlmOptions(max_retries=max_retries, http_client=http))


def _openai_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": _json(arguments)}}


def _openai_function(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.parameters, "strict": True},
    }


@pytest.fixture(autouse=True)
def _default_base_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("GOOGLE_GEMINI_BASE_URL", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_API_VERSION", raising=False)


def test_openai_step_offers_strict_tools_and_parses_one_call() -> None:
    # Given an API that answers with one function call, cached prompt tokens included
    fake = FakeOpenAI()
    fake.queue_message({"tool_calls": [_openai_call("call_Q1x", "search_products", {"query": "ração golden"})]}, usage=OPENAI_USAGE)

    # When
    step = _openai(fake).step(SYSTEM, HISTORY, TOOLS)

    # Then the request offered both tools, strict, chosen freely, in parallel if the model likes
    (body,) = fake.requests
    assert body == {
        "model": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Oi, boa tarde!"},
            {"role": "assistant", "content": "Olá! 👋 Como posso ajudar?"},
            {"role": "user", "content": ASKED.text},
        ],
        "max_completion_tokens": 800,
        "tools": [_openai_function(SEARCH), _openai_function(ORDER)],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }
    # And the step carries the call as the model wrote it, and the usage with its cached part
    assert step == ModelStep(
        text="",
        tool_calls=(ToolCall("call_Q1x", "search_products", '{"query":"ração golden"}'),),
        provider="openai",
        model="gpt-4.1-mini-2025-04-14",
        input_tokens=1412,
        cached_tokens=1152,
        output_tokens=46,
    )


def test_openai_two_parallel_calls_and_their_results_one_message_per_call_id() -> None:
    # Given a model that asks for two tools at once, then answers from their results
    fake = FakeOpenAI()
    calls = [
        _openai_call("call_A", "search_products", {"query": "ração golden"}),
        _openai_call("call_B", "order_status", {"order_number": "1042"}),
    ]
    fake.queue_message({"content": "Vou verificar as duas coisas.", "tool_calls": calls}, usage=OPENAI_USAGE)
    answer = "Temos a Ração Golden Adulto 15 kg por R$ 189,90, e seu pedido 1042 já foi enviado."
    fake.queue_message({"content": answer}, usage={"prompt_tokens": 1620, "completion_tokens": 31, "total_tokens": 1651})
    model = _openai(fake)

    # When the first step's calls are answered and the model is called again
    first = model.step(SYSTEM, HISTORY, TOOLS)
    outputs = [ToolOutput("call_A", "search_products", _json(SEARCH_OUTPUT)), ToolOutput("call_B", "order_status", _json(ORDER_OUTPUT))]
    second = model.step(SYSTEM, [*HISTORY, first, *outputs], TOOLS)

    # Then the first step held both calls, in order, with the model's words beside them
    assert (first.text, [c.call_id for c in first.tool_calls]) == ("Vou verificar as duas coisas.", ["call_A", "call_B"])
    assert [c.name for c in first.tool_calls] == ["search_products", "order_status"]
    # And the second request replayed the assistant's calls, then one tool message per call id
    assert fake.requests[1]["messages"][4:] == [
        {"role": "assistant", "content": "Vou verificar as duas coisas.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_A", "content": _json(SEARCH_OUTPUT)},
        {"role": "tool", "tool_call_id": "call_B", "content": _json(ORDER_OUTPUT)},
    ]
    # And the final step is the answer in words, no cache reported → 0 cached tokens
    assert second == ModelStep(answer, (), "openai", "gpt-4.1-mini-2025-04-14", input_tokens=1620, cached_tokens=0, output_tokens=31)


def test_openai_step_without_parallel_calls_asks_for_one_and_keeps_one() -> None:
    # Given a compatible endpoint that ignores parallel_tool_calls=false and sends two calls
    fake = FakeOpenAI()
    calls = [_openai_call("call_1", "search_products", {"query": "ração golden"}), _openai_call("call_2", "create_order", {"items": []})]
    fake.queue_message({"tool_calls": calls})

    # When a write tool is offered (the agent loop then forbids parallel calls)
    step = _openai(fake).step(SYSTEM, HISTORY, [SEARCH, CREATE], parallel_calls=False)

    # Then the request said so, and only the first call is kept
    assert (fake.requests[0]["parallel_tool_calls"], fake.requests[0]["tools"][1]) == (False, _openai_function(CREATE))
    assert [c.call_id for c in step.tool_calls] == ["call_1"]


def test_openai_step_without_tools_is_a_plain_answer() -> None:
    # Given the loop's last step, offered no tools
    fake = FakeOpenAI(reply="Não encontrei esse pedido; confira o número, por favor.")

    # When
    step = _openai(fake).step(SYSTEM, [*HISTORY], [])

    # Then no tool option is sent (the API refuses tool_choice without tools)
    assert set(fake.requests[0]) == {"model", "messages", "max_completion_tokens"}
    assert (step.text, step.tool_calls, step.input_tokens, step.output_tokens) == (fake.reply, (), 57, 21)


def test_openai_empty_step_is_unavailable() -> None:
    fake = FakeOpenAI()
    fake.queue_message({"content": "   "})
    with pytest.raises(LlmUnavailable, match=r"^OpenAI returned an empty answer$"):
        _openai(fake).step(SYSTEM, HISTORY, TOOLS)


@pytest.mark.parametrize(
    ("status", "expected", "attempts"),
    [(429, LlmUnavailable, 2), (500, LlmUnavailable, 2), (503, LlmUnavailable, 2), (401, LlmAuthError, 1)],
    ids=["429", "500", "503", "401"],
)
def test_openai_step_errors_keep_the_contract(status: int, expected: type[Exception], attempts: int) -> None:
    # Given an API failing with this status, one retry allowed
    fake = FakeOpenAI()
    fake.always_fail_with = status

    # When / Then: transient errors are retried by the SDK, then LlmUnavailable; a bad key is not retried
    with pytest.raises(expected) as caught:
        _openai(fake, max_retries=1).step(SYSTEM, HISTORY, TOOLS)
    assert (type(caught.value), len(fake.requests)) == (expected, attempts)


def test_openai_a_result_for_a_call_never_made_is_rejected() -> None:
    # Given a transcript whose tool output answers no call of the step before it
    fake = FakeOpenAI()
    step = ModelStep("", (ToolCall("call_A", "order_status", '{"order_number":"1042"}'),), "openai", "gpt-4.1-mini")
    transcript = [*HISTORY, step, ToolOutput("call_Z", "order_status", _json(NOT_FOUND))]

    # When / Then the API's 400 is a rejection, not a transient error
    with pytest.raises(LlmRejected):
        _openai(fake).step(SYSTEM, transcript, TOOLS)


# --- Gemini: explicit declarations, no automatic function calling, replayed content ----------------------

GEMINI_KEY = "AIzaTest"
SIGNATURE = bytes(range(256))[::7] + b"\x00\xff signature"  # opaque bytes, not text
GEMINI_USAGE = {
    "promptTokenCount": 1388,
    "cachedContentTokenCount": 1024,
    "candidatesTokenCount": 22,
    "thoughtsTokenCount": 120,
    "totalTokenCount": 1530,
}


def _gemini(fake: FakeGeminiChat, model: str = "gemini-2.5-flash", *, max_retries: int = 0) -> GeminiChatModel:
    http = httpx.Client(transport=fake.transport())
    return GeminiChatModel(GEMINI_KEY, model, LlmOptions(max_retries=max_retries, http_client=http))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _wire_b64(data: bytes) -> str:
    """Bytes as google-genai puts them in a request: URL-safe base64 (the API reads either alphabet)."""
    return base64.urlsafe_b64encode(data).decode()


def _declaration(spec: ToolSpec) -> dict[str, Any]:
    # google-genai 3 sends the declaration's schema under its proto field name (the API takes both).
    return {"description": spec.description, "name": spec.name, "parameters_json_schema": spec.parameters}


GEMINI_HISTORY_CONTENTS = [
    {"parts": [{"text": "Oi, boa tarde!"}], "role": "user"},
    {"parts": [{"text": "Olá! 👋 Como posso ajudar?"}], "role": "model"},
    {"parts": [{"text": ASKED.text}], "role": "user"},
]


def test_gemini_step_declares_tools_and_parses_a_call_without_id() -> None:
    # Given a model that calls one function, with no call id (the Gemini API's usual) and a signature
    fake = FakeGeminiChat()
    call = {"functionCall": {"name": "search_products", "args": {"query": "ração golden"}}, "thoughtSignature": _b64(SIGNATURE)}
    fake.queue_parts([call], usage=GEMINI_USAGE)

    # When
    step = _gemini(fake).step(SYSTEM, HISTORY, TOOLS)

    # Then the request declared both tools (JSON Schema as given), AUTO mode, and nothing of the
    # SDK's automatic function calling (a client-side switch, never on the wire)
    ((model, body),) = fake.requests
    assert model == "gemini-2.5-flash"
    assert body == {
        "contents": GEMINI_HISTORY_CONTENTS,
        "systemInstruction": {"parts": [{"text": SYSTEM}], "role": "user"},
        "tools": [{"functionDeclarations": [_declaration(SEARCH), _declaration(ORDER)]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"maxOutputTokens": 800},
    }
    # And the call got a deterministic id, the usage counts cached and thinking tokens, and the
    # model's own content is kept as plain JSON to replay (the signature in base64)
    assert step == ModelStep(
        text="",
        tool_calls=(ToolCall("gemini-0-0", "search_products", '{"query": "ração golden"}'),),
        provider="gemini",
        model="gemini-2.5-flash",
        input_tokens=1388,
        cached_tokens=1024,
        output_tokens=22 + 120,
        replay={"parts": [{"call": {"name": "search_products", "args": '{"query": "ração golden"}'}, "sig": _b64(SIGNATURE)}]},
    )
    assert json.loads(json.dumps(step.to_item())) == step.to_item()


def _parallel_then_answer(fake: FakeGeminiChat) -> None:
    fake.queue_parts(
        [
            {"text": "Vou verificar."},
            {
                "functionCall": {"id": "fc-9a1", "name": "search_products", "args": {"query": "ração golden"}},
                "thoughtSignature": _b64(SIGNATURE),
            },
            {"functionCall": {"id": "fc-9a2", "name": "order_status", "args": {"order_number": "1042"}}},
        ],
        usage=GEMINI_USAGE,
    )
    fake.queue_parts([{"text": "Temos a Ração Golden Adulto 15 kg por R$ 189,90; o pedido 1042 não foi encontrado."}])


def _outputs(step: ModelStep) -> list[ToolOutput]:
    search, order = step.tool_calls
    return [ToolOutput(search.call_id, search.name, _json(SEARCH_OUTPUT)), ToolOutput(order.call_id, order.name, _json(NOT_FOUND))]


EXPECTED_REPLAY_AND_RESPONSES = [
    {
        "parts": [
            {"text": "Vou verificar."},
            {
                "functionCall": {"args": {"query": "ração golden"}, "id": "fc-9a1", "name": "search_products"},
                "thoughtSignature": _wire_b64(SIGNATURE),
            },
            {"functionCall": {"args": {"order_number": "1042"}, "id": "fc-9a2", "name": "order_status"}},
        ],
        "role": "model",
    },
    {
        "parts": [
            {"functionResponse": {"id": "fc-9a1", "name": "search_products", "response": SEARCH_OUTPUT}},
            {"functionResponse": {"id": "fc-9a2", "name": "order_status", "response": NOT_FOUND}},
        ],
        "role": "user",
    },
]


def test_gemini_parallel_calls_are_answered_with_their_ids_and_the_signature_replayed() -> None:
    # Given a thinking model (it refuses a replayed call without its signature) that calls two tools
    fake = FakeGeminiChat()
    _parallel_then_answer(fake)
    model = _gemini(fake, "gemini-3-flash-preview")

    # When both are answered and the model is called again
    first = model.step(SYSTEM, HISTORY, TOOLS)
    second = model.step(SYSTEM, [*HISTORY, first, *_outputs(first)], TOOLS)

    # Then the first step kept the API's ids, in order, and its words
    assert (first.text, [c.call_id for c in first.tool_calls]) == ("Vou verificar.", ["fc-9a1", "fc-9a2"])
    # And the second request sent the model's content back as it came (signature included), then
    # one function-response content answering each call by name and id, outputs as objects
    _, body = fake.requests[1]
    assert body["contents"] == [*GEMINI_HISTORY_CONTENTS, *EXPECTED_REPLAY_AND_RESPONSES]
    assert second.text == "Temos a Ração Golden Adulto 15 kg por R$ 189,90; o pedido 1042 não foi encontrado."
    assert (second.tool_calls, second.replay) == ((), {"parts": [{"text": second.text}]})


def test_a_gemini_step_checkpointed_in_dynamodb_replays_the_same_request() -> None:
    # Given a step taken, then checkpointed on the claim (DynamoDB attribute values) and read back
    fake = FakeGeminiChat()
    _parallel_then_answer(fake)
    model = _gemini(fake, "gemini-3-flash-preview")
    first = model.step(SYSTEM, HISTORY, TOOLS)
    stored = from_attrs(to_attrs({"agent_steps": [first.to_item(), *(o.to_item() for o in _outputs(first))]}))["agent_steps"]
    restored_step, *restored_outputs = ModelStep.from_item(stored[0]), *(ToolOutput.from_item(o) for o in stored[1:])

    # When the next step runs from what was read back (a retry after a crash, say)
    model.step(SYSTEM, [*HISTORY, restored_step, *restored_outputs], TOOLS)

    # Then it is the step as taken, and the request is byte for byte the one without a checkpoint
    assert (restored_step, restored_outputs) == (first, _outputs(first))
    _, body = fake.requests[1]
    assert body["contents"] == [*GEMINI_HISTORY_CONTENTS, *EXPECTED_REPLAY_AND_RESPONSES]


def test_gemini_step_another_provider_took_is_sent_with_the_documented_stand_in_signature() -> None:
    # Given a remembered exchange (no Gemini content to replay: memory, or an OpenAI step)
    fake = FakeGeminiChat()
    remembered = ModelStep("", (ToolCall("m1c0", "order_status", '{"order_number":"1042"}'),), "memory", "memory")
    transcript = [*HISTORY, remembered, ToolOutput("m1c0", "order_status", _json(ORDER_OUTPUT))]

    # When a thinking model is called with it
    step = _gemini(fake, "gemini-3-flash-preview").step(SYSTEM, transcript, TOOLS)

    # Then the call went as a model content with the stand-in signature, the response without an id
    _, body = fake.requests[0]
    assert body["contents"][3:] == [
        {
            "parts": [
                {
                    "functionCall": {"args": {"order_number": "1042"}, "name": "order_status"},
                    "thoughtSignature": _wire_b64(b"skip_thought_signature_validator"),
                }
            ],
            "role": "model",
        },
        {"parts": [{"functionResponse": {"name": "order_status", "response": ORDER_OUTPUT}}], "role": "user"},
    ]
    assert step.text == fake.reply


def test_gemini_step_without_parallel_calls_keeps_the_first_call_and_its_content() -> None:
    fake = FakeGeminiChat()
    _parallel_then_answer(fake)

    step = _gemini(fake).step(SYSTEM, HISTORY, [SEARCH, ORDER, HUMAN], parallel_calls=False)

    assert [c.call_id for c in step.tool_calls] == ["fc-9a1"]
    assert step.replay == {
        "parts": [
            {"text": "Vou verificar."},
            {"call": {"name": "search_products", "args": '{"query": "ração golden"}', "id": "fc-9a1"}, "sig": _b64(SIGNATURE)},
        ]
    }


def test_gemini_step_without_tools_is_a_plain_answer() -> None:
    fake = FakeGeminiChat(reply="Abrimos sim, das 8h às 18h.\n")

    step = _gemini(fake).step(SYSTEM, HISTORY, [])

    _, body = fake.requests[0]
    assert "tools" not in body and "toolConfig" not in body
    assert step == ModelStep(
        "Abrimos sim, das 8h às 18h.",
        (),
        "gemini",
        "gemini-2.5-flash",
        input_tokens=58,
        output_tokens=13,
        replay={"parts": [{"text": "Abrimos sim, das 8h às 18h.\n"}]},
    )


def test_gemini_empty_step_is_unavailable() -> None:
    fake = FakeGeminiChat()
    fake.queue_parts([], finish_reason="SAFETY")
    with pytest.raises(LlmUnavailable, match=r"^Gemini returned an empty answer$"):
        _gemini(fake).step(SYSTEM, HISTORY, TOOLS)


def _gemini_error(status: int, message: str, state: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message, "status": state}})


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_gemini_error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"), LlmUnavailable),
        (_gemini_error(500, "An internal error has occurred.", "INTERNAL"), LlmUnavailable),
        (_gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"), LlmUnavailable),
        (_gemini_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"), LlmAuthError),
        (_gemini_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT"), LlmAuthError),
    ],
    ids=["429", "500", "503", "401", "400-bad-key"],
)
def test_gemini_step_errors_keep_the_contract(response: httpx.Response, expected: type[Exception]) -> None:
    fake = FakeGeminiChat()
    fake.fail_next(response)
    with pytest.raises(expected) as caught:
        _gemini(fake).step(SYSTEM, HISTORY, TOOLS)
    assert (type(caught.value), len(fake.requests)) == (expected, 1)


def test_gemini_a_missing_function_response_is_rejected() -> None:
    # Given a step with two calls of which only one was answered
    fake = FakeGeminiChat()
    _parallel_then_answer(fake)
    model = _gemini(fake)
    first = model.step(SYSTEM, HISTORY, TOOLS)

    # When / Then the API's 400 is a rejection
    with pytest.raises(LlmRejected):
        model.step(SYSTEM, [*HISTORY, first, _outputs(first)[0]], TOOLS)


# --- the step item --------------------------------------------------------------------------------


def test_model_step_and_tool_output_items_round_trip() -> None:
    step = ModelStep(
        text="Vou verificar.",
        tool_calls=(ToolCall("gemini-3-0", "search_products", '{"query": "ração"}'), ToolCall("gemini-3-1", "recent_orders", "{}")),
        provider="gemini",
        model="gemini-2.5-flash",
        input_tokens=10,
        cached_tokens=4,
        output_tokens=7,
        replay={"parts": [{"text": "Vou verificar.", "sig": _b64(SIGNATURE)}, {"call": {"name": "search_products", "args": "{}"}}]},
    )
    output = ToolOutput("gemini-3-0", "search_products", _json(SEARCH_OUTPUT))
    assert ModelStep.from_item(json.loads(json.dumps(step.to_item()))) == step
    assert ToolOutput.from_item(json.loads(json.dumps(output.to_item()))) == output
