"""LLM providers: the offline model, provider selection, the real SDKs against httpx fakes, and
their clients built once per container and key.

The openai and google-genai SDKs run unmodified; only their transport is an ``httpx.MockTransport``,
so request shape, retries and error classes are the SDKs' own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from atende import llm
from atende.domain.conversation import Turn
from atende.domain.tenants import Tenant
from atende.errors import AtendeError, LlmAuthError, LlmRejected, LlmUnavailable
from atende.llm import SDK_CLIENTS_MAX, ChatCompletion, LlmKeys, LlmOptions, select_chat_model
from atende.llm.gemini import GeminiChatModel, gemini_client
from atende.llm.local import LocalChatModel
from atende.llm.openai import OpenAIChatModel, openai_client
from atende.media.gemini_media import GeminiTranscriber
from atende.media.openai_media import OpenAITranscriber
from atende.media.understanding import select_transcriber, select_vision

SYSTEM_PROMPT = "Você é o assistente virtual da Padaria Pão Quente. Responda em português do Brasil."
CONVERSATION = [
    Turn("user", "Oi, bom dia!", 1763722800),
    Turn("assistant", "Olá! 👋 Como posso ajudar?", 1763722805),
    Turn("user", "Vocês abrem no domingo?", 1763722860),
]


def scripted(*responses: httpx.Response) -> tuple[httpx.Client, list[httpx.Request]]:
    """An httpx client answering with ``responses`` in order (the last one repeats), recording every request."""
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        template = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(template.status_code, headers=template.headers, content=template.content)

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


# --- offline model -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("Oi, bom dia!", "Olá! 👋 Como posso ajudar?"),
        ("Olá", "Olá! 👋 Como posso ajudar?"),
        ("Vocês abrem no domingo?", "Nosso horário de atendimento aparece no perfil da empresa; posso registrar sua dúvida para a equipe."),
        (
            "Qual o HORÁRIO de vocês?",
            "Nosso horário de atendimento aparece no perfil da empresa; posso registrar sua dúvida para a equipe.",
        ),
        ("Quanto custa o bolo de cenoura?", "Para preços e orçamentos, um atendente confirma os valores atualizados com você."),
        ("Qual o preço do pão de queijo?", "Para preços e orçamentos, um atendente confirma os valores atualizados com você."),
        ("Cadê meu pedido?", "Posso ajudar com seu pedido! Me diga o número dele, por favor."),
        ("Muito obrigada!", "Eu que agradeço! Se precisar de mais alguma coisa, é só chamar."),
        ("Vocês aceitam Pix?", "Recebi sua mensagem e vou repassar para a equipe."),
    ],
)
def test_offline_model_answers_in_pt_br(said: str, answer: str) -> None:
    # Given a first message / When
    completion = LocalChatModel().complete(SYSTEM_PROMPT, [Turn("user", said, 1763722800)])

    # Then the labelled, exact answer
    assert completion.text == f"🤖 [modo offline] {answer}\nVocê disse: “{said}” (mensagem 1 desta conversa)."
    assert (completion.provider, completion.model) == ("local", "atende-offline-1")


def test_offline_model_counts_user_turns_and_tokens() -> None:
    # Given a conversation with two user turns and one answer / When
    completion = LocalChatModel().complete(SYSTEM_PROMPT, CONVERSATION)

    # Then it answers the last user turn and says which message it is
    text = (
        "🤖 [modo offline] Nosso horário de atendimento aparece no perfil da empresa; posso registrar sua dúvida para a equipe.\n"
        "Você disse: “Vocês abrem no domingo?” (mensagem 2 desta conversa)."
    )
    assert completion == ChatCompletion(text=text, provider="local", model="atende-offline-1", input_tokens=3 + 5 + 4, output_tokens=29)


def test_offline_model_is_deterministic() -> None:
    # Given the same conversation twice, on two instances / When / Then
    assert LocalChatModel().complete(SYSTEM_PROMPT, CONVERSATION) == LocalChatModel().complete(SYSTEM_PROMPT, CONVERSATION)


def test_offline_model_quotes_long_messages_truncated() -> None:
    # Given a 120-character message
    said = "Quero encomendar " + "x" * 103

    # When
    completion = LocalChatModel().complete(SYSTEM_PROMPT, [Turn("user", said, 1)])

    # Then the quote is cut at 77 characters plus an ellipsis
    assert completion.text.endswith(f"“{said[:77]}...” (mensagem 1 desta conversa).")


# --- provider selection ------------------------------------------------------------------------

OPENAI_KEY = "sk-proj-test"
GEMINI_KEY = "AIzaTest"


@pytest.mark.parametrize(
    ("setting", "keys", "expected"),
    [
        ("auto", LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY), (OpenAIChatModel, "openai", "gpt-4.1-mini")),
        ("auto", LlmKeys(gemini_api_key=GEMINI_KEY), (GeminiChatModel, "gemini", "gemini-2.5-flash")),
        ("auto", LlmKeys(), (LocalChatModel, "local", "atende-offline-1")),
        ("openai", LlmKeys(gemini_api_key=GEMINI_KEY), (LocalChatModel, "local", "atende-offline-1")),
        ("gemini", LlmKeys(openai_api_key=OPENAI_KEY), (LocalChatModel, "local", "atende-offline-1")),
        ("gemini", LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY), (GeminiChatModel, "gemini", "gemini-2.5-flash")),
        ("local", LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY), (LocalChatModel, "local", "atende-offline-1")),
    ],
    ids=["auto-both", "auto-gemini-only", "auto-none", "openai-without-key", "gemini-without-key", "gemini-explicit", "local-explicit"],
)
def test_select_chat_model(setting: str, keys: LlmKeys, expected: tuple[type, str, str]) -> None:
    # Given a tenant's provider setting and the deployment's keys
    tenant = Tenant(tenant_id="padaria-pao-quente", name="Padaria Pão Quente", llm_provider=setting)
    http, seen = scripted(httpx.Response(599))

    # When
    model = select_chat_model(tenant, keys, LlmOptions(http_client=http))

    # Then the right adapter, with the default model, and no request made
    assert (type(model), model.provider, model.model) == expected
    assert seen == []


def test_select_chat_model_uses_the_tenant_model() -> None:
    # Given a tenant that picked a specific model / When
    tenant = Tenant(tenant_id="padaria-pao-quente", name="Padaria Pão Quente", llm_model="gpt-4.1")
    model = select_chat_model(tenant, LlmKeys(openai_api_key=OPENAI_KEY), LlmOptions(http_client=scripted(httpx.Response(599))[0]))

    # Then
    assert (type(model), model.model) == (OpenAIChatModel, "gpt-4.1")


def test_llm_keys_from_secret_treat_blank_as_missing() -> None:
    assert LlmKeys.from_secret({"openai_api_key": "", "gemini_api_key": GEMINI_KEY}) == LlmKeys(gemini_api_key=GEMINI_KEY)


# --- OpenAI through the real SDK ------------------------------------------------------------

OPENAI_OK = {
    "id": "chatcmpl-CDu3Lz0Padaria",
    "object": "chat.completion",
    "created": 1763722862,
    "model": "gpt-4.1-mini-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "  Abrimos sim! Domingo das 7h às 12h. 🥐  ", "refusal": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 61, "completion_tokens": 14, "total_tokens": 75},
}
# OpenAI sends retry-after-ms on 429s; the SDK honours it, which keeps these retries fast.
OPENAI_429 = httpx.Response(
    429,
    headers={"retry-after-ms": "10"},
    json={"error": {"message": "Rate limit reached for gpt-4.1-mini", "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
)


def openai_model(http: httpx.Client, *, base_url: str | None = None, max_retries: int = 1) -> OpenAIChatModel:
    return OpenAIChatModel(OPENAI_KEY, "gpt-4.1-mini", LlmOptions(max_retries=max_retries, openai_base_url=base_url, http_client=http))


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (None, "https://api.openai.com/v1/chat/completions"),
        ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions"),
    ],
    ids=["openai", "groq-compatible"],
)
def test_openai_request_and_parsed_completion(monkeypatch: pytest.MonkeyPatch, base_url: str | None, url: str) -> None:
    # Given the SDK's default base URL is not overridden by the environment, and a fake API
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    http, seen = scripted(httpx.Response(200, json=OPENAI_OK))

    # When
    completion = openai_model(http, base_url=base_url).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then one request with the system prompt first and the turns in order
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", url)
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert json.loads(request.content) == {
        "model": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "Oi, bom dia!"},
            {"role": "assistant", "content": "Olá! 👋 Como posso ajudar?"},
            {"role": "user", "content": "Vocês abrem no domingo?"},
        ],
        "max_completion_tokens": 800,
    }
    assert completion == ChatCompletion(
        text="Abrimos sim! Domingo das 7h às 12h. 🥐", provider="openai", model="gpt-4.1-mini-2025-04-14", input_tokens=61, output_tokens=14
    )


def test_openai_rate_limit_then_success_is_retried_once() -> None:
    # Given a 429 followed by an answer, and one retry allowed
    http, seen = scripted(OPENAI_429, httpx.Response(200, json=OPENAI_OK))

    # When
    completion = openai_model(http, max_retries=1).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then
    assert completion.text == "Abrimos sim! Domingo das 7h às 12h. 🥐"
    assert len(seen) == 2


@pytest.mark.parametrize(
    "failure",
    [
        OPENAI_429,
        httpx.Response(500, json={"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}),
        httpx.Response(503, json={"error": {"message": "The engine is currently overloaded.", "type": "server_error"}}),
    ],
    ids=["429", "500", "503"],
)
def test_openai_persistent_failure_is_unavailable_after_retries(failure: httpx.Response) -> None:
    # Given an API that keeps failing, and one retry allowed (the SDK waits < 1 s between tries)
    http, seen = scripted(failure)

    # When
    with pytest.raises(LlmUnavailable) as caught:
        openai_model(http, max_retries=1).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then: one try plus one retry
    assert type(caught.value) is LlmUnavailable
    assert caught.value.is_transient is True
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "invalid_api_key", LlmAuthError),
        (403, "unsupported_country_region_territory", LlmAuthError),
        (400, "context_length_exceeded", LlmRejected),
        (404, "model_not_found", LlmRejected),
    ],
)
def test_openai_client_error_is_rejected_without_retry(status: int, code: str, expected: type[AtendeError]) -> None:
    # Given an error retrying cannot fix
    http, seen = scripted(
        httpx.Response(status, json={"error": {"message": "No.", "type": "invalid_request_error", "param": None, "code": code}})
    )

    # When
    with pytest.raises(expected) as caught:
        openai_model(http, max_retries=2).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then: our key's problem (auth) is told apart from the request's
    assert (type(caught.value), caught.value.is_transient, len(seen)) == (expected, False, 1)


def test_openai_timeout_is_unavailable() -> None:
    # Given a transport that times out, no retries
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    # When / Then
    with pytest.raises(LlmUnavailable):
        openai_model(httpx.Client(transport=httpx.MockTransport(timeout)), max_retries=0).complete(SYSTEM_PROMPT, CONVERSATION)


def test_openai_empty_answer_is_unavailable() -> None:
    # Given a completion whose content is blank
    empty = {**OPENAI_OK, "choices": [{"index": 0, "message": {"role": "assistant", "content": "  "}, "finish_reason": "stop"}]}
    http, _ = scripted(httpx.Response(200, json=empty))

    # When / Then
    with pytest.raises(LlmUnavailable, match=r"^OpenAI returned an empty answer$"):
        openai_model(http).complete(SYSTEM_PROMPT, CONVERSATION)


# --- Gemini through the real SDK ------------------------------------------------------------

GEMINI_OK = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Abrimos sim, domingo das 7h às 12h. 🥐\n"}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 58, "candidatesTokenCount": 13, "totalTokenCount": 71},
    "modelVersion": "gemini-2.5-flash",
}


def gemini_model(http: httpx.Client, *, base_url: str | None = None, max_retries: int = 0) -> GeminiChatModel:
    return GeminiChatModel(GEMINI_KEY, "gemini-2.5-flash", LlmOptions(max_retries=max_retries, gemini_base_url=base_url, http_client=http))


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        (None, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"),
        ("https://gemini-proxy.padaria.example", "https://gemini-proxy.padaria.example/v1beta/models/gemini-2.5-flash:generateContent"),
    ],
    ids=["google", "custom-base-url"],
)
def test_gemini_request_and_parsed_completion(base_url: str | None, url: str) -> None:
    # Given a fake Gemini API behind the injected httpx client
    http, seen = scripted(httpx.Response(200, json=GEMINI_OK))

    # When
    completion = gemini_model(http, base_url=base_url).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then the SDK used our client: one request, system prompt apart, roles user/model in order
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", url)
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert json.loads(request.content) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Oi, bom dia!"}]},
            {"role": "model", "parts": [{"text": "Olá! 👋 Como posso ajudar?"}]},
            {"role": "user", "parts": [{"text": "Vocês abrem no domingo?"}]},
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": SYSTEM_PROMPT}]},
        "generationConfig": {"maxOutputTokens": 800},
    }
    assert completion == ChatCompletion(
        text="Abrimos sim, domingo das 7h às 12h. 🥐", provider="gemini", model="gemini-2.5-flash", input_tokens=58, output_tokens=13
    )


def _gemini_error(status: int, message: str, state: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message, "status": state}})


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_gemini_error(500, "An internal error has occurred.", "INTERNAL"), LlmUnavailable),
        (_gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"), LlmUnavailable),
        (_gemini_error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"), LlmUnavailable),
        (_gemini_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT"), LlmAuthError),
        (_gemini_error(403, "Permission denied.", "PERMISSION_DENIED"), LlmAuthError),
        (_gemini_error(400, "Unsupported MIME type: audio/amr", "INVALID_ARGUMENT"), LlmRejected),
        # Neither 4xx nor 5xx: the SDK's APIError base class, which must not escape the adapter
        (httpx.Response(302, json={"error": {"code": 302, "message": "Found", "status": "REDIRECT"}}), LlmUnavailable),
    ],
    ids=["500", "503", "429", "400-bad-key", "403", "400-bad-request", "302"],
)
def test_gemini_error_mapping_without_retries(response: httpx.Response, expected: type[Exception]) -> None:
    # Given a failing API and max_retries=0 (one attempt)
    http, seen = scripted(response)

    # When
    with pytest.raises(expected) as caught:
        gemini_model(http, max_retries=0).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then exactly one request, and the error class of our tree
    assert (type(caught.value), len(seen)) == (expected, 1)


def test_gemini_timeout_is_unavailable() -> None:
    # Given a transport that times out
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    # When / Then
    with pytest.raises(LlmUnavailable) as caught:
        gemini_model(httpx.Client(transport=httpx.MockTransport(timeout))).complete(SYSTEM_PROMPT, CONVERSATION)
    assert type(caught.value.__cause__) is httpx.ReadTimeout


def test_gemini_blocked_answer_without_text_is_unavailable() -> None:
    # Given a candidate with no text (e.g. finishReason SAFETY)
    blocked = {
        "candidates": [{"content": {"role": "model"}, "finishReason": "SAFETY", "index": 0}],
        "usageMetadata": {"promptTokenCount": 58},
    }
    http, _ = scripted(httpx.Response(200, json=blocked))

    # When / Then
    with pytest.raises(LlmUnavailable, match=r"^Gemini returned an empty answer$"):
        gemini_model(http).complete(SYSTEM_PROMPT, CONVERSATION)


def test_offline_model_answers_a_bill_with_what_was_read() -> None:
    # Given the user turn the media pipeline builds for a photographed electricity bill
    said = (
        "[imagem] [descrição offline] imagem PNG de 360×640 pixels\n"
        "Legenda do cliente: Segue minha conta de luz\n"
        "[conta de luz lida automaticamente; confiança alta] distribuidora: Enel SP; valor total: R$ 187,43; consumo: 245 kWh"
    )

    # When
    completion = LocalChatModel().complete(SYSTEM_PROMPT, [Turn("user", said, 1763722800)])

    # Then the bill's fields are in the answer (the quote of the turn is cut at 80 characters)
    assert completion.text.split("\n")[0] == (
        "🤖 [modo offline] Li sua conta de luz: distribuidora: Enel SP; valor total: R$ 187,43; consumo: 245 kWh. "
        "Vou repassar para a equipe preparar seu orçamento."
    )


# --- SDK clients: one per container, key and options ----------------------------------------------


def test_the_sdk_client_is_built_once_per_key_and_options() -> None:
    # Given the options a container builds once, and an equal copy of them
    http, _ = scripted(httpx.Response(599))
    options = LlmOptions(http_client=http)

    # When the same key asks twice, with the options or their copy
    first, again, copy = openai_client(OPENAI_KEY, options), openai_client(OPENAI_KEY, options), openai_client(OPENAI_KEY, replace(options))

    # Then one SDK client
    assert (again is first, copy is first) == (True, True)


def _another_http_client(options: LlmOptions) -> LlmOptions:
    return replace(options, http_client=scripted(httpx.Response(599))[0])


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("sk-proj-rotated", lambda options: options),
        (OPENAI_KEY, lambda options: replace(options, timeout_seconds=60.0)),
        (OPENAI_KEY, lambda options: replace(options, max_retries=0)),
        (OPENAI_KEY, lambda options: replace(options, openai_base_url="https://api.groq.com/openai/v1")),
        (OPENAI_KEY, _another_http_client),
    ],
    ids=["another-key", "timeout", "retries", "base-url", "http-client"],
)
def test_another_key_or_option_gets_another_sdk_client(key: str, change: Callable[[LlmOptions], LlmOptions]) -> None:
    # Given a client for the deployment's key and options
    options = LlmOptions(http_client=scripted(httpx.Response(599))[0])
    built = openai_client(OPENAI_KEY, options)

    # When the key or one option differs / Then another client
    assert openai_client(key, change(options)) is not built


def test_a_rotated_key_is_the_one_sent() -> None:
    # Given a model that answered with the old key, then the secret rotated
    http, seen = scripted(httpx.Response(200, json=OPENAI_OK))
    options = LlmOptions(max_retries=0, http_client=http)
    OpenAIChatModel(OPENAI_KEY, "gpt-4.1-mini", options).complete(SYSTEM_PROMPT, CONVERSATION)

    # When the next message builds its model with the new key
    OpenAIChatModel("sk-proj-rotated", "gpt-4.1-mini", options).complete(SYSTEM_PROMPT, CONVERSATION)

    # Then each request carried its own key
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {OPENAI_KEY}", "Bearer sk-proj-rotated"]


PROVIDER_ADAPTERS = {"openai": (OpenAIChatModel, OpenAITranscriber), "gemini": (GeminiChatModel, GeminiTranscriber)}


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_tenants_models_share_one_sdk_client_per_container(provider: str) -> None:
    # Given the deployment's keys and options, and a tenant on this provider
    tenant = Tenant(tenant_id="padaria-pao-quente", name="Padaria Pão Quente", llm_provider=provider)
    keys = LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY)
    options = LlmOptions(http_client=scripted(httpx.Response(599))[0])

    # When two messages each select the chat model, and media adapters are built with the same options
    chat = [select_chat_model(tenant, keys, options) for _ in range(2)]
    media = [select_transcriber(provider, keys, options, fallback=False), select_vision(provider, keys, options, fallback=False)]

    # Then all of them talk through one SDK client
    clients = {id(adapter._client) for adapter in [*chat, *media]}  # type: ignore[attr-defined]
    assert (len(clients), type(chat[0]), type(media[0])) == (1, *PROVIDER_ADAPTERS[provider])


def test_the_sdk_client_cache_is_bounded_and_holds_no_raw_key() -> None:
    # Given a client for the deployment's key
    options = LlmOptions(http_client=scripted(httpx.Response(599))[0])
    first = gemini_client(GEMINI_KEY, options)

    # When as many other keys as the cache holds are used (keys rotating, say)
    for n in range(SDK_CLIENTS_MAX):
        gemini_client(f"AIzaRotated{n}", options)

    # Then the oldest was let go (the next use builds it again), and no cache key holds a raw key
    assert (gemini_client(GEMINI_KEY, options) is first, any("AIza" in repr(key) for key in llm._sdk_clients)) == (False, False)


# --- one HTTP client stack -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_without_an_injected_client_the_sdks_still_send_through_httpx(provider: str) -> None:
    # Given the options Lambda runs with (no injected client)
    options = LlmOptions(timeout_seconds=7.0)

    # When the provider's SDK client is built
    if provider == "openai":
        transport = openai_client(OPENAI_KEY, options)._client
    else:
        transport = gemini_client(GEMINI_KEY, options)._api_client._httpx_client

    # Then its transport is an httpx client of ours (X-Ray instruments it; httpx2 carries nothing)
    assert type(transport) is httpx.Client
    assert transport.timeout == httpx.Timeout(7.0, connect=5.0)


def test_the_gemini_api_version_is_pinned_not_the_sdks_default() -> None:
    http, seen = scripted(httpx.Response(200, json=GEMINI_OK))
    gemini_model(http).complete(SYSTEM_PROMPT, CONVERSATION)
    assert seen[0].url.path == "/v1beta/models/gemini-2.5-flash:generateContent"


@pytest.mark.parametrize("setting", ["openai", "gemini", "local"])
def test_every_selected_chat_model_takes_tool_steps(setting: str) -> None:
    tenant = Tenant(tenant_id="padaria-pao-quente", name="Padaria Pão Quente", llm_provider=setting)
    keys = LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY)
    model = select_chat_model(tenant, keys, LlmOptions(http_client=scripted(httpx.Response(599))[0]))
    assert callable(model.step) and callable(model.complete)


def test_gemini_thinking_tokens_count_as_output() -> None:
    thinking = {**GEMINI_OK, "usageMetadata": {"promptTokenCount": 58, "candidatesTokenCount": 13, "thoughtsTokenCount": 96}}
    http, _ = scripted(httpx.Response(200, json=thinking))
    completion = gemini_model(http).complete(SYSTEM_PROMPT, CONVERSATION)
    assert (completion.input_tokens, completion.output_tokens) == (58, 13 + 96)
