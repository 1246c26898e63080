"""The Evolution and Whaticket sandboxes: exact provider shapes, auth, fault injection, webhook bodies.

Everything goes through ``transport()`` with real httpx calls (and once through ``serve()`` on
127.0.0.1). Reference: ../shared/docs/providers.md §2.3-2.7 (Evolution), §3 (Whaticket).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from typing import Any

import httpx
import jwt
import pytest

from atende.channels.evolution import EvolutionDelivery, parse_evolution_webhook
from atende.channels.evolution_client import DownloadedMedia, EvolutionClient
from atende.channels.outbound import SentMessage
from atende.channels.whaticket import WhaticketDelivery, parse_whaticket_webhook
from atende.channels.whaticket_client import WhaticketClient, WhaticketCredentials, WhaticketTokenCache
from atende.domain.messages import ContactRef, InboundMessage, MediaRef, MessageType, Provider
from atende.domain.tenants import Channel
from atende.errors import ProviderRejected, ProviderUnavailable
from local.media_samples import BILL_PNG, ogg_opus_voice_note
from local.sandbox_relays import EvolutionSandbox, RelayCall, WhaticketSandbox, baileys_media_message

NOW = 1760968812.417  # 2025-10-20T14:00:12.417Z
API_KEY = "B6D711FCDE4D4FD5936544120E713976"
INSTANCE = "padaria-sao-jorge"
INSTANCE_ID = "979b4ce3-5adc-5d8f-92df-bace634b5ff3"  # uuid5 of the instance name: stable across runs
SEND_TEXT = f"/evolution/message/sendText/{INSTANCE}"
CUSTOMER = "5511987654321"
CUSTOMER_JID = "5511987654321@s.whatsapp.net"
INBOUND_ID = "3A5F2C9B1E7D4A6F8B20"  # "3A" + 18: an iPhone
REPLY = "Abrimos às 7h no domingo! 🥐"

WT_TOKEN = "a3f1c9e2-5b7d-4e8a-9c6f-2d1b0e4f7a93"
WT_USER, WT_PASSWORD = "atendimento@padariasaojorge.com.br", "pão-de-queijo-2025"
WT_SEND = "/whaticket/api/messages/send"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def evolution(**options: Any) -> tuple[EvolutionSandbox, httpx.Client]:
    sandbox = EvolutionSandbox({API_KEY}, clock=Clock(), **options)
    return sandbox, httpx.Client(transport=sandbox.transport(), base_url="http://evolution.test")


def whaticket(clock: Clock | None = None, **options: Any) -> tuple[WhaticketSandbox, httpx.Client]:
    sandbox = WhaticketSandbox({WT_TOKEN}, users={WT_USER: WT_PASSWORD}, clock=clock or Clock(), **options)
    return sandbox, httpx.Client(transport=sandbox.transport(), base_url="http://whaticket.test")


def post(http: httpx.Client, action: str, payload: Any, *, group: str = "message", apikey: str | None = API_KEY) -> httpx.Response:
    headers = {"apikey": apikey} if apikey is not None else {}
    return http.post(f"/evolution/{group}/{action}/{INSTANCE}", json=payload, headers=headers)


def bad_request(message: Any) -> dict[str, Any]:
    return {"status": 400, "error": "Bad Request", "response": {"message": message}}


# --- Evolution: sends ---------------------------------------------------------------------------


def test_send_text_answers_201_with_the_sent_message_and_records_the_call() -> None:
    # Given
    notified: list[RelayCall] = []
    sandbox = EvolutionSandbox({API_KEY}, on_sent=notified.append, clock=Clock())
    http = httpx.Client(transport=sandbox.transport(), base_url="http://evolution.test")

    # When
    response = post(http, "sendText", {"number": CUSTOMER, "text": REPLY})

    # Then
    assert (response.status_code, response.json()) == (
        201,
        {
            "key": {"remoteJid": CUSTOMER_JID, "fromMe": True, "id": "3EB0SANDBOX00000000001"},
            "status": "PENDING",
            "message": {"conversation": REPLY},
            "messageType": "conversation",
            "messageTimestamp": 1760968812,
            "instanceId": INSTANCE_ID,
            "source": "web",
        },
    )
    expected = RelayCall("evolution", INSTANCE, "sendText", {"number": CUSTOMER, "text": REPLY}, NOW, "3EB0SANDBOX00000000001")
    assert sandbox.calls == sandbox.sent == notified == [expected]
    assert (expected.to, expected.text) == (CUSTOMER, REPLY)


def test_every_send_gets_a_fresh_id_and_the_recipient_jid_evolution_would_use() -> None:
    sandbox, http = evolution()
    numbers = [CUSTOMER, "+55 (31) 8888-7766", "140123456789012@lid"]

    keys = [post(http, "sendText", {"number": n, "text": "Oi"}).json()["key"] for n in numbers]
    keys.append(
        post(http, "sendReaction", {"key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID}, "reaction": "👍"}).json()["key"]
    )

    assert [k["remoteJid"] for k in keys] == [CUSTOMER_JID, "553188887766@s.whatsapp.net", "140123456789012@lid", CUSTOMER_JID]
    assert [k["id"] for k in keys] == [f"3EB0SANDBOX{n:011d}" for n in (1, 2, 3, 4)]
    assert [c.message_id for c in sandbox.sent] == [k["id"] for k in keys]


def test_concurrent_sends_are_all_recorded_with_distinct_ids() -> None:
    sandbox, http = evolution()

    def send_many() -> None:
        for _ in range(25):
            assert post(http, "sendText", {"number": CUSTOMER, "text": "Oi"}).status_code == 201

    threads = [threading.Thread(target=send_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({c.message_id for c in sandbox.sent}) == len(sandbox.calls) == 200


def test_send_media_and_reaction_answer_with_the_baileys_content() -> None:
    sandbox, http = evolution()
    reaction_key = {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID}

    media = post(
        http,
        "sendMedia",
        {"number": CUSTOMER, "mediatype": "image", "media": "https://padariasaojorge.com.br/cardapio.jpg", "caption": "Nosso cardápio"},
    )
    reaction = post(http, "sendReaction", {"key": reaction_key, "reaction": "❤️"})

    assert (media.status_code, media.json()["message"], media.json()["messageType"]) == (
        201,
        {"imageMessage": {"url": "https://padariasaojorge.com.br/cardapio.jpg", "caption": "Nosso cardápio"}},
        "imageMessage",
    )
    assert (reaction.status_code, reaction.json()["message"]) == (201, {"reactionMessage": {"key": reaction_key, "text": "❤️"}})
    assert [(c.action, c.to, c.text) for c in sandbox.sent] == [
        ("sendMedia", CUSTOMER, "Nosso cardápio"),
        ("sendReaction", CUSTOMER_JID, None),
    ]


# --- Evolution: auth, routes, validation ----------------------------------------------------------


@pytest.mark.parametrize("apikey", [None, "", "B6D711FCDE4D4FD5936544120E713977"], ids=["missing", "empty", "wrong"])
def test_a_request_without_a_known_apikey_is_401(apikey: str | None) -> None:
    sandbox, http = evolution()

    response = post(http, "sendText", {"number": CUSTOMER, "text": REPLY}, apikey=apikey)

    unauthorized = {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}
    assert (response.status_code, response.json()) == (401, unauthorized)
    assert sandbox.calls == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/evolution/message/sendButtons/padaria-sao-jorge"),
        ("GET", "/evolution/message/sendText/padaria-sao-jorge"),
        ("POST", "/evolution/message/sendText/"),
        ("POST", "/evolution/chat/sendText/padaria-sao-jorge"),
        ("POST", "/message/sendText/padaria-sao-jorge"),
    ],
)
def test_an_unknown_route_is_evolutions_404(method: str, path: str) -> None:
    sandbox, http = evolution()

    response = http.request(method, path, json={"number": CUSTOMER, "text": REPLY}, headers={"apikey": API_KEY})

    assert (response.status_code, response.json()) == (
        404,
        {"status": 404, "error": "Not Found", "response": {"message": [f"Cannot {method} {path}"]}},
    )
    assert sandbox.calls == []


def test_an_instance_the_sandbox_does_not_know_is_404_before_auth() -> None:
    _, http = evolution(instances={"outra-loja"})

    response = post(http, "sendText", {"number": CUSTOMER, "text": REPLY}, apikey=None)

    assert (response.status_code, response.json()) == (
        404,
        {"status": 404, "error": "Not Found", "response": {"message": ['The "padaria-sao-jorge" instance does not exist']}},
    )


@pytest.mark.parametrize(
    ("action", "payload", "message"),
    [
        ("sendText", {}, [['instance requires property "number"', 'instance requires property "text"']]),
        ("sendText", {"number": CUSTOMER}, [['instance requires property "text"']]),
        ("sendText", {"number": 5511987654321, "text": REPLY}, [["Invalid format"]]),
        ("sendText", {"number": CUSTOMER, "text": REPLY, "delay": "1200"}, [["Enter a value in milliseconds"]]),
        ("sendText", {"number": CUSTOMER, "text": "  "}, ["Text is required"]),
        ("sendText", {"number": "", "text": REPLY}, [{"exists": False, "jid": "@s.whatsapp.net", "number": ""}]),
        (
            "sendMedia",
            {"number": CUSTOMER, "mediatype": "sticker", "media": "https://x.test/a.webp"},
            [["mediatype is not one of enum values: image,document,video,audio"]],
        ),
        (
            "sendMedia",
            {"number": CUSTOMER, "mediatype": "image", "media": "data:image/png;base64,iVBORw0KGgo="},
            ["Owned media must be a url or base64"],
        ),
        (
            "sendMedia",
            {"number": CUSTOMER, "mediatype": "document", "media": "JVBERi0xLjQK"},
            ["For base64 the file name must be informed."],
        ),
        ("sendReaction", {"key": {"remoteJid": CUSTOMER_JID, "id": INBOUND_ID}, "reaction": "👍"}, [['key requires property "fromMe"']]),
        (
            "sendPresence",
            {"number": CUSTOMER, "presence": "typing", "delay": 1200},
            [["presence is not one of enum values: unavailable,available,composing,recording,paused"]],
        ),
        (
            "markMessageAsRead",
            {"readMessages": [{"id": INBOUND_ID}]},
            [['readMessages[0] requires property "fromMe"', 'readMessages[0] requires property "remoteJid"']],
        ),
        ("markMessageAsRead", {"readMessages": []}, [["readMessages does not meet minimum length of 1"]]),
    ],
)
def test_invalid_bodies_are_rejected_with_evolutions_messages(action: str, payload: dict[str, Any], message: Any) -> None:
    sandbox, http = evolution()
    group = "message" if action.startswith("send") and action != "sendPresence" else "chat"

    response = post(http, action, payload, group=group)

    assert (response.status_code, response.json()) == (400, bad_request(message))
    assert sandbox.calls == []


def test_validation_messages_come_in_evolutions_order_nested_before_missing() -> None:
    # Given a reaction whose key is wrong in three ways and which lacks its emoji
    _, http = evolution()

    # When
    response = post(http, "sendReaction", {"key": {"id": 5}})

    # Then the npm jsonschema's traversal order: properties (and what is inside them), then required
    assert (response.status_code, response.json()) == (
        400,
        bad_request(
            [
                [
                    "key.id is not of a type(s) string",
                    'key requires property "remoteJid"',
                    'key requires property "fromMe"',
                    'instance requires property "reaction"',
                ]
            ]
        ),
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"number": CUSTOMER, "text": REPLY, "delay": 1200.0}, None),  # a whole float is a JSON Schema integer
        ({"number": CUSTOMER, "text": REPLY, "delay": True}, [["Enter a value in milliseconds"]]),
        ({"number": CUSTOMER, "text": ["Oi"]}, [["text is not of a type(s) string"]]),
    ],
    ids=["whole-float-delay", "boolean-delay", "text-list"],
)
def test_json_schema_types(payload: dict[str, Any], message: Any) -> None:
    sandbox, http = evolution()

    response = post(http, "sendText", payload)

    if message is None:
        assert response.status_code == 201 and len(sandbox.sent) == 1
    else:
        assert (response.status_code, response.json(), sandbox.calls) == (400, bad_request(message), [])


def test_a_body_that_is_not_a_json_object_is_400() -> None:
    _, http = evolution()

    response = http.post(SEND_TEXT, content=b"number=5511987654321", headers={"apikey": API_KEY})

    assert (response.status_code, response.json()) == (400, bad_request(["The request body is not a JSON object"]))


# --- Evolution: fault injection ---------------------------------------------------------------------


def test_an_injected_400_is_the_not_on_whatsapp_lookup_and_only_the_next_send_fails() -> None:
    sandbox, http = evolution()
    sandbox.fail_next(400)

    failed = post(http, "sendText", {"number": "5511900000000", "text": REPLY})
    retried = post(http, "sendText", {"number": "5511900000000", "text": REPLY})

    assert (failed.status_code, failed.json()) == (
        400,
        bad_request([{"exists": False, "jid": "5511900000000@s.whatsapp.net", "number": "5511900000000"}]),
    )
    assert retried.status_code == 201
    assert [c.message_id for c in sandbox.calls] == ["3EB0SANDBOX00000000001"]


def test_injected_failures_can_target_a_recipient_and_repeat() -> None:
    sandbox, http = evolution()
    sandbox.fail_next(500, times=2, to="5521976543210")

    statuses = [post(http, "sendText", {"number": n, "text": "Oi"}).status_code for n in (CUSTOMER, "5521976543210", "5521976543210")]
    last = post(http, "sendText", {"number": "5521976543210", "text": "Oi"})

    assert statuses == [201, 500, 500]
    assert last.status_code == 201
    assert [c.to for c in sandbox.sent] == [CUSTOMER, "5521976543210"]


def test_an_injected_500_has_evolutions_shape_and_a_custom_message_is_used_verbatim() -> None:
    sandbox, http = evolution()
    sandbox.fail_next(500)
    sandbox.fail_next(400, message=["Error: Timed Out"])

    first = post(http, "sendText", {"number": CUSTOMER, "text": REPLY})
    second = post(http, "sendText", {"number": CUSTOMER, "text": REPLY})

    assert first.json() == {"status": 500, "error": "Internal Server Error", "response": {"message": "Connection Closed"}}
    assert second.json() == bad_request(["Error: Timed Out"])


def test_failures_hit_message_sends_unless_an_action_is_named() -> None:
    sandbox, http = evolution()
    read = {"readMessages": [{"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID}]}
    sandbox.fail_next(503)
    sandbox.fail_next(401, action="markMessageAsRead")

    first_read = post(http, "markMessageAsRead", read, group="chat")
    send = post(http, "sendText", {"number": CUSTOMER, "text": REPLY})
    second_read = post(http, "markMessageAsRead", read, group="chat")

    assert (first_read.status_code, send.status_code, second_read.status_code) == (401, 503, 201)
    with pytest.raises(ValueError, match="unknown Evolution action"):
        sandbox.fail_next(500, action="sendButtons")


# --- Evolution: chat routes -----------------------------------------------------------------------


def test_mark_as_read_answers_like_evolution_and_is_listed_in_reads() -> None:
    sandbox, http = evolution()
    read = {"readMessages": [{"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID}]}

    response = post(http, "markMessageAsRead", read, group="chat")

    assert (response.status_code, response.json()) == (201, {"message": "Read messages", "read": "success"})
    assert sandbox.reads == [RelayCall("evolution", INSTANCE, "markMessageAsRead", read, NOW)]
    assert (sandbox.reads[0].to, sandbox.sent) == (CUSTOMER_JID, [])


def test_presence_records_the_delay_without_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("local.sandbox_relays.time.sleep", sleeps.append)
    sandbox, http = evolution()

    response = post(http, "sendPresence", {"number": CUSTOMER, "presence": "composing", "delay": 3000}, group="chat")

    assert (response.status_code, response.json()) == (201, {"presence": "composing"})
    assert [p.payload["delay"] for p in sandbox.presences] == [3000]
    assert sleeps == []


def test_presence_blocks_for_the_delay_when_asked_to(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("local.sandbox_relays.time.sleep", sleeps.append)
    _, http = evolution(honour_presence_delay=True)

    post(http, "sendPresence", {"number": CUSTOMER, "presence": "composing", "delay": 1200}, group="chat")

    assert sleeps == [1.2]


def test_media_download_returns_the_registered_media() -> None:
    sandbox, http = evolution()
    voice = b"OggS\x00\x02" + bytes(range(40))
    sandbox.add_media(INBOUND_ID, voice, "audio/ogg; codecs=opus")
    sandbox.add_media("3A0D4E1F2A3B4C5D6E7F", b"%PDF-1.4\n", "application/pdf", "pedido-1234.pdf")

    audio = post(http, "getBase64FromMediaMessage", {"message": {"key": {"id": INBOUND_ID}}, "convertToMp4": False}, group="chat")
    document = post(http, "getBase64FromMediaMessage", {"message": {"key": {"id": "3A0D4E1F2A3B4C5D6E7F"}}}, group="chat")
    unknown = post(http, "getBase64FromMediaMessage", {"message": {"key": {"id": "3A0000000000000000FF"}}}, group="chat")

    assert (audio.status_code, audio.json()) == (
        201,
        {
            "mediaType": "audioMessage",
            "size": {"fileLength": 46},
            "mimetype": "audio/ogg; codecs=opus",
            "base64": base64.b64encode(voice).decode(),
            "buffer": None,
        },
    )
    assert document.json() == {
        "mediaType": "documentMessage",
        "fileName": "pedido-1234.pdf",
        "size": {"fileLength": 9},
        "mimetype": "application/pdf",
        "base64": "JVBERi0xLjQK",
        "buffer": None,
    }
    assert (unknown.status_code, unknown.json()) == (400, bad_request(["Message not found"]))


def test_the_real_evolution_client_works_against_the_sandbox() -> None:
    sandbox = EvolutionSandbox({API_KEY}, clock=Clock())
    client = EvolutionClient(
        httpx.Client(transport=sandbox.transport()), base_url="http://evolution.test/evolution/", instance=INSTANCE, api_key=API_KEY
    )
    sandbox.add_media(INBOUND_ID, b"\xff\xd8\xff\xe0JFIF", "image/jpeg")

    sent = client.send_text(CUSTOMER_JID, REPLY, reply_to=INBOUND_ID)
    client.mark_read(CUSTOMER_JID, INBOUND_ID)
    media = client.download_media(INBOUND_ID, max_bytes=1024)
    sandbox.fail_next(400)
    with pytest.raises(ProviderRejected, match="not on WhatsApp"):
        client.send_text("5511900000000", REPLY)
    sandbox.fail_next(500)
    with pytest.raises(ProviderUnavailable):
        client.send_text(CUSTOMER_JID, REPLY)

    assert sent == SentMessage(message_id="3EB0SANDBOX00000000001", accepted_status="PENDING")
    assert media == DownloadedMedia(data=b"\xff\xd8\xff\xe0JFIF", mime_type="image/jpeg")
    assert [(c.action, c.payload) for c in sandbox.calls[:2]] == [
        ("sendText", {"number": CUSTOMER_JID, "text": REPLY, "quoted": {"key": {"id": INBOUND_ID}}}),
        ("markMessageAsRead", {"readMessages": [{"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID}]}),
    ]


def test_the_outbox_lists_every_recorded_call() -> None:
    _, http = evolution()
    post(http, "sendText", {"number": CUSTOMER, "text": REPLY})

    response = http.get("/evolution/sandbox/outbox")

    assert (response.status_code, response.json()) == (
        200,
        {
            "messages": [
                {
                    "provider": "evolution",
                    "instance": INSTANCE,
                    "action": "sendText",
                    "payload": {"number": CUSTOMER, "text": REPLY},
                    "at": NOW,
                    "message_id": "3EB0SANDBOX00000000001",
                }
            ]
        },
    )


# --- Evolution: inbound media --------------------------------------------------------------------

VOICE = ogg_opus_voice_note(seconds=7)
VOICE_MIME = "audio/ogg; codecs=opus"
SENT_AT = 1763723100
MARIANA = ContactRef(contact_id="c:5511987654321", wa_id="5511987654321", name="Mariana Souza", jid=CUSTOMER_JID)
BILL_CAPTION = "Segue minha conta de luz, dá pra fazer um orçamento de energia solar?"


def b64_sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def evolution_client(sandbox: EvolutionSandbox) -> EvolutionClient:
    http = httpx.Client(transport=sandbox.transport())
    return EvolutionClient(http, base_url="http://evolution.test/evolution/", instance=INSTANCE, api_key=API_KEY)


def test_media_registered_over_http_is_what_get_base64_answers_the_real_client() -> None:
    # Given another process (the demo) registering the customer's photo for her message id
    sandbox, http = evolution()

    # When
    response = http.post(
        f"/evolution/sandbox/media/{INBOUND_ID}?fileName=conta-de-luz.png", content=BILL_PNG, headers={"Content-Type": "image/png"}
    )
    media = evolution_client(sandbox).download_media(INBOUND_ID, max_bytes=5 * 1024 * 1024)

    # Then getBase64FromMediaMessage answers that file; the registration itself is no API call
    assert (response.status_code, response.json()) == (
        201,
        {"messageId": INBOUND_ID, "mimetype": "image/png", "fileName": "conta-de-luz.png", "size": len(BILL_PNG)},
    )
    assert media == DownloadedMedia(data=BILL_PNG, mime_type="image/png", file_name="conta-de-luz.png")
    assert [(c.action, c.payload) for c in sandbox.calls] == [
        ("getBase64FromMediaMessage", {"message": {"key": {"id": INBOUND_ID}}, "convertToMp4": False})
    ]


def test_media_registration_keeps_the_codec_parameter_and_needs_no_file_name() -> None:
    sandbox, http = evolution()

    response = http.post(f"/evolution/sandbox/media/{INBOUND_ID}", content=VOICE, headers={"Content-Type": VOICE_MIME})
    media = evolution_client(sandbox).download_media(INBOUND_ID, max_bytes=16 * 1024 * 1024)

    registered = {"messageId": INBOUND_ID, "mimetype": VOICE_MIME, "fileName": None, "size": len(VOICE)}
    assert (response.status_code, response.json()) == (201, registered)
    assert media == DownloadedMedia(data=VOICE, mime_type=VOICE_MIME)


@pytest.mark.parametrize(
    ("path", "headers", "body", "answer"),
    [
        (f"/evolution/sandbox/media/{INBOUND_ID}", {}, BILL_PNG, (400, bad_request(["The file's Content-Type is required"]))),
        (
            f"/evolution/sandbox/media/{INBOUND_ID}",
            {"Content-Type": "image/png"},
            b"",
            (400, bad_request(["The request body must be the file's bytes"])),
        ),
        (
            "/evolution/sandbox/media/",
            {"Content-Type": "image/png"},
            BILL_PNG,
            (404, {"status": 404, "error": "Not Found", "response": {"message": ["Cannot POST /evolution/sandbox/media/"]}}),
        ),
    ],
    ids=["no-content-type", "empty", "no-message-id"],
)
def test_media_registration_refuses_what_is_not_a_file(path: str, headers: dict[str, str], body: bytes, answer: tuple[int, Any]) -> None:
    sandbox, http = evolution()

    response = http.post(path, content=body, headers=headers)
    lookup = post(http, "getBase64FromMediaMessage", {"message": {"key": {"id": INBOUND_ID}}}, group="chat")

    assert (response.status_code, response.json()) == answer
    assert (lookup.status_code, lookup.json()) == (400, bad_request(["Message not found"]))
    assert sandbox.calls == []  # neither the refused registration nor the failed lookup


# --- Evolution: webhook bodies ----------------------------------------------------------------------


def envelope(event: str, data: dict[str, Any], apikey: str | None = API_KEY) -> dict[str, Any]:
    return {
        "event": event,
        "instance": INSTANCE,
        "data": data,
        "destination": "http://127.0.0.1:3000/webhooks/evolution",
        "date_time": "2025-10-20T14:00:12.417Z",
        "sender": "551140028922@s.whatsapp.net",
        "server_url": "http://127.0.0.1/evolution",
        "apikey": apikey,
    }


def assert_compact_utf8(body: bytes) -> None:
    """Serialised like Node's JSON.stringify: no whitespace between tokens, non-ASCII as raw UTF-8."""
    assert body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def test_status_update_body_is_a_messages_update_for_our_message() -> None:
    sandbox, _ = evolution()

    body = sandbox.status_update_body(INSTANCE, "3EB0SANDBOX00000000001", CUSTOMER_JID, "DELIVERY_ACK", API_KEY)

    assert json.loads(body) == envelope(
        "messages.update",
        {
            "keyId": "3EB0SANDBOX00000000001",
            "remoteJid": CUSTOMER_JID,
            "fromMe": True,
            "status": "DELIVERY_ACK",
            "instanceId": INSTANCE_ID,
            "messageId": "cm6350e1b8cbffd827c306141",
        },
    )
    assert_compact_utf8(body)
    with pytest.raises(ValueError, match=r"not a messages\.update status"):
        sandbox.status_update_body(INSTANCE, "3EB0SANDBOX00000000001", CUSTOMER_JID, "delivered", API_KEY)


