"""WhaticketClient (POST /api/messages/send): exact requests, login-token caching and the error tree.

Reference: ../shared/docs/providers.md §3.1 (send route, static tokens, error bodies). The login
route (``POST /auth/login`` → ``{"token", "username", "profile", "userId"}``) and the 403 Whaticket
answers for an expired JWT are read from whaticket-community's SessionController and isAuth.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from atende.channels.outbound import OutboundInvalid, SentMessage
from atende.channels.whaticket_client import WhaticketClient, WhaticketCredentials, WhaticketTokenCache, whaticket_error
from atende.domain.messages import ContactRef, InboundMessage, MessageType, Provider
from atende.errors import ConfigError, ProviderAuthError, ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable

BASE_URL = "https://api.atendimento.padariaboasorte.com.br/"
SEND_URL = "https://api.atendimento.padariaboasorte.com.br/api/messages/send"
LOGIN_URL = "https://api.atendimento.padariaboasorte.com.br/auth/login"
API_TOKEN = "6f1c2b9e-4d3a-4e8b-9c7f-2a5d8e1b3c4f"  # community seeds userApiToken as a UUID
EMAIL = "atende.bot@padariaboasorte.com.br"
PASSWORD = "Pao-de-Queijo#2025"
CUSTOMER_NUMBER = "5511987654321"
NOW = 1_760_968_812.0
MINTED_ID = re.compile(r"wt-out-[0-9a-f]{32}")


def whaticket_jwt(*, issued: float = NOW, lifetime: float | None = 900, user_id: int = 7) -> str:
    """A JWT like Whaticket's createAccessToken signs (HS256, expiresIn 15 min; "usarname" is its spelling)."""
    claims: dict[str, Any] = {"usarname": "Atende Bot", "profile": "admin", "id": user_id, "companyId": 1, "iat": int(issued)}
    if lifetime is not None:
        claims["exp"] = int(issued + lifetime)
    return jwt.encode(claims, "whaticket-server-secret-not-ours-0001", algorithm="HS256")


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeWhaticket:
    """A Whaticket backend behind httpx.MockTransport: issues login tokens, accepts the tokens it trusts."""

    login_tokens: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    rejected_status: int = 401
    send_response: httpx.Response = field(default_factory=lambda: httpx.Response(200))
    login_response: httpx.Response | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/auth/login":
            if self.login_response is not None:
                return self.login_response
            if json.loads(request.content) != {"email": EMAIL, "password": PASSWORD}:
                return httpx.Response(401, json={"error": "ERR_INVALID_CREDENTIALS"})
            token = self.login_tokens.pop(0)
            self.accepted.add(token)
            return httpx.Response(200, json={"token": token, "username": "Atende Bot", "profile": "admin", "userId": 7})
        if request.url.path == "/api/messages/send":
            bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
            if bearer not in self.accepted:
                return httpx.Response(self.rejected_status, json={"error": "Invalid token. We'll try to assign a new one on next request"})
            return self.send_response
        return httpx.Response(404, text=f"Cannot POST {request.url.path}")

    def revoke(self, token: str) -> None:
        self.accepted.discard(token)

    @property
    def calls(self) -> list[tuple[str, str | None]]:
        """(path, bearer token) per request, in order."""
        return [(r.url.path, r.headers.get("authorization", "").removeprefix("Bearer ") or None) for r in self.requests]


def static_client(
    transport: httpx.BaseTransport,
    *,
    token: str = API_TOKEN,
    whatsapp_id: int | str | None = None,
    cache: WhaticketTokenCache | None = None,
) -> WhaticketClient:
    return WhaticketClient(
        httpx.Client(transport=transport),
        base_url=BASE_URL,
        credentials=WhaticketCredentials(token=token),
        token_cache=cache or WhaticketTokenCache(),
        whatsapp_id=whatsapp_id,
    )


def login_client(
    transport: httpx.BaseTransport, *, cache: WhaticketTokenCache, clock: Clock | None = None, email: str = EMAIL
) -> WhaticketClient:
    return WhaticketClient(
        httpx.Client(transport=transport),
        base_url=BASE_URL,
        credentials=WhaticketCredentials(email=email, password=PASSWORD),
        token_cache=cache,
        clock=clock or Clock(),
    )


# --- static API token --------------------------------------------------------------------------


