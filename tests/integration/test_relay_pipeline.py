"""Evolution and Whaticket end to end: webhook → SQS FIFO (moto) → processor → provider sandbox.

Replies go back through the provider the message came from, to the exact address it came from;
statuses update our outbound messages; provider errors are retried or recorded by type.
"""

from __future__ import annotations

import json
import time

import pytest

from atende.channels.relay_auth import sign_whaticket_body
from atende.domain.tenants import Tenant
from atende.service.registration import register_whaticket_channel
from atende.store.conversations import ConversationStore
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.seed import DEMO
from tests.support import build_pipeline

EVO_HEADERS = {"x-atende-secret": DEMO.evolution_header_secret}
OFFLINE_PREFIX = "🤖 [modo offline]"
MARIANA_JID = "5511987654321@s.whatsapp.net"


def now() -> int:
    return int(time.time())


@pytest.fixture
def pipeline(stack):
    return build_pipeline(stack)


def evolution_says(p, text: str | None = None, *, message_id: str = "3EB0A1B2C3D4E5F6A7B8", remote_jid: str = MARIANA_JID, **kw):
    raw = p.evolution.upsert_body(
        DEMO.evolution_instance,
        message_id=message_id,
        remote_jid=remote_jid,
        push_name=DEMO.customer_name,
        text=text,
        timestamp=now(),
        apikey=DEMO.evolution_api_key,
        **kw,
    )
    response = p.post("/webhooks/evolution", raw, EVO_HEADERS)
    assert response["statusCode"] == 200, response
    return raw


def whaticket_says(p, text: str, *, message_id: str = "3EB0F00D5A1E2B3C4D5E", connection: str = DEMO.whaticket_connection):
    raw = p.whaticket.relay_body("5511987654321", text, message_id=message_id, push_name=DEMO.customer_name, timestamp=now())
    ts = now()
    secret = DEMO.whaticket_signing_secret if connection == DEMO.whaticket_connection else "login-signing-secret"
    headers = {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(raw, ts, secret)}
    response = p.post(f"/webhooks/whaticket/{connection}", raw, headers)
    assert response["statusCode"] == 202, response
    return raw


def items(stack, contact_id: str) -> list[dict]:
    store = ConversationStore(stack.resources["AtendeTable"].ref, stack.resources["IdempotencyTable"].ref)
    return store.contact_items(DEMO.tenant_id, contact_id)


def queued_contact_id(p) -> str:
    return p.queued()[0]["body"]["message"]["contact"]["contact_id"]


# --- Evolution ------------------------------------------------------------------------------


def test_evolution_text_is_answered_once_through_evolution_to_the_same_jid(pipeline):
    p = pipeline
    evolution_says(p, "Vocês entregam no Tatuapé?")
    contact_id = queued_contact_id(p)
    assert [r.failed for r in p.runner.drain()] == [[]]
    [reply] = p.evolution.sent
    assert reply.action == "sendText" and reply.instance == DEMO.evolution_instance
    assert reply.payload["number"] == MARIANA_JID
    assert reply.text.startswith(OFFLINE_PREFIX) and "Tatuapé" in reply.text
    [read] = p.evolution.reads
    assert read.payload == {"readMessages": [{"remoteJid": MARIANA_JID, "fromMe": False, "id": "3EB0A1B2C3D4E5F6A7B8"}]}
    assert p.evolution.presences == []  # presence blocks the call: off unless the channel opts in
    assert p.sandbox.calls == [] and p.whaticket.calls == []  # never through another provider

    # Evolution redelivers (its retry after a slow 2xx): no second answer.
    evolution_says(p, "Vocês entregam no Tatuapé?")
    p.runner.drain()
    assert len(p.evolution.sent) == 1

    # Its delivery receipts update our outbound message, in order of rank.
    for status in ("SERVER_ACK", "DELIVERY_ACK", "READ"):
        body = p.evolution.status_update_body(DEMO.evolution_instance, reply.message_id, MARIANA_JID, status, DEMO.evolution_api_key)
        assert p.post("/webhooks/evolution", body, EVO_HEADERS)["statusCode"] == 200
    p.runner.drain()
    [outbound] = [i for i in items(p.stack, contact_id) if i["SK"].startswith("MSG#OUT#")]
    assert outbound["SK"] == f"MSG#OUT#{reply.message_id}"
    assert outbound["status"] == "read"


def test_evolution_lid_sender_with_phone_is_answered_at_the_phone(pipeline):
    p = pipeline
    evolution_says(p, "Oi, tudo bem?", remote_jid="188234567890123@lid", remote_jid_alt=MARIANA_JID)
    p.runner.drain()
    [reply] = p.evolution.sent
    assert reply.payload["number"] == MARIANA_JID


