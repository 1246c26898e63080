"""MetaClient (Graph API outbound): exact requests and the error tree chosen by Meta's error code.

Reference: ../shared/docs/providers.md §1.7 (send, mark read, typing), §1.9-1.10 (limits, errors).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from atende.channels.meta_client import MetaClient, SentMessage, meta_error
from atende.channels.outbound import Messenger, OutboundInvalid
from atende.channels.outbound import SentMessage as OutboundSentMessage
from atende.domain.messages import ContactRef, InboundMessage, MessageType, Provider
from atende.errors import (
    OutsideServiceWindow,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    SendOutcomeUnknown,
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
    ("failure", "expected"),
    [
        (httpx.ReadTimeout, SendOutcomeUnknown),  # the request went out: Meta may have accepted it
        (httpx.ConnectTimeout, ProviderUnavailable),
        (httpx.ConnectError, ProviderUnavailable),
        (httpx.RemoteProtocolError, SendOutcomeUnknown),  # the connection dropped after sending
    ],
    ids=["read-timeout", "connect-timeout", "connect-error", "protocol-error"],
)
def test_transport_failure_is_unavailable_and_a_lost_answer_is_unknown(failure: type[httpx.TransportError], expected: type) -> None:
    # Given a network that fails before Graph answers
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    # When
    with pytest.raises(ProviderUnavailable) as caught:
        client_for(httpx.MockTransport(fail)).send_text("5511987654321", "Oi")

    # Then: transient either way; only a lost answer makes the retry reconcile before resending
    assert type(caught.value) is expected
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
def test_2xx_without_a_message_id_is_treated_as_sent_never_retried(response: httpx.Response) -> None:
    # Given a 2xx that does not confirm the send / When
    sent = client_for(httpx.MockTransport(lambda request: response)).send_text("5511987654321", "Oi")

    # Then it counts as sent (a retry could reply twice), under an id of ours that says so
    assert sent.accepted_status == "unconfirmed"
    assert re.fullmatch(r"meta-unconfirmed-[0-9a-f]{32}", sent.message_id)


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


# --- every outbound action: exact request, limits checked before any HTTP call ------------------

WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ2QjdGOUE4QjVDMkQxRTNGAA=="
SENT = SentMessage(message_id=WAMID, accepted_status="accepted")


def accepting() -> tuple[MetaClient, list[httpx.Request]]:
    """A client whose Graph API accepts every send, and the requests it received."""
    transport, seen = recording(lambda request: httpx.Response(200, json=ACCEPTED))
    return client_for(transport), seen


def body_of(seen: list[httpx.Request]) -> dict[str, Any]:
    (request,) = seen
    assert (request.method, str(request.url), request.headers["authorization"]) == ("POST", MESSAGES_URL, f"Bearer {ACCESS_TOKEN}")
    return json.loads(request.content)


def to_mariana(kind: str, content: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "5511987654321", "type": kind, kind: content, **fields}


def test_sent_message_is_the_shared_outbound_type() -> None:
    # Given the provider-neutral result type / Then MetaClient returns exactly that class
    assert SentMessage is OutboundSentMessage


def test_acknowledge_marks_the_message_read_with_typing() -> None:
    # Given a customer's message and a client that satisfies the Messenger protocol
    client, seen = accepting()
    messenger: Messenger = client
    inbound = InboundMessage(
        tenant_id="padaria-pao-quente",
        channel_id="meta:100000000000001",
        provider=Provider.META,
        provider_message_id=CUSTOMER_MESSAGE_ID,
        contact=ContactRef(contact_id="c_5f2a", wa_id="5511987654321"),
        timestamp=1763722800,
        type=MessageType.TEXT,
        text="Olá!",
    )

    # When
    result = messenger.acknowledge(inbound)

    # Then one read receipt with the typing indicator, for that message id
    assert result is None
    assert body_of(seen) == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": CUSTOMER_MESSAGE_ID,
        "typing_indicator": {"type": "text"},
    }


def test_send_text_at_the_limit_is_sent() -> None:
    # Given a body of exactly 4096 characters / When
    client, seen = accepting()
    sent = client.send_text("5511987654321", "a" * 4096)

    # Then
    assert sent == SENT
    assert body_of(seen)["text"]["body"] == "a" * 4096


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_text("5511987654321", "a" * 4097), id="text-4097"),
        pytest.param(lambda c: c.send_text("5511987654321", ""), id="text-empty"),
        pytest.param(lambda c: c.send_text("5511987654321", " \n\t"), id="text-blank"),
        pytest.param(lambda c: c.send_text("", "Oi"), id="no-recipient"),
    ],
)
def test_invalid_text_is_refused_before_any_request(call: Callable[[MetaClient], Any]) -> None:
    # Given / When
    client, seen = accepting()
    with pytest.raises(OutboundInvalid):
        call(client)

    # Then Meta was never called
    assert seen == []


# --- media ---


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(
            lambda c: c.send_media("5511987654321", "image", media_id="1479537139650973", caption="Nosso bolo de cenoura 🥕"),
            to_mariana("image", {"id": "1479537139650973", "caption": "Nosso bolo de cenoura 🥕"}),
            id="image-id-caption",
        ),
        pytest.param(
            lambda c: c.send_media(
                "5511987654321",
                "document",
                link="https://padaria.example/cardapio-natal.pdf",
                caption="Cardápio de Natal",
                filename="cardapio-natal.pdf",
                reply_to=CUSTOMER_MESSAGE_ID,
            ),
            to_mariana(
                "document",
                {"link": "https://padaria.example/cardapio-natal.pdf", "caption": "Cardápio de Natal", "filename": "cardapio-natal.pdf"},
                context={"message_id": CUSTOMER_MESSAGE_ID},
            ),
            id="document-link-filename-reply",
        ),
        pytest.param(
            lambda c: c.send_media("5511987654321", "audio", media_id="1098765432109876"),
            to_mariana("audio", {"id": "1098765432109876"}),
            id="audio-id",
        ),
        pytest.param(
            lambda c: c.send_media("5511987654321", "video", link="https://padaria.example/fornada.mp4", caption="A fornada das 7h"),
            to_mariana("video", {"link": "https://padaria.example/fornada.mp4", "caption": "A fornada das 7h"}),
            id="video-link-caption",
        ),
        pytest.param(
            lambda c: c.send_media("5511987654321", "sticker", media_id="4455667788990011"),
            to_mariana("sticker", {"id": "4455667788990011"}),
            id="sticker-id",
        ),
        pytest.param(
            lambda c: c.send_media("5511987654321", "image", media_id="1479537139650973", caption="c" * 1024),
            to_mariana("image", {"id": "1479537139650973", "caption": "c" * 1024}),
            id="caption-at-limit",
        ),
    ],
)
def test_send_media_posts_the_exact_body(call: Callable[[MetaClient], SentMessage], expected: dict[str, Any]) -> None:
    # Given Graph accepting the send / When
    client, seen = accepting()
    sent = call(client)

    # Then
    assert sent == SENT
    assert body_of(seen) == expected


def test_send_media_to_a_bsuid_uses_recipient() -> None:
    # Given a username customer / When
    client, seen = accepting()
    client.send_media("BR.5566778899001122", "image", media_id="1479537139650973")

    # Then
    assert body_of(seen) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "BR.5566778899001122",
        "type": "image",
        "image": {"id": "1479537139650973"},
    }


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_media("5511987654321", "image"), id="neither-id-nor-link"),
        pytest.param(
            lambda c: c.send_media("5511987654321", "image", media_id="1479537139650973", link="https://padaria.example/a.jpg"), id="both"
        ),
        pytest.param(lambda c: c.send_media("5511987654321", "image", media_id=""), id="empty-id"),
        pytest.param(lambda c: c.send_media("5511987654321", "image", link="file:///etc/passwd"), id="link-not-http"),
        pytest.param(lambda c: c.send_media("5511987654321", "gif", media_id="1"), id="unknown-kind"),  # type: ignore[arg-type]
        pytest.param(lambda c: c.send_media("5511987654321", "audio", media_id="1", caption="Ouça"), id="audio-caption"),
        pytest.param(lambda c: c.send_media("5511987654321", "sticker", media_id="1", caption="😀"), id="sticker-caption"),
        pytest.param(lambda c: c.send_media("5511987654321", "image", media_id="1", filename="foto.jpg"), id="image-filename"),
        pytest.param(lambda c: c.send_media("5511987654321", "image", media_id="1", caption="c" * 1025), id="caption-1025"),
        pytest.param(lambda c: c.send_media("5511987654321", "document", media_id="1", filename=""), id="empty-filename"),
    ],
)
def test_invalid_media_is_refused_before_any_request(call: Callable[[MetaClient], Any]) -> None:
    # Given / When
    client, seen = accepting()
    with pytest.raises(OutboundInvalid):
        call(client)

    # Then
    assert seen == []


# --- template, reaction ---


def test_send_template_posts_name_language_and_components() -> None:
    # Given a utility template with one body parameter / When
    client, seen = accepting()
    sent = client.send_template(
        "5511987654321",
        "encomenda_pronta",
        "pt_BR",
        components=[{"type": "body", "parameters": [{"type": "text", "text": "Mariana"}]}],
    )

    # Then
    assert sent == SENT
    assert body_of(seen) == to_mariana(
        "template",
        {
            "name": "encomenda_pronta",
            "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Mariana"}]}],
        },
    )


def test_send_template_without_components_and_with_an_unencodable_parameter() -> None:
    # Given a template without parameters, then one whose parameter echoes a malformed customer name
    client, seen = accepting()

    # When
    client.send_template("5511987654321", "hello_world", "en_US")
    greeting = [{"type": "body", "parameters": [{"type": "text", "text": "Ana\ud800"}]}]
    client.send_template("5511987654321", "boas_vindas", "pt_BR", components=greeting)

    # Then no components key at all for the first; the lone surrogate replaced in the second
    assert [json.loads(r.content)["template"] for r in seen] == [
        {"name": "hello_world", "language": {"code": "en_US"}},
        {
            "name": "boas_vindas",
            "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana?"}]}],
        },
    ]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_template("5511987654321", "", "pt_BR"), id="no-name"),
        pytest.param(lambda c: c.send_template("5511987654321", "encomenda_pronta", ""), id="no-language"),
        pytest.param(lambda c: c.send_reaction("5511987654321", "", "👍"), id="reaction-no-target"),
    ],
)
def test_invalid_template_or_reaction_is_refused_before_any_request(call: Callable[[MetaClient], Any]) -> None:
    # Given / When
    client, seen = accepting()
    with pytest.raises(OutboundInvalid):
        call(client)

    # Then
    assert seen == []


@pytest.mark.parametrize(("emoji", "meaning"), [("🥐", "react"), ("", "remove")], ids=["react", "remove"])
def test_send_reaction_posts_the_target_and_emoji(emoji: str, meaning: str) -> None:
    # Given / When
    client, seen = accepting()
    sent = client.send_reaction("5511987654321", CUSTOMER_MESSAGE_ID, emoji)

    # Then an empty emoji is sent as such (Meta removes the reaction)
    assert sent == SENT
    assert body_of(seen) == to_mariana("reaction", {"message_id": CUSTOMER_MESSAGE_ID, "emoji": emoji})


# --- reply buttons ---


def test_send_buttons_posts_the_exact_interactive_body() -> None:
    # Given three choices with header, footer, quoting the customer / When
    client, seen = accepting()
    sent = client.send_buttons(
        "5511987654321",
        "Sua encomenda de bolo de cenoura está pronta. Como prefere receber?",
        [("retirar", "Retirar na loja"), ("entregar", "Entregar em casa"), ("atendente", "Falar com atendente")],
        header="Encomenda #4821",
        footer="Padaria Pão Quente",
        reply_to=CUSTOMER_MESSAGE_ID,
    )

    # Then
    assert sent == SENT
    assert body_of(seen) == to_mariana(
        "interactive",
        {
            "type": "button",
            "header": {"type": "text", "text": "Encomenda #4821"},
            "body": {"text": "Sua encomenda de bolo de cenoura está pronta. Como prefere receber?"},
            "footer": {"text": "Padaria Pão Quente"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "retirar", "title": "Retirar na loja"}},
                    {"type": "reply", "reply": {"id": "entregar", "title": "Entregar em casa"}},
                    {"type": "reply", "reply": {"id": "atendente", "title": "Falar com atendente"}},
                ]
            },
        },
        context={"message_id": CUSTOMER_MESSAGE_ID},
    )


def test_send_buttons_at_every_limit_is_sent() -> None:
    # Given one button with a 256-char id and 20-char title, body 1024, header and footer 60 / When
    client, seen = accepting()
    client.send_buttons("5511987654321", "b" * 1024, [("i" * 256, "t" * 20)], header="h" * 60, footer="f" * 60)

    # Then
    interactive = body_of(seen)["interactive"]
    assert interactive == {
        "type": "button",
        "header": {"type": "text", "text": "h" * 60},
        "body": {"text": "b" * 1024},
        "footer": {"text": "f" * 60},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "i" * 256, "title": "t" * 20}}]},
    }


BUTTONS = [("sim", "Sim"), ("nao", "Não")]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", []), id="no-buttons"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Escolha", [(f"b{i}", f"Opção {i}") for i in range(4)]), id="four-buttons"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", [("sim", "t" * 21)]), id="title-21"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", [("sim", "")]), id="title-empty"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", [("i" * 257, "Sim")]), id="id-257"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", [("", "Sim")]), id="id-empty"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", [("sim", "Sim"), ("sim", "Claro")]), id="duplicate-id"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", [("sim", "Sim"), ("ok", "Sim")]), id="duplicate-title"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "b" * 1025, BUTTONS), id="body-1025"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "", BUTTONS), id="body-empty"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", BUTTONS, header="h" * 61), id="header-61"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", BUTTONS, footer="f" * 61), id="footer-61"),
    ],
)
def test_invalid_buttons_are_refused_before_any_request(call: Callable[[MetaClient], Any]) -> None:
    # Given / When
    client, seen = accepting()
    with pytest.raises(OutboundInvalid):
        call(client)

    # Then
    assert seen == []


# --- list ---


def test_send_list_posts_the_exact_interactive_body() -> None:
    # Given two titled sections with and without row descriptions / When
    client, seen = accepting()
    sent = client.send_list(
        "5511987654321",
        "Escolha a região de entrega:",
        "Ver regiões",
        [
            ("Capital", [("zona_sul", "Zona Sul", "Entrega em até 60 min — R$ 8,00"), ("centro", "Centro", None)]),
            ("Grande SP", [("osasco", "Osasco", "Entrega no dia seguinte")]),
        ],
        header="Entrega",
        footer="Pedidos até 18h",
        reply_to=CUSTOMER_MESSAGE_ID,
    )

    # Then
    assert sent == SENT
    assert body_of(seen) == to_mariana(
        "interactive",
        {
            "type": "list",
            "header": {"type": "text", "text": "Entrega"},
            "body": {"text": "Escolha a região de entrega:"},
            "footer": {"text": "Pedidos até 18h"},
            "action": {
                "button": "Ver regiões",
                "sections": [
                    {
                        "title": "Capital",
                        "rows": [
                            {"id": "zona_sul", "title": "Zona Sul", "description": "Entrega em até 60 min — R$ 8,00"},
                            {"id": "centro", "title": "Centro"},
                        ],
                    },
                    {"title": "Grande SP", "rows": [{"id": "osasco", "title": "Osasco", "description": "Entrega no dia seguinte"}]},
                ],
            },
        },
        context={"message_id": CUSTOMER_MESSAGE_ID},
    )


def test_send_list_with_one_untitled_section() -> None:
    # Given a single section: its title is optional / When
    client, seen = accepting()
    client.send_list("5511987654321", "Qual sabor?", "Sabores", [(None, [("cenoura", "Cenoura", None), ("fuba", "Fubá", None)])])

    # Then
    assert body_of(seen)["interactive"] == {
        "type": "list",
        "body": {"text": "Qual sabor?"},
        "action": {"button": "Sabores", "sections": [{"rows": [{"id": "cenoura", "title": "Cenoura"}, {"id": "fuba", "title": "Fubá"}]}]},
    }


def test_send_list_at_every_limit_is_sent() -> None:
    # Given ten sections of one row each, every text at its maximum length / When
    client, seen = accepting()
    sections = [(f"{i}" + "s" * 23, [(f"{i}" + "r" * 199, f"{i}" + "t" * 23, "d" * 72)]) for i in range(10)]
    client.send_list("5511987654321", "b" * 4096, "l" * 20, sections, header="h" * 60, footer="f" * 60)

    # Then
    action = body_of(seen)["interactive"]["action"]
    assert action == {
        "button": "l" * 20,
        "sections": [
            {"title": f"{i}" + "s" * 23, "rows": [{"id": f"{i}" + "r" * 199, "title": f"{i}" + "t" * 23, "description": "d" * 72}]}
            for i in range(10)
        ],
    }


ROWS = [("cenoura", "Cenoura", None)]


def many_sections(count: int) -> list[tuple[str | None, list[tuple[str, str, str | None]]]]:
    return [(f"Seção {i}", [(f"row{i}", f"Item {i}", None)]) for i in range(count)]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", []), id="no-sections"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", many_sections(11)), id="eleven-sections"),
        pytest.param(
            lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, [(f"r{i}", f"Item {i}", None) for i in range(11)])]),
            id="eleven-rows-one-section",
        ),
        pytest.param(
            lambda c: c.send_list(
                "5511987654321",
                "Qual?",
                "Ver",
                [("A", [(f"a{i}", f"A {i}", None) for i in range(6)]), ("B", [(f"b{i}", f"B {i}", None) for i in range(5)])],
            ),
            id="eleven-rows-across-sections",
        ),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, [])]), id="no-rows"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [("A", ROWS), ("B", [])]), id="empty-section"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, [("r", "t" * 25, None)])]), id="row-title-25"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, [("r", "", None)])]), id="row-title-empty"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, [("r", "Item", "d" * 73)])]), id="description-73"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, [("r" * 201, "Item", None)])]), id="row-id-201"),
        pytest.param(
            lambda c: c.send_list("5511987654321", "Qual?", "Ver", [("A", [("x", "Um", None)]), ("B", [("x", "Dois", None)])]),
            id="duplicate-row-id-across-sections",
        ),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [("s" * 25, ROWS)]), id="section-title-25"),
        pytest.param(
            lambda c: c.send_list("5511987654321", "Qual?", "Ver", [("A", ROWS), (None, [("fuba", "Fubá", None)])]),
            id="untitled-section-among-several",
        ),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "l" * 21, [(None, ROWS)]), id="button-label-21"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "", [(None, ROWS)]), id="button-label-empty"),
        pytest.param(lambda c: c.send_list("5511987654321", "b" * 4097, "Ver", [(None, ROWS)]), id="body-4097"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, ROWS)], header="h" * 61), id="header-61"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, ROWS)], footer="f" * 61), id="footer-61"),
    ],
)
def test_invalid_list_is_refused_before_any_request(call: Callable[[MetaClient], Any]) -> None:
    # Given / When
    client, seen = accepting()
    with pytest.raises(OutboundInvalid):
        call(client)

    # Then
    assert seen == []


# --- the shared error map applies to every send -------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.send_media("5511987654321", "image", media_id="1479537139650973"), id="media"),
        pytest.param(lambda c: c.send_buttons("5511987654321", "Confirma?", BUTTONS), id="buttons"),
        pytest.param(lambda c: c.send_list("5511987654321", "Qual?", "Ver", [(None, ROWS)]), id="list"),
        pytest.param(lambda c: c.send_reaction("5511987654321", CUSTOMER_MESSAGE_ID, "👍"), id="reaction"),
    ],
)
def test_every_send_maps_meta_errors(call: Callable[[MetaClient], Any]) -> None:
    # Given the sandbox refusing the next send as outside the 24-hour window
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})
    sandbox.fail_next(400, 131047)

    # When / Then
    with pytest.raises(OutsideServiceWindow) as caught:
        call(client_for(sandbox.transport()))
    assert (caught.value.code, caught.value.http_status) == (131047, 400)


def test_template_send_through_the_sandbox_returns_its_id() -> None:
    # Given the Graph sandbox / When
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})
    sent = client_for(sandbox.transport()).send_template("5511987654321", "encomenda_pronta", "pt_BR")

    # Then
    assert sent == SentMessage(message_id="wamid.SANDBOX00000001")
    assert [c.payload["template"] for c in sandbox.sent] == [{"name": "encomenda_pronta", "language": {"code": "pt_BR"}}]


def test_send_without_a_message_id_is_treated_as_sent() -> None:
    # Given a 2xx that does not confirm the send / When / Then
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"success": True}))
    assert client_for(transport).send_buttons("5511987654321", "Confirma?", BUTTONS).accepted_status == "unconfirmed"


def test_button_texts_with_lone_surrogates_are_made_encodable() -> None:
    # Given a title that echoes malformed customer text / When
    client, seen = accepting()
    client.send_buttons("5511987654321", "Você quis dizer\ud800?", [("sim", "Sim\ud800")])

    # Then
    interactive = body_of(seen)["interactive"]
    assert (interactive["body"]["text"], interactive["action"]["buttons"][0]["reply"]["title"]) == ("Você quis dizer??", "Sim?")
