"""EvolutionClient (Evolution API v2 outbound): exact requests and the error tree chosen by HTTP status.

Reference: ../shared/docs/providers.md §2.6 (routes, bodies, 201, blocking presence, getBase64), §2.7 (errors).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from atende.channels.evolution_client import DownloadedMedia, EvolutionClient, evolution_error
from atende.channels.outbound import OutboundInvalid, SentMessage
from atende.domain.messages import ContactRef, InboundMessage, MessageType, Provider
from atende.errors import MediaUnavailable, ProviderAuthError, ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable

BASE_URL = "https://evo.padariaboasorte.com.br/"
INSTANCE = "Padaria Boa Sorte"
INSTANCE_PATH = "Padaria%20Boa%20Sorte"
API_KEY = "B6D711FCDE4D4FD5936544120E713976"
CUSTOMER_JID = "5511987654321@s.whatsapp.net"
CUSTOMER_LID = "128743926501234@lid"
CUSTOMER_MESSAGE_ID = "3EB0B430B6F8C1D073A0"
SENT_MESSAGE_ID = "3EB0A9C4E1F7D2B85C61"
INSTANCE_ID = "0b7c2d4e-5f61-4a8b-9c3d-e2f1a0b9c8d7"


def url(group: str, action: str) -> str:
    return f"https://evo.padariaboasorte.com.br/{group}/{action}/{INSTANCE_PATH}"


def client_for(transport: httpx.BaseTransport, *, presence_ms: int = 0, timeout: float = 10.0) -> EvolutionClient:
    return EvolutionClient(
        httpx.Client(transport=transport, timeout=timeout),
        base_url=BASE_URL,
        instance=INSTANCE,
        api_key=API_KEY,
        presence_ms=presence_ms,
    )


def recording(respond: Callable[[httpx.Request], httpx.Response]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(request)

    return httpx.MockTransport(handler), seen


def answering(status: int, body: Any) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    return recording(lambda request: httpx.Response(status, json=body))


def sent_text(message_id: str = SENT_MESSAGE_ID, *, remote_jid: str = CUSTOMER_JID, text: str = "Oi") -> dict[str, Any]:
    """What /message/sendText answers with 201: the prepared message, status PENDING (providers.md §2.5-2.6)."""
    return {
        "key": {"remoteJid": remote_jid, "fromMe": True, "id": message_id},
        "pushName": "",
        "status": "PENDING",
        "message": {"conversation": text},
        "contextInfo": None,
        "messageType": "conversation",
        "messageTimestamp": 1760968815,
        "instanceId": INSTANCE_ID,
        "source": "unknown",
    }


def evolution_failure(status: int, error: str, message: Any) -> dict[str, Any]:
    """Evolution's error middleware body (providers.md §2.7)."""
    return {"status": status, "error": error, "response": {"message": message}}


NOT_ON_WHATSAPP = evolution_failure(
    400, "Bad Request", [{"exists": False, "jid": "5511912345678@s.whatsapp.net", "number": "5511912345678"}]
)
READ_OK = {"message": "Read messages", "read": "success"}
# The start of a voice note as WhatsApp stores it: an Ogg page carrying the OpusHead header.
VOICE_NOTE = (
    b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x8e\x1b\x1d\x5f\x00\x00\x00\x00\x91\x0b\x0e\x8c\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb"
)


def media_document(data: bytes = VOICE_NOTE, *, file_length: Any = None) -> dict[str, Any]:
    """What /chat/getBase64FromMediaMessage answers for a voice note (providers.md §2.6)."""
    return {
        "mediaType": "audioMessage",
        "fileName": None,
        "caption": None,
        "size": {"fileLength": len(data) if file_length is None else file_length, "height": None, "width": None},
        "mimetype": "audio/ogg; codecs=opus",
        "base64": base64.b64encode(data).decode("ascii"),
        "buffer": None,
    }


