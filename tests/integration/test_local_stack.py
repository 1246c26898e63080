"""Smoke test of what `make run` / `make demo` start: real sockets, on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from atende.domain.tenants import Tenant
from local.demo import (
    AFTER_HANDBACK,
    BILL_PHOTO,
    BURST,
    CLOSED_ANSWERED,
    CLOSED_FIRST,
    CLOSED_SECOND,
    CONVERSATION,
    HUMAN_WHILE_QUEUED,
    VOICE_NOTE,
    Backoffice,
    Client,
    Customer,
    conversation,
    play,
    play_burst,
    play_closed_shops,
    play_human_in_charge,
)
from local.seed import CLOSED_SHOPS, DEMO
from local.stack import LocalStack

OFFLINE = "🤖 [modo offline]"
ECHO = "🔊 Entendi: “[transcrição offline] áudio de 7 s”"
HEARD = "[mensagem de voz transcrita] [transcrição offline] áudio de 7 s"
BILL_LINE = (
    "[conta de luz lida automaticamente; confiança alta] distribuidora: Enel SP; valor total: R$ 187,43; "
    "vencimento: 10/12/2025; consumo: 245 kWh"
)
IMAGE_TURN = (
    "[imagem] [descrição offline] imagem PNG de 360×640 pixels\n"
    "Legenda do cliente: Segue minha conta de luz, dá pra fazer um orçamento de energia solar?\n" + BILL_LINE
)
NOT_DOWNLOADABLE = "Recebi seu arquivo, mas por este canal ainda não consigo abri-lo. Pode me contar em texto do que se trata?"


def offline(answer: str, said: str, n: int) -> str:
    """The offline model's reply: an intent's answer, then the last user turn quoted (cut at 80)."""
    quote = said if len(said) <= 80 else said[:77] + "..."
    return f"{OFFLINE} {answer}\nVocê disse: “{quote}” (mensagem {n} desta conversa)."


GREETING = "Olá! 👋 Como posso ajudar?"
HOURS = "Nosso horário de atendimento aparece no perfil da empresa; posso registrar sua dúvida para a equipe."
PRICES = "Para preços e orçamentos, um atendente confirma os valores atualizados com você."
FORWARDED = "Recebi sua mensagem e vou repassar para a equipe."
BILL_READ = (
    "Li sua conta de luz: distribuidora: Enel SP; valor total: R$ 187,43; vencimento: 10/12/2025; consumo: 245 kWh. "
    "Vou repassar para a equipe preparar seu orçamento."
)
THANKS = "Eu que agradeço! Se precisar de mais alguma coisa, é só chamar."
ORDER = "Posso ajudar com seu pedido! Me diga o número dele, por favor."
OUT_OF_HOURS = (
    "Olá! 👋 Nosso atendimento está fechado agora. Voltamos {opening}. "
    "Sua mensagem ficou registrada e vamos responder assim que a equipe estiver de volta."
)
# The burst's three messages, read as one turn.
BURST_TURN = "oi\ntudo bem?\nqueria saber do bolo de cenoura"

# Every reply of the scripted conversation, in order, on a channel that can open files.
CONVERSATION_REPLIES = [
    offline(GREETING, "Oi, bom dia!", 1),
    offline(HOURS, "Vocês abrem no domingo?", 2),
    ECHO,
    offline(FORWARDED, HEARD, 3),
    offline(BILL_READ, IMAGE_TURN, 4),  # the typed bill, read from the photo, reaches the answer
    offline(PRICES, "Quanto custa o bolo de cenoura?", 5),
    offline(THANKS, "Obrigada!", 6),
]


# The demo tenants' burst pause is 3 s (the product default), and every text waits it out before
# its answer: played at that pace the scenes spend most of their time waiting. The scenes that are
# not about bursts play with 1 s, the least a tenant can set (never off: a lone text is still held,
# or found old enough, on its way to its answer). The burst scene keeps the default: timestamps are
# whole seconds, and the pause is all the latency the first of the three messages may meet before
# the processor holds it (with 1 s, a second boundary between its send and its processing is enough
# to answer it alone), on a machine running the other tests beside it.
SCENE_BURST_PAUSE_SECONDS = 1
BURST_SCENE_PAUSE_SECONDS = 3  # Tenant.burst_pause_seconds, the default


def set_burst_pause(office: Backoffice, tenant_id: str, seconds: int) -> None:
    """The tenant's burst pause, written before the processor has read the tenant (it caches it)."""
    directory = office.directory  # uncached
    tenant = directory.tenant(tenant_id)
    assert tenant is not None, tenant_id
    directory.put_tenant(replace(tenant, burst_pause_seconds=seconds))


