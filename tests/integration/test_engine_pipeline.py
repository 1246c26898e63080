"""The conversation engine end to end: signed Meta webhook → SQS FIFO (moto) → processor → Graph sandbox.

Bursts answered once, a human in charge keeping the bot silent, the out-of-hours message once per
session, edits updating the stored message, and a send whose answer was lost reconciled through
Meta's status webhook — through the real handlers, boto3 against moto and the real MetaClient.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from atende.domain.conversation import Conversation, ConversationState
from atende.domain.hours import WEEKDAY_KEYS, BusinessHours
from atende.domain.tenants import Tenant
from atende.store.conversations import ConversationStore
from atende.store.tenants import TenantDirectory
from local.meta_payload import text_webhook
from local.sandbox import GraphSandbox, meta_envelope
from local.seed import DEMO
from tests.support import Pipeline, build_pipeline


def now() -> int:
    return int(time.time())


def store(stack: Any) -> ConversationStore:
    return ConversationStore(stack.resources["AtendeTable"].ref, stack.resources["IdempotencyTable"].ref)


def directory(stack: Any) -> TenantDirectory:
    return TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)


def set_tenant(stack: Any, pipeline: Pipeline, **changes: Any) -> Tenant:
    current = directory(stack).tenant(DEMO.tenant_id)
    assert current is not None
    tenant = replace(current, **changes)
    directory(stack).put_tenant(tenant)
    pipeline.processor._service()._directory._cache.clear()  # the processor's 5-minute cache
    return tenant


def contact_of(pipeline: Pipeline) -> str:
    [queued] = pipeline.queued()
    return str(queued["body"]["message"]["contact"]["contact_id"])


def inbound_items(stack: Any, contact_id: str) -> dict[str, dict[str, Any]]:
    items = store(stack).contact_items(DEMO.tenant_id, contact_id)
    return {i["SK"].removeprefix("MSG#IN#"): i for i in items if i["SK"].startswith("MSG#IN#")}


# --- bursts ------------------------------------------------------------------------------------


def test_a_burst_of_three_messages_within_two_seconds_gets_one_answer(stack: Any) -> None:
    # Given a processor that sees messages as they arrive (no processing delay) and the default 3 s pause
    p = build_pipeline(stack, processing_delay=0)
    t = now()
    burst = [("oi", "wamid.BURST1"), ("tudo bem?", "wamid.BURST2"), ("queria saber do bolo de cenoura", "wamid.BURST3")]
    # When the customer writes three messages within two seconds
    p.deliver(text_webhook(burst[0][0], message_id=burst[0][1], timestamp=t)[0])
    first = p.runner.poll_once()
    p.deliver(text_webhook(burst[1][0], message_id=burst[1][1], timestamp=t + 1)[0])
    p.deliver(text_webhook(burst[2][0], message_id=burst[2][1], timestamp=t + 2)[0])
    p.clock.advance(10)  # the pause has passed for all three
    rest = p.runner.drain()
    # Then the first was held (unattempted), and one answer covers the three
    assert (first.received, len(first.failed)) == (1, 1)
    assert len(p.sandbox.reads) == 1  # one read receipt, for the message answered
    [answer] = p.sandbox.sent
    assert answer.payload["biz_opaque_callback_data"] == "wamid.BURST3|0"
    assert sum(r.received for r in rest) >= 3 and p.dead_letters() == []
    items = inbound_items(stack, contact_of_sent(stack))
    assert [items[mid]["outcome"] for _, mid in burst] == ["merged", "merged", "replied"]
    # The model read the three as one turn, remembered once; nothing is left pending
    profile = next(i for i in store(stack).contact_items(DEMO.tenant_id, contact_of_sent(stack)) if i["SK"] == "PROFILE")
    assert [t["t"] for t in profile["memory"] if t["r"] == "user"] == ["oi\ntudo bem?\nqueria saber do bolo de cenoura"]
    assert profile["pending"] == []
    assert profile["session"]["messages_in"] == 3 and profile["session"]["messages_out"] == 1


def contact_of_sent(stack: Any) -> str:
    profiles = [
        i
        for i in _scan_profiles(stack)
        if i.get("wa_id") == DEMO.customer_wa_id  # the demo customer's partition
    ]
    [profile] = profiles
    return str(profile["contact_id"])


def _scan_profiles(stack: Any) -> list[dict[str, Any]]:
    import boto3

    from atende.store.dynamo import from_attrs

    # Test-only inspection of the whole (tiny) table; production code never scans.
    items = boto3.client("dynamodb").scan(TableName=stack.resources["AtendeTable"].ref)["Items"]
    return [from_attrs(i) for i in items if i["SK"]["S"] == "PROFILE"]


def test_a_redelivery_of_a_merged_message_gets_no_answer_of_its_own(stack: Any) -> None:
    # Given a burst of two answered once
    p = build_pipeline(stack, processing_delay=0)
    t = now()
    raw_1, _ = text_webhook("oi", message_id="wamid.B1", timestamp=t)
    p.deliver(raw_1)
    p.runner.poll_once()
    p.deliver(text_webhook("vocês entregam?", message_id="wamid.B2", timestamp=t + 1)[0])
    p.clock.advance(10)
    p.runner.drain()
    assert len(p.sandbox.sent) == 1
    # When Meta redelivers the first one (after SQS's dedup window: a fresh queue message)
    from tests.support import enqueue_again

    enqueue_again(stack, p, raw_1)
    p.runner.drain()
    # Then nothing more is sent
    assert len(p.sandbox.sent) == 1


# --- a human in charge ---------------------------------------------------------------------------


def test_a_queued_conversation_keeps_the_bot_silent_and_records_the_message(stack: Any) -> None:
    # Given a contact whose conversation waits for a human
    p = build_pipeline(stack)
    raw, message_id = text_webhook("quero falar com o gerente", timestamp=now() - 5)
    p.deliver(raw)
    contact_id = contact_of(p)
    store(stack).set_conversation(DEMO.tenant_id, contact_id, Conversation(state=ConversationState.QUEUED, priority=2, changed_at=now()))
    # When the message is processed
    results = p.runner.drain()
    # Then no read receipt, no reply; the message is recorded with what the customer wrote
    assert [r.failed for r in results] == [[]]
    assert (p.sandbox.sent, p.sandbox.reads) == ([], [])
    item = inbound_items(stack, contact_id)[message_id]
    # (a plain text is read as written: no separate "understood" copy)
    assert (item["outcome"], item["text"], "understood" in item) == ("human", "quero falar com o gerente", False)
    # And once it is handed back to the bot, the next message is answered
    store(stack).set_conversation(DEMO.tenant_id, contact_id, Conversation(state=ConversationState.BOT, changed_at=now()))
    p.deliver(text_webhook("oi de novo", timestamp=now() - 4)[0])
    p.runner.drain()
    assert len(p.sandbox.sent) == 1


# --- business hours ------------------------------------------------------------------------------


def _closed_all_week_but_one_slot(at: datetime) -> BusinessHours:
    """Hours with the only opening a few days from ``at`` (so 'now' is always closed)."""
    local = at.astimezone(BusinessHours.always_open().zone)
    opening_day = (local + timedelta(days=3)).date()
    return BusinessHours.from_item({"weekly": {WEEKDAY_KEYS[opening_day.weekday()]: ["08:00-12:00"]}, "holidays_closed": False})


def test_out_of_hours_notice_goes_out_once_per_session_then_messages_are_recorded(stack: Any) -> None:
    # Given a tenant that is closed now and sends one out-of-hours message per session
    p = build_pipeline(stack)
    set_tenant(stack, p, hours=_closed_all_week_but_one_slot(datetime.now(UTC)), out_of_hours="notice")
    # When the customer writes twice in one session
    p.deliver(text_webhook("vocês estão abertos?", timestamp=now() - 8)[0])
    p.runner.drain()
    p.deliver(text_webhook("alô?", timestamp=now() - 6)[0])
    p.runner.drain()
    # Then exactly one message went out: when the team is back
    [notice] = p.sandbox.sent
    assert notice.text.startswith("Olá! 👋 Nosso atendimento está fechado agora. Voltamos ")
    assert "às 08:00" in notice.text
    outcomes = sorted(i["outcome"] for i in inbound_items(stack, contact_of_sent(stack)).values())
    assert outcomes == ["out_of_hours", "out_of_hours"]


# --- edits ---------------------------------------------------------------------------------------


def test_a_meta_edit_updates_the_stored_message_and_gets_no_notice(stack: Any) -> None:
    # Given an answered message
    p = build_pipeline(stack)
    raw, original_id = text_webhook("quero 2 bolos", timestamp=now() - 9)
    p.deliver(raw)
    p.runner.drain()
    # When the customer edits it (Meta's "edit" message naming the original)
    edit = {
        "contacts": [{"profile": {"name": "Mariana"}, "wa_id": DEMO.customer_wa_id}],
        "messages": [
            {
                "from": DEMO.customer_wa_id,
                "id": "wamid.EDIT1",
                "timestamp": str(now() - 3),
                "type": "edit",
                "edit": {"original_message_id": original_id, "message": {"type": "text", "text": {"body": "quero 3 bolos"}}},
            }
        ],
    }
    p.deliver(meta_envelope(DEMO.phone_number_id, edit))
    p.runner.drain()
    # Then only the first answer exists, and the stored message says what the customer meant
    assert len(p.sandbox.sent) == 1
    items = inbound_items(stack, contact_of_sent(stack))
    assert (items[original_id]["edited_text"], items[original_id]["edited_by"]) == ("quero 3 bolos", "wamid.EDIT1")
    assert items["wamid.EDIT1"]["outcome"] == "edited"


# --- a send whose answer was lost -----------------------------------------------------------------


@pytest.fixture
def lossy_sandbox(monkeypatch: pytest.MonkeyPatch) -> GraphSandbox:
    """The Graph sandbox, except that the first send's answer is lost after Meta accepted it."""
    sandbox = GraphSandbox(access_tokens={DEMO.access_token})
    original = sandbox.handle
    lost = {"remaining": 1}

    def handle(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        status, doc = original(method, path, headers, body)
        if lost["remaining"] and b'"status":"read"' not in body and status == 200:
            lost["remaining"] -= 1
            raise httpx.ReadTimeout("the answer never came back")
        return status, doc

    monkeypatch.setattr(sandbox, "handle", handle)
    return sandbox


def test_a_send_accepted_but_unanswered_is_confirmed_by_its_status_and_never_sent_twice(
    stack: Any, lossy_sandbox: GraphSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a send that Meta accepts but whose HTTP answer is lost, and a retry that waits for
    # Meta's status webhook as in production (1 s here instead of 60 s)
    from atende.service.replies import SendUnconfirmed

    monkeypatch.setattr(SendUnconfirmed, "retry_after_seconds", 1)
    p = build_pipeline(stack, lossy_sandbox)
    p.runner._retry_immediately = False
    raw, message_id = text_webhook("Vocês abrem no domingo?", timestamp=now() - 5)
    p.deliver(raw)
    contact_id = contact_of(p)
    first = p.runner.poll_once()
    assert len(first.failed) == 1
    [accepted] = p.sandbox.sent
    # When Meta's status webhook for it arrives, naming the send by its callback data
    status = {
        "id": accepted.message_id,
        "status": "sent",
        "timestamp": str(now()),
        "recipient_id": DEMO.customer_wa_id,
        "biz_opaque_callback_data": f"{message_id}|0",
    }
    p.deliver(meta_envelope(DEMO.phone_number_id, {"statuses": [status]}))
    confirmed = p.runner.poll_once()  # the status has a FIFO group of its own: not stuck behind the retry
    time.sleep(1.2)
    p.runner.drain()
    # Then the retry commits the confirmed send instead of sending again
    assert confirmed.received == 1
    assert [c.message_id for c in p.sandbox.sent] == [accepted.message_id]
    items = {i["SK"]: i for i in store(stack).contact_items(DEMO.tenant_id, contact_id)}
    assert items[f"MSG#IN#{message_id}"]["replied_with"] == [accepted.message_id]
    assert items[f"MSG#OUT#{accepted.message_id}"]["in_reply_to"] == message_id
    assert p.dead_letters() == []


def test_a_send_unanswered_and_unconfirmed_is_sent_again_with_the_same_text(stack: Any, lossy_sandbox: GraphSandbox) -> None:
    # Given a lost answer and no status webhook (Meta's webhooks down too)
    p = build_pipeline(stack, lossy_sandbox)
    p.deliver(text_webhook("Vocês abrem no domingo?", timestamp=now() - 5)[0])
    # When the retry finds no confirmation
    p.runner.drain()
    # Then the same checkpointed text goes out once more (the documented window), never a new answer
    first, second = p.sandbox.sent
    assert first.text == second.text
    assert json.loads(json.dumps(second.payload))["biz_opaque_callback_data"].endswith("|0")


# --- what the customer sent is stored, not only its type ------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected_content"),
    [
        ("meta/location.json", {"latitude": -23.5614143, "longitude": -46.6558819}),
        ("meta/reaction.json", {"emoji": "\U0001f44d"}),
    ],
    ids=["location", "reaction"],
)
def test_the_inbound_item_keeps_the_structured_content(stack: Any, fixture: str, expected_content: dict[str, Any]) -> None:
    from tests.conftest import fixture_bytes, fixture_json

    # Given a customer's location or reaction, as Meta sends it
    p = build_pipeline(stack)
    p.deliver(fixture_bytes(fixture, timestamp=now() - 5))
    contact_id = contact_of(p)
    p.runner.drain()
    # Then the stored message keeps what was sent (for the attendant console and the LGPD export)
    message_id = fixture_json(fixture)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    content = inbound_items(stack, contact_id)[message_id]["content"]
    assert {k: content[k] for k in expected_content} == expected_content