def inbound(*, jid: str = CUSTOMER_JID) -> InboundMessage:
    return InboundMessage(
        tenant_id="padaria-boa-sorte",
        channel_id="evolution#Padaria Boa Sorte",
        provider=Provider.EVOLUTION,
        provider_message_id=CUSTOMER_MESSAGE_ID,
        contact=ContactRef(contact_id="c_9f2e41d07a", wa_id="5511987654321", name="Mariana Souza", jid=jid),
        timestamp=1760968812,
        type=MessageType.TEXT,
        text="Vocês abrem domingo?",
    )


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


# --- requests --------------------------------------------------------------------------------


def test_send_text_posts_the_exact_request() -> None:
    # Given Evolution accepting the message
    transport, seen = answering(201, sent_text(text="Abrimos às 7h no domingo! 🥐"))

    # When
    sent = client_for(transport).send_text(CUSTOMER_JID, "Abrimos às 7h no domingo! 🥐")

    # Then
    assert sent == SentMessage(message_id=SENT_MESSAGE_ID, accepted_status="PENDING")
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", url("message", "sendText"))
    assert request.headers["apikey"] == API_KEY
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert sent_json(request) == {"number": CUSTOMER_JID, "text": "Abrimos às 7h no domingo! 🥐"}


def test_send_text_as_a_reply_quotes_the_customer_message() -> None:
    # Given
    transport, seen = answering(201, sent_text())

    # When
    client_for(transport).send_text(CUSTOMER_JID, "Temos sim, o de cenoura com chocolate.", reply_to=CUSTOMER_MESSAGE_ID)

    # Then
    assert sent_json(seen[0]) == {
        "number": CUSTOMER_JID,
        "text": "Temos sim, o de cenoura com chocolate.",
        "quoted": {"key": {"id": CUSTOMER_MESSAGE_ID}},
    }


@pytest.mark.parametrize("address", [CUSTOMER_LID, "553188887766@s.whatsapp.net", "553188887766"], ids=["lid", "ddd31-jid", "digits"])
def test_send_text_sends_the_address_exactly_as_received(address: str) -> None:
    # Given a customer known by a LID, a 12-digit DDD-31 JID or bare digits
    transport, seen = answering(201, sent_text(remote_jid=address))

    # When
    client_for(transport).send_text(address, "Oi!")

    # Then nothing is "repaired"
    assert sent_json(seen[0])["number"] == address


def test_send_text_accepts_200_as_well_as_201() -> None:
    # Given a server (or proxy) answering 200
    transport, _ = answering(200, sent_text())

    # When / Then
    assert client_for(transport).send_text(CUSTOMER_JID, "Oi").message_id == SENT_MESSAGE_ID


def test_send_text_with_a_lone_surrogate_is_sent_with_a_replacement_character() -> None:
    # Given a reply echoing a customer's malformed text
    transport, seen = answering(201, sent_text())

    # When
    client_for(transport).send_text(CUSTOMER_JID, "Você disse: oi\ud800")

    # Then it is sent, not an encoding crash
    assert sent_json(seen[0])["text"] == "Você disse: oi?"


def test_instance_name_is_quoted_in_the_path() -> None:
    # Given an instance whose name needs escaping
    transport, seen = answering(201, sent_text())
    client = EvolutionClient(httpx.Client(transport=transport), base_url=BASE_URL, instance="loja/centro #2", api_key=API_KEY)

    # When
    client.send_text(CUSTOMER_JID, "Oi")

    # Then
    assert seen[0].url.raw_path == b"/message/sendText/loja%2Fcentro%20%232"