class Office(Backoffice):
    """The operator's side; the closed shops it registers get the scenes' burst pause too."""

    def open_closed_shops(self) -> tuple[Tenant, ...]:
        shops = super().open_closed_shops()
        for shop in shops:
            set_burst_pause(self, shop.tenant_id, SCENE_BURST_PAUSE_SECONDS)
        return tuple(replace(shop, burst_pause_seconds=SCENE_BURST_PAUSE_SECONDS) for shop in shops)


@pytest.fixture
def local_stack():
    # The stack configures the process environment like `make run` does; restore it afterwards
    # so later tests see their own settings.
    saved = dict(os.environ)
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY"):
        os.environ.pop(name, None)
    # The poller long-polls moto (new messages wake it at once): with 0 it would spin on
    # ReceiveMessage, a core's worth of CPU for the whole test, taken from the tests running beside it.
    stack = LocalStack(aws_port=0, webhook_port=0, graph_port=0, poll_wait_seconds=1).start()
    try:
        set_burst_pause(Backoffice(), DEMO.tenant_id, SCENE_BURST_PAUSE_SECONDS)
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        from atende.store import aws

        aws.reset_clients()


def inbound_items(stack: LocalStack) -> dict[str, dict[str, Any]]:
    """The processed inbound messages, by message type (one of each media type in the demo)."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    items = boto3.client("dynamodb").scan(TableName=stack.stack.resources["AtendeTable"].ref)["Items"]
    inbound = [{k: plain.deserialize(v) for k, v in item.items()} for item in items if item["SK"]["S"].startswith("MSG#IN#")]
    return {item["msg_type"]: item for item in inbound if item["msg_type"] != "text"}


def stored_object(stack: LocalStack, key: str) -> tuple[bytes, str]:
    import boto3

    obj = boto3.client("s3").get_object(Bucket=stack.stack.resources["MediaBucket"].ref, Key=key)
    return obj["Body"].read(), obj["ContentType"]


MEDIA_FACTS = ("outcome", "media_result", "media_mime_type", "media_size", "media_sha256", "media_seconds", "understood", "bill")


def facts(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in MEDIA_FACTS if k in item} | {"replies": len(item["replied_with"])}


@pytest.mark.enable_socket
@pytest.mark.slow
def test_demo_conversation_with_a_voice_note_and_a_bill_photo_gets_one_answer_each_and_none_for_redeliveries(local_stack, capsys):
    # Given the demo customer on the Meta channel
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url)

    # When the scripted conversation plays (then a text and the voice note are redelivered)
    assert play(client, CONVERSATION) is True

    # Then every message got its answer, the voice note its transcript echo first, and no redelivery a second one
    assert [call.text for call in local_stack.sandbox.sent] == CONVERSATION_REPLIES
    out = capsys.readouterr().out
    assert f"👩 {DEMO.customer_name}: 🎤 (nota de voz, 7 s)\n" in out
    assert f"👩 {DEMO.customer_name}: 🖼️ (imagem: conta de luz) {BILL_PHOTO.caption}\n" in out
    assert f"🤖 {DEMO.business_name}: {ECHO}\n" in out
    assert out.count("no duplicate reply ✔") == 2
    assert "↻ the provider redelivers 🎤 (nota de voz, 7 s) (same message id, HTTP 200): no duplicate reply ✔" in out
    # Each file was fetched from the Graph sandbox once (the redelivery downloaded nothing)...
    assert [(m.mime_type, m.downloads) for m in local_stack.sandbox.media.values()] == [("audio/ogg; codecs=opus", 1), ("image/png", 1)]
    # ... stored in the media bucket under the tenant, and understood: the bill read by the offline stand-in.
    items = inbound_items(local_stack)
    assert facts(items["audio"]) == {
        "outcome": "replied",
        "media_result": "transcribed",
        "media_mime_type": "audio/ogg; codecs=opus",
        "media_size": len(VOICE_NOTE.blob.data),
        "media_sha256": hashlib.sha256(VOICE_NOTE.blob.data).hexdigest(),
        "media_seconds": 7,
        "understood": HEARD,
        "replies": 2,
    }
    assert facts(items["image"]) == {
        "outcome": "replied",
        "media_result": "described",
        "media_mime_type": "image/png",
        "media_size": len(BILL_PHOTO.blob.data),
        "media_sha256": hashlib.sha256(BILL_PHOTO.blob.data).hexdigest(),
        "understood": IMAGE_TURN,
        "bill": {
            "is_electricity_bill": True,
            "confidence": "high",
            "provider": "local",
            "model": "atende-offline-1",
            "total_amount_brl": "187.43",
            "due_date": "2025-12-10",
            "consumption_kwh": Decimal(245),
            "distributor": "Enel SP",
        },
        "replies": 1,
    }
    for item, media in ((items["audio"], VOICE_NOTE), (items["image"], BILL_PHOTO)):
        assert item["media_key"].startswith(f"media/{DEMO.tenant_id}/")
        assert stored_object(local_stack, item["media_key"]) == (media.blob.data, media.blob.mime_type)
    assert local_stack.webhook_url.startswith("http://127.0.0.1:")


@pytest.mark.enable_socket
@pytest.mark.slow
def test_status_callbacks_from_the_sandbox_reach_the_outbound_message(local_stack):
    import time

    import boto3

    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url)
    exchange = client.say("Tem pão de queijo?")
    assert (exchange.status, len(exchange.replies)) == (200, 1)
    table = local_stack.stack.resources["AtendeTable"].ref
    outbound: list[dict] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # sent → delivered → read arrive as signed webhooks
        items = boto3.client("dynamodb").scan(TableName=table)["Items"]
        outbound = [i for i in items if i["SK"]["S"].startswith("MSG#OUT#")]
        if outbound and outbound[0].get("status", {}).get("S") == "read":
            break
        time.sleep(0.2)
    assert [i["status"]["S"] for i in outbound] == ["read"]


@pytest.mark.enable_socket
@pytest.mark.slow
def test_demo_on_evolution_gets_the_voice_note_inline_and_the_photo_through_get_base64(local_stack, capsys):
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url, "evolution")

    assert play(client, conversation("evolution")) is True

    assert [call.text for call in local_stack.evolution.sent] == CONVERSATION_REPLIES
    assert capsys.readouterr().out.count("no duplicate reply ✔") == 2
    # The photo was fetched once with getBase64FromMediaMessage; the voice note travelled in the webhook.
    downloads = [c for c in local_stack.evolution.calls if c.action == "getBase64FromMediaMessage"]
    assert len(downloads) == 1
    assert facts(inbound_items(local_stack)["image"])["bill"]["distributor"] == "Enel SP"
    assert local_stack.sandbox.calls == []  # nothing went out through Meta


@pytest.mark.enable_socket
@pytest.mark.slow
def test_demo_on_whaticket_answers_the_voice_note_with_the_polite_notice(local_stack, capsys):
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url, "whaticket")

    assert play(client, conversation("whaticket")) is True

    assert [call.text for call in local_stack.whaticket.sent] == [
        offline(GREETING, "Oi, bom dia!", 1),
        offline(HOURS, "Vocês abrem no domingo?", 2),
        NOT_DOWNLOADABLE,  # no LLM turn: the next answer is the conversation's third message
        offline(PRICES, "Quanto custa o bolo de cenoura?", 3),
        offline(THANKS, "Obrigada!", 4),
    ]
    assert capsys.readouterr().out.count("no duplicate reply ✔") == 2
    assert facts(inbound_items(local_stack)["audio"]) == {
        "outcome": "unsupported",
        "media_result": "not_downloadable",
        "media_mime_type": "audio/ogg; codecs=opus",  # as the relay declared it: nothing was stored
        "replies": 1,
    }
    assert local_stack.sandbox.calls == []
    assert local_stack.sandbox.media == {}


@pytest.mark.enable_socket
@pytest.mark.slow
def test_the_stack_serves_the_sandboxes_media_registration_endpoints(local_stack):
    import httpx

    graph = httpx.post(f"{local_stack.sandbox_url}/sandbox/media", content=b"\x89PNG", headers={"Content-Type": "image/png"})
    evolution = httpx.post(
        f"{local_stack.sandbox_url}/evolution/sandbox/media/3EB0A1B2C3D4E5F60718", content=b"OggS", headers={"Content-Type": "audio/ogg"}
    )

    assert (graph.status_code, graph.json()["id"]) == (200, "1090000000000001")
    assert local_stack.sandbox.media["1090000000000001"].data == b"\x89PNG"
    assert (evolution.status_code, evolution.json()["size"]) == (201, 4)
    assert local_stack.evolution.sent == []


@pytest.mark.enable_socket
@pytest.mark.slow
def test_forty_clients_connected_at_once_all_get_an_answer(local_stack):
    import socket
    import threading

    from atende.channels.meta import sign_meta_body
    from local.meta_payload import text_webhook

    # Given the webhook server not accepting for a moment (its socket still listening), as when its
    # accept loop falls behind a burst: each connection has to wait in the listen backlog
    server = local_stack.webhook_server
    server.shutdown()
    clients: list[socket.socket] = []
    try:
        # When 40 clients connect and send a signed webhook each (a connect completes only if the
        # backlog has room: with socketserver's default of 5, the 7th times out)
        for n in range(40):
            body, _ = text_webhook(f"Cliente {n}: vocês abrem no domingo?")
            head = (
                "POST /webhooks/meta HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Hub-Signature-256: {sign_meta_body(body, DEMO.app_secret)}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            client = socket.create_connection(("127.0.0.1", local_stack.webhook_port), timeout=2)
            clients.append(client)
            client.sendall(head.encode() + body)
    finally:
        threading.Thread(target=server.serve_forever, name="webhook-http", daemon=True).start()

    # Then every one of them gets the webhook's answer
    answers = []
    for client in clients:
        client.settimeout(30)
        with client, client.makefile("rb") as response:
            answers.append((response.readline().split()[1], response.read().rpartition(b"\r\n\r\n")[2]))
    assert answers == [(b"200", b'{"received":1,"statuses":0}')] * 40


def contact_inbound(office: Backoffice, tenant_id: str, customer: Customer) -> dict[str, dict[str, Any]]:
    """A contact's inbound items by text (each text of the scenes is sent once)."""
    items = office.store.contact_items(tenant_id, office.contact_id(customer))
    return {item.get("text", ""): item for item in items if item["SK"].startswith("MSG#IN#")}