def test_upsert_body_for_a_text_message() -> None:
    sandbox, _ = evolution()

    body = sandbox.upsert_body(
        INSTANCE,
        message_id=INBOUND_ID,
        remote_jid=CUSTOMER_JID,
        push_name="Mariana Souza",
        text="Vocês abrem domingo? 🙏",
        timestamp=1760968800,
        apikey=None,
    )

    assert json.loads(body) == envelope(
        "messages.upsert",
        {
            "key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID},
            "pushName": "Mariana Souza",
            "status": "DELIVERY_ACK",
            "message": {"conversation": "Vocês abrem domingo? 🙏"},
            "messageType": "conversation",
            "messageTimestamp": 1760968800,
            "instanceId": INSTANCE_ID,
            "source": "ios",
        },
        apikey=None,
    )
    assert "Vocês abrem domingo? 🙏".encode() in body
    assert_compact_utf8(body)


def test_upsert_body_for_a_lid_reply_with_any_message_content() -> None:
    sandbox, _ = evolution()
    context = {"stanzaId": "3EB0SANDBOX00000000001", "participant": CUSTOMER_JID, "quotedMessage": {"conversation": REPLY}}
    message = {
        "extendedTextMessage": {"text": "Ótimo, obrigado!", "contextInfo": context},
        "messageContextInfo": {"messageSecret": "c2VjcmV0"},
    }

    data = json.loads(
        sandbox.upsert_body(
            INSTANCE,
            message_id="A5C2E91B07D34F6A8B1C9E2D4F6A8B0C",
            remote_jid="140123456789012@lid",
            push_name="João Pereira",
            message=message,
            timestamp=1760968900,
            apikey=API_KEY,
            remote_jid_alt="5531988887766@s.whatsapp.net",
        )
    )["data"]

    assert data == {
        "key": {
            "remoteJid": "140123456789012@lid",
            "fromMe": False,
            "id": "A5C2E91B07D34F6A8B1C9E2D4F6A8B0C",
            "remoteJidAlt": "5531988887766@s.whatsapp.net",
            "addressingMode": "lid",
        },
        "pushName": "João Pereira",
        "status": "DELIVERY_ACK",
        "message": message,
        "contextInfo": context,
        "messageType": "extendedTextMessage",
        "messageTimestamp": 1760968900,
        "instanceId": INSTANCE_ID,
        "source": "android",
    }