def test_send_media_by_url_posts_the_exact_request() -> None:
    # Given
    transport, seen = answering(201, {**sent_text(), "messageType": "documentMessage"})

    # When
    sent = client_for(transport).send_media(
        CUSTOMER_JID,
        "document",
        "https://cdn.padariaboasorte.com.br/cardapio-outubro.pdf",
        mimetype="application/pdf",
        caption="Nosso cardápio de outubro",
        file_name="cardapio-outubro.pdf",
    )

    # Then
    assert sent == SentMessage(message_id=SENT_MESSAGE_ID, accepted_status="PENDING")
    (request,) = seen
    assert (request.method, str(request.url), request.headers["apikey"]) == ("POST", url("message", "sendMedia"), API_KEY)
    assert sent_json(request) == {
        "number": CUSTOMER_JID,
        "mediatype": "document",
        "media": "https://cdn.padariaboasorte.com.br/cardapio-outubro.pdf",
        "mimetype": "application/pdf",
        "caption": "Nosso cardápio de outubro",
        "fileName": "cardapio-outubro.pdf",
    }


def test_send_media_as_raw_base64_sends_only_what_is_given() -> None:
    # Given
    transport, seen = answering(201, sent_text())
    picture = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00").decode("ascii")

    # When
    client_for(transport).send_media(CUSTOMER_JID, "image", picture)

    # Then
    assert sent_json(seen[0]) == {"number": CUSTOMER_JID, "mediatype": "image", "media": picture}


@pytest.mark.parametrize(
    ("mediatype", "media"),
    [("sticker", "https://cdn.example/s.webp"), ("image", ""), ("image", "data:image/jpeg;base64,/9j/4AAQ")],
    ids=["unknown-mediatype", "empty-media", "data-uri"],
)
def test_send_media_refuses_what_evolution_cannot_take_before_any_call(mediatype: Any, media: str) -> None:
    # Given
    transport, seen = answering(201, sent_text())

    # When / Then
    with pytest.raises(OutboundInvalid):
        client_for(transport).send_media(CUSTOMER_JID, mediatype, media)
    assert seen == []


def test_send_reaction_posts_the_exact_request() -> None:
    # Given
    transport, seen = answering(201, {**sent_text(), "messageType": "reactionMessage"})

    # When
    sent = client_for(transport).send_reaction(CUSTOMER_JID, CUSTOMER_MESSAGE_ID, "👍")

    # Then
    assert sent == SentMessage(message_id=SENT_MESSAGE_ID, accepted_status="PENDING")
    (request,) = seen
    assert (request.method, str(request.url), request.headers["apikey"]) == ("POST", url("message", "sendReaction"), API_KEY)
    assert sent_json(request) == {"key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": CUSTOMER_MESSAGE_ID}, "reaction": "👍"}


def test_removing_a_reaction_on_our_own_message() -> None:
    # Given
    transport, seen = answering(201, sent_text())

    # When
    client_for(transport).send_reaction(CUSTOMER_JID, SENT_MESSAGE_ID, "", from_me=True)

    # Then
    assert sent_json(seen[0]) == {"key": {"remoteJid": CUSTOMER_JID, "fromMe": True, "id": SENT_MESSAGE_ID}, "reaction": ""}


def test_mark_read_posts_the_exact_request() -> None:
    # Given
    transport, seen = answering(201, READ_OK)

    # When
    client_for(transport).mark_read(CUSTOMER_JID, CUSTOMER_MESSAGE_ID)

    # Then
    (request,) = seen
    assert (request.method, str(request.url), request.headers["apikey"]) == ("POST", url("chat", "markMessageAsRead"), API_KEY)
    assert sent_json(request) == {"readMessages": [{"remoteJid": CUSTOMER_JID, "fromMe": False, "id": CUSTOMER_MESSAGE_ID}]}


# --- presence: the call blocks server-side for `delay` ms -----------------------------------------


def test_send_presence_posts_the_delay_and_waits_for_it() -> None:
    # Given a client whose default timeout is 10 s
    transport, seen = answering(201, {"presence": "composing"})

    # When
    client_for(transport).send_presence(CUSTOMER_JID, delay_ms=1200)

    # Then the body, and a read timeout of the delay plus a margin (connect timeout unchanged)
    (request,) = seen
    assert (request.method, str(request.url), request.headers["apikey"]) == ("POST", url("chat", "sendPresence"), API_KEY)
    assert sent_json(request) == {"number": CUSTOMER_JID, "presence": "composing", "delay": 1200}
    assert request.extensions["timeout"] == {"connect": 10.0, "read": 6.2, "write": 6.2, "pool": 6.2}


