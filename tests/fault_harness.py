"""The fault-injection harness behind tests/integration/test_fault_injection.py.

A seeded population of customers writes to two tenants through the real webhook → moto SQS FIFO →
``local.runner.QueueRunner`` → real processor handler → Graph sandbox and FakeOpenAI, while faults
are injected at every boundary the processor talks to:

- **Graph**: 5xx, 429/130429, lost answers (the send is accepted and recorded, its status webhook
  with the request's ``biz_opaque_callback_data`` is posted, the HTTP answer never arrives), 5xx on
  read receipts, and one customer whose sends are refused with 401/190 (the only allowed DLQ entries).
- **OpenAI** (FakeOpenAI): 5xx, timeouts, and an outage of every attempt (→ one apology).
- **DynamoDB** (botocore event hooks on the shared client): throttling before the request (once:
  botocore absorbs it; on every attempt: the processor sees it), unprocessed keys, and "applied but
  unacknowledged" (the write goes through, the answer is lost as ReadTimeoutError /
  ConnectionClosedError, botocore re-sends it) on the claim, the commit and the snapshot.
- **SQS**: the webhook's SendMessageBatch refused (Meta retries), DeleteMessageBatch entries failed
  and the processor's ChangeMessageVisibility failed (the record comes back after the visibility
  timeout).
- **Crashes** (the invocation dies: no batch response, nothing deleted): right after the claim,
  right after a send (its status webhook delivered or not), right after the commit, mid-batch.
- **Meta redeliveries** of the same webhook, inside SQS's 5-minute dedup window and after it.

Time is virtual. One clock drives the processor (its ``clock``), the customers, Meta's callbacks
and SQS visibility. moto counts visibility in wall-clock seconds, so ``SqsFaults`` keeps every
in-flight message invisible in moto and tracks when it would become visible in virtual time; the
simulation makes it visible (``ChangeMessageVisibility 0``) when the clock gets there, and advances
the clock only when nothing is visible. A crashed batch comes back after the queue's visibility
timeout (3600 s), a failed record after the processor's backoff.

Two things moto does not do are emulated here, as DynamoDB and SQS do them: a TransactWriteItems
retried with the same ``ClientRequestToken`` within 10 minutes is a no-op success (moto applies it
again), and a FIFO dedup id stays deduplicated for 5 minutes after the first accepted send, even
once that message was deleted (moto forgets it with the message).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from local.sandbox import GraphSandbox, meta_envelope
from local.seed import DEMO
from tests.fakes import FakeOpenAI

# --- the population -------------------------------------------------------------------------------

TENANT_A = DEMO.tenant_id  # bursts off (burst_pause_seconds=0), OpenAI
PHONE_A = DEMO.phone_number_id
TENANT_B = "padaria-rajadas"  # the burst group's tenant: burst_pause_seconds=3, OpenAI
PHONE_B = "100000000000002"
BURST_PAUSE_SECONDS = 3
MEMORY_TURNS = 12

SQS_DEDUP_WINDOW_SECONDS = 300
QUEUE_VISIBILITY_SECONDS = 3600  # template.yaml InboundQueue VisibilityTimeout
HIDDEN_SECONDS = 36_000  # what moto is told while the virtual clock decides (SQS caps a receive at 12 h)
CRT_WINDOW_SECONDS = 600  # DynamoDB keeps a ClientRequestToken for 10 minutes

_TAG = re.compile(r"\[(c\d{4}m\d{2})\]")

PHRASES = (
    "vocês abrem no domingo?",
    "tem pão de queijo quentinho?",
    "quanto custa o bolo de cenoura?",
    "fazem entrega no Butantã?",
    "aceitam Pix?",
    "qual o horário no feriado?",
    "tem opção sem glúten?",
    "posso encomendar 50 salgados?",
)
BURST_PHRASES = ("oi", "tudo bem?", "queria saber do bolo de aniversário", "pra sábado", "tem de chocolate?")

# Fault kinds a customer message can carry (each is injected once, at its first opportunity).
GRAPH_FAULTS = ("graph_5xx", "graph_429", "graph_lost", "read_5xx")
LLM_FAULTS = ("llm_5xx", "llm_timeout")
DDB_FAULTS = tuple(
    f"{kind}:{op}"
    for kind, ops in (
        ("ddb_throttle_once", ("snapshot", "claim", "commit")),
        ("ddb_throttle", ("snapshot", "claim", "commit")),
        ("ddb_unack", ("snapshot", "claim", "commit")),
        ("ddb_unack_all", ("claim", "commit")),
        ("ddb_unprocessed", ("snapshot",)),
    )
    for op in ops
)
SQS_FAULTS = ("sqs_delete", "sqs_visibility", "enqueue_fail")
CRASHES = ("crash_after_claim", "crash_after_send", "crash_after_send_unconfirmed", "crash_after_commit")
ALL_FAULTS = (*GRAPH_FAULTS, *LLM_FAULTS, "llm_down", *DDB_FAULTS, *SQS_FAULTS, *CRASHES)
# Kinds that need a send or a model call; silent messages (reactions) never offer them.
_NEEDS_SEND = frozenset({*GRAPH_FAULTS, "crash_after_claim", "crash_after_send", "crash_after_send_unconfirmed"})
_NEEDS_MODEL = frozenset({*LLM_FAULTS, "llm_down", "ddb_throttle:claim", "ddb_throttle_once:claim", "ddb_unack:claim"})
_NEEDS_CLAIM = frozenset({"ddb_unack_all:claim"})


@dataclass(frozen=True)
class Rates:
    """Per-message probabilities (a message carries each fault independently; at most one crash)."""

    graph: float = 0.06
    llm: float = 0.06
    llm_down: float = 0.015
    ddb: float = 0.025
    sqs: float = 0.04
    crash: float = 0.12  # one of the four crash points, chosen uniformly
    mid_batch_crash: float = 0.04  # per batch with at least two messages
    redeliver_within: float = 0.6
    redeliver_after: float = 0.5


@dataclass
class Contact:
    number: int
    wa_id: str
    name: str
    tenant: str
    phone_number_id: str
    revoked: bool = False  # every send to this customer fails with 401 / 190 (auth)
    messages: list[Planned] = field(default_factory=list)


@dataclass
class Planned:
    """One customer message: what it is, when it is sent, what goes wrong around it."""

    wamid: str
    contact: Contact
    index: int
    kind: str  # text | button | unsupported | reaction
    readable: str | None  # what the assistant reads (None: nothing to read)
    at: int  # seconds after the start
    burst: int | None = None  # index of its burst (tenant B)
    faults: Counter[str] = field(default_factory=Counter)
    redeliveries: list[tuple[int, str]] = field(default_factory=list)  # (delay, "within" | "after")

    @property
    def tag(self) -> str:
        return f"c{self.contact.number:04d}m{self.index:02d}"

    @property
    def answerable(self) -> bool:
        return self.kind != "reaction"


@dataclass
class Scenario:
    contacts: list[Contact]
    seed: int

    @property
    def messages(self) -> list[Planned]:
        return [m for c in self.contacts for m in c.messages]

    def bursts(self, contact: Contact) -> list[list[Planned]]:
        groups: dict[int, list[Planned]] = defaultdict(list)
        for m in contact.messages:
            groups[m.burst if m.burst is not None else -1 - m.index].append(m)
        return [groups[k] for k in sorted(groups, key=lambda k: groups[k][0].index)]


def reply_for(content: str) -> str:
    """FakeOpenAI's answer to a user turn: a function of it, so every delivered text can be checked."""
    return "Resposta: " + content.replace("\n", " + ")