def test_upsert_body_needs_exactly_one_of_text_and_message() -> None:
    sandbox, _ = evolution()
    common: dict[str, Any] = {"message_id": INBOUND_ID, "remote_jid": CUSTOMER_JID, "push_name": "Mariana", "timestamp": 1, "apikey": None}

    with pytest.raises(ValueError, match="exactly one"):
        sandbox.upsert_body(INSTANCE, **common)
    with pytest.raises(ValueError, match="exactly one"):
        sandbox.upsert_body(INSTANCE, text="Oi", message={"conversation": "Oi"}, **common)


def media_upsert(sandbox: EvolutionSandbox, message: dict[str, Any]) -> bytes:
    sender = {"remote_jid": CUSTOMER_JID, "push_name": "Mariana Souza"}
    return sandbox.upsert_body(INSTANCE, message_id=INBOUND_ID, message=message, timestamp=SENT_AT, apikey=API_KEY, **sender)


def test_a_voice_note_upsert_with_inline_base64_is_read_as_the_processor_expects() -> None:
    # Given a voice note as Evolution posts it with webhook base64 on
    sandbox, _ = evolution()
    message = baileys_media_message("audio", VOICE, VOICE_MIME, sent_at=SENT_AT, seconds=7, ptt=True)
    message["base64"] = base64.b64encode(VOICE).decode()

    # When
    body = media_upsert(sandbox, message)
    data = json.loads(body)["data"]
    audio = data["message"]["audioMessage"]

    # Then the content describes exactly this file (the CDN fields only look real) ...
    assert data["messageType"] == "audioMessage"
    cdn = ["url", "mediaKey", "fileEncSha256", "directPath", "mediaKeyTimestamp"]
    assert sorted(audio) == sorted(["mimetype", "fileSha256", "fileLength", "seconds", "ptt", "waveform", *cdn])
    assert {k: audio[k] for k in ("mimetype", "fileSha256", "fileLength", "seconds", "ptt", "mediaKeyTimestamp")} == {
        "mimetype": VOICE_MIME,
        "fileSha256": b64_sha(VOICE),
        "fileLength": str(len(VOICE)),
        "seconds": 7,
        "ptt": True,
        "mediaKeyTimestamp": str(SENT_AT),
    }
    assert audio["url"] == f"https://mmg.whatsapp.net{audio['directPath']}&mms3=true"
    assert len(base64.b64decode(audio["waveform"])) == 64
    # ... and the real parser reads a voice note whose file travels inline
    assert parse_evolution_webhook(json.loads(body), lambda key: f"c:{key}", now=SENT_AT + 1) == EvolutionDelivery(
        messages=[
            InboundMessage(
                tenant_id=None,
                channel_id=f"evolution:{INSTANCE}",
                provider=Provider.EVOLUTION,
                provider_message_id=INBOUND_ID,
                contact=MARIANA,
                timestamp=SENT_AT,
                type=MessageType.AUDIO,
                media=MediaRef(
                    media_id=INBOUND_ID,
                    mime_type=VOICE_MIME,
                    sha256=hashlib.sha256(VOICE).hexdigest(),
                    voice=True,
                    inline_base64=base64.b64encode(VOICE).decode(),
                ),
            )
        ]
    )


