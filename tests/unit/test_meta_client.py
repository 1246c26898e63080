"""MetaClient (Graph API outbound): exact requests and the error tree chosen by Meta's error code.

Reference: ../shared/docs/providers.md §1.7 (send, mark read, typing), §1.9-1.10 (limits, errors).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from atende.channels.meta_client import MetaClient, SentMessage, meta_error
from atende.errors import (
    OutsideServiceWindow,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from local.sandbox import GraphSandbox

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAPadariaToken"
PHONE_NUMBER_ID = "100000000000001"
MESSAGES_URL = "https://graph.facebook.com/v24.0/100000000000001/messages"
CUSTOMER_MESSAGE_ID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA=="


def client_for(transport: httpx.BaseTransport, token: str = ACCESS_TOKEN) -> MetaClient:
    return MetaClient(
        httpx.Client(transport=transport),
        base_url="https://graph.facebook.com/",
        api_version="v24.0",
        phone_number_id=PHONE_NUMBER_ID,
        access_token=token,
    )


def recording(respond: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(request)

    return httpx.MockTransport(handler), seen


def graph_error(code: int, message: str, *, details: str | None = None) -> dict[str, Any]:
    """Meta's synchronous error body (providers.md §1.10)."""
    error: dict[str, Any] = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123_xyz"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


ACCEPTED = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "5511987654321", "wa_id": "5511987654321"}],
    "messages": [{"id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ2QjdGOUE4QjVDMkQxRTNGAA==", "message_status": "accepted"}],
}


# --- requests, through the Graph sandbox ---------------------------------------------------


def test_send_text_to_a_wa_id_posts_the_exact_body() -> None:
    # Given the Graph sandbox accepting our token
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    sent = client_for(sandbox.transport()).send_text("5511987654321", "Abrimos às 7h no domingo! 🥐")

    # Then
    assert sent == SentMessage(message_id="wamid.SANDBOX00000001")
    assert [(c.phone_number_id, c.payload) for c in sandbox.calls] == [
        (
            PHONE_NUMBER_ID,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "5511987654321",
                "type": "text",
                "text": {"preview_url": False, "body": "Abrimos às 7h no domingo! 🥐"},
            },
        )
    ]


def test_send_text_to_a_ddd31_id_keeps_the_12_digits() -> None:
    # Given a DDD-31 customer's WhatsApp id as received
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    client_for(sandbox.transport()).send_text("553188887766", "O bolo de cenoura custa R$ 30.")

    # Then the id is sent exactly, without a 9th digit
    assert sandbox.calls[0].payload["to"] == "553188887766"


def test_send_text_to_a_bsuid_uses_recipient() -> None:
    # Given a username customer known only by BSUID
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    client_for(sandbox.transport()).send_text("BR.5566778899001122", "Fazemos entrega, sim!")

    # Then
    assert sandbox.calls[0].payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "BR.5566778899001122",
        "type": "text",
        "text": {"preview_url": False, "body": "Fazemos entrega, sim!"},
    }


def test_send_text_as_a_reply_quotes_the_customer_message() -> None:
    # Given the sandbox
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    client_for(sandbox.transport()).send_text(
        "5511987654321", "Veja: https://padaria.example/cardapio", reply_to=CUSTOMER_MESSAGE_ID, preview_url=True
    )

    # Then
    assert sandbox.calls[0].payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "text",
        "text": {"preview_url": True, "body": "Veja: https://padaria.example/cardapio"},
        "context": {"message_id": CUSTOMER_MESSAGE_ID},
    }


def test_mark_read_with_typing_indicator() -> None:
    # Given the sandbox
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    result = client_for(sandbox.transport()).mark_read(CUSTOMER_MESSAGE_ID)

    # Then
    assert result is None
    assert [c.payload for c in sandbox.reads] == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": CUSTOMER_MESSAGE_ID, "typing_indicator": {"type": "text"}}
    ]
    assert sandbox.sent == []


def test_mark_read_without_typing_indicator() -> None:
    # Given the sandbox
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    client_for(sandbox.transport()).mark_read(CUSTOMER_MESSAGE_ID, typing=False)

    # Then
    assert [c.payload for c in sandbox.reads] == [{"messaging_product": "whatsapp", "status": "read", "message_id": CUSTOMER_MESSAGE_ID}]


