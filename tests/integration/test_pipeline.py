"""End to end: signed Meta webhook → SQS FIFO → processor → Graph API, under moto.

The real handlers, the real boto3 calls (moto), the real MetaClient and openai SDK over
httpx transports. Failed records are made visible again at once (retry_immediately) so the
tests walk through SQS's redelivery without waiting for the backoff.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from atende.domain.tenants import Tenant
from atende.store.conversations import ConversationStore
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.seed import DEMO
from tests.conftest import fixture_bytes
from tests.fakes import FakeOpenAI
from tests.support import build_pipeline, enqueue_again

TEXT_ID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA=="
APOLOGY = "Desculpe, tive um problema para responder agora. 🙏 Já registramos o ocorrido; por favor, tente de novo em alguns minutos."


def now() -> int:
    return int(time.time())


@pytest.fixture
def pipeline(stack):
    return build_pipeline(stack)


@pytest.fixture
def openai_pipeline(stack, monkeypatch):
    """The demo tenant on OpenAI (key in Secrets Manager), the SDK pointed at a local fake."""
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")  # SQS redelivery is the retry under test here
    fake = FakeOpenAI()
    SecretStore(max_age=0).put_json(stack.resources["LlmSecret"].ref, {"openai_api_key": "sk-test-123"})
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    directory.put_tenant(Tenant(tenant_id=DEMO.tenant_id, name=DEMO.business_name, llm_provider="openai"))
    p = build_pipeline(stack, llm_transport=fake.transport())
    p.openai = fake
    return p


def store(stack) -> ConversationStore:
    return ConversationStore(stack.resources["AtendeTable"].ref, stack.resources["IdempotencyTable"].ref)


def contact_id(pipeline, raw: bytes) -> str:
    pipeline.deliver(raw)
    [queued] = pipeline.queued()
    return queued["body"]["message"]["contact"]["contact_id"]


# --- the happy path ---------------------------------------------------------------------


def test_text_message_gets_exactly_one_offline_reply_to_the_sender(pipeline):
    # Given a customer's text, as Meta signs and sends it
    raw = fixture_bytes("meta/text.json", timestamp=now() - 5)
    # When the webhook accepts it and the processor drains the queue
    response = pipeline.deliver(raw)
    results = pipeline.runner.drain()
    # Then one reply went to the exact wa_id received, after a read receipt with typing indicator
    assert response["statusCode"] == 200
    assert [r.failed for r in results] == [[]]
    assert [r.payload for r in pipeline.sandbox.reads] == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": TEXT_ID, "typing_indicator": {"type": "text"}}
    ]
    [reply] = pipeline.sandbox.sent
    assert reply.payload == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": DEMO.customer_wa_id,
        "type": "text",
        "text": {"preview_url": False, "body": reply.text},
        # Names the send (inbound id | part): Meta echoes it in the status webhooks.
        "biz_opaque_callback_data": f"{TEXT_ID}|0",
    }
    assert reply.phone_number_id == DEMO.phone_number_id
    assert reply.text.startswith("🤖 [modo offline] Nosso horário de atendimento")


def test_inbound_outbound_and_profile_are_persisted_in_the_contact_partition(stack, pipeline):
    sent_at = now() - 5
    raw = fixture_bytes("meta/text.json", timestamp=sent_at)
    cid = contact_id(pipeline, raw)
    pipeline.runner.drain()
    [reply] = pipeline.sandbox.sent
    items = {i["SK"]: i for i in store(stack).contact_items(DEMO.tenant_id, cid)}
    assert set(items) == {"PROFILE", f"MSG#IN#{TEXT_ID}", f"MSG#OUT#{reply.message_id}", f"SESSION#{sent_at:010d}"}
    inbound, outbound, profile = items[f"MSG#IN#{TEXT_ID}"], items[f"MSG#OUT#{reply.message_id}"], items["PROFILE"]
    session = items[f"SESSION#{sent_at:010d}"]
    assert (inbound["outcome"], inbound["text"], inbound["replied_with"]) == (
        "replied",
        "Olá! Vocês abrem no domingo? 🥐",
        [reply.message_id],
    )
    assert (outbound["in_reply_to"], outbound["status"], outbound["text"]) == (TEXT_ID, "accepted", reply.text)
    assert profile["last_inbound_at"] == sent_at
    assert (profile["wa_id"], profile["user_id"], profile["version"]) == (DEMO.customer_wa_id, DEMO.customer_user_id, 1)
    assert [t["r"] for t in profile["memory"]] == ["user", "assistant"]
    assert inbound["ttl"] - inbound["processed_at"] == 90 * 86400  # the tenant's retention
    # What the assistant read, what it cost (the offline model is free), and the session it opened
    # (a plain text is read as written, so no separate "understood" copy is stored)
    assert ("understood" in inbound, inbound["session_id"], inbound["cost_brl"]) == (False, f"{sent_at:010d}", 0)
    assert inbound["llm"]["local/atende-offline-1"]["calls"] == 1
    assert (session["messages_in"], session["messages_out"], session["outcome"], session["human"]) == (1, 1, "open", False)
    assert profile["session"]["started_at"] == sent_at and profile["conversation"]["state"] == "bot"


def test_bsuid_only_sender_is_answered_through_the_recipient_field(pipeline):
    pipeline.deliver(fixture_bytes("meta/bsuid_only.json", timestamp=now()))
    pipeline.runner.drain()
    [reply] = pipeline.sandbox.sent
    assert reply.payload["recipient"] == "BR.5566778899001122"
    assert "to" not in reply.payload


def test_ddd31_number_is_answered_exactly_as_received_without_a_ninth_digit(pipeline):
    pipeline.deliver(fixture_bytes("meta/text_ddd31.json", timestamp=now()))
    pipeline.runner.drain()
    assert [r.to for r in pipeline.sandbox.sent] == ["553188887766"]


# --- exactly one reply ---------------------------------------------------------------------


def test_meta_redelivering_days_later_gets_no_second_reply(stack, pipeline, capsys):
    raw = fixture_bytes("meta/text.json", timestamp=now() - 60)
    pipeline.deliver(raw)
    pipeline.runner.drain()
    enqueue_again(stack, pipeline, raw)
    results = pipeline.runner.drain()
    assert [r.failed for r in results] == [[]]
    assert len(pipeline.sandbox.sent) == 1
    assert '"InboundDuplicate":[1.0]' in capsys.readouterr().out


def test_a_claim_left_by_a_crashed_invocation_blocks_until_its_lease_expires_then_one_reply(stack, pipeline):
    # Given an invocation that claimed the message and died (no release, lease still running)
    raw = fixture_bytes("meta/text.json", timestamp=now() - 5)
    pipeline.deliver(raw)
    ddb = boto3.client("dynamodb")
    claims = stack.resources["IdempotencyTable"].ref
    key = {"id": {"S": f"{DEMO.tenant_id}#meta#{TEXT_ID}"}}
    ddb.put_item(
        TableName=claims,
        Item={
            **key,
            "status": {"S": "claimed"},
            "lease_until": {"N": str(now() + 600)},
            "claims": {"N": "1"},
            "claim_token": {"S": "dead"},
        },
    )
    # When SQS redelivers while the lease is live, the record fails (retried later), no reply
    first = pipeline.runner.poll_once()
    assert len(first.failed) == 1 and pipeline.sandbox.sent == []
    # Then once the lease has expired the retry resumes and answers exactly once
    ddb.update_item(TableName=claims, Key=key, UpdateExpression="SET lease_until = :past", ExpressionAttributeValues={":past": {"N": "1"}})
    pipeline.runner.drain()
    assert len(pipeline.sandbox.sent) == 1
    item = ddb.get_item(TableName=claims, Key=key)["Item"]
    assert item["status"] == {"S": "done"} and "reply_parts" not in item
    assert int(item["expiration"]["N"]) - now() >= 7 * 86400


def test_message_older_than_the_24h_window_is_recorded_but_not_answered(stack, pipeline):
    raw = fixture_bytes("meta/text.json", timestamp=now() - 3 * 86400)
    cid = contact_id(pipeline, raw)
    pipeline.runner.drain()
    assert pipeline.sandbox.calls == []
    inbound = next(i for i in store(stack).contact_items(DEMO.tenant_id, cid) if i["SK"].startswith("MSG#IN#"))
    assert inbound["outcome"] == "outside_window"


# --- message types --------------------------------------------------------------------------


def test_reaction_gets_no_reply_and_no_read_receipt(pipeline):
    pipeline.deliver(fixture_bytes("meta/reaction.json", timestamp=now()))
    assert [r.failed for r in pipeline.runner.drain()] == [[]]
    assert pipeline.sandbox.calls == []


def test_button_reply_reaches_the_assistant_as_its_title(openai_pipeline):
    openai_pipeline.deliver(fixture_bytes("meta/interactive_button_reply.json", timestamp=now()))
    openai_pipeline.runner.drain()
    [request] = openai_pipeline.openai.requests
    assert request["messages"][-1] == {"role": "user", "content": "Status do pedido"}


@pytest.mark.parametrize(
    ("fixture", "user_turn"),
    [
        (
            "meta/location.json",
            "[localização] MASP - Museu de Arte de São Paulo — Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200"
            " (-23.561414, -46.655882)",
        ),
        (
            "meta/contacts.json",
            "[contatos compartilhados] Carlos Almeida: +55 11 99876-5432, +55 11 3456-7890; Fernanda Lima: +55 21 98765-4321",
        ),
        (
            "meta/order.json",
            "[pedido do catálogo] 2 × PAO-QUEIJO-500G a 24.9 BRL; 1 × BOLO-CENOURA-G a 45 BRL. Observação: Pode caprichar na cobertura!",
        ),
    ],
    # Captioned images and videos go through the media pipeline: tests/integration/test_media_pipeline.py
    ids=["location", "contacts", "order"],
)
def test_captions_locations_contacts_and_orders_reach_the_assistant_as_text(openai_pipeline, fixture, user_turn):
    openai_pipeline.deliver(fixture_bytes(fixture, timestamp=now()))
    openai_pipeline.runner.drain()
    [request] = openai_pipeline.openai.requests
    assert request["messages"][-1] == {"role": "user", "content": user_turn}
    assert len(openai_pipeline.sandbox.sent) == 1


def test_unsupported_type_gets_one_polite_notice_even_when_redelivered(stack, pipeline):
    raw = fixture_bytes("meta/unsupported_poll.json", timestamp=now())
    pipeline.deliver(raw)
    pipeline.runner.drain()
    enqueue_again(stack, pipeline, raw)
    pipeline.runner.drain()
    assert [r.text for r in pipeline.sandbox.sent] == [
        "Recebi sua mensagem, mas ainda não consigo entender esse tipo de conteúdo. Pode me escrever em texto, por favor?"
    ]


# --- LLM: memory, failures, apology -------------------------------------------------------


def test_openai_gets_the_system_prompt_and_conversation_memory(openai_pipeline):
    p = openai_pipeline
    p.deliver(fixture_bytes("meta/text.json", timestamp=now() - 30))
    p.runner.drain()
    second = fixture_bytes("meta/text.json", timestamp=now()).replace(b"wamid.HBgN", b"wamid.SECOND").replace(b"domingo", b"feriado")
    p.deliver(second)
    p.runner.drain()
    first_request, second_request = p.openai.requests
    assert first_request["model"] == "gpt-4.1-mini"
    assert first_request["messages"][0]["role"] == "system"
    assert "Padaria Pão Quente" in first_request["messages"][0]["content"]
    assert [m["content"] for m in second_request["messages"][1:]] == [
        "Olá! Vocês abrem no domingo? 🥐",
        "Abrimos aos domingos das 7h às 12h. 🥐",
        "Olá! Vocês abrem no feriado? 🥐",
    ]
    assert [s.text for s in p.sandbox.sent] == ["Abrimos aos domingos das 7h às 12h. 🥐"] * 2


def test_llm_outage_is_retried_by_sqs_and_the_last_attempt_apologises_once(openai_pipeline, capsys):
    p = openai_pipeline
    p.openai.always_fail_with = 500
    p.deliver(fixture_bytes("meta/text.json", timestamp=now()))
    results = p.runner.drain()
    # Four failed attempts, each a batch item failure; the fifth (maxReceiveCount) apologises.
    assert [len(r.failed) for r in results] == [1, 1, 1, 1, 0]
    assert [s.text for s in p.sandbox.sent] == [APOLOGY]
    assert len(p.openai.requests) == 5
    assert p.dead_letters() == []
    assert '"ReplyApologySent":[1.0]' in capsys.readouterr().out


def test_llm_recovering_on_a_retry_answers_normally(openai_pipeline):
    p = openai_pipeline
    p.openai.fail_next(503, times=2)
    p.deliver(fixture_bytes("meta/text.json", timestamp=now()))
    results = p.runner.drain()
    assert [len(r.failed) for r in results] == [1, 1, 0]
    assert [s.text for s in p.sandbox.sent] == ["Abrimos aos domingos das 7h às 12h. 🥐"]
    assert len(p.sandbox.reads) == 3  # cosmetic read receipt per attempt; one reply


def test_long_answer_is_split_and_a_failed_second_part_is_resent_alone(openai_pipeline):
    p = openai_pipeline
    p.openai.reply = ("Temos pães de fermentação natural. " * 150).strip()  # ~5,200 characters
    p.deliver(fixture_bytes("meta/text.json", timestamp=now()))
    # The first part goes out; the second fails transiently once.
    original = p.sandbox.handle
    calls = {"n": 0}

    def flaky(method, path, headers, body):
        payload = json.loads(body)
        if payload.get("type") == "text":
            calls["n"] += 1
            if calls["n"] == 2:
                return 503, {"error": {"code": 131000, "message": "Something went wrong"}}
        return original(method, path, headers, body)

    p.sandbox.handle = flaky
    results = p.runner.drain()
    assert [len(r.failed) for r in results] == [1, 0]
    parts = [s.text for s in p.sandbox.sent]
    assert len(parts) == 2 and all(len(x) <= 4096 for x in parts)
    assert " ".join(parts) == p.openai.reply
    assert len(p.openai.requests) == 1  # the checkpointed reply is reused, not regenerated


# --- provider errors ----------------------------------------------------------------------


def test_outside_service_window_error_is_recorded_and_not_retried(stack, pipeline, capsys):
    pipeline.sandbox.fail_next(400, 131047)
    raw = fixture_bytes("meta/text.json", timestamp=now())
    cid = contact_id(pipeline, raw)
    results = pipeline.runner.drain()
    assert [r.failed for r in results] == [[]]
    assert pipeline.sandbox.sent == []
    inbound = next(i for i in store(stack).contact_items(DEMO.tenant_id, cid) if i["SK"].startswith("MSG#IN#"))
    assert inbound["outcome"] == "outside_window"
    assert '"ReplyFailedOutsideWindow":[1.0]' in capsys.readouterr().out


def test_rate_limit_is_retried_and_then_answered_once(pipeline, capsys):
    pipeline.sandbox.fail_next(400, 131056)
    pipeline.deliver(fixture_bytes("meta/text.json", timestamp=now()))
    results = pipeline.runner.drain()
    assert [len(r.failed) for r in results] == [1, 0]
    assert len(pipeline.sandbox.sent) == 1
    assert '"ProviderRateLimited":[1.0]' in capsys.readouterr().out


def test_expired_token_fails_the_record_with_a_metric_and_succeeds_once_fixed(stack, pipeline, capsys):
    pipeline.sandbox.access_tokens = {"the-new-token"}
    pipeline.deliver(fixture_bytes("meta/text.json", timestamp=now()))
    first = pipeline.runner.poll_once()
    assert len(first.failed) == 1
    assert '"ProviderAuthFailed":[1.0]' in capsys.readouterr().out
    pipeline.sandbox.access_tokens = {DEMO.access_token}
    pipeline.runner.drain()
    assert len(pipeline.sandbox.sent) == 1


# --- FIFO partial batches -------------------------------------------------------------------


def test_one_failing_conversation_neither_blocks_others_nor_loses_its_order(pipeline):
    # Given Mariana's two messages (half a minute apart: not a burst) and João's one, in the same batch
    t = now()
    mariana_1 = fixture_bytes("meta/text.json", timestamp=t - 30)
    mariana_2 = fixture_bytes("meta/text.json", timestamp=t).replace(b"wamid.HBgN", b"wamid.MARIANA2").replace(b"domingo", b"feriado")
    pipeline.deliver(mariana_1)
    pipeline.deliver(mariana_2)
    pipeline.deliver(fixture_bytes("meta/text_ddd31.json", timestamp=t))
    # When the first send to Mariana is rate limited
    pipeline.sandbox.fail_next(400, 130429, to=DEMO.customer_wa_id)
    first = pipeline.runner.poll_once()
    # Then both of Mariana's records fail (order kept), João is answered in the same batch
    assert first.received == 3 and len(first.failed) == 2
    assert [s.to for s in pipeline.sandbox.sent] == ["553188887766"]
    pipeline.runner.drain()
    mariana_replies = [s.text for s in pipeline.sandbox.sent if s.to == DEMO.customer_wa_id]
    assert len(mariana_replies) == 2
    assert "domingo" in mariana_replies[0] and "feriado" in mariana_replies[1]


def test_poison_message_is_dead_lettered_at_once_and_its_conversation_carries_on(stack, pipeline, capsys):
    # Given an unreadable message queued ahead of a valid one, in the same conversation
    raw = fixture_bytes("meta/text.json", timestamp=now())
    pipeline.deliver(raw)
    [queued] = pipeline.queued()
    group = queued["attributes"]["MessageGroupId"]
    sqs = boto3.client("sqs")
    url = stack.resources["InboundQueue"].ref
    sqs.purge_queue(QueueUrl=url)
    poison = '{"v":1,"kind":"message","message":{}}'
    sqs.send_message(QueueUrl=url, MessageBody=poison, MessageGroupId=group, MessageDeduplicationId="poison-1")
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(queued["body"]), MessageGroupId=group, MessageDeduplicationId=TEXT_ID)
    # When the processor drains the queue
    results = pipeline.runner.drain()
    # Then the poison went to the DLQ on its first delivery and the valid message was answered
    assert [r.failed for r in results] == [[]]
    assert len(pipeline.sandbox.sent) == 1
    [dead] = pipeline.dead_letters()
    assert dead["Body"] == poison
    assert '"RecordDeadLettered":[1.0]' in capsys.readouterr().out


def test_a_failed_commit_after_the_send_is_retried_without_a_second_reply(stack, pipeline, monkeypatch):
    # Given a commit that fails once after Meta accepted the reply (throttling, a conflict...)
    from atende.errors import StoreError

    calls = {"n": 0}
    original = ConversationStore.complete_inbound

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreError("DynamoDB TransactWriteItems failed: ProvisionedThroughputExceededException")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ConversationStore, "complete_inbound", flaky)
    raw = fixture_bytes("meta/text.json", timestamp=now())
    cid = contact_id(pipeline, raw)
    # When SQS redelivers the failed record
    results = pipeline.runner.drain()
    # Then the retry commits what was already sent: one reply, recorded once
    assert [len(r.failed) for r in results] == [1, 0]
    [reply] = pipeline.sandbox.sent
    items = {i["SK"]: i for i in store(stack).contact_items(DEMO.tenant_id, cid)}
    assert items[f"MSG#IN#{TEXT_ID}"]["replied_with"] == [reply.message_id]
    assert items[f"MSG#OUT#{reply.message_id}"]["text"] == reply.text


# --- statuses -----------------------------------------------------------------------------


def test_statuses_are_recorded_on_the_outbound_message_and_never_go_backwards(stack, pipeline):
    raw = fixture_bytes("meta/text.json", timestamp=now())
    cid = contact_id(pipeline, raw)
    pipeline.runner.drain()
    [reply] = pipeline.sandbox.sent
    for name in ("status_sent.json", "status_read.json", "status_delivered.json"):
        pipeline.deliver(fixture_bytes(f"meta/{name}").replace(b"wamid.OUTBOUND", reply.message_id.encode()))
        pipeline.runner.drain()
    outbound = next(i for i in store(stack).contact_items(DEMO.tenant_id, cid) if i["SK"].startswith("MSG#OUT#"))
    assert (outbound["status"], outbound["status_at"]) == ("read", 1763722830)


def test_failed_status_records_the_error_code(stack, pipeline, capsys):
    raw = fixture_bytes("meta/text.json", timestamp=now())
    cid = contact_id(pipeline, raw)
    pipeline.runner.drain()
    [reply] = pipeline.sandbox.sent
    pipeline.deliver(fixture_bytes("meta/status_failed_131047.json").replace(b"wamid.OUTBOUND", reply.message_id.encode()))
    pipeline.runner.drain()
    outbound = next(i for i in store(stack).contact_items(DEMO.tenant_id, cid) if i["SK"].startswith("MSG#OUT#"))
    assert (outbound["status"], outbound["error_code"], outbound["error_title"]) == ("failed", 131047, "Re-engagement message")
    assert '"ReplyFailedOutsideWindow":[1.0]' in capsys.readouterr().out


def test_status_for_a_message_atende_did_not_send_is_ignored(stack, pipeline, capsys):
    pipeline.deliver(fixture_bytes("meta/status_sent.json"))
    assert [r.failed for r in pipeline.runner.drain()] == [[]]
    assert '"StatusIgnored":[1.0]' in capsys.readouterr().out