def relay_sent(stack: LocalStack, channel: str) -> list[str | None]:
    sandbox = {"meta": stack.sandbox, "evolution": stack.evolution, "whaticket": stack.whaticket}[channel]
    return [call.text for call in sandbox.sent]


@pytest.mark.enable_socket
@pytest.mark.slow
@pytest.mark.parametrize("channel", ["meta", "evolution", "whaticket"])
def test_demo_burst_gets_one_answer_and_a_queued_conversation_none(local_stack, capsys, channel):
    # Given the demo customer on one channel, and the operator's side of the same stack
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url, channel)
    office = Office()
    set_burst_pause(office, DEMO.tenant_id, BURST_SCENE_PAUSE_SECONDS)

    # When she writes three messages within a second, then writes while the conversation is
    # queued for a person, then again once it is back with the bot
    assert play_burst(client, office) is True
    assert play_human_in_charge(client, office) is True

    # Then the burst got exactly one answer, to the three read together; the queued message none
    assert relay_sent(local_stack, channel) == [
        offline(GREETING, BURST_TURN, 1),
        offline(ORDER, AFTER_HANDBACK, 2),  # the message a person had was not the bot's to remember
    ]
    items = contact_inbound(office, DEMO.tenant_id, client.customer)
    assert [(items[text]["outcome"], len(items[text]["replied_with"])) for text in BURST] == [("merged", 0), ("merged", 0), ("replied", 1)]
    assert (items[HUMAN_WHILE_QUEUED]["outcome"], items[HUMAN_WHILE_QUEUED]["replied_with"]) == ("human", [])
    assert items[AFTER_HANDBACK]["outcome"] == "replied"
    assert office.store.load_profile(DEMO.tenant_id, office.contact_id(client.customer)).conversation.state == "bot"
    out = capsys.readouterr().out
    assert "  ⏱ 3 mensagens → 1 resposta ✔ (recorded as: merged, merged, replied)\n" in out
    assert "  📥 no reply ✔ while a person is in charge: recorded as MSG#IN#" in out
    assert f"(outcome “human”, text “{HUMAN_WHILE_QUEUED}”)\n" in out


