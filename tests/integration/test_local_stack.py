"""Smoke test of what `make run` / `make demo` start: real sockets, on 127.0.0.1 only."""

from __future__ import annotations

import os

import pytest

from local.demo import Client, play
from local.stack import LocalStack


@pytest.fixture
def local_stack():
    # The stack configures the process environment like `make run` does; restore it afterwards
    # so later tests see their own settings.
    saved = dict(os.environ)
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY"):
        os.environ.pop(name, None)
    stack = LocalStack(aws_port=0, webhook_port=0, graph_port=0, poll_wait_seconds=0).start()
    try:
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        from atende.store import aws

        aws.reset_clients()


@pytest.mark.enable_socket
@pytest.mark.slow
def test_demo_conversation_over_http_gets_one_reply_per_message_and_none_for_a_redelivery(local_stack, capsys):
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url)
    assert play(client, ("Oi, bom dia!", "Vocês abrem no domingo?")) is True
    out = capsys.readouterr().out
    assert "🤖 Padaria Pão Quente: 🤖 [modo offline] Olá! 👋 Como posso ajudar?" in out
    assert "no duplicate reply ✔" in out
    assert len(local_stack.sandbox.sent) == 2
    assert local_stack.webhook_url.startswith("http://127.0.0.1:")


@pytest.mark.enable_socket
@pytest.mark.slow
def test_status_callbacks_from_the_sandbox_reach_the_outbound_message(local_stack):
    import time

    import boto3

    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url)
    status, replies, _ = client.say("Tem pão de queijo?")
    assert (status, len(replies)) == (200, 1)
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
@pytest.mark.parametrize("channel", ["evolution", "whaticket"])
def test_demo_plays_through_the_relay_channels(local_stack, capsys, channel):
    client = Client(f"http://127.0.0.1:{local_stack.webhook_port}", local_stack.sandbox_url, channel)
    assert play(client, ("Oi, bom dia!", "Vocês abrem no domingo?")) is True
    assert "no duplicate reply ✔" in capsys.readouterr().out
    sandbox = local_stack.evolution if channel == "evolution" else local_stack.whaticket
    assert len(sandbox.sent) == 2
    assert local_stack.sandbox.calls == []  # nothing went out through Meta
