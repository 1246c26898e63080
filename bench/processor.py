"""Section (c): round trips, CPU and bursts per inbound text message in the processor.

The real pipeline in-process under ``moto.mock_aws``: template resources provisioned, demo
tenant seeded with every gate on (business hours configured and open, out-of-hours notice, the
default flood limit and burst pause), signed Meta texts through the real webhook handler into
the FIFO queue, then local.runner.QueueRunner (standing in for Lambda's event source mapping)
feeding the real processor handler, whose Graph API calls go to local.sandbox.GraphSandbox over
an httpx.MockTransport. The LLM is the offline model (no keys in the seeded secret): no HTTP.

AWS round trips are counted at botocore's ``before-send`` (one per HTTP attempt, retries
included), split by phase: the processor's own calls, the webhook's, and the runner's
receive/delete (done by the event source mapping in Lambda, so reported separately).

Bursts run on a simulated clock shared by the reply service and moto's SQS (visibility,
receive counts): the hold step's ``Deferred`` sets a record's visibility through the real
processor handler, and the clock moves forward in small ticks instead of the bench sleeping.

``measure_steady`` is also what bench.processor_compare runs against the code before the
engine rework, so everything it touches exists with the same shape in both trees.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
from local.runner import BatchResult, QueueRunner
from local.sandbox import GraphSandbox
from local.seed import DEMO, seed_demo

GOAL_DYNAMODB_MAX = 3  # BatchGetItem snapshot, UpdateItem claim with its reply, TransactWriteItems commit
SERVICES = ("dynamodb", "s3", "sqs", "secrets-manager")
# Consecutive steady-state messages are this far apart (customer time), so one contact's messages
# are several pauses apart: none is part of a burst, none trips the flood limit.
STEADY_SPACING_SECONDS = 4
# Bursts: this many messages of one contact, sent evenly within BURST_WITHIN_SECONDS; the goal is
# one model call and one reply per burst.
BURST_SIZES = (3, 5)
BURST_WITHIN_SECONDS = 2
BURST_TEXTS = ("oi", "tudo bem?", "queria saber se vocês abrem no domingo", "e se fazem entrega", "no bairro Pinheiros")
GOAL_BURST = {"llm_calls": 1, "replies": 1}
# The simulated clock's step: well under the 1 s resolution of Meta timestamps and of the retry
# delays (moto makes a message visible only strictly after its visibility ends).
TICK_SECONDS = 0.25
BURST_HORIZON_SECONDS = 120  # simulated; a burst that is not answered by then is a failure
HOURS_TIMEZONE = "America/Sao_Paulo"
NOTE = (
    "Steady state = every message after the first (tenant, channel and secrets cached); the first "
    "message is reported alone as cold_first_message. Every gate is on: business hours configured and "
    "open (24 h every day, São Paulo holidays closed unless today is one), out-of-hours notice policy, "
    "flood limit and burst pause at the tenant defaults; one contact's messages are "
    f"{STEADY_SPACING_SECONDS} s x contacts apart (no burst, no flood). AWS counts are botocore "
    "before-send events (HTTP attempts) on the session atende.store.aws uses, taken only while the "
    "processor handler runs; HTTP counts are requests through the httpx MockTransport (Graph API: "
    "mark-as-read + send). CPU is time.process_time around each processor invocation divided by its "
    "records; it includes moto emulating DynamoDB/SQS/Secrets Manager in-process, which inflates it, so "
    "the CPU spent between before-send and before-parse (moto's share, approximately) is also reported "
    "and subtracted (cpu_ms_excluding_moto); cpu_ms_excluding_fakes also subtracts the Graph sandbox "
    "answering (it checks every request against JSON schemas). Tracing disabled "
    "(POWERTOOLS_TRACE_DISABLED): X-Ray would add CPU in Lambda. Bursts: the real processor handler "
    "through QueueRunner (batch size as in template.yaml), failed records left to the visibility the "
    "handler sets, on a simulated clock (service + moto SQS) advanced "
    f"{TICK_SECONDS} s per tick; deliveries = records handed to the processor (SQS receives)."
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
    """The MockTransport handler: counts each request, then lets the Graph sandbox answer it.

    Also the CPU spent answering (``answer_cpu``): the sandbox is the fake Meta server, and it
    checks every request body against JSON schemas, which Meta's servers do on their own CPU.
    """

    def __init__(self, sandbox: GraphSandbox) -> None:
        self.calls: Counter[str] = Counter()
        self.answer_cpu = 0.0
        self._graph = sandbox.transport()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        started = time.process_time()
        try:
            return self._answer(request)
        finally:
            self.answer_cpu += time.process_time() - started

    def _answer(self, request: httpx.Request) -> httpx.Response:
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
    answer_cpu_s: float  # moto answering AWS calls
    sandbox_cpu_s: float  # the Graph sandbox answering HTTP requests


@dataclass
class ProcessorProbe:
    """Wraps the processor handler: marks the metering phase and times each invocation."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    meter: AwsMeter
    graph: GraphCounter
    invocations: list[Invocation] = field(default_factory=list)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.meter.phase = "processor"
        answered_before, sandbox_before = self.meter.answer_cpu["processor"], self.graph.answer_cpu
        started = time.process_time()
        try:
            return self.handler(event, context)
        finally:
            cpu = time.process_time() - started
            moto = self.meter.answer_cpu["processor"] - answered_before
            self.invocations.append(Invocation(len(event["Records"]), cpu, moto, self.graph.answer_cpu - sandbox_before))
            self.meter.phase = "idle"