@pytest.mark.enable_socket
@pytest.mark.slow
def test_demo_closed_shops_send_the_out_of_hours_notice_once_and_keep_answering_under_answer(local_stack, capsys):
    from datetime import timedelta

    from atende.domain.hours import WEEKDAY_FULL_NAMES

    # Given a customer the stack has not seen, writing to the shops that are closed today
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url)
    office = Office()
    customer = Customer("João Pereira", "5511912345678", emoji="👨")

    # When he writes twice to the "notice" shop and once to the "answer" shop
    assert play_closed_shops(client, office, customer) is True

    # Then the first message got the out-of-hours notice with the next opening, the second
    # nothing (recorded), and the "answer" shop's assistant answered as when open
    notice_shop, answer_shop = CLOSED_SHOPS
    closed = sorted(office.tenant(notice_shop.tenant_id).hours.closed_days)
    after = closed[-1] + timedelta(days=1)  # the shops open at 07:00 every day they are not closed
    opening = "amanhã às 07:00" if len(closed) == 1 else f"{WEEKDAY_FULL_NAMES[after.weekday()]} às 07:00"
    sent = [(call.phone_number_id, call.to, call.text) for call in local_stack.sandbox.sent]
    assert sent == [
        (notice_shop.phone_number_id, customer.wa_id, OUT_OF_HOURS.format(opening=opening)),
        (answer_shop.phone_number_id, customer.wa_id, offline(FORWARDED, CLOSED_ANSWERED, 1)),
    ]
    items = contact_inbound(office, notice_shop.tenant_id, customer)
    assert [(items[t]["outcome"], len(items[t]["replied_with"])) for t in (CLOSED_FIRST, CLOSED_SECOND)] == [
        ("out_of_hours", 1),
        ("out_of_hours", 0),
    ]
    assert contact_inbound(office, answer_shop.tenant_id, customer)[CLOSED_ANSWERED]["outcome"] == "replied"
    out = capsys.readouterr().out
    assert out.count("Voltamos") == 1
    assert f"(outcome “out_of_hours”, text “{CLOSED_SECOND}”)\n" in out
