"""Section (c): round trips and CPU per inbound text message in the processor.

The real pipeline in-process under ``moto.mock_aws``: template resources provisioned, demo
tenant seeded, signed Meta texts through the real webhook handler into the FIFO queue, then
local.runner.QueueRunner (standing in for Lambda's event source mapping) feeding the real
processor handler, whose Graph API calls go to local.sandbox.GraphSandbox over an
httpx.MockTransport. The LLM is the offline model (no keys in the seeded secret): no HTTP.

AWS round trips are counted at botocore's ``before-send`` (one per HTTP attempt, retries
included), split by phase: the processor's own calls, the webhook's, and the runner's
receive/delete (done by the event source mapping in Lambda, so reported separately).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from moto import mock_aws

from atende.store import aws
from bench.profiles import Profile
from bench.scenario import REGION, RUNTIME_ENV, STAGE, MetaText, apply_environment, message_id, signed_event
from local.events import LambdaContext
from local.functions import load_function_module
from local.provision import Stack, provision
from local.runner import QueueRunner
from local.sandbox import GraphSandbox
from local.seed import DEMO, seed_demo

GOAL_DYNAMODB_MAX = 4
SERVICES = ("dynamodb", "s3", "sqs", "secrets-manager")
NOTE = (
    "Steady state = every message after the first (tenant, channel and secrets cached); the first "
    "message is reported alone as cold_first_message. AWS counts are botocore before-send events (HTTP "
    "attempts) on the session atende.store.aws uses, taken only while the processor handler runs; HTTP "
    "counts are requests through the httpx MockTransport (Graph API: mark-as-read + send). CPU is "
    "time.process_time around each processor invocation divided by its records; it includes moto "
    "emulating DynamoDB/SQS/Secrets Manager in-process, which inflates it, so the CPU spent between "
    "before-send and before-parse (moto's share, approximately) is also reported and subtracted. "
    "Tracing disabled (POWERTOOLS_TRACE_DISABLED): X-Ray would add CPU in Lambda."
)


class AwsMeter:
    """HTTP attempts per phase and operation, plus the CPU spent answering them (moto's share)."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.calls: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.answer_cpu: Counter[str] = Counter()
        self._sent_at: float | None = None

    def install(self, events: Any) -> None:
        # First, so the clock starts before moto's own before-send handler answers the request.
        events.register_first("before-send", self._before_send)
        events.register("before-parse", self._before_parse)

    def _before_send(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)  # before-send.<service-id>.<Operation>
        self.calls[self.phase][f"{service}.{operation}"] += 1
        self._sent_at = time.process_time()

    def _before_parse(self, **_: Any) -> None:
        if self._sent_at is not None:
            self.answer_cpu[self.phase] += time.process_time() - self._sent_at
            self._sent_at = None


class GraphCounter:
    """The MockTransport handler: counts each request, then lets the Graph sandbox answer it."""

    def __init__(self, sandbox: GraphSandbox) -> None:
        self.calls: Counter[str] = Counter()
        self._graph = sandbox.transport()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "graph.facebook.com":
            self.calls[f"{request.method} {request.url.host} (no fake)"] += 1
            return httpx.Response(599, json={"error": "no fake for this host"})
        kind = "mark_read" if json.loads(request.content).get("status") == "read" else "send"
        self.calls[f"{request.method} graph.facebook.com/messages ({kind})"] += 1
        return self._graph.handle_request(request)


@dataclass
class Invocation:
    records: int
    cpu_s: float
    answer_cpu_s: float


@dataclass
class ProcessorProbe:
    """Wraps the processor handler: marks the metering phase and times each invocation."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    meter: AwsMeter
    invocations: list[Invocation] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.meter.phase = "processor"
        answered_before = self.meter.answer_cpu["processor"]
        started = time.process_time()
        try:
            return self.handler(event, context)
        finally:
            cpu = time.process_time() - started
            self.invocations.append(Invocation(len(event["Records"]), cpu, self.meter.answer_cpu["processor"] - answered_before))
            self.meter.phase = "idle"


@dataclass
class Pipeline:
    webhook: Any
    runner: QueueRunner
    probe: ProcessorProbe
    meter: AwsMeter
    runner_meter: AwsMeter
    graph: GraphCounter
    sandbox: GraphSandbox

    def deliver(self, raw: bytes) -> None:
        self.meter.phase = "webhook"
        response = self.webhook.lambda_handler(signed_event(raw), LambdaContext(function_name="WebhookFunction"))
        self.meter.phase = "idle"
        if response["statusCode"] != 200:
            raise RuntimeError(f"webhook answered {response['statusCode']}: {response['body']}")

    def drain(self) -> None:
        while results := self.runner.drain():
            failed = [item for result in results for item in result.failed]
            if failed:
                raise RuntimeError(f"processor failed {len(failed)} records")

    def snapshot(self) -> dict[str, Any]:
        return {
            "aws": {phase: Counter(calls) for phase, calls in self.meter.calls.items()},
            "esm": Counter(self.runner_meter.calls["event_source_mapping"]),
            "http": Counter(self.graph.calls),
            "invocations": len(self.probe.invocations),
        }


def measure(profile: Profile) -> dict[str, Any]:
    apply_environment({**RUNTIME_ENV, "POWERTOOLS_TRACE_DISABLED": "true"})
    with mock_aws():
        pipeline = _start_pipeline()
        meta, now = MetaText.load(), int(time.time())
        texts = [_text(meta, n, n % profile.processor_contacts, now) for n in range(profile.processor_messages)]
        start = pipeline.snapshot()
        pipeline.deliver(texts[0])
        pipeline.drain()
        after_first = pipeline.snapshot()
        for raw in texts[1:]:
            pipeline.deliver(raw)
        pipeline.drain()
        end = pipeline.snapshot()
        _check_every_message_answered(pipeline.sandbox, len(texts))
    return _report(pipeline, start, after_first, end, len(texts))


def _start_pipeline() -> Pipeline:
    aws.reset_clients()
    meter = AwsMeter()
    meter.install(aws.session().events)  # the session every atende client comes from
    stack = provision(stage=STAGE, region=REGION)
    seed_demo(stack)
    apply_environment({**stack.function_environment("WebhookFunction"), **stack.function_environment("ProcessorFunction")})
    sandbox = GraphSandbox(access_tokens={DEMO.access_token})
    graph = GraphCounter(sandbox)
    probe = ProcessorProbe(_processor_handler(httpx.Client(transport=httpx.MockTransport(graph))), meter)
    runner_meter, runner = _runner(stack, probe)
    return Pipeline(load_function_module("WebhookFunction"), runner, probe, meter, runner_meter, graph, sandbox)


def _processor_handler(http: httpx.Client) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    # Imported only now, as in Lambda after the environment exists: atende.observability reads
    # POWERTOOLS_* once, when first imported.
    from atende.bootstrap import build_reply_service
    from atende.config import ProcessorSettings

    processor = load_function_module("ProcessorFunction")
    service = build_reply_service(ProcessorSettings.from_env(), http_client=http)
    # The handler builds its service once per container; hand it one whose HTTP goes to the
    # sandbox (the same seam tests/support.py uses).
    processor.use_service(service)
    return processor.lambda_handler  # type: ignore[no-any-return]


def _runner(stack: Stack, probe: ProcessorProbe) -> tuple[AwsMeter, QueueRunner]:
    # Its own session: receive/delete belong to the event source mapping, not to the function.
    session = boto3.session.Session(region_name=REGION)
    meter = AwsMeter()
    meter.phase = "event_source_mapping"
    meter.install(session.events)
    queue = stack.resources["InboundQueue"]
    return meter, QueueRunner(session.client("sqs"), queue.ref, queue.attrs["Arn"], probe, batch_size=5, retry_immediately=True)


def _text(meta: MetaText, n: int, contact: int, now: int) -> bytes:
    # Recent timestamps: older than 24 h would take the "outside the service window" path.
    return meta.variant(message_id=message_id(n), wa_id=f"5511{contact:09d}", user_id=f"BR.{contact:016d}", timestamp=now - 5)


def _check_every_message_answered(sandbox: GraphSandbox, messages: int) -> None:
    if len(sandbox.sent) != messages or len(sandbox.reads) != messages:
        raise RuntimeError(f"expected {messages} replies and read receipts, got {len(sandbox.sent)} and {len(sandbox.reads)}")


def _report(pipeline: Pipeline, start: dict[str, Any], after_first: dict[str, Any], end: dict[str, Any], messages: int) -> dict[str, Any]:
    invocations = pipeline.probe.invocations
    cold_cpu = _cpu_ms(invocations[start["invocations"] : after_first["invocations"]])
    steady_cpu = _cpu_ms(invocations[after_first["invocations"] : end["invocations"]])
    cold = _per_message(_delta(after_first, start), 1)
    steady = _per_message(_delta(end, after_first), messages - 1)
    return {
        "messages": messages,
        "per_message": {**steady["processor"], **steady_cpu},
        "cold_first_message": {**cold["processor"], **cold_cpu},
        "webhook_per_message": steady["webhook"],
        "event_source_mapping_per_message": steady["event_source_mapping"],
        "cpu_ms_per_message": steady_cpu["cpu_ms"],
        "cpu_ms_per_message_excluding_moto": steady_cpu["cpu_ms_excluding_moto"],
        "goal_dynamodb_max": GOAL_DYNAMODB_MAX,
        "pass": steady["processor"]["dynamodb"] <= GOAL_DYNAMODB_MAX,
        "note": NOTE,
    }


def _delta(later: dict[str, Any], earlier: dict[str, Any]) -> dict[str, Counter[str]]:
    def aws_calls(phase: str) -> Counter[str]:
        return later["aws"].get(phase, Counter()) - earlier["aws"].get(phase, Counter())

    return {
        "processor": aws_calls("processor"),
        "webhook": aws_calls("webhook"),
        "event_source_mapping": later["esm"] - earlier["esm"],
        "http": later["http"] - earlier["http"],
    }


def _per_message(delta: Mapping[str, Counter[str]], messages: int) -> dict[str, dict[str, Any]]:
    http = {"http": round(sum(delta["http"].values()) / messages, 3), "http_by_request": _each(delta["http"], messages)}
    return {
        "processor": {**_round_trips(delta["processor"], messages), **http},
        "webhook": _round_trips(delta["webhook"], messages),
        "event_source_mapping": _round_trips(delta["event_source_mapping"], messages),
    }


def _round_trips(calls: Counter[str], messages: int) -> dict[str, Any]:
    by_service = {service: round(sum(n for op, n in calls.items() if op.startswith(f"{service}.")) / messages, 3) for service in SERVICES}
    return {**by_service, "by_operation": _each(calls, messages)}


def _each(calls: Counter[str], messages: int) -> dict[str, float]:
    return {name: round(n / messages, 3) for name, n in sorted(calls.items())}


def _cpu_ms(invocations: list[Invocation]) -> dict[str, float]:
    records = sum(i.records for i in invocations)
    cpu = sum(i.cpu_s for i in invocations) * 1000 / records
    answering = sum(i.answer_cpu_s for i in invocations) * 1000 / records
    return {"cpu_ms": round(cpu, 3), "moto_cpu_ms": round(answering, 3), "cpu_ms_excluding_moto": round(cpu - answering, 3)}