@pytest.mark.parametrize(("asked", "sent"), [(8000, 3000), (3000, 3000), (2999, 2999), (-5, 0)])
def test_send_presence_caps_the_delay_at_3_seconds(asked: int, sent: int) -> None:
    # Given
    transport, seen = answering(201, {"presence": "recording"})

    # When
    client_for(transport).send_presence(CUSTOMER_JID, presence="recording", delay_ms=asked)

    # Then
    assert sent_json(seen[0]) == {"number": CUSTOMER_JID, "presence": "recording", "delay": sent}
    assert seen[0].extensions["timeout"]["read"] == pytest.approx(sent / 1000 + 5.0)


def test_send_presence_refuses_an_unknown_presence() -> None:
    # Given
    transport, seen = answering(201, {"presence": "typing"})

    # When / Then
    with pytest.raises(OutboundInvalid):
        client_for(transport).send_presence(CUSTOMER_JID, presence="typing", delay_ms=1000)  # type: ignore[arg-type]
    assert seen == []


def test_other_calls_keep_the_client_timeout() -> None:
    # Given
    transport, seen = answering(201, READ_OK)

    # When
    client_for(transport, timeout=4.0).mark_read(CUSTOMER_JID, CUSTOMER_MESSAGE_ID)

    # Then
    assert seen[0].extensions["timeout"] == {"connect": 4.0, "read": 4.0, "write": 4.0, "pool": 4.0}


# --- acknowledge (Messenger) -------------------------------------------------------------------


def answers_by_path(request: httpx.Request) -> httpx.Response:
    if request.url.path.startswith("/chat/markMessageAsRead/"):
        return httpx.Response(201, json=READ_OK)
    return httpx.Response(201, json={"presence": "composing"})


def test_acknowledge_without_presence_only_marks_read() -> None:
    # Given a client without a typing indicator
    transport, seen = recording(answers_by_path)

    # When
    client_for(transport).acknowledge(inbound())

    # Then
    assert [(str(r.url), sent_json(r)) for r in seen] == [
        (url("chat", "markMessageAsRead"), {"readMessages": [{"remoteJid": CUSTOMER_JID, "fromMe": False, "id": CUSTOMER_MESSAGE_ID}]})
    ]


def test_acknowledge_with_presence_marks_read_then_types() -> None:
    # Given a client configured to show "typing…" for 1.5 s
    transport, seen = recording(answers_by_path)

    # When
    client_for(transport, presence_ms=1500).acknowledge(inbound(jid=CUSTOMER_LID))

    # Then both go to the address the customer wrote from, in this order
    assert [(str(r.url), sent_json(r)) for r in seen] == [
        (url("chat", "markMessageAsRead"), {"readMessages": [{"remoteJid": CUSTOMER_LID, "fromMe": False, "id": CUSTOMER_MESSAGE_ID}]}),
        (url("chat", "sendPresence"), {"number": CUSTOMER_LID, "presence": "composing", "delay": 1500}),
    ]


def test_acknowledge_raises_typed_errors_and_stops() -> None:
    # Given a revoked API key
    transport, seen = answering(401, evolution_failure(401, "Unauthorized", "Unauthorized"))

    # When
    with pytest.raises(ProviderAuthError) as caught:
        client_for(transport, presence_ms=1500).acknowledge(inbound())

    # Then the presence is not attempted
    assert (caught.value.code, caught.value.http_status) == (401, 401)
    assert len(seen) == 1


# --- media download --------------------------------------------------------------------------


def test_download_media_posts_the_exact_request_and_decodes() -> None:
    # Given
    transport, seen = answering(201, media_document())

    # When
    media = client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=16 * 1024 * 1024)

    # Then
    assert media == DownloadedMedia(data=VOICE_NOTE, mime_type="audio/ogg; codecs=opus", file_name=None)
    (request,) = seen
    assert (request.method, str(request.url), request.headers["apikey"]) == ("POST", url("chat", "getBase64FromMediaMessage"), API_KEY)
    assert sent_json(request) == {"message": {"key": {"id": CUSTOMER_MESSAGE_ID}}, "convertToMp4": False}