def test_send_text_with_the_api_token_posts_the_exact_request() -> None:
    # Given a community backend trusting the API token
    server = FakeWhaticket(accepted={API_TOKEN})

    # When
    sent = static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Abrimos às 7h no domingo! 🥐")

    # Then
    (request,) = server.requests
    assert (request.method, str(request.url)) == ("POST", SEND_URL)
    assert request.headers["authorization"] == f"Bearer {API_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"number": CUSTOMER_NUMBER, "body": "Abrimos às 7h no domingo! 🥐"}
    assert MINTED_ID.fullmatch(sent.message_id)
    assert sent == SentMessage(message_id=sent.message_id, accepted_status=None)


def test_every_send_mints_a_new_id() -> None:
    # Given
    server = FakeWhaticket(accepted={API_TOKEN})
    client = static_client(server.transport())

    # When
    first, second = client.send_text(CUSTOMER_NUMBER, "Parte 1"), client.send_text(CUSTOMER_NUMBER, "Parte 2")

    # Then
    assert first.message_id != second.message_id
    assert all(MINTED_ID.fullmatch(sent.message_id) for sent in (first, second))


def test_configured_connection_is_sent_as_whatsapp_id() -> None:
    # Given a community backend with several connections
    server = FakeWhaticket(accepted={API_TOKEN})

    # When
    static_client(server.transport(), whatsapp_id=3).send_text(CUSTOMER_NUMBER, "Oi, Mariana!")

    # Then
    assert json.loads(server.requests[0].content) == {"number": CUSTOMER_NUMBER, "body": "Oi, Mariana!", "whatsappId": 3}