def test_request_url_headers_and_json() -> None:
    # Given a recording fake of the Graph API
    transport, seen = recording(lambda request: httpx.Response(200, json=ACCEPTED))

    # When
    sent = client_for(transport).send_text("5511987654321", "Olá, Mariana!")

    # Then
    assert sent == SentMessage(message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ2QjdGOUE4QjVDMkQxRTNGAA==", accepted_status="accepted")
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", MESSAGES_URL)
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "text",
        "text": {"preview_url": False, "body": "Olá, Mariana!"},
    }


# --- errors, end to end --------------------------------------------------------------------


def test_wrong_token_is_an_auth_error() -> None:
    # Given the sandbox, and a client with an expired token
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})

    # When
    with pytest.raises(ProviderAuthError) as caught:
        client_for(sandbox.transport(), token="EAAexpired").send_text("5511987654321", "Oi")

    # Then
    assert (type(caught.value), caught.value.code, caught.value.http_status, caught.value.is_transient) == (
        ProviderAuthError,
        190,
        401,
        False,
    )
    assert sandbox.calls == []


def test_reengagement_is_outside_service_window() -> None:
    # Given Meta refusing a free-form message after 24 h
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})
    sandbox.fail_next(400, 131047)

    # When
    with pytest.raises(OutsideServiceWindow) as caught:
        client_for(sandbox.transport()).send_text("5511987654321", "Ainda precisa de ajuda?")

    # Then
    assert (type(caught.value), caught.value.code, caught.value.http_status, caught.value.is_transient) == (
        OutsideServiceWindow,
        131047,
        400,
        False,
    )


def test_pair_rate_limit_carries_retry_after() -> None:
    # Given Meta's pair rate limit with a Retry-After header
    body = graph_error(
        131056,
        "(Business Account, Consumer Account) pair rate limit hit",
        details="Message failed to send because there were too many messages sent from this phone number "
        "to the same phone number in a short period of time.",
    )
    transport, seen = recording(lambda request: httpx.Response(400, json=body, headers={"retry-after": "6"}))

    # When
    with pytest.raises(ProviderRateLimited) as caught:
        client_for(transport).send_text("5511987654321", "Parte 2 de 3")

    # Then
    error = caught.value
    assert (type(error), error.code, error.http_status, error.retry_after, error.is_transient) == (
        ProviderRateLimited,
        131056,
        400,
        6.0,
        True,
    )
    assert len(seen) == 1


def test_http_429_without_code_is_rate_limited() -> None:
    # Given a proxy in front of Graph answering 429 with plain text
    transport, _ = recording(lambda request: httpx.Response(429, text="Too Many Requests", headers={"retry-after": "2.5"}))

    # When
    with pytest.raises(ProviderRateLimited) as caught:
        client_for(transport).send_text("5511987654321", "Oi")

    # Then
    assert (caught.value.code, caught.value.http_status, caught.value.retry_after) == (None, 429, 2.5)


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
    ids=["read-timeout", "connect-timeout", "connect-error", "protocol-error"],
)
def test_transport_failure_is_unavailable(failure: type[httpx.TransportError]) -> None:
    # Given a network that fails before Graph answers
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    # When
    with pytest.raises(ProviderUnavailable) as caught:
        client_for(httpx.MockTransport(fail)).send_text("5511987654321", "Oi")

    # Then no httpx exception leaks, but it is kept as the cause
    assert type(caught.value) is ProviderUnavailable
    assert caught.value.is_transient is True
    assert type(caught.value.__cause__) is failure


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"messaging_product": "whatsapp", "contacts": [], "messages": []}),
        httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"message_status": "accepted"}]}),
        httpx.Response(200, json={"success": True}),
        httpx.Response(200, text="<html>gateway</html>"),
    ],
    ids=["empty-messages", "no-id", "no-messages", "html"],
)
def test_2xx_without_a_message_id_is_unavailable(response: httpx.Response) -> None:
    # Given a 2xx that does not confirm the send / When
    with pytest.raises(ProviderUnavailable) as caught:
        client_for(httpx.MockTransport(lambda request: response)).send_text("5511987654321", "Oi")

    # Then
    assert (type(caught.value), caught.value.code) == (ProviderUnavailable, None)