@dataclass
class Pipeline:
    stack: Stack
    webhook: Any
    service: Any  # the processor's ReplyService
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


# --- the section ------------------------------------------------------------------------------


def measure(profile: Profile) -> dict[str, Any]:
    apply_environment({**RUNTIME_ENV, "POWERTOOLS_TRACE_DISABLED": "true"})
    with mock_aws():
        pipeline = start_pipeline()
        gates = _check_all_gates_on(pipeline.stack, apply_tenant_settings(pipeline.stack, all_gates_settings(time.time())))
        llm = LlmCalls.install(pipeline.service)
        steady = measure_steady(pipeline, profile.processor_messages, profile.processor_contacts)
        steady["llm_calls_per_message"] = round(len(llm.calls) / profile.processor_messages, 3)
        bursts = {str(size): _burst(pipeline, llm, size, contact=900 + size) for size in BURST_SIZES}
    goals = {
        "dynamodb_round_trips": steady["per_message"]["dynamodb"] <= GOAL_DYNAMODB_MAX,
        **{f"burst_{size}": burst["pass"] for size, burst in bursts.items()},
    }
    return {
        **steady,
        "tenant": gates,
        "goal_dynamodb_max": GOAL_DYNAMODB_MAX,
        "bursts": bursts,
        "goals": goals,
        "pass": all(goals.values()),
        "note": NOTE,
    }


def measure_steady(pipeline: Pipeline, messages: int, contacts: int) -> dict[str, Any]:
    """Texts of ``contacts`` customers, none part of a burst: round trips and CPU per message."""
    meta, now = MetaText.load(), int(time.time())
    # All in the past (older than any burst pause) and within the 24-hour window.
    first = now - STEADY_SPACING_SECONDS * messages - 60
    texts = [_text(meta, n, n % contacts, first + STEADY_SPACING_SECONDS * n) for n in range(messages)]
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


def start_pipeline() -> Pipeline:
    aws.reset_clients()
    meter = AwsMeter()
    meter.install(aws.session().events)  # the session every atende client comes from
    stack = provision(stage=STAGE, region=REGION)
    seed_demo(stack)
    apply_environment({**stack.function_environment("WebhookFunction"), **stack.function_environment("ProcessorFunction")})
    sandbox = GraphSandbox(access_tokens={DEMO.access_token})
    graph = GraphCounter(sandbox)
    handler, service = _processor_handler(httpx.Client(transport=httpx.MockTransport(graph)))
    probe = ProcessorProbe(handler, meter, graph)
    runner_meter, runner = _runner(stack, probe)
    return Pipeline(stack, load_function_module("WebhookFunction"), service, runner, probe, meter, runner_meter, graph, sandbox)