def test_an_image_upsert_carries_its_caption_and_size_for_a_get_base64_download() -> None:
    sandbox, _ = evolution()
    message = baileys_media_message("image", BILL_PNG, "image/png", sent_at=SENT_AT, caption=BILL_CAPTION, dimensions=(360, 640))

    body = media_upsert(sandbox, message)
    image = json.loads(body)["data"]["message"]["imageMessage"]

    assert {k: image[k] for k in ("mimetype", "fileSha256", "fileLength", "caption", "width", "height")} == {
        "mimetype": "image/png",
        "fileSha256": b64_sha(BILL_PNG),
        "fileLength": str(len(BILL_PNG)),
        "caption": BILL_CAPTION,
        "width": 360,
        "height": 640,
    }
    assert "seconds" not in image and "ptt" not in image
    assert parse_evolution_webhook(json.loads(body), lambda key: f"c:{key}", now=SENT_AT + 1).messages == [
        InboundMessage(
            tenant_id=None,
            channel_id=f"evolution:{INSTANCE}",
            provider=Provider.EVOLUTION,
            provider_message_id=INBOUND_ID,
            contact=MARIANA,
            timestamp=SENT_AT,
            type=MessageType.IMAGE,
            text=BILL_CAPTION,
            media=MediaRef(media_id=INBOUND_ID, mime_type="image/png", sha256=hashlib.sha256(BILL_PNG).hexdigest(), caption=BILL_CAPTION),
        )
    ]


