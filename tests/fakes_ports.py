"""In-memory fakes of the reply pipeline's ports (``atende.service.ports``): no moto, no sockets.

``InMemoryConversations`` follows ``store.conversations.ConversationStore`` write by write: the
claim condition (``_CLAIMABLE``: new, or not done and the lease expired or held by this same SQS
message or token), attempt ids kept as a set, checkpoints conditioned on the claim token only,
the commit as one all-or-nothing transaction (claim done + inbound/outbound/session items +
profile with the optimistic ``version`` check) made idempotent by its ClientRequestToken,
``confirm_send``, the status rank rule, ``set_conversation`` and ``sessions``. Items are stored
as DynamoDB would give them back (``to_attrs``/``from_attrs``: sets stay sets, numbers come back
as int or float, ``None`` inside maps is dropped), and built by the adapter's own item builders.

Fault hooks, for the step tests and the fault-injection suite:
- ``fail_next("commit", applied=True)``: the write is applied but raises ``StoreError``, as if its
  answer was lost after botocore's retries; ``applied=False`` fails it before anything changes.
  Best-effort writes (``note_attempt``, ``release_claim``) swallow the fault like the adapter.
- ``before_next("claim", hook)``: run ``hook`` just before the next call (a concurrent worker).
- ``calls``: a Counter of calls per port operation.

``FakeMessenger``, ``ScriptedChatModel``, ``FakeDirectory`` and ``FakeMediaReader`` stand for the
other ports; ``FixedClock`` and ``wire_reply_service`` wire them into a ``ReplyService``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from atende.channels.outbound import SentMessage
from atende.domain.conversation import Turn
from atende.errors import ConcurrentUpdate, StoreError
from atende.llm import ChatCompletion
from atende.store.conversations import (
    DAY,
    DEDUP_TTL_FLOOR_DAYS,
    OUTBOUND_STATUS_ATTRIBUTES,
    Claim,
    ClaimState,
    Completion,
    PartKind,
    Profile,
    Snapshot,
    StatusWrite,
    _inbound_item,
    _outbound_item,
    _session_item,
    claim_id,
    profile_from_item,
    read_claim,
)
from atende.store.dynamo import from_attrs, to_attrs
from atende.store.keys import PROFILE_SK, SESSION_PREFIX, contact_pk, inbound_sk, outbound_sk

if TYPE_CHECKING:
    from atende.domain.conversation import Conversation, Session
    from atende.domain.messages import InboundMessage, StatusUpdate
    from atende.domain.tenants import Channel, Tenant
    from atende.llm import ChatModel
    from atende.media.sources import MediaSource
    from atende.service.media import MediaReading
    from atende.service.replies import ReplyService

# Port operations, as ``calls`` and the fault hooks name them ("commit" = complete_inbound).
OPERATIONS = frozenset(
    {
        "snapshot",
        "claim",
        "note_attempt",
        "release_claim",
        "checkpoint_reply",
        "checkpoint_media",
        "checkpoint_agent",
        "complete_inbound",
        "record_status",
        "confirm_send",
        "set_conversation",
        "sessions",
    }
)
_ALIASES = {"commit": "complete_inbound"}
# Writes the adapter wraps in contextlib.suppress: a failure there never reaches the caller.
_BEST_EFFORT = frozenset({"note_attempt", "release_claim"})
# What the commit REMOVEs from the claim: a completed claim holds no content.
_CLAIM_CONTENT = (
    "reply_parts",
    "sent_ids",
    "reply_kind",
    "reply_lead",
    "lead_kind",
    "media",
    "llm_usage",
    "confirmed",
    "agent_steps",
    "lease_until",
)


def _stored(item: dict[str, Any]) -> dict[str, Any]:
    """The item as DynamoDB gives it back (and a deep copy, so callers never share state)."""
    return from_attrs(to_attrs(item))


def _operation(name: str) -> str:
    operation = _ALIASES.get(name, name)
    if operation not in OPERATIONS:
        raise ValueError(f"unknown port operation {name!r}; known: {sorted(OPERATIONS | _ALIASES.keys())}")
    return operation


@dataclass(frozen=True, slots=True)
class Fault:
    error: Exception
    applied: bool = False  # the write happened; only its answer was lost


class InMemoryConversations:
    """``ConversationPort`` over two dicts: the idempotency table and the main table."""

    def __init__(self) -> None:
        self.claims: dict[str, dict[str, Any]] = {}  # idempotency table: id → item
        self.items: dict[tuple[str, str], dict[str, Any]] = {}  # main table: (PK, SK) → item
        self.calls: Counter[str] = Counter()
        self.commit_tokens: dict[str, str] = {}  # ClientRequestToken → fingerprint of the request
        self._faults: defaultdict[str, deque[Fault]] = defaultdict(deque)
        self._hooks: defaultdict[str, deque[Callable[[], None]]] = defaultdict(deque)
        self._tokens = (f"{n:016x}" for n in itertools.count(0xC1A1))

    # --- fault hooks -------------------------------------------------------------------------

    def fail_next(self, operation: str, *, applied: bool = False, error: Exception | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` raise ``error`` (default: StoreError)."""
        name = _operation(operation)
        for _ in range(times):
            self._faults[name].append(Fault(error or StoreError(f"injected: DynamoDB {name} failed"), applied))

    def before_next(self, operation: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` at the start of the next call of ``operation`` (another worker, in between)."""
        self._hooks[_operation(operation)].append(hook)

    def _enter(self, operation: str) -> Fault | None:
        self.calls[operation] += 1
        if self._hooks[operation]:
            self._hooks[operation].popleft()()
        fault = self._faults[operation].popleft() if self._faults[operation] else None
        if fault is not None and not fault.applied and operation not in _BEST_EFFORT:
            raise fault.error
        return fault

    @staticmethod
    def _leave(fault: Fault | None, operation: str) -> None:
        if fault is not None and operation not in _BEST_EFFORT:
            raise fault.error

    # --- reads for tests ---------------------------------------------------------------------

    def claim_item(self, tenant_id: str, provider: str, provider_message_id: str) -> dict[str, Any] | None:
        item = self.claims.get(claim_id(tenant_id, provider, provider_message_id))
        return _stored(item) if item is not None else None

    def item(self, tenant_id: str, contact_id: str, sk: str) -> dict[str, Any] | None:
        item = self.items.get((contact_pk(tenant_id, contact_id), sk))
        return _stored(item) if item is not None else None

    def profile(self, tenant_id: str, contact_id: str) -> Profile:
        return profile_from_item(self.item(tenant_id, contact_id, PROFILE_SK))

    def inbound_item(self, tenant_id: str, contact_id: str, provider_message_id: str) -> dict[str, Any] | None:
        return self.item(tenant_id, contact_id, inbound_sk(provider_message_id))

    def outbound_items(self, tenant_id: str, contact_id: str) -> list[dict[str, Any]]:
        """The contact's outbound messages, in key order."""
        return [i for i in self.contact_items(tenant_id, contact_id) if i["SK"].startswith(outbound_sk(""))]

    def contact_items(self, tenant_id: str, contact_id: str) -> list[dict[str, Any]]:
        pk = contact_pk(tenant_id, contact_id)
        return [_stored(item) for (p, _), item in sorted(self.items.items()) if p == pk]

    # --- ConversationPort: the read ------------------------------------------------------------

    def snapshot(self, message: InboundMessage) -> Snapshot:
        fault = self._enter("snapshot")
        self._leave(fault, "snapshot")
        claim = self.claims.get(self._claim_id(message))
        profile = self.items.get((self._pk(message), PROFILE_SK))
        return Snapshot(
            claim=_stored(claim) if claim is not None else None, profile=profile_from_item(_stored(profile) if profile else None)
        )

    # --- the claim -------------------------------------------------------------------------------

    def claim(
        self,
        message: InboundMessage,
        *,
        now: int,
        lease_seconds: int,
        ttl_days: int,
        sqs_message_id: str,
        attempt_id: str,
        previous: Claim,
        reply: tuple[Sequence[str], PartKind, int, PartKind, dict[str, Any] | None] | None = None,
        agent: Sequence[dict[str, Any]] | None = None,
    ) -> Claim:
        fault = self._enter("claim")
        key = self._claim_id(message)
        token = next(self._tokens)
        old = self.claims.get(key)
        if not _claimable(old, now=now, sqs_message_id=sqs_message_id, token=token):
            assert old is not None
            state = ClaimState.DUPLICATE if old.get("status") == "done" else ClaimState.IN_FLIGHT
            self._leave(fault, "claim")
            return Claim(state, attempts=len(old.get("attempt_ids") or ()), lease_until=int(old.get("lease_until", 0)))
        item = dict(old or {"id": key})
        item.update(
            status="replying" if reply else "claimed",
            lease_until=now + lease_seconds,
            claim_token=token,
            sqs_message_id=sqs_message_id,
            expiration=now + ttl_days * DAY,
        )
        item.setdefault("first_claimed_at", now)
        if reply is not None:
            parts, kind, lead, lead_kind, usage = reply
            item.update(reply_parts=list(parts), sent_ids=[], reply_kind=kind.value, reply_lead=lead, lead_kind=lead_kind.value)
            if usage:
                item["llm_usage"] = usage
        if agent:
            item["agent_steps"] = list(agent)
        item["attempt_ids"] = {*(item.get("attempt_ids") or ()), attempt_id}
        self.claims[key] = _stored(item)
        self._leave(fault, "claim")
        claimed = read_claim({**self.claims[key], "status": "claimed"}, now=now, sqs_message_id=sqs_message_id)
        return replace(claimed, state=previous.state, token=token, written=True, lease_until=now + lease_seconds)

    def note_attempt(self, message: InboundMessage, *, attempt_id: str, now: int, ttl_days: int) -> None:
        fault = self._enter("note_attempt")
        if fault is not None and not fault.applied:
            return  # the adapter suppresses the failure: the attempt goes uncounted
        key = self._claim_id(message)
        old = self.claims.get(key)
        if old is not None and old.get("status") in (None, "done"):
            return  # "attribute_not_exists(id) OR #status <> :done" failed, suppressed
        item = dict(old or {"id": key})
        item.setdefault("status", "attempted")
        item.setdefault("expiration", now + ttl_days * DAY)
        item["attempt_ids"] = {*(item.get("attempt_ids") or ()), attempt_id}
        self.claims[key] = _stored(item)

    def release_claim(self, message: InboundMessage, claim: Claim) -> None:
        if not claim.written:
            return  # the adapter returns before any call
        fault = self._enter("release_claim")
        if fault is not None and not fault.applied:
            return  # best effort: the lease expires on its own
        item = self.claims.get(self._claim_id(message))
        if item is None or item.get("claim_token") != claim.token or item.get("status") in (None, "done"):
            return
        self.claims[self._claim_id(message)] = _stored({**item, "lease_until": 0})

    def checkpoint_reply(
        self,
        message: InboundMessage,
        claim: Claim,
        parts: Sequence[str],
        sent_ids: Sequence[str],
        kind: PartKind = PartKind.REPLY,
        lead: int = 0,
        lead_kind: PartKind = PartKind.ECHO,
        usage: dict[str, Any] | None = None,
        *,
        agent: Sequence[dict[str, Any]] | None = None,
    ) -> Claim:
        fault = self._enter("checkpoint_reply")
        changes: dict[str, Any] = {
            "status": "replying",
            "reply_parts": list(parts),
            "sent_ids": list(sent_ids),
            "reply_kind": kind.value,
            "reply_lead": lead,
            "lead_kind": lead_kind.value,
        }
        if usage:
            changes["llm_usage"] = usage
        if agent:
            changes["agent_steps"] = list(agent)
        self._update_claim(message, claim, changes)
        self._leave(fault, "checkpoint_reply")
        return replace(
            claim,
            agent=tuple(agent) if agent else claim.agent,
            reply_parts=tuple(parts),
            sent_ids=tuple(sent_ids),
            reply_kind=kind,
            reply_lead=lead,
            lead_kind=lead_kind,
            usage=usage or claim.usage,
        )

    def checkpoint_agent(self, message: InboundMessage, claim: Claim, agent: Sequence[dict[str, Any]]) -> Claim:
        fault = self._enter("checkpoint_agent")
        self._update_claim(message, claim, {"agent_steps": list(agent)})
        self._leave(fault, "checkpoint_agent")
        return replace(claim, agent=tuple(agent))

    def checkpoint_media(self, message: InboundMessage, claim: Claim, media: dict[str, Any]) -> Claim:
        fault = self._enter("checkpoint_media")
        self._update_claim(message, claim, {"media": media})
        self._leave(fault, "checkpoint_media")
        return replace(claim, media=media)

    def _update_claim(self, message: InboundMessage, claim: Claim, changes: dict[str, Any]) -> None:
        # The adapter's condition: "claim_token = :token AND #status <> :done".
        key = self._claim_id(message)
        item = self.claims.get(key)
        if item is None or item.get("claim_token") != claim.token or item.get("status") == "done":
            raise ConcurrentUpdate("lost the claim on an inbound message while replying")
        self.claims[key] = _stored({**item, **changes})

    def confirm_send(self, tenant_id: str, status: StatusUpdate, inbound_id: str, part: int) -> bool:
        fault = self._enter("confirm_send")
        key = claim_id(tenant_id, status.provider.value, inbound_id)
        item = self.claims.get(key)
        if item is None or item.get("status") in (None, "done"):
            self._leave(fault, "confirm_send")
            return False
        confirmed = {**(item.get("confirmed") or {}), str(part): status.provider_message_id}
        self.claims[key] = _stored({**item, "confirmed": confirmed})
        self._leave(fault, "confirm_send")
        return True

    # --- the commit ------------------------------------------------------------------------------

    def complete_inbound(
        self,
        message: InboundMessage,
        claim: Claim,
        profile: Profile | None,
        completion: Completion,
        *,
        now: int,
        ttl_days: int,
        sqs_message_id: str = "",
    ) -> None:
        fault = self._enter("complete_inbound")
        key = self._claim_id(message)
        token = hashlib.sha256(f"{key}|{claim.token}|{sqs_message_id}".encode()).hexdigest()[:36]
        fingerprint = repr((message, claim.token, profile, completion, now, ttl_days, sqs_message_id))
        if token in self.commit_tokens:
            # DynamoDB's idempotent TransactWriteItems: the same token replays as a success.
            if self.commit_tokens[token] != fingerprint:
                raise StoreError("DynamoDB TransactWriteItems failed: IdempotentParameterMismatchException")
            if completion.edit_of:  # the adapter applies the edit after any successful answer
                self._apply_edit(self._pk(message), completion.edit_of, message, now)
            self._leave(fault, "complete_inbound")
            return
        pk = self._pk(message)
        old_claim = self.claims.get(key)
        old_profile = self.items.get((pk, PROFILE_SK))
        claim_ok = _claimable(old_claim, now=now, sqs_message_id=sqs_message_id or "-", token=claim.token or "-")
        if profile is None:
            profile_ok = True
        elif profile.version:
            profile_ok = old_profile is not None and old_profile.get("version") == profile.version
        else:
            profile_ok = old_profile is None
        if not (claim_ok and profile_ok):
            raise ConcurrentUpdate("inbound claim or profile version changed under us")
        ttl = now + ttl_days * DAY
        done = {k: v for k, v in (old_claim or {"id": key}).items() if k not in _CLAIM_CONTENT}
        done.update(status="done", completed_at=now)
        done.setdefault("expiration", now + DEDUP_TTL_FLOOR_DAYS * DAY)
        self.claims[key] = _stored(done)
        replied_with = [o.provider_message_id for o in completion.outbound]
        self._put(_inbound_item(message, pk, completion, replied_with, now, ttl))
        for record in completion.outbound:
            written = _outbound_item(message, pk, record, now, ttl)
            earlier = self.items.get((written["PK"], written["SK"])) or {}  # a status that came first (the adapter's Update)
            self._put({**earlier, **written, **{k: earlier[k] for k in OUTBOUND_STATUS_ATTRIBUTES if k in earlier}})
        for session in (completion.closed_session, completion.session):
            if session is not None:
                self._put(_session_item(message, pk, session, ttl))
        if profile is not None:
            self._put(_profile_after(message, pk, old_profile, profile, completion, ttl))
        self.commit_tokens[token] = fingerprint
        if completion.edit_of:
            self._apply_edit(pk, completion.edit_of, message, now)
        self._leave(fault, "complete_inbound")

    def _apply_edit(self, pk: str, original_id: str, message: InboundMessage, now: int) -> None:
        original = self.items.get((pk, inbound_sk(original_id)))
        if original is None:
            return  # the adapter's condition (attribute_exists(PK)) fails, suppressed
        edited = {
            **original,
            "edited_text": message.text or "",
            "edited_at": message.timestamp or now,
            "edits": int(original.get("edits", 0)) + 1,
        }
        self._put(edited)

    # --- statuses, conversation state, sessions ------------------------------------------------

    def record_status(self, status: StatusUpdate, *, ours: bool = False, now: int = 0, ttl_days: int = 0) -> StatusWrite:
        fault = self._enter("record_status")
        pk, sk = contact_pk(str(status.tenant_id), status.contact.contact_id), outbound_sk(status.provider_message_id)
        item = self.items.get((pk, sk))
        stale = item is not None and "status_rank" in item and not item["status_rank"] < status.status.rank
        if stale or (not ours and (item is None or "status_rank" not in item)):
            self._leave(fault, "record_status")
            return StatusWrite.NOT_RECORDED
        changes: dict[str, Any] = {"status": status.status.value, "status_rank": status.status.rank, "status_at": status.timestamp}
        if status.error_code is not None:
            changes["error_code"] = status.error_code
        if status.error_title:
            changes["error_title"] = status.error_title
        base = item or {"PK": pk, "SK": sk}
        if ours:
            changes["ttl"] = base.get("ttl", now + ttl_days * DAY)
        self._put({**base, **changes})
        self._leave(fault, "record_status")
        return StatusWrite.AHEAD_OF_COMMIT if ours and "sent_at" not in base else StatusWrite.RECORDED

    def set_conversation(self, tenant_id: str, contact_id: str, conversation: Conversation) -> None:
        fault = self._enter("set_conversation")
        pk = contact_pk(tenant_id, contact_id)
        item = dict(self.items.get((pk, PROFILE_SK)) or {"PK": pk, "SK": PROFILE_SK})
        item.update(conversation=conversation.to_item(), version=int(item.get("version", 0)) + 1, entity="profile", contact_id=contact_id)
        self._put(item)
        self._leave(fault, "set_conversation")

    def sessions(self, tenant_id: str, contact_id: str) -> list[Session]:
        from atende.domain.conversation import Session

        fault = self._enter("sessions")
        self._leave(fault, "sessions")
        items = [i for i in self.contact_items(tenant_id, contact_id) if i["SK"].startswith(SESSION_PREFIX)]
        return [s for s in (Session.from_item(i) for i in items) if s is not None]

    # --- helpers -------------------------------------------------------------------------------

    def _put(self, item: dict[str, Any]) -> None:
        self.items[(item["PK"], item["SK"])] = _stored(item)

    @staticmethod
    def _claim_id(message: InboundMessage) -> str:
        return claim_id(str(message.tenant_id), message.provider.value, message.provider_message_id)

    @staticmethod
    def _pk(message: InboundMessage) -> str:
        return contact_pk(str(message.tenant_id), message.contact.contact_id)


def _claimable(item: dict[str, Any] | None, *, now: int, sqs_message_id: str, token: str) -> bool:
    """``_CLAIMABLE``, as DynamoDB evaluates it (a comparison with a missing attribute is false)."""
    if item is None:
        return True  # attribute_not_exists(id)
    if item.get("status") in (None, "done"):
        return False
    lease = item.get("lease_until")
    return lease is None or lease < now or item.get("sqs_message_id") == sqs_message_id or item.get("claim_token") == token


def _profile_after(
    message: InboundMessage, pk: str, old: dict[str, Any] | None, profile: Profile, completion: Completion, ttl: int
) -> dict[str, Any]:
    """The profile item after the commit's UpdateItem (``ConversationStore._profile_update``)."""
    contact = message.contact
    item = dict(old or {"PK": pk, "SK": PROFILE_SK})
    item.update(
        last_inbound_at=max(message.timestamp, profile.last_inbound_at or 0),
        version=profile.version + 1,
        ttl=ttl,
        entity="profile",
        contact_id=contact.contact_id,
    )
    for attr, value in (("wa_id", contact.wa_id), ("user_id", contact.user_id), ("profile_name", contact.name), ("jid", contact.jid)):
        if value:
            item[attr] = value
    optional: dict[str, Any] = {
        "memory": [t.to_item() for t in completion.memory] if completion.memory is not None else None,
        "last_bill": completion.bill,
        "pending": [t.to_item() for t in completion.pending] if completion.pending is not None else None,
        "session": completion.session.to_item() if completion.session is not None else None,
        "conversation": completion.conversation.to_item() if completion.conversation is not None else None,
        "flood": completion.flood.to_item() if completion.flood is not None else None,
        "pending_action": completion.action,
        "offered_choices": list(completion.choices) if completion.choices is not None else None,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


# --- messenger -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One ``send_text`` call. ``delivered``: it reached the customer (even if its answer was lost)."""

    to: str
    body: str
    callback_data: str | None
    reply_to: str | None
    message_id: str | None  # the provider's id (also for a send that went out but whose answer was lost)
    delivered: bool


class FakeMessenger:
    """A provider client: records every send; failures are scripted per call."""

    def __init__(self, *, id_prefix: str = "wamid.HBgNNTUxMTQwMDI4OTIyFQIAERgSOUT") -> None:
        self.id_prefix = id_prefix
        self.sends: list[Send] = []
        self.acknowledged: list[str] = []  # provider message ids marked as read
        self.channels: list[str] = []  # channel ids the factory was asked for
        self._script: deque[tuple[Exception, bool] | None] = deque()
        self._ack_errors: deque[Exception] = deque()
        self._ids = itertools.count(1)

    def for_channel(self, channel: Channel) -> FakeMessenger:
        """The ``MessengerFactory``."""
        self.channels.append(channel.channel_id)
        return self

    def fail_next(self, error: Exception, *, went_out: bool = False, after: int = 0) -> None:
        """After ``after`` more successful sends, one send raises ``error``.

        ``went_out``: the provider took the message (the customer gets it) and only its answer
        was lost: the way ``SendOutcomeUnknown`` usually happens.
        """
        self._script.extend([None] * after)
        self._script.append((error, went_out))

    def fail_acknowledge(self, error: Exception) -> None:
        self._ack_errors.append(error)

    @property
    def delivered(self) -> list[Send]:
        """What the customer received, in order."""
        return [s for s in self.sends if s.delivered]

    @property
    def texts(self) -> list[str]:
        return [s.body for s in self.delivered]

    def acknowledge(self, message: InboundMessage) -> None:
        if self._ack_errors:
            raise self._ack_errors.popleft()
        self.acknowledged.append(message.provider_message_id)

    def send_text(self, to: str, body: str, *, reply_to: str | None = None, callback_data: str | None = None) -> SentMessage:
        step = self._script.popleft() if self._script else None
        message_id = f"{self.id_prefix}{next(self._ids):03d}AA=="
        if step is None:
            self.sends.append(Send(to, body, callback_data, reply_to, message_id, delivered=True))
            return SentMessage(message_id=message_id)
        error, went_out = step
        self.sends.append(Send(to, body, callback_data, reply_to, message_id if went_out else None, delivered=went_out))
        raise error


# --- chat model --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelCall:
    system: str
    turns: tuple[Turn, ...]


DEFAULT_ANSWER = "Abrimos aos domingos das 7h às 12h. 🥐"


class ScriptedChatModel:
    """A ``ChatModel``: queued answers or errors, then a default answer; records every call."""

    def __init__(
        self,
        *,
        provider: str = "openai",
        model: str = "gpt-4.1-mini",
        default: str = DEFAULT_ANSWER,
        input_tokens: int = 1200,
        output_tokens: int = 80,
    ) -> None:
        self.provider = provider
        self.model = model
        self.default = default
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.calls: list[ModelCall] = []
        self.built_for: list[str] = []  # tenant ids the factory was asked for
        self._script: deque[ChatCompletion | Exception] = deque()

    def for_tenant(self, tenant: Tenant) -> ScriptedChatModel:
        """The ``ModelFactory``."""
        self.built_for.append(tenant.tenant_id)
        return self

    def answer(self, text: str, *, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        self._script.append(
            ChatCompletion(
                text,
                self.provider,
                self.model,
                self.input_tokens if input_tokens is None else input_tokens,
                self.output_tokens if output_tokens is None else output_tokens,
            )
        )

    def fail_next(self, error: Exception, times: int = 1) -> None:
        self._script.extend([error] * times)

    def fail_always(self, error: Exception) -> None:
        self.fail_next(error, times=100)

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        self.calls.append(ModelCall(system_prompt, tuple(turns)))
        step = self._script.popleft() if self._script else None
        if isinstance(step, Exception):
            raise step
        return step or ChatCompletion(self.default, self.provider, self.model, self.input_tokens, self.output_tokens)


# --- directory, media --------------------------------------------------------------------------------


class FakeDirectory:
    """Tenants and their channels (``Directory``)."""

    def __init__(self, *entries: Tenant | Channel) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.channels: dict[str, Channel] = {}
        self.lookups: Counter[str] = Counter()
        self.add(*entries)

    def add(self, *entries: Tenant | Channel) -> None:
        from atende.domain.tenants import Tenant

        for entry in entries:
            if isinstance(entry, Tenant):
                self.tenants[entry.tenant_id] = entry
            else:
                self.channels[entry.channel_id] = entry

    def tenant(self, tenant_id: str) -> Tenant | None:
        self.lookups["tenant"] += 1
        return self.tenants.get(tenant_id)

    def channel_by_id(self, channel_id: str) -> Channel | None:
        self.lookups["channel"] += 1
        return self.channels.get(channel_id)


@dataclass(frozen=True, slots=True)
class MediaRead:
    provider_message_id: str
    tenant_id: str
    source: MediaSource | None


class FakeMediaReader:
    """A ``MediaReaderPort``: queued readings or errors; records each read."""

    def __init__(self, *readings: MediaReading) -> None:
        self.reads: list[MediaRead] = []
        self._script: deque[MediaReading | Exception] = deque(readings)

    def then(self, step: MediaReading | Exception) -> None:
        self._script.append(step)

    def read(self, message: InboundMessage, tenant: Tenant, source: MediaSource | None, chat: Callable[[], ChatModel]) -> MediaReading:
        self.reads.append(MediaRead(message.provider_message_id, tenant.tenant_id, source))
        if not self._script:
            raise AssertionError("FakeMediaReader: no reading scripted for this message")
        step = self._script.popleft()
        if isinstance(step, Exception):
            raise step
        return step


@dataclass
class FakeMediaSources:
    """A ``MediaSourceFactory`` handing out one opaque source (the fake reader never fetches)."""

    source: Any = field(default_factory=object)
    asked: list[str] = field(default_factory=list)

    def __call__(self, channel: Channel, messenger: Any) -> Any:
        self.asked.append(channel.channel_id)
        return self.source


# --- clock and wiring --------------------------------------------------------------------------------


class FixedClock:
    """The service's ``clock``: stands still until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = float(now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wire_reply_service(
    *,
    directory: FakeDirectory,
    store: InMemoryConversations,
    messenger: FakeMessenger,
    chat: Any,
    clock: FixedClock,
    media: FakeMediaReader | None = None,
    media_sources: FakeMediaSources | None = None,
    claim_lease_seconds: int = 300,
    dedup_ttl_days: int = 8,
    prices: Any = None,
    tools: Any = None,
) -> ReplyService:
    """The composition root of the processor, with every port faked."""
    from atende.service.replies import ReplyPolicy, ReplyService

    return ReplyService(
        directory=directory,
        conversations=store,
        messenger_for=messenger.for_channel,
        model_for=chat.for_tenant,
        policy=ReplyPolicy(claim_lease_seconds=claim_lease_seconds, dedup_ttl_days=dedup_ttl_days),
        media=media,
        media_source_for=media_sources,
        clock=clock,
        prices=prices,
        tools=tools,
    )


__all__ = [
    "DEFAULT_ANSWER",
    "OPERATIONS",
    "FakeDirectory",
    "FakeMediaReader",
    "FakeMediaSources",
    "FakeMessenger",
    "FixedClock",
    "InMemoryConversations",
    "ModelCall",
    "ScriptedChatModel",
    "Send",
    "wire_reply_service",
]