def test_reply_to_is_not_sent() -> None:
    # Given (quotedMsg wants Whaticket's own stored message; an unknown one fails the send)
    server = FakeWhaticket(accepted={API_TOKEN})

    # When
    static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Temos sim!", reply_to="3EB0B430B6F8C1D073A0")

    # Then
    assert json.loads(server.requests[0].content) == {"number": CUSTOMER_NUMBER, "body": "Temos sim!"}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200),
        httpx.Response(200, json={"mensagem": "Mensagem enviada"}),
        httpx.Response(201, text="OK"),
        httpx.Response(204),
    ],
    ids=["community-empty-200", "saas-mensagem", "201-text", "204"],
)
def test_any_2xx_is_success(response: httpx.Response) -> None:
    # Given
    server = FakeWhaticket(accepted={API_TOKEN}, send_response=response)

    # When / Then
    assert MINTED_ID.fullmatch(static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Oi").message_id)


@pytest.mark.parametrize(
    ("to", "number"),
    [("553188887766", "553188887766"), ("5511987654321@s.whatsapp.net", "5511987654321"), ("5511987654321@c.us", "5511987654321")],
    ids=["ddd31-digits", "baileys-jid", "wwebjs-jid"],
)
def test_send_text_sends_the_phone_number_digits(to: str, number: str) -> None:
    # Given
    server = FakeWhaticket(accepted={API_TOKEN})

    # When
    static_client(server.transport()).send_text(to, "Oi")

    # Then nothing is "repaired"
    assert json.loads(server.requests[0].content)["number"] == number


@pytest.mark.parametrize(
    "to",
    ["128743926501234@lid", "120363025246125244@g.us", "+55 11 98765-4321", "", "５５１１"],
    ids=["lid", "group", "formatted", "empty", "fullwidth-digits"],
)
def test_send_text_refuses_what_is_not_a_phone_number_before_any_call(to: str) -> None:
    # Given
    server = FakeWhaticket(accepted={API_TOKEN})

    # When / Then
    with pytest.raises(OutboundInvalid):
        static_client(server.transport()).send_text(to, "Oi")
    assert server.requests == []


def test_acknowledge_is_a_no_op() -> None:
    # Given
    server = FakeWhaticket(accepted={API_TOKEN})
    message = InboundMessage(
        tenant_id="padaria-boa-sorte",
        channel_id="whaticket#3",
        provider=Provider.WHATICKET,
        provider_message_id="3EB0B430B6F8C1D073A0",
        contact=ContactRef(contact_id="c_9f2e41d07a", wa_id=CUSTOMER_NUMBER, name="Mariana Souza"),
        timestamp=1760968812,
        type=MessageType.TEXT,
        text="Vocês abrem domingo?",
    )

    # When
    static_client(server.transport()).acknowledge(message)

    # Then
    assert server.requests == []


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_api_token_is_an_auth_error_without_login(status: int) -> None:
    # Given a backend whose API token was rotated (401 when missing, 403 when wrong)
    server = FakeWhaticket(accepted={"another-token"}, rejected_status=status)

    # When
    with pytest.raises(ProviderAuthError) as caught:
        static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Oi")

    # Then
    assert (caught.value.code, caught.value.http_status, caught.value.is_transient) == (status, status, False)
    assert server.calls == [("/api/messages/send", API_TOKEN)]


# --- login tokens ------------------------------------------------------------------------------


def test_login_then_send_with_the_jwt() -> None:
    # Given
    token = whaticket_jwt()
    server = FakeWhaticket(login_tokens=[token])

    # When
    login_client(server.transport(), cache=WhaticketTokenCache()).send_text(CUSTOMER_NUMBER, "Oi, Mariana!")

    # Then
    login, send = server.requests
    assert (login.method, str(login.url), "authorization" in login.headers) == ("POST", LOGIN_URL, False)
    assert json.loads(login.content) == {"email": EMAIL, "password": PASSWORD}
    assert (send.method, str(send.url), send.headers["authorization"]) == ("POST", SEND_URL, f"Bearer {token}")
    assert json.loads(send.content) == {"number": CUSTOMER_NUMBER, "body": "Oi, Mariana!"}


def test_one_login_for_two_sends() -> None:
    # Given
    token = whaticket_jwt()
    server = FakeWhaticket(login_tokens=[token])
    client = login_client(server.transport(), cache=WhaticketTokenCache())

    # When
    client.send_text(CUSTOMER_NUMBER, "Parte 1")
    client.send_text(CUSTOMER_NUMBER, "Parte 2")

    # Then
    assert server.calls == [("/auth/login", None), ("/api/messages/send", token), ("/api/messages/send", token)]


def test_the_cache_is_shared_by_clients_of_the_same_container() -> None:
    # Given two clients built for two records, sharing the container's cache
    token = whaticket_jwt()
    server = FakeWhaticket(login_tokens=[token])
    cache = WhaticketTokenCache()

    # When
    login_client(server.transport(), cache=cache).send_text(CUSTOMER_NUMBER, "Oi")
    login_client(server.transport(), cache=cache).send_text(CUSTOMER_NUMBER, "Oi de novo")

    # Then
    assert server.calls == [("/auth/login", None), ("/api/messages/send", token), ("/api/messages/send", token)]


def test_the_cache_is_keyed_by_account() -> None:
    # Given two accounts on the same backend
    first, second = whaticket_jwt(user_id=7), whaticket_jwt(user_id=8)
    server = FakeWhaticket(login_tokens=[first, second])
    cache = WhaticketTokenCache()
    other = WhaticketClient(
        httpx.Client(transport=server.transport()),
        base_url=BASE_URL,
        credentials=WhaticketCredentials(email="outra.loja@padariaboasorte.com.br", password=PASSWORD),
        token_cache=cache,
        clock=Clock(),
    )

    # When
    login_client(server.transport(), cache=cache).send_text(CUSTOMER_NUMBER, "Oi")
    with pytest.raises(ProviderAuthError):  # the fake only knows EMAIL: proves a second login was attempted
        other.send_text(CUSTOMER_NUMBER, "Oi")

    # Then
    assert server.calls == [("/auth/login", None), ("/api/messages/send", first), ("/auth/login", None)]
    assert json.loads(server.requests[2].content)["email"] == "outra.loja@padariaboasorte.com.br"


def test_token_is_refreshed_shortly_before_exp() -> None:
    # Given a 15-minute JWT and a clock we control
    first, second = whaticket_jwt(), whaticket_jwt(issued=NOW + 840)
    server = FakeWhaticket(login_tokens=[first, second])
    clock = Clock()
    client = login_client(server.transport(), cache=WhaticketTokenCache(), clock=clock)
    client.send_text(CUSTOMER_NUMBER, "Oi")

    # When one second before the 60 s safety margin, then at it
    clock.now = NOW + 900 - 60 - 1
    client.send_text(CUSTOMER_NUMBER, "Ainda válido")
    clock.now = NOW + 900 - 60
    client.send_text(CUSTOMER_NUMBER, "Renovado")

    # Then
    assert server.calls == [
        ("/auth/login", None),
        ("/api/messages/send", first),
        ("/api/messages/send", first),
        ("/auth/login", None),
        ("/api/messages/send", second),
    ]


@pytest.mark.parametrize("token", [whaticket_jwt(lifetime=None), "opaque-session-token-7f3a"], ids=["jwt-without-exp", "not-a-jwt"])
def test_token_without_exp_is_kept_ten_minutes(token: str) -> None:
    # Given
    server = FakeWhaticket(login_tokens=[token, "second-token"])
    clock = Clock()
    client = login_client(server.transport(), cache=WhaticketTokenCache(), clock=clock)
    client.send_text(CUSTOMER_NUMBER, "Oi")

    # When
    clock.now = NOW + 599
    client.send_text(CUSTOMER_NUMBER, "Ainda válido")
    clock.now = NOW + 600
    client.send_text(CUSTOMER_NUMBER, "Renovado")

    # Then
    assert server.calls == [
        ("/auth/login", None),
        ("/api/messages/send", token),
        ("/api/messages/send", token),
        ("/auth/login", None),
        ("/api/messages/send", "second-token"),
    ]


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_cached_token_logs_in_again_and_retries_once(status: int) -> None:
    # Given a cached JWT the backend stopped accepting (restart with a new secret, logout...)
    first, second = whaticket_jwt(), whaticket_jwt(issued=NOW + 1)
    server = FakeWhaticket(login_tokens=[first, second], rejected_status=status)
    client = login_client(server.transport(), cache=WhaticketTokenCache())
    client.send_text(CUSTOMER_NUMBER, "Oi")
    server.revoke(first)

    # When
    sent = client.send_text(CUSTOMER_NUMBER, "Seu pedido está pronto")

    # Then
    assert MINTED_ID.fullmatch(sent.message_id)
    assert server.calls == [
        ("/auth/login", None),
        ("/api/messages/send", first),
        ("/api/messages/send", first),
        ("/auth/login", None),
        ("/api/messages/send", second),
    ]
    assert json.loads(server.requests[-1].content) == {"number": CUSTOMER_NUMBER, "body": "Seu pedido está pronto"}


def test_second_rejection_after_login_is_an_auth_error() -> None:
    # Given a cached JWT, and a backend that rejects every JWT on the send route
    first, second = whaticket_jwt(), whaticket_jwt(issued=NOW + 1)
    server = FakeWhaticket(login_tokens=[second])
    cache = WhaticketTokenCache()
    cache.put((BASE_URL.rstrip("/"), EMAIL), first, NOW + 840)
    server.send_response = httpx.Response(401, json={"error": "ERR_SESSION_EXPIRED"})
    server.accepted = {first}

    # When
    with pytest.raises(ProviderAuthError) as caught:
        login_client(server.transport(), cache=cache).send_text(CUSTOMER_NUMBER, "Oi")

    # Then exactly one re-login and one retry
    assert (caught.value.code, caught.value.http_status) == (401, 401)
    assert server.calls == [("/api/messages/send", first), ("/auth/login", None), ("/api/messages/send", second)]


def test_a_fresh_token_that_is_rejected_is_not_retried() -> None:
    # Given a backend that never accepts JWTs on the send route
    token = whaticket_jwt()
    server = FakeWhaticket(login_tokens=[token], send_response=httpx.Response(403, json={"error": "Invalid token"}))

    # When
    with pytest.raises(ProviderAuthError) as caught:
        login_client(server.transport(), cache=WhaticketTokenCache()).send_text(CUSTOMER_NUMBER, "Oi")

    # Then
    assert caught.value.http_status == 403
    assert server.calls == [("/auth/login", None), ("/api/messages/send", token)]


def test_a_rejected_token_is_dropped_from_the_cache() -> None:
    # Given a cached token that fails, and a re-login that fails too
    first = whaticket_jwt()
    server = FakeWhaticket(login_tokens=[first])
    cache = WhaticketTokenCache()
    client = login_client(server.transport(), cache=cache)
    client.send_text(CUSTOMER_NUMBER, "Oi")
    server.revoke(first)
    server.login_response = httpx.Response(503, text="Service Unavailable")

    # When
    with pytest.raises(ProviderUnavailable):
        client.send_text(CUSTOMER_NUMBER, "Oi")

    # Then the next record starts with a login, not with the dead token
    assert cache.get((BASE_URL.rstrip("/"), EMAIL), NOW) is None


def test_discard_keeps_a_token_another_client_already_renewed() -> None:
    # Given a cache renewed by another client meanwhile
    cache = WhaticketTokenCache()
    key = ("https://api.atendimento.padariaboasorte.com.br", EMAIL)
    cache.put(key, "renewed", NOW + 600)

    # When
    cache.discard(key, "stale")

    # Then
    assert cache.get(key, NOW) == "renewed"


@pytest.mark.parametrize(
    ("response", "expected", "status"),
    [
        (httpx.Response(401, json={"error": "ERR_INVALID_CREDENTIALS"}), ProviderAuthError, 401),
        (httpx.Response(403, json={"error": "ERR_USER_INACTIVE"}), ProviderAuthError, 403),
        (httpx.Response(400, json={"error": "ERR_INVALID_CREDENTIALS"}), ProviderAuthError, 400),
        (httpx.Response(404, text="Cannot POST /auth/login"), ProviderAuthError, 404),
        (httpx.Response(429, text="Too Many Requests", headers={"retry-after": "12"}), ProviderRateLimited, 429),
        (httpx.Response(500, json={"error": "ERR_INTERNAL"}), ProviderUnavailable, 500),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), ProviderUnavailable, 502),
    ],
    ids=["401", "403", "400", "404", "429", "500", "502"],
)
def test_login_failures(response: httpx.Response, expected: type[ProviderError], status: int) -> None:
    # Given a login that fails
    server = FakeWhaticket(login_response=response)

    # When
    with pytest.raises(ProviderError) as caught:
        login_client(server.transport(), cache=WhaticketTokenCache()).send_text(CUSTOMER_NUMBER, "Oi")

    # Then wrong credentials or URL need the operator (never "rejected"), and nothing is sent
    assert (type(caught.value), caught.value.code, caught.value.http_status) == (expected, status, status)
    assert server.calls == [("/auth/login", None)]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"username": "Atende Bot"}),
        httpx.Response(200, json={"token": ""}),
        httpx.Response(200),
        httpx.Response(200, json=["t"]),
    ],
    ids=["no-token", "empty-token", "empty-body", "json-list"],
)
def test_login_2xx_without_a_token_is_unavailable(response: httpx.Response) -> None:
    # Given
    server = FakeWhaticket(login_response=response)

    # When / Then
    with pytest.raises(ProviderUnavailable, match="without a token"):
        login_client(server.transport(), cache=WhaticketTokenCache()).send_text(CUSTOMER_NUMBER, "Oi")
    assert server.calls == [("/auth/login", None)]