def test_a_voice_note_upsert_with_evolutions_transcript_carries_it_to_the_processor() -> None:
    # Given a voice note upsert with Evolution's OpenAI transcription on
    sandbox, _ = evolution()
    message = baileys_media_message("audio", VOICE, VOICE_MIME, sent_at=SENT_AT, seconds=7, ptt=True)
    sender = {"remote_jid": CUSTOMER_JID, "push_name": "Mariana Souza"}

    # When
    body = sandbox.upsert_body(
        INSTANCE, message_id=INBOUND_ID, message=message, timestamp=SENT_AT, apikey=API_KEY, speech_to_text="Tem pão de queijo?", **sender
    )
    doc = json.loads(body)

    # Then it is where Evolution puts it, and the parser hands it over as the transcript
    assert doc["data"]["message"]["speechToText"] == "[audio] Tem pão de queijo?"
    assert "speechToText" not in message  # the caller's content is left alone
    (inbound,) = parse_evolution_webhook(doc, lambda key: f"c:{key}", now=SENT_AT + 1).messages
    assert inbound.extra == {"speech_to_text": "Tem pão de queijo?"}
    with pytest.raises(ValueError, match="only added to audio"):
        sandbox.upsert_body(INSTANCE, message_id=INBOUND_ID, text="Oi", timestamp=SENT_AT, apikey=API_KEY, speech_to_text="Oi", **sender)