def build_scenario(conversations: int, seed: int, rates: Rates | None = None) -> Scenario:
    rates = rates or Rates()
    rng = random.Random(seed)
    contacts: list[Contact] = []
    for n in range(conversations):
        bursty = n % 10 == 9
        contact = Contact(
            number=n,
            wa_id=f"55119{n:08d}",
            name=f"Cliente {n}",
            tenant=TENANT_B if bursty else TENANT_A,
            phone_number_id=PHONE_B if bursty else PHONE_A,
            revoked=n == 3,
        )
        at = rng.randrange(0, 900, 5)
        if bursty:
            for burst in range(rng.choice((1, 2, 2))):
                for k in range(rng.choice((2, 3, 3, 4))):
                    text = f"{BURST_PHRASES[k]} [{_tag(n, len(contact.messages))}]"
                    contact.messages.append(_planned(contact, "text", text, at + k, burst))
                at += k + rng.randrange(60, 180, 5)
        else:
            for k in range(rng.choice((2, 3, 3, 4, 4, 5))):
                kind = "text" if k == 0 else rng.choices(("text", "button", "unsupported", "reaction"), (80, 8, 6, 6))[0]
                tag = _tag(n, k)
                readable = {
                    "text": f"{rng.choice(PHRASES)} [{tag}]",
                    "button": f"Status do pedido [{tag}]",
                }.get(kind)
                contact.messages.append(_planned(contact, kind, readable, at, None))
                at += rng.randrange(20, 120, 5)
        for message in contact.messages:
            if not contact.revoked:
                _plan_faults(message, rng, rates)
        contacts.append(contact)
    scenario = Scenario(contacts, seed)
    # Every kind at least once, whatever the size: on a text message of a contact without bursts.
    planned = Counter(k for m in scenario.messages for k in m.faults)
    eligible = [m for m in scenario.messages if m.kind == "text" and m.burst is None and not m.contact.revoked]
    for kind in ALL_FAULTS:
        pool = [m for m in eligible if kind not in CRASHES or not any(k in CRASHES for k in m.faults)]  # one crash each
        if not planned[kind] and pool:
            rng.choice(pool).faults[kind] += 1
    for message in scenario.messages:
        # A failed visibility change needs a failed record: a send that fails once.
        if message.faults["sqs_visibility"] and message.answerable and not message.faults["graph_5xx"]:
            message.faults["graph_5xx"] += 1
    return scenario


def _tag(n: int, k: int) -> str:
    return f"c{n:04d}m{k:02d}"


def _planned(contact: Contact, kind: str, readable: str | None, at: int, burst: int | None) -> Planned:
    index = len(contact.messages)
    return Planned(f"wamid.FAULT{contact.number:04d}M{index:02d}", contact, index, kind, readable, at, burst)


def _plan_faults(message: Planned, rng: random.Random, rates: Rates) -> None:
    kinds: list[str] = []
    kinds += [k for k in GRAPH_FAULTS if rng.random() < rates.graph]
    kinds += [k for k in LLM_FAULTS if rng.random() < rates.llm]
    if rng.random() < rates.llm_down:
        kinds.append("llm_down")
    kinds += [k for k in DDB_FAULTS if rng.random() < rates.ddb]
    kinds += [k for k in SQS_FAULTS if rng.random() < rates.sqs]
    if rng.random() < rates.crash:
        kinds.append(rng.choice(CRASHES))
    for kind in kinds:
        if kind == "enqueue_fail" and message.burst is not None:
            continue  # Meta's retry would land after the burst's later messages: another burst
        if not message.answerable and kind in _NEEDS_SEND | _NEEDS_MODEL | _NEEDS_CLAIM:
            continue
        if message.kind == "unsupported" and kind in _NEEDS_MODEL:
            continue
        message.faults[kind] += 1
    for _ in range(2):
        if rng.random() < rates.redeliver_within:
            message.redeliveries.append((rng.randint(1, SQS_DEDUP_WINDOW_SECONDS - 60), "within"))
        if rng.random() < rates.redeliver_after:
            message.redeliveries.append((rng.randint(SQS_DEDUP_WINDOW_SECONDS + 1, 5400), "after"))


def webhook_body(message: Planned) -> bytes:
    contact = message.contact
    doc: dict[str, Any] = {"from": contact.wa_id, "id": message.wamid, "timestamp": "0", "type": message.kind}
    if message.kind == "text":
        doc["text"] = {"body": message.readable}
    elif message.kind == "button":
        doc["type"] = "interactive"
        doc["interactive"] = {"type": "button_reply", "button_reply": {"id": f"order_status_{message.tag}", "title": message.readable}}
    elif message.kind == "unsupported":
        doc["errors"] = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}]
        doc["unsupported"] = {"type": "poll_creation"}
    else:
        earlier = contact.messages[0].wamid
        doc["reaction"] = {"message_id": earlier, "emoji": "\U0001f44d"}
    value = {"contacts": [{"profile": {"name": contact.name}, "wa_id": contact.wa_id}], "messages": [doc]}
    return meta_envelope(contact.phone_number_id, value)