def test_login_transport_failure_is_unavailable() -> None:
    # Given a backend that cannot be reached
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    # When
    with pytest.raises(ProviderUnavailable) as caught:
        login_client(httpx.MockTransport(fail), cache=WhaticketTokenCache()).send_text(CUSTOMER_NUMBER, "Oi")

    # Then
    assert (str(caught.value), type(caught.value.__cause__)) == ("Whaticket login unreachable: ConnectError", httpx.ConnectError)


# --- errors, end to end ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (httpx.Response(400, json={"error": "ERR_WAPP_CHECK_CONTACT"}), ProviderRejected),
        (httpx.Response(400, json={"error": "Invalid number format. Only numbers is allowed."}), ProviderRejected),
        (httpx.Response(400, json={"error": "ERR_WAPP_NOT_INITIALIZED"}), ProviderUnavailable),
        (httpx.Response(400, json={"error": "ERR_SENDING_WAPP_MSG"}), ProviderUnavailable),
        (httpx.Response(422, json={"error": "ERR_INVALID"}), ProviderRejected),
        (httpx.Response(404, json={"error": "ERR_NO_WAPP_FOUND"}), ProviderAuthError),
        (httpx.Response(404, text="Cannot POST /api/messages/send"), ProviderAuthError),
        (httpx.Response(500, json={"error": "ERR_SENDING_WAPP_MSG"}), ProviderUnavailable),
        (httpx.Response(503, text="<html>maintenance</html>"), ProviderUnavailable),
        (httpx.Response(302, headers={"location": "https://login.example"}), ProviderUnavailable),
    ],
    ids=[
        "400-check-contact",
        "400-number-format",
        "400-session-down",
        "400-send-failed",
        "422",
        "404-connection",
        "404-route",
        "500",
        "503-html",
        "302",
    ],
)
def test_send_failures(response: httpx.Response, expected: type[ProviderError]) -> None:
    # Given
    server = FakeWhaticket(accepted={API_TOKEN}, send_response=response)

    # When
    with pytest.raises(ProviderError) as caught:
        static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Oi")

    # Then
    assert (type(caught.value), caught.value.code, caught.value.http_status) == (expected, response.status_code, response.status_code)