def _processor_handler(http: httpx.Client) -> tuple[Callable[[dict[str, Any], Any], dict[str, Any]], Any]:
    # Imported only now, as in Lambda after the environment exists: atende.observability reads
    # POWERTOOLS_* once, when first imported.
    from atende.bootstrap import build_reply_service
    from atende.config import ProcessorSettings

    processor = load_function_module("ProcessorFunction")
    service = build_reply_service(ProcessorSettings.from_env(), http_client=http)
    # The handler builds its service once per container; hand it one whose HTTP goes to the
    # sandbox (the same seam tests/support.py uses; before the engine rework it was _service).
    if hasattr(processor, "use_service"):
        processor.use_service(service)
    else:
        processor._service = lambda: service  # type: ignore[attr-defined]
    return processor.lambda_handler, service


def _runner(stack: Stack, probe: ProcessorProbe) -> tuple[AwsMeter, QueueRunner]:
    # Its own session: receive/delete belong to the event source mapping, not to the function.
    session = boto3.session.Session(region_name=REGION)
    meter = AwsMeter()
    meter.phase = "event_source_mapping"
    meter.install(session.events)
    queue = stack.resources["InboundQueue"]
    batch_size = int(stack.function("ProcessorFunction")["Events"]["Inbound"]["Properties"]["BatchSize"])
    # Failed records come back when the visibility the processor set ends, as in SQS (steady
    # state has none: a failure there fails the run).
    return meter, QueueRunner(session.client("sqs"), queue.ref, queue.attrs["Arn"], probe, batch_size=batch_size)


def _text(meta: MetaText, n: int, contact: int, timestamp: int, body: str | None = None) -> bytes:
    # Recent timestamps: older than 24 h would take the "outside the service window" path.
    return meta.variant(message_id=message_id(n), wa_id=f"5511{contact:09d}", user_id=f"BR.{contact:016d}", timestamp=timestamp, body=body)


def _check_every_message_answered(sandbox: GraphSandbox, messages: int) -> None:
    if len(sandbox.sent) != messages or len(sandbox.reads) != messages:
        raise RuntimeError(f"expected {messages} replies and read receipts, got {len(sandbox.sent)} and {len(sandbox.reads)}")


# --- the tenant: every gate on ------------------------------------------------------------------


def all_gates_settings(now: float) -> dict[str, Any]:
    """Tenant attributes that turn on the gates the defaults leave off: hours configured (and open now).

    Open 24 h every day, closed on national and São Paulo holidays, except today and tomorrow when
    they are one (special hours), so the bench finds the business open whenever it runs and still
    pays for the holiday look-up. Needs the current tree; bench.processor_compare hands the result
    to the older tree as plain attributes (which that code does not read).
    """
    from atende.domain.hours import WEEKDAY_KEYS, BusinessHours

    hours: dict[str, Any] = {
        "timezone": HOURS_TIMEZONE,
        "weekly": {day: ["00:00-24:00"] for day in WEEKDAY_KEYS},
        "holiday_subdiv": "SP",
        "holidays_closed": True,
    }
    parsed = BusinessHours.from_item(hours)
    today = datetime.fromtimestamp(now, parsed.zone).date()
    holidays = [day for day in (today, today + timedelta(days=1)) if parsed.holiday_name(day)]
    if holidays:
        hours["special_hours"] = {day.isoformat(): ["00:00-24:00"] for day in holidays}
    return {"hours": hours, "out_of_hours": "notice"}