@pytest.mark.parametrize("message", [{}, {"messageContextInfo": {}}, {"conversation": None}], ids=["empty", "context-only", "null"])
def test_the_sandboxes_never_post_a_message_without_content(message: dict[str, Any]) -> None:
    sandbox, _ = evolution()
    common: dict[str, Any] = {"message_id": INBOUND_ID, "message": message, "timestamp": SENT_AT}

    with pytest.raises(ValueError, match="no Baileys content"):
        sandbox.upsert_body(INSTANCE, remote_jid=CUSTOMER_JID, push_name="Mariana", apikey=None, **common)
    with pytest.raises(ValueError, match="no Baileys content"):
        WhaticketSandbox.relay_body(CUSTOMER, push_name="Mariana", **common)


@pytest.mark.parametrize("raw", [False, True], ids=["evolution", "whaticket"])
def test_an_audio_with_a_caption_is_read_with_its_caption_by_both_parsers(raw: bool) -> None:
    # Given an audio file sent with a caption, as each relay posts it
    message = baileys_media_message("audio", VOICE, "audio/mpeg", sent_at=SENT_AT, seconds=7, caption="O jingle", raw=raw)
    if raw:
        doc = json.loads(
            WhaticketSandbox.relay_body(CUSTOMER, message=message, message_id=INBOUND_ID, push_name="Mariana", timestamp=SENT_AT)
        )
        channel = Channel.unrouted(Provider.WHATICKET, "padaria-whaticket")
        (inbound,) = parse_whaticket_webhook(doc, channel, lambda key: f"c:{key}", received_at=SENT_AT + 1).messages
    else:
        doc = json.loads(media_upsert(evolution()[0], message))
        (inbound,) = parse_evolution_webhook(doc, lambda key: f"c:{key}", now=SENT_AT + 1).messages

    # When / Then
    assert (inbound.type, inbound.text, inbound.media and inbound.media.caption) == (MessageType.AUDIO, "O jingle", "O jingle")


def test_baileys_media_message_is_stable_and_knows_only_media_kinds() -> None:
    first = baileys_media_message("document", b"%PDF-1.4", "application/pdf", sent_at=SENT_AT, file_name="orcamento.pdf")
    again = baileys_media_message("document", b"%PDF-1.4", "application/pdf", sent_at=SENT_AT, file_name="orcamento.pdf")

    assert first == again
    assert (first["documentMessage"]["fileName"], first["documentMessage"]["title"]) == ("orcamento.pdf", "orcamento.pdf")
    with pytest.raises(ValueError, match="not a media kind"):
        baileys_media_message("sticker", b"RIFF", "image/webp", sent_at=SENT_AT)  # type: ignore[arg-type]