def test_rate_limited_carries_retry_after() -> None:
    # Given a reverse proxy limiting requests
    server = FakeWhaticket(accepted={API_TOKEN}, send_response=httpx.Response(429, headers={"retry-after": "4"}))

    # When
    with pytest.raises(ProviderRateLimited) as caught:
        static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Oi")

    # Then
    assert (caught.value.retry_after, caught.value.is_transient) == (4.0, True)


def test_errors_never_carry_the_number_the_text_or_a_secret() -> None:
    # Given error bodies echoing what we sent
    for status in (400, 401, 404, 422, 500):
        body = {"error": f"ERR_WAPP_CHECK_CONTACT {CUSTOMER_NUMBER} Seu pedido #4417 {API_TOKEN}"}
        server = FakeWhaticket(accepted={API_TOKEN}, send_response=httpx.Response(status, json=body))

        # When
        with pytest.raises(ProviderError) as caught:
            static_client(server.transport()).send_text(CUSTOMER_NUMBER, "Seu pedido #4417")

        # Then
        message = str(caught.value)
        assert (CUSTOMER_NUMBER in message, "4417" in message, API_TOKEN in message) == (False, False, False)


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
    ids=["read-timeout", "connect-timeout", "connect-error", "protocol-error"],
)
def test_transport_failure_is_unavailable(failure: type[httpx.TransportError]) -> None:
    # Given a network that fails before Whaticket answers
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    # When
    with pytest.raises(ProviderUnavailable) as caught:
        static_client(httpx.MockTransport(fail)).send_text(CUSTOMER_NUMBER, "Oi")

    # Then no httpx exception leaks, but it is kept as the cause
    assert (type(caught.value), caught.value.is_transient, type(caught.value.__cause__)) == (ProviderUnavailable, True, failure)