def with_timestamp(raw: bytes, timestamp: int) -> bytes:
    return raw.replace(b'"timestamp":"0"', b'"timestamp":"%d"' % timestamp, 1)


# --- faults: the ledger -----------------------------------------------------------------------------


class Crash(BaseException):
    """The invocation dies here (not an Exception: nothing in the processor may catch it)."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class InvocationCrashed(Exception):
    """What the runner sees of a crash: an invocation without a batch response."""


class Ledger:
    """Which faults each message still carries, and which were injected."""

    def __init__(self, scenario: Scenario) -> None:
        self.plans: dict[str, Counter[str]] = {m.wamid: Counter(m.faults) for m in scenario.messages}
        self.injected: Counter[str] = Counter()
        self.by_message: dict[str, Counter[str]] = defaultdict(Counter)

    def take(self, wamid: str | None, kind: str) -> bool:
        plan = self.plans.get(wamid or "")
        if not plan or plan[kind] <= 0:
            return False
        plan[kind] -= 1
        self.note(wamid or "", kind)
        return True

    def note(self, wamid: str, kind: str) -> None:
        self.injected[kind] += 1
        self.by_message[wamid][kind] += 1

    def has(self, wamid: str | None, kind: str) -> bool:
        return bool(self.plans.get(wamid or "", Counter())[kind] > 0)


# --- Graph: the sandbox with a faulty transport ------------------------------------------------------


class FaultyGraph(GraphSandbox):
    """The Graph sandbox behind a transport that fails, loses answers and crashes on cue.

    Every accepted send posts its status webhook (with the request's biz_opaque_callback_data)
    through ``on_accepted``, as Meta does, unless a crash after the send is planned without it.
    """

    def __init__(self, ledger: Ledger, revoked: set[str]) -> None:
        super().__init__(access_tokens={DEMO.access_token})
        self.ledger = ledger
        self.revoked = revoked
        self.on_accepted: Callable[[str, str, str, str | None], None] = lambda *_: None
        self.refused: Counter[str] = Counter()  # sends to a revoked customer, per inbound id
        self.rate_limited = 0

    def transport(self) -> httpx.MockTransport:
        inner = super().transport()

        def handler(request: httpx.Request) -> httpx.Response:
            if request.method != "POST" or not request.url.path.endswith("/messages"):
                return inner.handle_request(request)
            payload = json.loads(request.content)
            if payload.get("status") == "read":
                if self.ledger.take(payload.get("message_id"), "read_5xx"):
                    return httpx.Response(500, json=_graph_error(1, "An unknown error occurred"))
                return inner.handle_request(request)
            callback = payload.get("biz_opaque_callback_data") or ""
            inbound = callback.rpartition("|")[0] or None
            if payload.get("to") in self.revoked:
                self.refused[inbound or ""] += 1
                return httpx.Response(401, json=_graph_error(190, "Error validating access token: the session was invalidated"))
            if self.ledger.take(inbound, "graph_5xx"):
                return httpx.Response(503, json=_graph_error(131000, "Something went wrong"))
            if self.ledger.take(inbound, "graph_429"):
                # Meta's throughput limit; every other one says when to come back.
                self.rate_limited += 1
                headers = {"Retry-After": "30"} if self.rate_limited % 2 else {}
                return httpx.Response(429, json=_graph_error(130429, "Rate limit hit"), headers=headers)
            response = inner.handle_request(request)
            if response.status_code != 200:
                return response
            response.read()
            message_id = response.json()["messages"][0]["id"]
            phone_number_id = request.url.path.split("/")[-2]
            to = payload.get("to") or payload.get("recipient") or ""
            if self.ledger.take(inbound, "graph_lost"):
                self.on_accepted(phone_number_id, message_id, to, callback)
                raise httpx.ReadTimeout("injected: the answer to an accepted send was lost", request=request)
            if self.ledger.take(inbound, "crash_after_send"):
                self.on_accepted(phone_number_id, message_id, to, callback)
                raise Crash("after the send")
            if self.ledger.take(inbound, "crash_after_send_unconfirmed"):
                raise Crash("after the send (no status webhook)")
            self.on_accepted(phone_number_id, message_id, to, callback)
            return response

        return httpx.MockTransport(handler)


def _graph_error(code: int, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AFaultTrace"}}


def _status_id(raw: bytes) -> str:
    return str(json.loads(raw)["entry"][0]["changes"][0]["value"]["statuses"][0]["id"])


def status_body(phone_number_id: str, message_id: str, recipient: str, callback: str | None, timestamp: int) -> bytes:
    status: dict[str, Any] = {"id": message_id, "status": "sent", "timestamp": str(timestamp), "recipient_id": recipient}
    if callback:
        status["biz_opaque_callback_data"] = callback
    return meta_envelope(phone_number_id, {"statuses": [status]})


# --- OpenAI: FakeOpenAI behind a faulty transport -------------------------------------------------------


class FaultyOpenAI:
    """FakeOpenAI answering ``reply_for(user turn)``; 5xx, timeouts and outages on cue."""

    def __init__(self, ledger: Ledger, tags: dict[str, str]) -> None:
        self.fake = FakeOpenAI()
        self.ledger = ledger
        self.tags = tags  # tag → wamid
        self.completions: Counter[str] = Counter()  # answering wamid → successful completions
        self.failures: Counter[str] = Counter()
        self._inner = self.fake.transport()

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            doc = json.loads(request.content)
            content = str(doc["messages"][-1]["content"])
            found = _TAG.findall(content)
            wamid = self.tags.get(found[-1]) if found else None
            if self.ledger.has(wamid, "llm_down"):
                self.ledger.note(wamid or "", "llm_down_call")
                self.failures[wamid or ""] += 1
                self.fake.fail_next(503)
                return self._inner.handle_request(request)
            if self.ledger.take(wamid, "llm_5xx"):
                self.failures[wamid or ""] += 1
                self.fake.fail_next(500)
                return self._inner.handle_request(request)
            if self.ledger.take(wamid, "llm_timeout"):
                self.failures[wamid or ""] += 1
                raise httpx.ReadTimeout("injected: OpenAI did not answer in time", request=request)
            self.fake.reply = reply_for(content)
            self.completions[wamid or ""] += 1
            return self._inner.handle_request(request)

        return httpx.MockTransport(handler)


# --- DynamoDB: hooks on the shared client ----------------------------------------------------------------


def _ddb_target(op: str, doc: dict[str, Any], claims_table: str) -> tuple[str | None, str | None]:
    """(what the call is, the inbound message id it is about) for the calls faults target."""
    if op == "BatchGetItem":
        keys = doc.get("RequestItems", {}).get(claims_table, {}).get("Keys") or []
        return ("snapshot", _wamid(keys[0]["id"]["S"])) if keys else (None, None)
    if op == "TransactWriteItems":
        first = (doc.get("TransactItems") or [{}])[0].get("Update") or {}
        if first.get("TableName") == claims_table:
            return "commit", _wamid(first["Key"]["id"]["S"])
        return None, None
    if op == "UpdateItem" and doc.get("TableName") == claims_table:
        expression = doc.get("UpdateExpression", "")
        wamid = _wamid(doc["Key"]["id"]["S"])
        if "ADD attempt_ids" in expression and "claim_token = :token" in expression:
            return "claim", wamid
        if "lease_until = :zero" in expression:
            return "release", wamid
        if "confirmed" in expression:
            return "confirm", wamid
        if ":attempted" in expression:
            return "note_attempt", wamid
        return "checkpoint", wamid
    return None, None


def _wamid(claim_id: str) -> str:
    return claim_id.split("#", 2)[2]


def _json_response(url: str, status: int, doc: dict[str, Any]) -> AWSResponse:
    from moto.core.botocore_stubber import MockRawResponse

    headers = {"x-amzn-RequestId": "fault-injected", "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(url, status, headers, MockRawResponse(json.dumps(doc).encode()))  # type: ignore[arg-type]


class DynamoFaults:
    """Throttling, unprocessed keys, lost answers and crashes on the claim, snapshot and commit.

    moto answers through its ``before-send`` stubber; it is taken off this client and called from
    here, so a throttled request never reaches it and an "unacknowledged" one is applied first.
    """

    def __init__(self, client: Any, ledger: Ledger, claims_table: str, clock: Callable[[], float]) -> None:
        from moto.core.models import botocore_stubber

        self.ledger = ledger
        self.claims = claims_table
        self.clock = clock
        self._moto = botocore_stubber
        self._plans: dict[str, list[str]] = {}  # botocore invocation id → action per attempt
        self._tokens: dict[str, tuple[str, float]] = {}  # ClientRequestToken → (request digest, applied at)
        self.idempotent_replays = 0
        self.snapshots_in_invocation = 0
        self.crash_at_snapshot: int | None = None
        self.calls: Counter[str] = Counter()
        events = client.meta.events
        events.unregister("before-send", botocore_stubber)
        events.register("before-send.dynamodb", self._before_send)
        events.register("before-parameter-build.dynamodb", self._before_build)
        events.register("after-call.dynamodb", self._after_call)

    def _before_build(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        what, wamid = _ddb_target(model.name, params, self.claims)
        context["fault_target"] = (what, wamid)
        if what == "snapshot":
            self.snapshots_in_invocation += 1
            if self.crash_at_snapshot is not None and self.snapshots_in_invocation >= self.crash_at_snapshot:
                self.crash_at_snapshot = None
                self.ledger.note(wamid or "", "crash_mid_batch")
                raise Crash("mid-batch")

    def _after_call(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        what, wamid = context.get("fault_target", (None, None))
        if http_response is None or http_response.status_code != 200:
            return
        if what == "claim" and self.ledger.take(wamid, "crash_after_claim"):
            raise Crash("after the claim")
        if what == "commit" and self.ledger.take(wamid, "crash_after_commit"):
            raise Crash("after the commit")

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        op = event_name.rsplit(".", 1)[1]
        doc = json.loads(request.body or b"{}")
        what, wamid = _ddb_target(op, doc, self.claims)
        self.calls[what or op] += 1
        invocation = _header(request, "amz-sdk-invocation-id")
        if "attempt=1;" in _header(request, "amz-sdk-request") + ";" or invocation not in self._plans:
            self._plans[invocation] = self._plan(what, wamid)
        actions = self._plans[invocation]
        action = actions.pop(0) if actions else "pass"
        if action == "throttle":
            return _json_response(
                request.url,
                400,
                {
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table was exceeded.",
                },
            )
        if action == "unprocessed":
            return _json_response(request.url, 200, {"Responses": {}, "UnprocessedKeys": doc["RequestItems"]})
        response = self._apply(op, request, doc, event_name, **kwargs)
        if action == "unack" and response is not None and response.status_code == 200:
            if len(actions) % 2:
                raise ConnectionClosedError(endpoint_url=request.url)
            raise ReadTimeoutError(endpoint_url=request.url)
        return response

    def _plan(self, what: str | None, wamid: str | None) -> list[str]:
        if what is None:
            return []
        for kind, actions in (
            ("ddb_throttle_once", ["throttle"]),
            # "every attempt": more than botocore makes (max_attempts=3 retries: 4 attempts).
            ("ddb_throttle", ["throttle"] * 10),
            ("ddb_unack", ["unack"]),
            ("ddb_unack_all", ["unack"] * 10),
            ("ddb_unprocessed", ["unprocessed"]),
        ):
            if self.ledger.take(wamid, f"{kind}:{what}"):
                return list(actions)
        return []

    def _apply(self, op: str, request: Any, doc: dict[str, Any], event_name: str, **kwargs: Any) -> AWSResponse | None:
        token = doc.get("ClientRequestToken") if op == "TransactWriteItems" else None
        if token:
            digest = hashlib.sha256(
                json.dumps({k: v for k, v in doc.items() if k != "ClientRequestToken"}, sort_keys=True).encode()
            ).hexdigest()
            seen = self._tokens.get(token)
            if seen is not None and self.clock() - seen[1] < CRT_WINDOW_SECONDS:
                self.idempotent_replays += 1
                if seen[0] == digest:
                    return _json_response(request.url, 200, {})
                return _json_response(
                    request.url,
                    400,
                    {"__type": "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException", "message": "mismatch"},
                )
        response = self._moto(event_name=event_name, request=request, **kwargs)
        if token and response is not None and response.status_code == 200:
            self._tokens[token] = (digest, self.clock())
        return response


def _header(request: Any, name: str) -> str:
    value = request.headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


# --- moto: a cheaper transaction rollback ---------------------------------------------------------------


def fast_moto_transactions(monkeypatch: Any) -> None:
    """moto 5.2.5 deep-copies every table a TransactWriteItems touches, once per item, to roll back.

    The cost grows with the table, so a long run becomes quadratic. Same semantics, cheaper: only
    the items the transaction names are copied, and put back if it is cancelled.
    """
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _Copy:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or {k: op["Item"][k] for k in (table.hash_key_attr, table.range_key_attr) if k}
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if item is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is not None:
                    table.items[hash_key][range_key] = item
                else:
                    table.items[hash_key] = item
            raise

    monkeypatch.setattr(models, "copy", _Copy)
    monkeypatch.setattr(models.DynamoDBBackend, "transact_write_items", transact_write_items)


_COUNTING = [False]


def fast_moto_queues(monkeypatch: Any) -> None:
    """moto 5.2.5 computes the queue's ApproximateNumberOfMessages* (a walk over every message) on
    every send and for every message it hands out; nothing reads them during a run, so they are
    computed only inside ``queue_depth``.
    """
    from moto.sqs.models import Queue

    for name in ("approximate_number_of_messages", "approximate_number_of_messages_not_visible", "approximate_number_of_messages_delayed"):
        counted = getattr(Queue, name).fget
        monkeypatch.setattr(Queue, name, property(lambda self, _counted=counted: _counted(self) if _COUNTING[0] else 0))


# --- SQS: virtual visibility, SQS's dedup window, and faults -------------------------------------------


def _envelope_wamid(body: str) -> str | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if doc.get("kind") != "message":
        return None
    return (doc.get("message") or {}).get("provider_message_id")


class SqsFaults:
    """Hooks on the shared SQS client (webhook, processor and runner alike)."""

    def __init__(self, client: Any, raw: Any, queue_url: str, ledger: Ledger, clock: Callable[[], float]) -> None:
        self.raw = raw  # an unhooked client: the simulation's own calls
        self.url = queue_url
        self.ledger = ledger
        self.clock = clock
        self.due: dict[str, float] = {}  # message id → virtual time it becomes visible
        self.handle: dict[str, str] = {}
        self.by_handle: dict[str, str] = {}
        self.wamid: dict[str, str | None] = {}
        self.enqueued_at: dict[str, float] = {}  # dedup id → first accepted send (virtual)
        self.deduplicated = 0
        self.after_window = 0
        self.received = 0
        self.visibility_requests: list[tuple[str | None, int]] = []  # (wamid, seconds) asked by the processor
        self._renames = itertools.count(1)
        events = client.meta.events
        for op, before_build, before_call, after_call in (
            ("SendMessageBatch", self._send_build, self._short_circuit, self._send_done),
            ("ReceiveMessage", None, None, self._received),
            ("ChangeMessageVisibility", self._visibility_build, self._short_circuit, self._visibility_done),
            ("DeleteMessageBatch", self._delete_build, self._short_circuit, self._deleted),
        ):
            if before_build:
                events.register(f"before-parameter-build.sqs.{op}", before_build)
            if before_call:
                events.register(f"before-call.sqs.{op}", before_call)
            events.register(f"after-call.sqs.{op}", after_call)

    @staticmethod
    def _short_circuit(context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        return context.pop("fault_response", None)

    # SendMessageBatch (the webhook): SQS's dedup window in virtual time, refused enqueues.
    def _send_build(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        now = self.clock()
        entries = params["Entries"]
        if any(self.ledger.take(_envelope_wamid(e["MessageBody"]), "enqueue_fail") for e in entries):
            failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in entries]
            context["fault_response"] = (_Http(200), {"Successful": [], "Failed": failed})
            return
        duplicates = [e for e in entries if now - self.enqueued_at.get(e["MessageDeduplicationId"], -1e12) < SQS_DEDUP_WINDOW_SECONDS]
        if duplicates:
            assert len(duplicates) == len(entries), "one message per webhook delivery in this harness"
            self.deduplicated += len(entries)
            ok = [{"Id": e["Id"], "MessageId": "deduplicated", "MD5OfMessageBody": "-"} for e in entries]
            context["fault_response"] = (_Http(200), {"Successful": ok, "Failed": []})
            return
        context["dedup_ids"] = [e["MessageDeduplicationId"] for e in entries]
        for entry in entries:
            if entry["MessageDeduplicationId"] in self.enqueued_at:
                # Past SQS's window: SQS accepts it again; moto might still hold the original.
                self.after_window += 1
                entry["MessageDeduplicationId"] = f"{entry['MessageDeduplicationId'][:100]}~w{next(self._renames)}"

    def _send_done(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code == 200 and not parsed.get("Failed"):
            for dedup in context.get("dedup_ids", ()):
                self.enqueued_at[dedup] = self.clock()

    # ReceiveMessage: every received message is invisible for the queue's timeout, in virtual time.
    def _received(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        now = self.clock()
        for message in parsed.get("Messages", []):
            mid = message["MessageId"]
            self.received += 1
            self.handle[mid] = message["ReceiptHandle"]
            self.by_handle[message["ReceiptHandle"]] = mid
            self.wamid.setdefault(mid, _envelope_wamid(message["Body"]))
            self.due[mid] = now + QUEUE_VISIBILITY_SECONDS

    # ChangeMessageVisibility: the processor's backoff (virtual) and the runner's releases (0).
    def _visibility_build(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        mid = self.by_handle.get(params["ReceiptHandle"])
        seconds = int(params["VisibilityTimeout"])
        context["visibility"] = (mid, seconds)
        if seconds > 0:
            self.visibility_requests.append((self.wamid.get(mid or ""), seconds))
            params["VisibilityTimeout"] = HIDDEN_SECONDS
            if self.ledger.take(self.wamid.get(mid or ""), "sqs_visibility"):
                error = {"Error": {"Code": "InternalError", "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 500}}
                context["fault_response"] = (_Http(500), error)

    def _visibility_done(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        mid, seconds = context.get("visibility", (None, 0))
        if http_response.status_code != 200 or mid is None:
            return
        if seconds == 0:
            self.due.pop(mid, None)
        else:
            self.due[mid] = self.clock() + seconds

    # DeleteMessageBatch (the runner): some entries fail; SQS keeps those in flight.
    def _delete_build(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        ids = {e["Id"]: self.by_handle.get(e["ReceiptHandle"]) for e in params["Entries"]}
        context["deleting"] = ids
        failing = [e for e in params["Entries"] if self.ledger.take(self.wamid.get(ids[e["Id"]] or ""), "sqs_delete")]
        if not failing:
            return
        kept = [e for e in params["Entries"] if e not in failing]
        if kept:
            self.raw.delete_message_batch(QueueUrl=params["QueueUrl"], Entries=kept)
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"} for e in failing]
        context["fault_response"] = (_Http(200), {"Successful": [{"Id": e["Id"]} for e in kept], "Failed": failed})

    def _deleted(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        ids = context.get("deleting", {})
        for entry in parsed.get("Successful", []):
            mid = ids.get(entry["Id"])
            if mid is not None:
                self.due.pop(mid, None)
                self.by_handle.pop(self.handle.pop(mid, ""), None)

    # The simulation's clock moves: what is due becomes visible.
    def next_due(self) -> float | None:
        return min(self.due.values(), default=None)

    def release_due(self) -> None:
        now = self.clock()
        for mid in [m for m, at in self.due.items() if at <= now]:
            del self.due[mid]
            with contextlib.suppress(Exception):  # dead-lettered or deleted meanwhile: nothing to release
                self.raw.change_message_visibility(QueueUrl=self.url, ReceiptHandle=self.handle[mid], VisibilityTimeout=0)


@dataclass
class _Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


# --- the simulation ------------------------------------------------------------------------------------


class VirtualClock:
    """The processor's clock, the customers' and Meta's: moves only when the simulation moves it."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.offset = 0.0

    def __call__(self) -> float:
        return self.start + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def advance_to(self, at: float) -> None:
        self.offset = max(self.offset, at - self.start)


@dataclass
class Delivery:
    raw: bytes
    label: str  # "message" | "within" | "after" | "status" | "retry"
    planned: Planned | None = None


class Simulation:
    def __init__(self, pipeline: Any, scenario: Scenario, *, seed: int, rates: Rates, queue_url: str, queue_arn: str) -> None:
        import boto3

        from atende.store import aws
        from local.runner import QueueRunner

        self.pipeline = pipeline
        self.scenario = scenario
        self.rates = rates
        self.rng = random.Random(seed + 1)
        # On the hour: clock minutes (flood windows) and sessions fall the same way on every run.
        self.clock = VirtualClock(float(int(time.time()) // 3600 * 3600))
        pipeline.processor._service()._clock = self.clock
        self.ledger: Ledger = pipeline.sandbox.ledger
        self.start = self.clock()
        self._events: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self.deliveries: Counter[str] = Counter()
        self.webhook_refusals = 0
        self.crashes: Counter[str] = Counter()
        self.batches = 0
        self.records = 0
        self.trace: list[tuple[int, str, Any]] = []
        self.accepted: dict[int, list[str]] = {}  # contact → its messages in the order the webhook took them
        self._accepted: set[str] = set()
        self.statuses_delivered: set[str] = set()
        self.sent_at: dict[str, int] = {}  # outbound id → virtual time Meta accepted it
        sqs = aws.client("sqs")
        self.sqs = SqsFaults(sqs, boto3.client("sqs"), queue_url, self.ledger, self.clock)
        claims = pipeline.stack.resources["IdempotencyTable"].ref
        self.ddb = DynamoFaults(aws.client("dynamodb"), self.ledger, claims, self.clock)
        self.runner = QueueRunner(sqs, queue_url, queue_arn, self._invoke, batch_size=5)
        pipeline.sandbox.on_accepted = self._status_posted
        self.outcomes: list[tuple[int, str, int, str]] = []  # (time, wamid, receive count, outcome or error)
        service = pipeline.processor._service()
        handle = service.handle

        def traced(body: str, attempt: Any) -> str:
            wamid = _envelope_wamid(body) or "status"
            at = int(self.clock() - self.start)
            try:
                result = handle(body, attempt)
            except BaseException as exc:
                self.outcomes.append((at, wamid, attempt.receive_count, type(exc).__name__))
                raise
            self.outcomes.append((at, wamid, attempt.receive_count, result))
            return result

        service.handle = traced
        for message in scenario.messages:
            self._at(self.start + message.at, Delivery(b"", "message", message))

    def _at(self, at: float, delivery: Delivery) -> None:
        heapq.heappush(self._events, (at, next(self._seq), delivery))

    def _status_posted(self, phone_number_id: str, message_id: str, recipient: str, callback: str | None) -> None:
        now = int(self.clock())
        self.sent_at[message_id] = now
        raw = status_body(phone_number_id, message_id, recipient, callback, now + 1)
        self._at(now + self.rng.randint(1, 3), Delivery(raw, "status"))

    def _invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The processor's handler as Lambda runs it; a Crash ends the invocation without an answer."""
        self.batches += 1
        records = event["Records"]
        self.records += len(records)
        self.ddb.snapshots_in_invocation = 0
        messages = sum(1 for r in records if _envelope_wamid(r["body"]))
        if messages >= 2 and self.rng.random() < self.rates.mid_batch_crash:
            self.ddb.crash_at_snapshot = self.rng.randint(2, messages)
        now = int(self.clock() - self.start)
        shown = [(_envelope_wamid(r["body"]) or "status", r["attributes"]["ApproximateReceiveCount"]) for r in records]
        try:
            response = self.pipeline.processor.lambda_handler(event, context)
        except Crash as crash:
            self.crashes[crash.where] += 1
            self.trace.append((now, "crash " + crash.where, shown))
            raise InvocationCrashed(crash.where) from None
        finally:
            self.ddb.crash_at_snapshot = None
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        self.trace.append((now, "batch", [(w, c, r["messageId"] in failed) for (w, c), r in zip(shown, records, strict=True)]))
        return response

    def _deliver(self, delivery: Delivery) -> None:
        raw = delivery.raw
        if delivery.label == "message":
            assert delivery.planned is not None
            raw = with_timestamp(webhook_body(delivery.planned), int(self.clock()))
            delivery = Delivery(raw, "message", delivery.planned)
            for delay, kind in delivery.planned.redeliveries:
                self._at(self.clock() + delay, Delivery(raw, kind, delivery.planned))
        self.deliveries[delivery.label] += 1
        response = self.pipeline.deliver(raw)
        if response["statusCode"] == 200 and delivery.planned is not None and delivery.planned.wamid not in self._accepted:
            self._accepted.add(delivery.planned.wamid)
            self.accepted.setdefault(delivery.planned.contact.number, []).append(delivery.planned.wamid)
        if response["statusCode"] == 200 and delivery.label == "status":
            self.statuses_delivered.add(_status_id(raw))
        if response["statusCode"] != 200:
            # Meta retries a delivery that was not acknowledged (seconds to minutes later).
            self.webhook_refusals += 1
            self._at(self.clock() + self.rng.randint(5, 90), Delivery(raw, "retry", delivery.planned))

    def run(self, max_polls: int = 200_000) -> None:
        polls = 0
        while True:
            self.sqs.release_due()
            while self._events and self._events[0][0] <= self.clock():
                self._deliver(heapq.heappop(self._events)[2])
            while True:
                polls += 1
                assert polls < max_polls, "the simulation does not converge"
                try:
                    result = self.runner.poll_once()
                except InvocationCrashed:
                    continue
                if not result.received and not result.held_back:
                    break
            upcoming = [t for t in (self._events[0][0] if self._events else None, self.sqs.next_due()) if t is not None]
            if not upcoming:
                return
            self.clock.advance_to(min(upcoming))

    @property
    def elapsed_virtual(self) -> float:
        return self.clock() - self.start


# --- what came out ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Per-customer checks, counted (each list names the offending messages)."""

    sends: int = 0
    lost: list[str] = field(default_factory=list)
    documented_duplicates: list[str] = field(default_factory=list)
    undocumented_duplicates: list[str] = field(default_factory=list)
    wrong_text: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    burst_answers: Counter[int] = field(default_factory=Counter)  # answers per burst → how many bursts
    unexpected_sends: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    stray_dead_letters: list[str] = field(default_factory=list)
    state_errors: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)
    unexplained_regenerations: list[str] = field(default_factory=list)
    statuses_not_recorded: list[str] = field(default_factory=list)  # delivered "sent" status, outbound still "accepted"
    # Bursts processed late (after a crash or a backoff) and answered once per batch they fell in
    # (test_a_burst_cut_by_a_batch_boundary_gets_one_answer).
    split_bursts: list[str] = field(default_factory=list)
    # The documented residual (docs/data-model.md, bursts): the earlier answer came from a message
    # whose record was in a crashed invocation (it came back alone after the visibility timeout,
    # or finished the reply it had checkpointed before the crash).
    split_after_crash: list[str] = field(default_factory=list)


APOLOGY_KEY = "apology"
NOTICE_KEY = "unsupported_type"


def sends_by_inbound(sandbox: GraphSandbox) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    for call in sandbox.sent:
        if call.message_id is not None:
            found[_callback_inbound(call)].append(call)
    return found


def split_across_batches(sim: Simulation, burst: list[Planned], answering: set[str]) -> bool:
    """Every earlier answer of a burst came from a message that ended its contact's records in a
    batch without the next message of its burst: old enough not to wait (the hold step waits only
    for messages younger than the pause), it is answered alone and the burst is split.
    """
    following = {m.wamid: burst[i + 1].wamid for i, m in enumerate(burst[:-1])}
    for wamid in answering - {burst[-1].wamid}:
        cut = False
        for _, _, records in sim.trace:
            shown = [r[0] for r in records]
            if wamid in shown and following.get(wamid) not in shown:
                cut = True
        if not cut:
            return False
    return True


def explain_split(sim: Simulation, last_wamid: str) -> str:
    """The evidence for one split burst: every batch and handler outcome that touched its messages."""
    burst = next(b for c in sim.scenario.contacts for b in sim.scenario.bursts(c) if b[-1].wamid == last_wamid)
    ids = {m.wamid for m in burst}
    lines = [f"burst {[m.wamid for m in burst]} sent at {[m.at for m in burst]}"]
    lines += [f"  t={at} {kind}: {shown}" for at, kind, shown in sim.trace if any(w in ids for w, *_ in shown)]
    lines += [f"  t={at} handled {w} receive={n}: {result}" for at, w, n, result in sim.outcomes if w in ids]
    return "\n".join(lines)


def check(sim: Simulation, stack: Any) -> Outcome:
    import boto3

    from atende.domain.texts import bot_text
    from atende.store.conversations import ConversationStore, claim_id

    outcome = Outcome()
    sandbox: FaultyGraph = sim.pipeline.sandbox
    sent = sends_by_inbound(sandbox)
    outcome.sends = sum(len(v) for v in sent.values())
    ledger = sim.ledger
    apology, notice = bot_text(APOLOGY_KEY), bot_text(NOTICE_KEY)
    known = {m.wamid for m in sim.scenario.messages}
    outcome.unexpected_sends = [k for k in sent if k not in known]
    store = ConversationStore(stack.resources["AtendeTable"].ref, stack.resources["IdempotencyTable"].ref)
    ddb = boto3.client("dynamodb")
    claims_table = stack.resources["IdempotencyTable"].ref
    contacts = _contact_ids(ddb, stack.resources["AtendeTable"].ref)
    by_wamid = {m.wamid: m for m in sim.scenario.messages}

    for contact in sim.scenario.contacts:
        if contact.revoked:
            continue
        # Order: replies go out in the order the webhook accepted the customer's messages.
        accepted = {w: i for i, w in enumerate(sim.accepted.get(contact.number, []))}
        mine = [_callback_inbound(c) for c in sandbox.sent if c.message_id and by_wamid.get(_callback_inbound(c)) in contact.messages]
        positions = [accepted.get(w, -1) for w in mine]
        if positions != sorted(positions):
            outcome.out_of_order.append(contact.wa_id)
        remembered: list[tuple[int, str, str]] | None = []  # (position of the first send, user turn, answer)
        expected_outcomes: dict[str, str] = {}
        send_order = {id(c): i for i, c in enumerate(sandbox.sent)}
        for burst in sim.scenario.bursts(contact):
            last = burst[-1]
            calls = [c for m in burst for c in sent.get(m.wamid, [])]
            answering = {_callback_inbound(c) for c in calls}
            if len(answering) > 1 and split_across_batches(sim, burst, answering):
                crashed = {w for _, kind, shown in sim.trace if kind.startswith("crash") for w, *_ in shown}
                after_crash = all(w in crashed for w in answering - {last.wamid})
                (outcome.split_after_crash if after_crash else outcome.split_bursts).append(last.wamid)
                remembered = None  # what the memory should hold is no longer defined
                continue
            expected_count = 1 if last.answerable else 0
            if expected_count and not calls:
                outcome.lost.append(last.wamid)
            documented = 0
            if len(calls) > expected_count:
                extra = len(calls) - expected_count
                if answering == {last.wamid} and extra <= ledger.by_message[last.wamid]["crash_after_send_unconfirmed"]:
                    outcome.documented_duplicates += [last.wamid] * extra
                    documented = extra
                else:
                    outcome.undocumented_duplicates.append(last.wamid)
            if contact.tenant == TENANT_B:
                outcome.burst_answers[len(calls) - documented] += 1  # a documented re-send is no second answer
            if not calls:
                expected_outcomes[last.wamid] = "silent" if not last.answerable else "answered"
                continue
            content = "\n".join(m.readable or "" for m in burst)
            if last.kind == "unsupported":
                expected, result = notice, "unsupported"
            elif last.faults["llm_down"]:
                expected, result = apology, "apology"
            else:
                expected, result = reply_for(content), "replied"
                if remembered is not None:
                    remembered.append((min(send_order[id(c)] for c in calls), content, expected))
            outcome.wrong_text += [last.wamid for c in calls if c.text != expected]
            expected_outcomes[last.wamid] = result
            for merged in burst[:-1]:
                expected_outcomes[merged.wamid] = "merged"
        # Memory is written by the commits, in the order the answers went out.
        expected_memory = None if remembered is None else [t for _, u, a in sorted(remembered) for t in (("user", u), ("assistant", a))]
        # DynamoDB agrees: an outcome per inbound message, done claims, each turn remembered once.
        found = contacts.get((contact.tenant, contact.wa_id))
        if found is None:
            outcome.state_errors.append(f"{contact.wa_id}: no profile")
            continue
        items = {i["SK"]: i for i in store.contact_items(contact.tenant, found)}
        for message in contact.messages:
            inbound = items.get(f"MSG#IN#{message.wamid}")
            want = expected_outcomes.get(message.wamid)
            if inbound is None:
                outcome.state_errors.append(f"{message.wamid}: no inbound item")
                continue
            if want and inbound.get("outcome") != want:
                outcome.state_errors.append(f"{message.wamid}: outcome {inbound.get('outcome')} != {want}")
            for reply_id in inbound.get("replied_with") or ():
                if f"MSG#OUT#{reply_id}" not in items:
                    outcome.state_errors.append(f"{message.wamid}: no outbound item {reply_id}")
                if reply_id not in {c.message_id for c in sent.get(message.wamid, [])}:
                    outcome.state_errors.append(f"{message.wamid}: replied_with {reply_id} was never sent")
            claim = ddb.get_item(
                TableName=claims_table, Key={"id": {"S": claim_id(contact.tenant, "meta", message.wamid)}}, ConsistentRead=True
            ).get("Item", {})
            if claim.get("status", {}).get("S") != "done" or {"reply_parts", "lease_until", "sent_ids"} & set(claim):
                outcome.state_errors.append(f"{message.wamid}: claim not done: {sorted(claim)} {claim.get('status')}")
        for sk, item in items.items():
            if sk.startswith("MSG#OUT#") and item.get("status") == "accepted" and sk[8:] in sim.statuses_delivered:
                outcome.statuses_not_recorded.append(sk[8:])
            if sk.startswith("MSG#OUT#") and "sent_at" not in item:
                # A status kept ahead of its send's commit: every answered message commits, so none may stay a stub.
                outcome.state_errors.append(f"{sk[8:]}: a status with no committed message")
        memory = [(t.role, t.text) for t in store.load_profile(contact.tenant, found).memory]
        if expected_memory is not None and memory != expected_memory[-MEMORY_TURNS:]:
            outcome.state_errors.append(f"{contact.wa_id}: memory {memory} != {expected_memory[-MEMORY_TURNS:]}")
        if len(set(memory)) != len(memory):
            outcome.state_errors.append(f"{contact.wa_id}: a turn remembered twice")

    # Model calls: a reply is generated once, unless its claim (which checkpoints it) was refused.
    for wamid, completions in sim.pipeline.openai.completions.items():
        if completions > 1:
            outcome.regenerated.append(wamid)
            if completions - 1 > ledger.by_message[wamid]["ddb_throttle:claim"]:
                outcome.unexplained_regenerations.append(wamid)

    # Dead letters: only the revoked customer's messages, each once.
    revoked = {m.wamid for c in sim.scenario.contacts if c.revoked for m in c.messages}
    for body in _drain(boto3.client("sqs"), stack.resources["InboundDeadLetterQueue"].ref):
        wamid = _envelope_wamid(body) or body[:60]
        (outcome.dead_letters if wamid in revoked else outcome.stray_dead_letters).append(wamid)
    if sorted(outcome.dead_letters) != sorted(revoked):
        outcome.state_errors.append(f"DLQ holds {sorted(outcome.dead_letters)}, expected {sorted(revoked)}")
    if any(sent.get(w) for w in revoked):
        outcome.state_errors.append("a revoked customer was answered")
    return outcome


def _callback_inbound(call: Any) -> str:
    return str(call.payload.get("biz_opaque_callback_data") or "").rpartition("|")[0]


def _contact_ids(ddb: Any, table: str) -> dict[tuple[str, str], str]:
    from atende.store.dynamo import from_attrs

    found: dict[tuple[str, str], str] = {}
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        for raw in page.get("Items", []):
            item = from_attrs(raw)
            if item.get("SK") == "PROFILE" and item.get("wa_id"):
                tenant = item["PK"].split("#")[1]
                found[(tenant, item["wa_id"])] = item["contact_id"]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _drain(sqs: Any, url: str) -> Iterator[str]:
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=HIDDEN_SECONDS).get("Messages", [])
        if not batch:
            return
        for message in batch:
            yield message["Body"]


def queue_depth(sqs: Any, url: str) -> int:
    _COUNTING[0] = True
    try:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    finally:
        _COUNTING[0] = False
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def emitted_metrics(stdout: str) -> Counter[str]:
    """Sum of every EMF metric the handlers printed."""
    totals: Counter[str] = Counter()
    for line in stdout.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = doc.get(metric["Name"])
                totals[metric["Name"]] += int(sum(values) if isinstance(values, list) else values or 0)
    return totals
