"""Section (b1): CPU per signed Meta message through the warm webhook, against a floor.

The real handler (loaded the way Lambda loads it) serves distinct signed text events in one
process, its AWS calls answered by bench.aws_stub at botocore's before-send hook. Once warm,
secrets and the channel are cached, so each message costs one SendMessageBatch. The floor does
the least any webhook must: HMAC check, json.loads, one SendMessageBatch through the same stub.

A third, diagnostic contender runs the ingress use case alone with an SQS client that does
nothing: handler ≈ botocore send (most of the floor) + that + the Lambda/Powertools wrapper.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from typing import Any

import boto3

from atende.store import aws
from bench.aws_stub import CannedAws
from bench.profiles import Profile
from bench.scenario import QUEUE_URL, REGION, MetaText, apply_environment, message_id, signed_event, webhook_environment, webhook_scenario
from bench.stats import chunks, interleaved_cpu, ratio, summary
from local.events import LambdaContext
from local.functions import load_function_module
from local.seed import DEMO

GOAL = 1.25
NOTE = (
    "time.process_time per message, in blocks of consecutive messages, handler and floor taking turns "
    "block by block after a warm-up; each message is a distinct signed Meta text event (own message id). "
    "Handler: the real lambda_handler (Powertools logging + EMF metrics included, stdout discarded). "
    "Floor: HMAC-SHA256 verify + json.loads + one boto3 send_message_batch through the same canned "
    "before-send stub. Median of block means is the headline figure. Diagnostic: MetaIngress.receive "
    "alone with an SQS client that does nothing (the use case's own CPU, without botocore or Powertools)."
)


class FloorWebhook:
    """The least a webhook can do per message: verify, parse, enqueue once."""

    def __init__(self, app_secret: str, sqs: Any) -> None:
        self._secret = app_secret.encode()
        self._sqs = sqs

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        raw = event["body"].encode()
        expected = "sha256=" + hmac.new(self._secret, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, event["headers"]["x-hub-signature-256"]):
            return {"statusCode": 403}
        message = json.loads(raw)["entry"][0]["changes"][0]["value"]["messages"][0]
        entry = {"Id": "0", "MessageBody": json.dumps(message), "MessageGroupId": message["from"], "MessageDeduplicationId": message["id"]}
        self._sqs.send_message_batch(QueueUrl=QUEUE_URL, Entries=[entry])
        return {"statusCode": 200}


def measure(profile: Profile) -> dict[str, Any]:
    apply_environment(webhook_environment())
    scenario = webhook_scenario()
    handler_aws, floor_aws = CannedAws.from_scenario(scenario), CannedAws.from_scenario(scenario)
    contenders = {"handler": _webhook_handler(handler_aws), "floor": _floor(floor_aws)}
    # After the handler: it reads secrets and the channel through the handler's stubbed session.
    contenders["ingress_without_send"] = _ingress_without_send()
    meta = MetaText.load()
    events = [signed_event(meta.variant(message_id=message_id(n))) for n in range(profile.warmup_messages + profile.warm_messages)]
    warmup, measured = events[: profile.warmup_messages], events[profile.warmup_messages :]
    interleaved_cpu(contenders, [warmup])  # caches filled, first-call costs paid, then forgotten
    handler_aws.calls.clear()
    samples = interleaved_cpu(contenders, chunks(measured, max(1, len(measured) // profile.blocks)))
    return _report(samples, len(measured), handler_aws.calls)


def _webhook_handler(canned: CannedAws) -> Any:
    aws.reset_clients()
    canned.install(aws.session().events)  # before the handler creates its clients
    module = load_function_module("WebhookFunction")
    context = LambdaContext(function_name="WebhookFunction", memory_limit_in_mb=512, timeout_seconds=10)

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        response = module.lambda_handler(event, context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"webhook answered {response['statusCode']}: {response['body']}")
        return response

    return handle


def _floor(canned: CannedAws) -> FloorWebhook:
    session = boto3.session.Session(region_name=REGION)
    canned.install(session.events)
    return FloorWebhook(DEMO.app_secret, session.client("sqs"))


class _DiscardingSqs:
    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        return {"Successful": [{"Id": entry["Id"]} for entry in kwargs["Entries"]]}


def _ingress_without_send() -> Any:
    # Imported only now, after the function's environment exists: atende.observability reads
    # POWERTOOLS_* once, when first imported (as it would at Lambda init).
    from atende.config import WebhookSettings
    from atende.service.ingress import MetaIngress
    from atende.store.queue import InboundQueue
    from atende.store.secrets import SecretStore

    # WebhookIngresses offers no way to pass a client, so this wires the same parts by hand; the
    # secrets still come through the stubbed session (cached after warm-up).
    settings = WebhookSettings.from_env()
    ingress = MetaIngress(
        settings,
        InboundQueue(settings.inbound_queue_url, client=_DiscardingSqs()),
        SecretStore(max_age=settings.cache_seconds),
    )

    def receive(event: dict[str, Any]) -> object:
        response = ingress.receive(event["body"].encode(), event["headers"]["x-hub-signature-256"])
        if response.status != 200:
            raise RuntimeError(f"ingress answered {response.status}: {response.body}")
        return response

    return receive


def _report(samples: dict[str, list[float]], messages: int, handler_calls: Counter[str]) -> dict[str, Any]:
    handler, floor = summary(samples["handler"]), summary(samples["floor"])
    result = ratio(handler["median"], floor["median"])
    return {
        "handler_us_per_message": handler,
        "floor_us_per_message": floor,
        "ratio_median": result,
        "diagnostic_ingress_without_send_us_per_message": summary(samples["ingress_without_send"]),
        "messages": messages,
        "handler_aws_calls_per_message": {call: round(n / messages, 3) for call, n in handler_calls.items()},
        "goal": GOAL,
        "pass": result <= GOAL,
        "note": NOTE,
    }
