"""Local invocations log as separate Lambda functions do, though they share one process and logger.

Powertools keeps appended keys on the package logger's one formatter: without local.functions.invoke,
the webhook's lines would carry the processor's function name and correlation id, and back.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from atende.observability import logger
from local.events import LambdaContext
from local.functions import invoke
from local.meta_payload import text_webhook
from local.runner import QueueRunner
from tests.support import build_pipeline, signed_meta_event

WAIT = 20  # seconds: a bound on each handshake, never reached when things work


class Lines(logging.Handler):
    """Every line of the package logger, formatted as in Lambda, with the thread that logged it.

    ``pause(thread)`` stops that thread at its first line (before the line is formatted) until
    released: another invocation runs meanwhile, in the middle of the paused one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self._pauses: dict[str, tuple[threading.Event, threading.Event]] = {}

    def pause(self, thread: str) -> tuple[threading.Event, threading.Event]:
        reached, release = threading.Event(), threading.Event()
        self._pauses[thread] = (reached, release)
        return reached, release

    def filter(self, record: logging.LogRecord) -> bool:  # runs before emit takes the handler's lock
        pause = self._pauses.pop(threading.current_thread().name, None)
        if pause is not None:
            pause[0].set()
            assert pause[1].wait(WAIT)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((threading.current_thread().name, json.loads(self.format(record))))

    def threads(self) -> list[str]:
        return [thread for thread, _ in self.lines]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.setLevel(logging.DEBUG)  # the webhook's only line on the happy path is at DEBUG
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_in(thread: str, target: Callable[[], Any]) -> threading.Thread:
    started = threading.Thread(target=target, name=thread, daemon=True)
    started.start()
    return started


# Keys the processor appends while it answers one message; a webhook line must never carry them.
PROCESSOR_KEYS = {"correlation_id", "contact_id", "tenant_id", "provider_message_id"}


def test_interleaved_webhook_and_processor_lines_each_carry_their_own_function_and_correlation_id(stack, lines):
    # Given the real handlers, invoked as the local stack invokes them (each thread one invocation),
    # and a queue message the processor always logs about: an unreadable one, dead-lettered at once
    p = build_pipeline(stack)
    sqs = boto3.client("sqs")
    queue = stack.resources["InboundQueue"]
    contexts: dict[str, Any] = {}
    correlation_ids: dict[str, set[str]] = {}

    def unreadable(dedup_id: str) -> None:
        sqs.send_message(QueueUrl=queue.ref, MessageBody="{not an envelope", MessageGroupId=dedup_id, MessageDeduplicationId=dedup_id)

    def webhook(thread: str) -> Callable[[], None]:
        def deliver() -> None:
            raw, _ = text_webhook(f"mensagem de {thread}", message_id=f"wamid.{thread}")
            contexts[thread] = LambdaContext(function_name="WebhookFunction")
            assert invoke(p.webhook.lambda_handler, signed_meta_event(raw), contexts[thread])["statusCode"] == 200

        return deliver

    def recorded_processor(event: dict[str, Any], context: Any) -> dict[str, Any]:
        contexts[threading.current_thread().name] = context
        correlation_ids[threading.current_thread().name] = {r["attributes"]["MessageDeduplicationId"] for r in event["Records"]}
        return p.processor.lambda_handler(event, context)

    runner = QueueRunner(sqs, queue.ref, queue.attrs["Arn"], recorded_processor)

    # When a whole processor invocation runs while a webhook invocation is paused at its first line...
    unreadable("poison-1")
    reached, release = lines.pause("webhook-1")
    paused = run_in("webhook-1", webhook("webhook-1"))
    assert reached.wait(WAIT)
    run_in("processor-1", runner.poll_once).join(WAIT)
    release.set()
    paused.join(WAIT)
    # ... and a whole webhook invocation runs while a processor invocation is paused at its first line
    unreadable("poison-2")
    reached, release = lines.pause("processor-2")
    paused = run_in("processor-2", runner.poll_once)
    assert reached.wait(WAIT)
    run_in("webhook-2", webhook("webhook-2")).join(WAIT)
    release.set()
    paused.join(WAIT)

    # Then the lines did interleave...
    threads = lines.threads()
    assert set(threads) == {"webhook-1", "processor-1", "webhook-2", "processor-2"}
    assert max(i for i, t in enumerate(threads) if t == "processor-1") < threads.index("webhook-1")
    assert max(i for i, t in enumerate(threads) if t == "webhook-2") < threads.index("processor-2")
    assert {"poison-1", "poison-2"} <= {line.get("correlation_id") for _, line in lines.lines}
    # ... and every line carries its own invocation's function, request id and correlation id
    for thread, line in lines.lines:
        context = contexts[thread]
        assert (line["function_name"], line["function_request_id"]) == (context.function_name, context.aws_request_id), line
        if thread.startswith("webhook"):
            assert PROCESSOR_KEYS.isdisjoint(line), line
        else:
            assert line["correlation_id"] in correlation_ids[thread], line