@pytest.mark.parametrize(
    ("http_status", "action", "expected", "transient"),
    [
        (400, "send", ProviderUnavailable, True),  # AppError's default: e.g. the WhatsApp session is down
        (422, "send", ProviderRejected, False),
        (404, "send", ProviderAuthError, False),
        (401, "send", ProviderAuthError, False),
        (403, "send", ProviderAuthError, False),
        (429, "send", ProviderRateLimited, True),
        (500, "send", ProviderUnavailable, True),
        (400, "login", ProviderAuthError, False),
        (422, "login", ProviderAuthError, False),
        (429, "login", ProviderRateLimited, True),
        (503, "login", ProviderUnavailable, True),
    ],
)
def test_whaticket_error_is_chosen_by_http_status(http_status: int, action: str, expected: type[ProviderError], transient: bool) -> None:
    # Given / When
    error = whaticket_error(http_status, action=action)

    # Then
    assert (type(error), error.code, error.http_status, error.is_transient) == (expected, http_status, http_status, transient)


# --- credentials -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"token": API_TOKEN, "email": EMAIL, "password": PASSWORD}, {"email": EMAIL}, {"password": PASSWORD}, {"token": ""}],
    ids=["nothing", "both", "email-only", "password-only", "empty-token"],
)
def test_credentials_need_exactly_one_way_in(kwargs: dict[str, str]) -> None:
    # Given / When / Then
    with pytest.raises(ConfigError):
        WhaticketCredentials(**kwargs)


def test_credentials_repr_hides_the_secrets() -> None:
    # Given / When
    shown = repr(WhaticketCredentials(email=EMAIL, password=PASSWORD)) + repr(WhaticketCredentials(token=API_TOKEN))

    # Then
    assert (PASSWORD in shown, API_TOKEN in shown, EMAIL in shown) == (False, False, True)