def test_download_media_keeps_the_file_name_of_a_document() -> None:
    # Given a PDF sent by the customer
    pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
    document = {**media_document(pdf), "mediaType": "documentMessage", "fileName": "comprovante-pix.pdf", "mimetype": "application/pdf"}
    transport, _ = answering(201, document)

    # When
    media = client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=1024)

    # Then
    assert media == DownloadedMedia(data=pdf, mime_type="application/pdf", file_name="comprovante-pix.pdf")


def test_download_media_of_exactly_the_limit_is_accepted() -> None:
    # Given
    transport, _ = answering(201, media_document())

    # When / Then
    assert client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=len(VOICE_NOTE)).data == VOICE_NOTE


@pytest.mark.parametrize(
    "file_length",
    [len(VOICE_NOTE) + 1, str(len(VOICE_NOTE) + 1), {"low": 20_000_000, "high": 0, "unsigned": True}],
    ids=["number", "string", "protobuf-long"],
)
def test_download_media_refuses_a_declared_size_over_the_limit(file_length: Any) -> None:
    # Given a declared fileLength over the limit (as a number, a string or a protobuf Long)
    transport, _ = answering(201, media_document(file_length=file_length))

    # When
    with pytest.raises(MediaUnavailable) as caught:
        client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=len(VOICE_NOTE))

    # Then
    assert (caught.value.reason, caught.value.is_transient) == ("too_large", False)
    assert "too large" in str(caught.value)


@pytest.mark.parametrize("declared", [None, 10], ids=["undeclared", "understated"])
def test_download_media_refuses_content_over_the_limit(declared: int | None) -> None:
    # Given a body larger than its declared size says (or with no size at all)
    document = media_document(file_length=declared)
    if declared is None:
        del document["size"]
    transport, _ = answering(201, document)

    # When / Then
    with pytest.raises(MediaUnavailable, match="too large") as caught:
        client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=len(VOICE_NOTE) - 1)
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize(
    "encoded",
    ["T2dnUwACAAAAAAAAAACOGx1f!!!!", "T2dnUwACAAAAAAAAAACOGx1", "T2dn\nUwAC", "T2dnUwAC==AA", "T2dnUwAC¶¶¶¶"],
    ids=["bad-characters", "truncated", "newline", "inner-padding", "non-ascii"],
)
def test_download_media_with_invalid_base64_is_unavailable(encoded: str) -> None:
    # Given a 2xx whose base64 does not decode
    transport, _ = answering(201, {**media_document(), "base64": encoded})

    # When
    with pytest.raises(ProviderUnavailable) as caught:
        client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=1024)

    # Then
    assert str(caught.value) == "Evolution API answered getBase64FromMediaMessage with invalid base64"


@pytest.mark.parametrize("encoded", [None, "", 12345], ids=["null", "empty", "number"])
def test_download_media_without_base64_is_unavailable(encoded: Any) -> None:
    # Given
    transport, _ = answering(201, {**media_document(), "base64": encoded})

    # When / Then
    with pytest.raises(ProviderUnavailable, match="without base64"):
        client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=1024)


def test_download_media_of_a_message_evolution_no_longer_has_is_not_found() -> None:
    # Given Evolution's answer for a message missing from its store (thrown string → BadRequestException)
    transport, _ = answering(400, evolution_failure(400, "Bad Request", ["Message not found"]))

    # When
    with pytest.raises(MediaUnavailable) as caught:
        client_for(transport).download_media(CUSTOMER_MESSAGE_ID, max_bytes=1024)

    # Then: permanent for this message, not a channel-wide failure
    assert (caught.value.reason, caught.value.is_transient) == ("not_found", False)


# --- errors, end to end ----------------------------------------------------------------------


