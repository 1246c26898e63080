"""End to end: signed Meta webhook → SQS FIFO → processor → Graph API, under moto."""

from __future__ import annotations

import time

import pytest

from local.seed import DEMO
from tests.conftest import fixture_bytes
from tests.support import build_pipeline


@pytest.fixture
def pipeline(stack):
    return build_pipeline(stack)


def test_text_message_gets_exactly_one_offline_reply_to_the_sender(pipeline):
    # Given a customer's text, as Meta signs and sends it
    raw = fixture_bytes("meta/text.json", timestamp=int(time.time()) - 5)
    # When the webhook accepts it and the processor drains the queue
    response = pipeline.deliver(raw)
    results = pipeline.runner.drain()
    # Then one reply went to the exact wa_id received, after a read receipt with typing indicator
    assert response["statusCode"] == 200
    assert [r.failed for r in results] == [[]]
    assert len(pipeline.sandbox.reads) == 1
    assert pipeline.sandbox.reads[0].payload == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA==",
        "typing_indicator": {"type": "text"},
    }
    [reply] = pipeline.sandbox.sent
    assert reply.to == DEMO.customer_wa_id
    assert reply.phone_number_id == DEMO.phone_number_id
    assert reply.text.startswith("🤖 [modo offline] Nosso horário de atendimento")