# --- Whaticket ---------------------------------------------------------------------------------------


def test_whaticket_send_with_the_api_token_answers_like_the_saas_forks() -> None:
    notified: list[RelayCall] = []
    sandbox, http = whaticket(on_sent=notified.append)
    payload = {"number": CUSTOMER, "body": REPLY, "whatsappId": 2}

    response = http.post(WT_SEND, json=payload, headers={"Authorization": f"Bearer {WT_TOKEN}"})

    assert (response.status_code, response.json()) == (200, {"mensagem": "Mensagem enviada"})
    expected = RelayCall("whaticket", "2", "send", payload, NOW)
    assert sandbox.calls == sandbox.sent == notified == [expected]
    assert (expected.to, expected.text) == (CUSTOMER, REPLY)


def foreign_jwt() -> str:
    _, other_http = whaticket()
    return str(other_http.post("/whaticket/auth/login", json={"email": WT_USER, "password": WT_PASSWORD}).json()["token"])


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", f"Bearer {WT_TOKEN}x", WT_TOKEN, "jwt-from-another-sandbox"],
    ids=["missing", "empty", "wrong", "no-bearer-prefix", "foreign-jwt"],
)
def test_whaticket_rejects_a_send_without_a_valid_token(authorization: str | None) -> None:
    sandbox, http = whaticket()
    if authorization == "jwt-from-another-sandbox":
        authorization = f"Bearer {foreign_jwt()}"
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = http.post(WT_SEND, json={"number": CUSTOMER, "body": REPLY}, headers=headers)

    assert (response.status_code, response.json()) == (401, {"error": "ERR_SESSION_EXPIRED"})
    assert sandbox.calls == []


@pytest.mark.parametrize("number", ["+5511987654321", "55 11 98765-4321", CUSTOMER_JID, "５５１１９８７６５４３２１", 5511987654321, None])
def test_whaticket_numbers_must_be_ascii_digits(number: Any) -> None:
    sandbox, http = whaticket()

    response = http.post(WT_SEND, json={"number": number, "body": REPLY}, headers={"Authorization": f"Bearer {WT_TOKEN}"})

    assert (response.status_code, response.json()) == (400, {"error": "ERR_INVALID_NUMBER"})
    assert sandbox.calls == []


def test_whaticket_login_issues_a_jwt_that_works_until_it_expires() -> None:
    clock = Clock()
    sandbox, http = whaticket(clock, token_ttl_seconds=900)

    login = http.post("/whaticket/auth/login", json={"email": WT_USER, "password": WT_PASSWORD})
    token = login.json()["token"]
    sends = []
    for now in (NOW, 1760968812 + 899, 1760968812 + 900):
        clock.now = now
        sends.append(http.post(WT_SEND, json={"number": CUSTOMER, "body": "Oi"}, headers={"Authorization": f"Bearer {token}"}))

    assert login.status_code == 200
    assert login.json()["user"] == {"id": 1, "name": "atendimento", "email": WT_USER, "profile": "admin", "companyId": 1, "queues": []}
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert jwt.decode(token, options={"verify_signature": False}) == {
        "username": "atendimento",
        "profile": "admin",
        "id": 1,
        "companyId": 1,
        "iat": 1760968812,
        "exp": 1760968812 + 900,
    }
    assert [(r.status_code, r.json()) for r in sends] == [
        (200, {"mensagem": "Mensagem enviada"}),
        (200, {"mensagem": "Mensagem enviada"}),
        (401, {"error": "ERR_SESSION_EXPIRED"}),
    ]
    assert sandbox.logins == 1
    assert [(c.action, c.payload) for c in sandbox.calls if c.action == "login"] == [("login", {"email": WT_USER})]  # no password


@pytest.mark.parametrize(
    "credentials",
    [{"email": WT_USER, "password": "pao-de-queijo-2025"}, {"email": "gerente@padariasaojorge.com.br", "password": WT_PASSWORD}, {}],
    ids=["wrong-password", "unknown-user", "missing"],
)
def test_whaticket_login_rejects_wrong_credentials(credentials: dict[str, str]) -> None:
    sandbox, http = whaticket()

    response = http.post("/whaticket/auth/login", json=credentials)

    assert (response.status_code, response.json()) == (401, {"error": "ERR_INVALID_CREDENTIALS"})
    assert (sandbox.logins, sandbox.calls) == (0, [])


def test_whaticket_injected_failures() -> None:
    sandbox, http = whaticket()
    auth = {"Authorization": f"Bearer {WT_TOKEN}"}
    sandbox.fail_next(500)
    sandbox.fail_next(403, times=2, error="Acesso não permitido", to="5521976543210")

    answers = [
        http.post(WT_SEND, json={"number": n, "body": "Oi"}, headers=auth)
        for n in (CUSTOMER, CUSTOMER, "5521976543210", "5521976543210", "5521976543210")
    ]

    assert [(r.status_code, r.json()) for r in answers] == [
        (500, {"error": "Internal server error"}),
        (200, {"mensagem": "Mensagem enviada"}),
        (403, {"error": "Acesso não permitido"}),
        (403, {"error": "Acesso não permitido"}),
        (200, {"mensagem": "Mensagem enviada"}),
    ]
    assert [c.to for c in sandbox.sent] == [CUSTOMER, "5521976543210"]