def test_number_not_on_whatsapp_is_rejected_without_leaking_the_number() -> None:
    # Given Evolution's onWhatsApp result as a 400
    transport, _ = answering(400, NOT_ON_WHATSAPP)

    # When
    with pytest.raises(ProviderRejected) as caught:
        client_for(transport).send_text("5511912345678", "Oi")

    # Then
    error = caught.value
    assert (type(error), error.code, error.http_status, error.is_transient) == (ProviderRejected, 400, 400, False)
    assert str(error) == "Evolution API sendText failed (HTTP 400): recipient is not on WhatsApp"


def test_validation_error_is_rejected() -> None:
    # Given a schema violation
    transport, _ = answering(400, evolution_failure(400, "Bad Request", ['instance requires property "text"']))

    # When
    with pytest.raises(ProviderRejected) as caught:
        client_for(transport).send_text(CUSTOMER_JID, "")

    # Then
    assert str(caught.value) == "Evolution API sendText failed (HTTP 400)"


def test_unknown_instance_is_an_auth_error() -> None:
    # Given an instance deleted on the Evolution server
    body = evolution_failure(404, "Not Found", ['The "Padaria Boa Sorte" instance does not exist'])
    transport, _ = answering(404, body)

    # When
    with pytest.raises(ProviderAuthError) as caught:
        client_for(transport).send_text(CUSTOMER_JID, "Oi")

    # Then the operator must fix the channel: not dropped as rejected
    assert (type(caught.value), caught.value.code, caught.value.http_status) == (ProviderAuthError, 404, 404)


def test_rate_limited_carries_retry_after() -> None:
    # Given a reverse proxy in front of Evolution limiting requests
    transport, _ = recording(lambda request: httpx.Response(429, text="Too Many Requests", headers={"retry-after": "7"}))

    # When
    with pytest.raises(ProviderRateLimited) as caught:
        client_for(transport).send_text(CUSTOMER_JID, "Oi")

    # Then
    error = caught.value
    assert (error.code, error.http_status, error.retry_after, error.is_transient) == (429, 429, 7.0, True)


def test_errors_never_carry_the_number_the_text_or_the_api_key() -> None:
    # Given error bodies that echo what we sent
    for status in (400, 401, 404, 422, 500):
        body = evolution_failure(status, "Error", [{"number": "5511912345678", "text": "Seu pedido #4417", "apikey": API_KEY}])
        transport, _ = answering(status, body)

        # When
        with pytest.raises(ProviderError) as caught:
            client_for(transport).send_text("5511912345678", "Seu pedido #4417")

        # Then
        message = str(caught.value)
        assert "5511912345678" not in message
        assert "4417" not in message
        assert API_KEY not in message


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError, httpx.RemoteProtocolError],
    ids=["read-timeout", "connect-timeout", "connect-error", "protocol-error"],
)
def test_transport_failure_is_unavailable(failure: type[httpx.TransportError]) -> None:
    # Given a network that fails before Evolution answers
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    # When
    with pytest.raises(ProviderUnavailable) as caught:
        client_for(httpx.MockTransport(fail)).send_text(CUSTOMER_JID, "Oi")

    # Then no httpx exception leaks, but it is kept as the cause
    assert (type(caught.value), caught.value.is_transient, type(caught.value.__cause__)) == (ProviderUnavailable, True, failure)