def test_evolution_lid_only_sender_is_answered_at_the_lid_received(pipeline):
    p = pipeline
    evolution_says(p, "Oi, tudo bem?", remote_jid="188234567890123@lid")
    p.runner.drain()
    [reply] = p.evolution.sent
    assert reply.payload["number"] == "188234567890123@lid"


def test_evolution_reaction_and_sticker_get_no_reply(pipeline):
    p = pipeline
    reaction = {"reactionMessage": {"key": {"remoteJid": MARIANA_JID, "fromMe": True, "id": "3EB0SANDBOX00000000001"}, "text": "❤️"}}
    evolution_says(p, message=reaction, message_id="3EB0REACTION000000001")
    sticker = {"stickerMessage": {"mimetype": "image/webp", "isAnimated": False}}
    evolution_says(p, message=sticker, message_id="3EB0STICKER0000000001")
    assert [r.failed for r in p.runner.drain()] == [[]]
    assert p.evolution.calls == []


def test_evolution_recipient_not_on_whatsapp_is_recorded_not_retried(pipeline):
    p = pipeline
    p.evolution.fail_next(400)  # {"exists": false, ...}
    evolution_says(p, "Quanto custa o sonho?")
    contact_id = queued_contact_id(p)
    assert [r.failed for r in p.runner.drain()] == [[]]
    [inbound] = [i for i in items(p.stack, contact_id) if i["SK"].startswith("MSG#IN#")]
    assert inbound["outcome"] == "rejected"
    assert p.evolution.sent == []


def test_evolution_outage_is_retried_and_answered_once(pipeline):
    p = pipeline
    p.evolution.fail_next(500)
    evolution_says(p, "Tem pão de queijo?")
    p.runner.drain()
    assert len(p.evolution.sent) == 1
    assert p.dead_letters() == []


def test_evolution_wrong_instance_token_dead_letters_for_a_redrive(pipeline, stack):
    p = pipeline
    SecretStore(max_age=0).put_json(f"atende/dev/channels/evolution-{DEMO.evolution_instance}", {"api_key": "revoked-token"})
    evolution_says(p, "Oi")
    for _ in range(5):
        p.runner.drain()
    assert p.evolution.sent == []
    assert len(p.dead_letters()) == 1


# --- Whaticket ------------------------------------------------------------------------------


def test_whaticket_text_is_answered_through_whaticket_to_the_number(pipeline):
    p = pipeline
    whaticket_says(p, "Qual o horário de domingo?")
    assert [r.failed for r in p.runner.drain()] == [[]]
    [reply] = p.whaticket.sent
    assert reply.payload["number"] == "5511987654321"
    assert reply.payload["body"].startswith(OFFLINE_PREFIX)
    assert p.evolution.calls == [] and p.sandbox.calls == []


def test_whaticket_login_mode_logs_in_once_for_several_replies(pipeline, stack):
    p = pipeline
    p.whaticket.users = {"atendimento@padaria.com.br": "s3nha-forte"}
    register_whaticket_channel(
        TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0), SecretStore(max_age=0), stage="dev",
        tenant=Tenant(tenant_id=DEMO.tenant_id, name=DEMO.business_name), connection="padaria-login",
        base_url="http://127.0.0.1:3001/whaticket", login_email="atendimento@padaria.com.br", login_password="s3nha-forte",
        generated={"signing_secret": "login-signing-secret"},
    )  # fmt: skip
    whaticket_says(p, "Bom dia!", message_id="3EB0LOGIN000000000001", connection="padaria-login")
    p.runner.drain()
    whaticket_says(p, "Tem bolo de fubá?", message_id="3EB0LOGIN000000000002", connection="padaria-login")
    p.runner.drain()
    assert len(p.whaticket.sent) == 2
    assert p.whaticket.logins == 1


def test_whaticket_media_without_caption_gets_one_polite_notice(pipeline):
    p = pipeline
    raw = json.dumps(
        {
            "key": {"remoteJid": MARIANA_JID, "fromMe": False, "id": "3EB0IMAGE000000000001"},
            "message": {"imageMessage": {"mimetype": "image/jpeg", "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/abc.enc"}},
            "pushName": DEMO.customer_name,
            "messageTimestamp": now(),
        }
    ).encode()
    ts = now()
    headers = {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(raw, ts, DEMO.whaticket_signing_secret)}
    assert p.post(f"/webhooks/whaticket/{DEMO.whaticket_connection}", raw, headers)["statusCode"] == 202
    p.runner.drain()
    # Whaticket relays carry no downloadable file: the customer is told so, once.
    [reply] = p.whaticket.sent
    assert reply.payload["body"] == (
        "Recebi seu arquivo, mas por este canal ainda não consigo abri-lo. Pode me contar em texto do que se trata?"
    )