def apply_tenant_settings(stack: Stack, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Set attributes on the demo tenant's item (the way an operator edits it); returns the item."""
    from atende.store.keys import tenant_key

    table = boto3.resource("dynamodb", region_name=REGION).Table(stack.resources["AtendeTable"].ref)
    names = {f"#a{i}": name for i, name in enumerate(settings)}
    values = {f":v{i}": value for i, value in enumerate(settings.values())}
    expression = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(settings)))
    key = tenant_key(DEMO.tenant_id)
    table.update_item(Key=key, UpdateExpression=expression, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    return table.get_item(Key=key, ConsistentRead=True)["Item"]  # type: ignore[no-any-return]


def _check_all_gates_on(stack: Stack, item: Mapping[str, Any]) -> dict[str, Any]:
    from atende.domain.tenants import Tenant

    tenant = Tenant.from_item(dict(item))
    now = datetime.fromtimestamp(time.time(), tenant.hours.zone)
    on = {
        "hours_configured": tenant.hours.configured,
        "open_now": tenant.hours.is_open(now),
        "out_of_hours": tenant.out_of_hours,
        "flood_limit_per_minute": tenant.flood_limit_per_minute,
        "burst_pause_seconds": tenant.burst_pause_seconds,
    }
    if not (on["hours_configured"] and on["open_now"] and tenant.out_of_hours == "notice" and tenant.flood_limit_per_minute > 0):
        raise RuntimeError(f"not every gate is on: {on}")
    if tenant.burst_pause_seconds <= 0:
        raise RuntimeError(f"not every gate is on: {on}")
    return on


# --- bursts -------------------------------------------------------------------------------------


class SimClock:
    """Simulated seconds since the epoch: starts at the wall clock, then moves only when told."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def simulated_time(pipeline: Pipeline, clock: SimClock) -> Iterator[None]:
    """The reply service and moto's SQS (visibility, delays, receive timestamps) read ``clock``."""
    import moto.sqs.models

    sqs_models = vars(moto.sqs.models)  # the names it imported from moto.core.utils and calls
    wall_time, wall_time_millis, service_clock = sqs_models["unix_time"], sqs_models["unix_time_millis"], pipeline.service._clock

    def unix_time(dt: Any = None) -> float:
        return clock() if dt is None else float(wall_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return clock() * 1000.0 if dt is None else float(wall_time_millis(dt))

    sqs_models.update(unix_time=unix_time, unix_time_millis=unix_time_millis)
    pipeline.service._clock = clock  # the seam tests/support.py's ManualClock uses
    try:
        yield
    finally:
        sqs_models.update(unix_time=wall_time, unix_time_millis=wall_time_millis)
        pipeline.service._clock = service_clock


class LlmCalls:
    """Every chat completion the reply service asks for, with the turns it sent."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    @classmethod
    def install(cls, service: Any) -> LlmCalls:
        counter = cls()
        model_for = service._model_for  # the factory bootstrap wired; wrapped, not replaced

        def counted(tenant: Any) -> Any:
            return _CountedModel(model_for(tenant), counter.calls)

        service._model_for = counted
        return counter


class _CountedModel:
    def __init__(self, model: Any, calls: list[list[Any]]) -> None:
        self._model = model
        self._calls = calls

    def complete(self, system_prompt: str, turns: Sequence[Any]) -> Any:
        self._calls.append(list(turns))
        return self._model.complete(system_prompt, turns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@dataclass
class _Outcomes:
    """What the reply service made of each record, on the simulated clock (wraps service.handle)."""

    clock: SimClock
    start: float
    numbers: dict[str, int]  # provider message id → position in the burst (1-based)
    events: list[tuple[float, int, str]] = field(default_factory=list)

    @contextmanager
    def watching(self, service: Any) -> Iterator[None]:
        handle = service.handle

        def watched(body: str, attempt: Any) -> str:
            number = self.numbers.get(str(json.loads(body).get("message", {}).get("provider_message_id")), 0)
            try:
                outcome = handle(body, attempt)
            except Exception as exc:
                self.events.append((self.clock() - self.start, number, type(exc).__name__))
                raise
            self.events.append((self.clock() - self.start, number, str(outcome)))
            return str(outcome)

        service.handle = watched
        try:
            yield
        finally:
            del service.handle  # back to the method


def _burst(pipeline: Pipeline, llm: LlmCalls, size: int, *, contact: int) -> dict[str, Any]:
    """``size`` messages of one contact within BURST_WITHIN_SECONDS, through the real handler and queue."""
    meta = MetaText.load()
    clock = SimClock(float(int(time.time()) + 1))  # a whole second: Meta timestamps are whole seconds
    start = clock()
    offsets = [BURST_WITHIN_SECONDS * i / (size - 1) for i in range(size)]
    ids = [message_id(10_000 * size + i) for i in range(size)]
    plan = [
        (start + offset, _text(meta, 10_000 * size + i, contact, int(start + offset), body=BURST_TEXTS[i]))
        for i, offset in enumerate(offsets)
    ]
    outcomes = _Outcomes(clock, start, {mid: i + 1 for i, mid in enumerate(ids)})
    before, llm_before, sent_before = pipeline.snapshot(), len(llm.calls), len(pipeline.sandbox.sent)
    batches: list[BatchResult] = []
    # A client of its own (unmetered): whether the queue is empty is the bench's question.
    sqs = boto3.session.Session(region_name=REGION).client("sqs")
    with simulated_time(pipeline, clock), outcomes.watching(pipeline.service):
        while True:
            while plan and plan[0][0] <= clock():
                pipeline.deliver(plan.pop(0)[1])
            batches += pipeline.runner.drain()
            if not plan and _queue_empty(sqs, pipeline.stack):
                break
            if clock() - start > BURST_HORIZON_SECONDS:
                raise RuntimeError(f"burst of {size} still queued after {BURST_HORIZON_SECONDS} simulated seconds: {outcomes.events}")
            clock.advance(TICK_SECONDS)
    calls = llm.calls[llm_before:]
    sent = pipeline.sandbox.sent[sent_before:]
    delta = _delta(pipeline.snapshot(), before)
    deliveries = Counter(number for _, number, _ in outcomes.events)
    replied = [at for at, _, outcome in outcomes.events if outcome == "replied"]
    merged = "\n".join(BURST_TEXTS[:size])
    result = {
        "messages": size,
        "sent_within_s": BURST_WITHIN_SECONDS,
        "timestamps_s": [int(start + offset) - int(start) for offset in offsets],
        "llm_calls": len(calls),
        "replies": len(sent),
        # The one call read every message of the burst, in order, as one user turn.
        "llm_read_every_message": len(calls) == 1 and calls[0][-1].text == merged,
        "deliveries": sum(deliveries.values()),
        "deliveries_per_message": [deliveries[i + 1] for i in range(size)],
        "held": sum(1 for _, _, outcome in outcomes.events if outcome == "Deferred"),
        "invocations": len(batches),
        "reply_after_s": replied[0] if len(replied) == 1 else None,
        "timeline": [f"t+{at:.2f}s #{number} {outcome}" for at, number, outcome in outcomes.events],
        "processor_by_operation": dict(sorted(delta["processor"].items())),
        "goal": GOAL_BURST,
    }
    result["pass"] = result["llm_calls"] == GOAL_BURST["llm_calls"] and result["replies"] == GOAL_BURST["replies"]
    return result


def _queue_empty(sqs: Any, stack: Stack) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    attributes = sqs.get_queue_attributes(QueueUrl=stack.resources["InboundQueue"].ref, AttributeNames=names)["Attributes"]
    return all(int(attributes.get(name, "0")) == 0 for name in names)


# --- the report ---------------------------------------------------------------------------------


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
        "cpu_ms_per_message_excluding_fakes": steady_cpu["cpu_ms_excluding_fakes"],
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
    sandbox = sum(i.sandbox_cpu_s for i in invocations) * 1000 / records
    return {
        "cpu_ms": round(cpu, 3),
        "moto_cpu_ms": round(answering, 3),
        "cpu_ms_excluding_moto": round(cpu - answering, 3),
        "graph_sandbox_cpu_ms": round(sandbox, 3),
        # The processor's own CPU: neither moto nor the fake Graph API server (what Lambda bills).
        "cpu_ms_excluding_fakes": round(cpu - answering - sandbox, 3),
    }
