"""Helpers for integration tests: the real handlers, wired to moto and the Graph sandbox."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from atende.channels.meta import sign_meta_body
from local.events import LambdaContext, http_api_event
from local.functions import load_function_module
from local.runner import QueueRunner
from local.sandbox import GraphSandbox
from local.sandbox_relays import EvolutionSandbox, WhaticketSandbox
from local.seed import DEMO


def signed_meta_event(
    raw: bytes, *, secret: str = DEMO.app_secret, base64_encode: bool = False, signature: str | None = None
) -> dict[str, Any]:
    headers = {"content-type": "application/json", "x-hub-signature-256": signature or sign_meta_body(raw, secret)}
    return http_api_event("POST", "/webhooks/meta", body=raw, headers=headers, base64_encode=base64_encode)


@dataclass
class Pipeline:
    """Webhook handler → SQS FIFO (moto) → processor handler → provider sandboxes."""

    stack: Any
    webhook: Any
    processor: Any
    sandbox: GraphSandbox
    runner: QueueRunner
    http: httpx.Client
    evolution: EvolutionSandbox
    whaticket: WhaticketSandbox
    clock: ManualClock

    def post(self, path: str, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
        event = http_api_event("POST", path, body=raw, headers={"content-type": "application/json", **headers})
        return self.webhook.lambda_handler(event, LambdaContext(function_name="WebhookFunction"))

    def deliver(self, raw: bytes, **kwargs: Any) -> dict[str, Any]:
        return self.webhook.lambda_handler(signed_meta_event(raw, **kwargs), LambdaContext(function_name="WebhookFunction"))

    def queued(self) -> list[dict[str, Any]]:
        """Peek at every queued body without consuming (visibility reset to 0)."""
        import boto3

        sqs = boto3.client("sqs")
        url = self.stack.resources["InboundQueue"].ref
        seen: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]).get("Messages", [])
            if not batch:
                break
            seen.extend(batch)
        for message in seen:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return [{"body": json.loads(m["Body"]), "attributes": m["Attributes"]} for m in seen]

    def dead_letters(self) -> list[dict[str, Any]]:
        import boto3

        url = self.stack.resources["InboundDeadLetterQueue"].ref
        return boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


# The processor sees each message this many seconds after the customer sent it: later than the
# tenant's burst pause, so a lone message is answered on its first delivery. Burst tests set
# ``processing_delay=0`` and move a ``ManualClock`` themselves.
PROCESSING_DELAY_SECONDS = 10


class ManualClock:
    """Wall-clock time plus an offset the test moves (the processor's ``clock``)."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def build_pipeline(
    stack: Any,
    sandbox: GraphSandbox | None = None,
    *,
    llm_transport: httpx.MockTransport | None = None,
    processing_delay: float = PROCESSING_DELAY_SECONDS,
) -> Pipeline:
    import boto3

    from atende.bootstrap import build_reply_service
    from atende.config import ProcessorSettings

    sandbox = sandbox or GraphSandbox(access_tokens={DEMO.access_token})
    evolution = EvolutionSandbox(api_keys={DEMO.evolution_api_key})
    whaticket = WhaticketSandbox(api_tokens={DEMO.whaticket_api_token})
    webhook = load_function_module("WebhookFunction")
    processor = load_function_module("ProcessorFunction")
    webhook._ingresses.cache_clear()
    processor._settings.cache_clear()
    graph = sandbox.transport()
    relays = {"/evolution/": evolution.transport(), "/whaticket/": whaticket.transport()}

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "graph.facebook.com":
            return graph.handle_request(request)
        if request.url.host == "127.0.0.1" and request.url.port == 3001:  # local.seed's sandbox URL
            for prefix, transport in relays.items():
                if request.url.path.startswith(prefix):
                    return transport.handle_request(request)
        if llm_transport is not None:
            return llm_transport.handle_request(request)
        return httpx.Response(599, json={"error": "no fake for this host"})

    http = httpx.Client(transport=httpx.MockTransport(route))
    service = build_reply_service(ProcessorSettings.from_env(), http_client=http)
    clock = ManualClock(processing_delay)
    service._clock = clock
    processor.use_service(service)
    queue = stack.resources["InboundQueue"]
    runner = QueueRunner(boto3.client("sqs"), queue.ref, queue.attrs["Arn"], processor.lambda_handler, retry_immediately=True)
    return Pipeline(stack, webhook, processor, sandbox, runner, http, evolution, whaticket, clock)


def enqueue_again(stack: Any, pipeline: Pipeline, raw: bytes) -> None:
    """Meta redelivering a webhook after SQS's 5-minute dedup window: a fresh queue message."""
    import boto3

    pipeline.deliver(raw)
    sqs = boto3.client("sqs")
    url = stack.resources["InboundQueue"].ref
    [message] = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    attrs = message["Attributes"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody=message["Body"],
        MessageGroupId=attrs["MessageGroupId"],
        MessageDeduplicationId=attrs["MessageDeduplicationId"] + "-after-window",
    )