def test_the_real_whaticket_client_logs_in_once_and_again_after_expiry() -> None:
    clock = Clock()
    sandbox = WhaticketSandbox(set(), users={WT_USER: WT_PASSWORD}, clock=clock)
    client = WhaticketClient(
        httpx.Client(transport=sandbox.transport()),
        base_url="http://whaticket.test/whaticket",
        credentials=WhaticketCredentials(email=WT_USER, password=WT_PASSWORD),
        token_cache=WhaticketTokenCache(),
        clock=clock,
    )

    client.send_text(CUSTOMER, "Bom dia!")
    client.send_text(CUSTOMER_JID, "Seu pedido saiu para entrega.")
    logins_before_expiry = sandbox.logins
    clock.now += 901
    client.send_text(CUSTOMER, "Obrigado pela preferência!")

    assert logins_before_expiry == 1
    assert sandbox.logins == 2
    assert [(c.to, c.text) for c in sandbox.sent] == [
        (CUSTOMER, "Bom dia!"),
        (CUSTOMER, "Seu pedido saiu para entrega."),
        (CUSTOMER, "Obrigado pela preferência!"),
    ]


def test_whaticket_relay_body_is_a_raw_baileys_message() -> None:
    body = WhaticketSandbox.relay_body(
        CUSTOMER, "Tem pão de queijo?", message_id=INBOUND_ID, push_name="Mariana Souza", timestamp=1760968800
    )

    assert json.loads(body) == {
        "key": {"remoteJid": CUSTOMER_JID, "fromMe": False, "id": INBOUND_ID},
        "message": {"conversation": "Tem pão de queijo?"},
        "pushName": "Mariana Souza",
        "messageTimestamp": 1760968800,
    }
    assert_compact_utf8(body)


def test_whaticket_relay_of_a_voice_note_carries_raw_baileys_metadata_and_no_file() -> None:
    # Given a voice note relayed as a raw Baileys message (64-bit fields as protobuf Longs)
    message = baileys_media_message("audio", VOICE, VOICE_MIME, sent_at=SENT_AT, seconds=7, ptt=True, raw=True)

    # When
    body = WhaticketSandbox.relay_body(CUSTOMER, message=message, message_id=INBOUND_ID, push_name="Mariana Souza", timestamp=SENT_AT)
    doc = json.loads(body)

    # Then
    assert doc["message"]["audioMessage"]["fileLength"] == {"low": len(VOICE), "high": 0, "unsigned": True}
    assert doc["message"]["audioMessage"]["mediaKeyTimestamp"] == {"low": SENT_AT, "high": 0, "unsigned": True}
    assert_compact_utf8(body)
    channel = Channel.unrouted(Provider.WHATICKET, "padaria-whaticket")
    assert parse_whaticket_webhook(doc, channel, lambda key: f"c:{key}", received_at=SENT_AT + 1) == WhaticketDelivery(
        messages=[
            InboundMessage(
                tenant_id=None,
                channel_id="whaticket:padaria-whaticket",
                provider=Provider.WHATICKET,
                provider_message_id=INBOUND_ID,
                contact=ContactRef(contact_id="c:5511987654321", wa_id="5511987654321", name="Mariana Souza"),
                timestamp=SENT_AT,
                type=MessageType.AUDIO,
                media=MediaRef(mime_type=VOICE_MIME, sha256=hashlib.sha256(VOICE).hexdigest(), voice=True),
                extra={"media_unavailable": True},
            )
        ]
    )


def test_whaticket_relay_body_needs_exactly_one_of_text_and_message() -> None:
    common: dict[str, Any] = {"message_id": INBOUND_ID, "push_name": "Mariana Souza", "timestamp": SENT_AT}

    with pytest.raises(ValueError, match="exactly one"):
        WhaticketSandbox.relay_body(CUSTOMER, **common)
    with pytest.raises(ValueError, match="exactly one"):
        WhaticketSandbox.relay_body(CUSTOMER, "Oi", message={"conversation": "Oi"}, **common)


def test_whaticket_outbox_and_unknown_routes() -> None:
    _, http = whaticket()
    http.post(WT_SEND, json={"number": CUSTOMER, "body": REPLY}, headers={"Authorization": f"Bearer {WT_TOKEN}"})

    outbox = http.get("/whaticket/sandbox/outbox")
    unknown = http.post("/whaticket/api/messages/sendMedia", json={}, headers={"Authorization": f"Bearer {WT_TOKEN}"})

    assert outbox.json() == {
        "messages": [
            {
                "provider": "whaticket",
                "instance": None,
                "action": "send",
                "payload": {"number": CUSTOMER, "body": REPLY},
                "at": NOW,
                "message_id": None,
            }
        ]
    }
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Cannot POST /whaticket/api/messages/sendMedia"})


# --- over a real socket ----------------------------------------------------------------------------------


@pytest.mark.enable_socket
@pytest.mark.slow
def test_served_sandboxes_answer_on_127_0_0_1() -> None:
    evolution_sandbox = EvolutionSandbox({API_KEY}, clock=Clock())
    whaticket_sandbox = WhaticketSandbox({WT_TOKEN}, clock=Clock())
    servers = [evolution_sandbox.serve(), whaticket_sandbox.serve()]
    try:
        evo_port, wt_port = (s.server_address[1] for s in servers)
        client = EvolutionClient(
            httpx.Client(), base_url=f"http://127.0.0.1:{evo_port}/evolution", instance="Padaria São Jorge", api_key=API_KEY
        )
        sent = client.send_text(CUSTOMER, REPLY)
        wt = httpx.post(
            f"http://127.0.0.1:{wt_port}/whaticket/api/messages/send",
            json={"number": CUSTOMER, "body": REPLY},
            headers={"Authorization": f"Bearer {WT_TOKEN}"},
        )
        outbox = httpx.get(f"http://127.0.0.1:{evo_port}/evolution/sandbox/outbox").json()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()

    assert sent.message_id == "3EB0SANDBOX00000000001"
    assert [(m["instance"], m["payload"]) for m in outbox["messages"]] == [("Padaria São Jorge", {"number": CUSTOMER, "text": REPLY})]
    assert (wt.status_code, [c.text for c in whaticket_sandbox.sent]) == (200, [REPLY])
    assert evolution_sandbox.server_url == f"http://127.0.0.1:{evo_port}/evolution"


def test_the_sandboxes_refuse_to_listen_beyond_loopback() -> None:
    with pytest.raises(ValueError, match="only listen on 127"):
        EvolutionSandbox({API_KEY}).serve("0.0.0.0")