def test_presence_timeout_is_unavailable() -> None:
    # Given a presence call that outlives its timeout
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    # When / Then
    with pytest.raises(ProviderUnavailable, match="sendPresence timed out"):
        client_for(httpx.MockTransport(fail)).send_presence(CUSTOMER_JID, delay_ms=3000)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(201, json={"status": "PENDING"}),
        httpx.Response(201, json={"key": {"remoteJid": CUSTOMER_JID, "fromMe": True}, "status": "PENDING"}),
        httpx.Response(201, json={"key": {"id": ""}}),
        httpx.Response(201, json={"key": "3EB0A9C4E1F7D2B85C61"}),
        httpx.Response(201, json=[sent_text()]),
        httpx.Response(201, text="<html>gateway</html>"),
        httpx.Response(201),
    ],
    ids=["no-key", "no-id", "empty-id", "key-not-object", "json-list", "html", "empty"],
)
def test_2xx_without_key_id_is_treated_as_sent_never_retried(response: httpx.Response) -> None:
    # Given a 2xx that does not confirm the send / When
    sent = client_for(httpx.MockTransport(lambda request: response)).send_text(CUSTOMER_JID, "Oi")

    # Then it counts as sent (a retry could reply twice), under an id of ours that says so
    assert sent.accepted_status == "unconfirmed"
    assert re.fullmatch(r"evolution-unconfirmed-[0-9a-f]{32}", sent.message_id)


def test_undecodable_response_is_unavailable() -> None:
    # Given a proxy that answers with a corrupt gzip body
    transport = httpx.MockTransport(lambda request: httpx.Response(201, headers={"content-encoding": "gzip"}, content=b"not gzip"))

    # When / Then
    with pytest.raises(ProviderUnavailable):
        client_for(transport).mark_read(CUSTOMER_JID, CUSTOMER_MESSAGE_ID)


# --- the error map -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("http_status", "doc", "expected", "transient"),
    [
        (400, evolution_failure(400, "Bad Request", ['instance requires property "number"']), ProviderRejected, False),
        (400, NOT_ON_WHATSAPP, ProviderRejected, False),
        (401, evolution_failure(401, "Unauthorized", "Unauthorized"), ProviderAuthError, False),
        (403, evolution_failure(403, "Forbidden", ["Missing global api key"]), ProviderAuthError, False),
        (404, evolution_failure(404, "Not Found", ["Cannot POST /message/sendText/x"]), ProviderAuthError, False),
        (413, None, ProviderRejected, False),
        (422, {"error": "unprocessable"}, ProviderRejected, False),
        (429, None, ProviderRateLimited, True),
        (500, evolution_failure(500, "Internal Server Error", ["Connection Closed"]), ProviderUnavailable, True),
        (502, None, ProviderUnavailable, True),
        (503, None, ProviderUnavailable, True),
        (301, None, ProviderUnavailable, True),
    ],
    ids=["400", "400-not-on-whatsapp", "401", "403", "404", "413", "422", "429", "500", "502", "503", "301"],
)
def test_evolution_error_is_chosen_by_http_status(http_status: int, doc: Any, expected: type[ProviderError], transient: bool) -> None:
    # Given Evolution's error body / When
    error = evolution_error(http_status, doc)

    # Then the code is the HTTP status
    assert (type(error), error.code, error.http_status, error.is_transient) == (expected, http_status, http_status, transient)


@pytest.mark.parametrize(
    "message",
    [{"exists": False, "jid": "5511912345678@s.whatsapp.net", "number": "5511912345678"}, ["5511912345678", {"exists": False}]],
    ids=["single-object", "among-strings"],
)
def test_not_on_whatsapp_is_recognised_in_any_message_shape(message: Any) -> None:
    # Given / When
    error = evolution_error(400, evolution_failure(400, "Bad Request", message))

    # Then
    assert str(error).endswith("recipient is not on WhatsApp")


def test_exists_true_is_not_a_missing_number() -> None:
    # Given a 400 that merely echoes a lookup that succeeded / When
    error = evolution_error(400, evolution_failure(400, "Bad Request", [{"exists": True, "jid": CUSTOMER_JID}]))

    # Then
    assert str(error) == "Evolution API call failed (HTTP 400)"


@pytest.mark.parametrize(
    ("header", "seconds"), [("30", 30.0), ("0.5", 0.5), (None, None), ("", None), ("Wed, 21 Oct 2025 07:28:00 GMT", None)]
)
def test_retry_after_header_is_parsed_as_seconds(header: str | None, seconds: float | None) -> None:
    # Given / When
    error = evolution_error(429, None, header)

    # Then
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == seconds