def test_undecodable_response_is_unavailable() -> None:
    # Given a proxy that answers with a corrupt gzip body
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip"))

    # When / Then
    with pytest.raises(ProviderUnavailable):
        client_for(transport).send_text("5511987654321", "Oi")


# --- the error map ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http_status", "code", "expected", "transient"),
    [
        (400, 131047, OutsideServiceWindow, False),
        (400, 130429, ProviderRateLimited, True),
        (400, 131056, ProviderRateLimited, True),
        (400, 131057, ProviderRateLimited, True),
        (400, 4, ProviderRateLimited, True),
        (400, 80007, ProviderRateLimited, True),
        (401, 190, ProviderAuthError, False),
        (401, 0, ProviderAuthError, False),
        (403, 10, ProviderAuthError, False),
        (403, 200, ProviderAuthError, False),
        (500, 131000, ProviderUnavailable, True),
        (500, 1, ProviderUnavailable, True),
        (503, 2, ProviderUnavailable, True),
        (400, 100, ProviderRejected, False),
        (400, 131026, ProviderRejected, False),
        (400, 131009, ProviderRejected, False),
    ],
)
def test_meta_error_is_chosen_by_code(http_status: int, code: int, expected: type[ProviderError], transient: bool) -> None:
    # Given Meta's error body for this code / When
    error = meta_error(http_status, graph_error(code, "Injected"))

    # Then
    assert (type(error), error.code, error.http_status, error.is_transient) == (expected, code, http_status, transient)


def test_the_code_wins_over_the_http_status() -> None:
    # Given a rate-limit code on a 500 and the re-engagement code on a 401 / When / Then
    assert type(meta_error(500, graph_error(130429, "Rate limit hit"))) is ProviderRateLimited
    assert type(meta_error(401, graph_error(131047, "Re-engagement message"))) is OutsideServiceWindow


@pytest.mark.parametrize(
    ("http_status", "doc", "expected"),
    [
        (500, None, ProviderUnavailable),
        (502, {"error": "bad gateway"}, ProviderUnavailable),
        (429, None, ProviderRateLimited),
        (401, None, ProviderAuthError),
        (403, {"error": {"message": "forbidden"}}, ProviderAuthError),
        (400, None, ProviderRejected),
        (404, {"error": {"code": "100"}}, ProviderRejected),  # a code that is not an int is no code
    ],
    ids=["500", "502-string-error", "429", "401", "403-no-code", "400", "404-string-code"],
)
def test_meta_error_without_code_falls_back_on_http_status(http_status: int, doc: Any, expected: type[ProviderError]) -> None:
    # Given a response without a usable error.code / When
    error = meta_error(http_status, doc)

    # Then
    assert (type(error), error.code, error.http_status) == (expected, None, http_status)


@pytest.mark.parametrize(
    ("header", "seconds"), [("30", 30.0), ("0.5", 0.5), (None, None), ("", None), ("Wed, 21 Oct 2025 07:28:00 GMT", None)]
)
def test_retry_after_header_is_parsed_as_seconds(header: str | None, seconds: float | None) -> None:
    # Given a 130429 throughput limit with this Retry-After / When
    error = meta_error(400, graph_error(130429, "Rate limit hit"), header)

    # Then
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == seconds


def test_text_with_a_lone_surrogate_is_sent_with_a_replacement_character() -> None:
    # Given a reply that echoes a customer's malformed text (JSON allows "\\ud800" escapes)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.X"}]})

    client = MetaClient(
        httpx.Client(transport=httpx.MockTransport(handler)),
        base_url="https://graph.facebook.com",
        api_version="v24.0",
        phone_number_id="100000000000001",
        access_token="token",
    )
    # When / Then it is sent, not an encoding crash
    assert client.send_text("5511987654321", "Você disse: oi\ud800").message_id == "wamid.X"
    assert json.loads(seen[0].content)["text"]["body"] == "Você disse: oi?"
