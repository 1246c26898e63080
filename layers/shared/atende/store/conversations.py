"""Per-contact state: inbound claims, profile + bounded memory, outbound messages and statuses.

Two tables (see docs/data-model.md):
- the idempotency table holds one claim per provider message id (TTL ≥ 7 days, no content once
  completed), so the redelivery guard survives an erasure of the contact's data;
- the main table holds the contact's partition: profile (memory, 24 h window), inbound and
  outbound messages with their provider ids and delivery statuses.

Round trips per answered text message: the snapshot (one BatchGetItem: claim + profile), the
claim with the reply checkpointed (UpdateItem, before anything is sent) and the commit
(TransactWriteItems across both tables) — three. Multi-part replies add one checkpoint per part
so a retry never re-sends a part that already went out; media messages claim before the
download and checkpoint the reading.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.domain.conversation import Conversation, FloodWindow, ModelUsage, Session, Turn
from atende.domain.messages import ContactRef, RoutedMessage, StatusUpdate
from atende.errors import ConcurrentUpdate, StoreError
from atende.store import aws
from atende.store.dynamo import error_code, from_attrs, store_error, to_attrs
from atende.store.keys import PROFILE_SK, SESSION_PREFIX, contact_pk, inbound_sk, outbound_sk, session_sk

DAY = 86400
# A claim item first written by the commit (messages answered without a reply checkpoint: silent,
# merged into a burst, a human in charge) keeps the redelivery guard this long.
DEDUP_TTL_FLOOR_DAYS = 8
UNDERSTOOD_MAX_CHARS = 4_000


class ClaimState(StrEnum):
    NEW = "new"  # first time we see this provider message id
    RESUMED = "resumed"  # an earlier attempt failed or crashed (or it is our own lost write)
    DUPLICATE = "duplicate"  # already answered: a provider redelivery, an SQS duplicate or a redrive
    IN_FLIGHT = "in_flight"  # another delivery holds a live lease


class StatusWrite(StrEnum):
    RECORDED = "recorded"  # on the committed outbound message
    AHEAD_OF_COMMIT = "ahead_of_commit"  # one of our sends whose commit has not landed: kept for it
    NOT_RECORDED = "not_recorded"  # a message Atende did not send, or a lower rank than the stored one


class PartKind(StrEnum):
    REPLY = "reply"  # the assistant's answer
    APOLOGY = "apology"  # the model failed on the last attempt
    NOTICE = "notice"  # a fixed text instead of an answer (unsupported type, media refused)
    ECHO = "echo"  # the transcript echo leading an answer to a voice note (NOTICE leads one whose file was not read)
    OUT_OF_HOURS = "out_of_hours"  # the once-per-session out-of-hours message
    FLOOD = "flood"  # the flood-limit notice

    @classmethod
    def _missing_(cls, value: object) -> PartKind:
        return cls.REPLY  # a kind this version does not know (a newer writer's) resumes as an answer


@dataclass(frozen=True, slots=True)
class Claim:
    """This delivery's hold on one inbound message id, and what earlier attempts checkpointed."""

    state: ClaimState
    token: str = ""
    written: bool = False  # False until the conditional write: text messages claim with their reply
    reply_parts: tuple[str, ...] = ()  # checkpointed reply, reused on resume (never regenerated)
    sent_ids: tuple[str, ...] = ()  # provider ids of the parts already delivered
    reply_kind: PartKind = PartKind.REPLY  # of the checkpointed parts after the lead
    reply_lead: int = 0  # leading parts that are not the answer itself (echo, media notice)
    lead_kind: PartKind = PartKind.ECHO
    media: dict[str, Any] | None = None  # checkpointed MediaReading (service.media), reused on resume
    usage: dict[str, Any] | None = None  # the checkpointed reply's LLM usage (per model), for the commit
    attempts: int = 0  # real attempts so far (deliveries that did work, not deferrals or drags)
    confirmed: dict[int, str] = field(default_factory=dict)  # part → provider id, from status webhooks
    lease_until: int = 0
    # The agent loop's checkpoint: model steps and tool outputs so far (service.agent), and the
    # turn's effects once decided (a pending action, a handoff), so a retry repeats none of them.
    agent: tuple[dict[str, Any], ...] = ()

    @property
    def has_reply(self) -> bool:
        return bool(self.reply_parts)


@dataclass(frozen=True, slots=True)
class Profile:
    memory: tuple[Turn, ...] = ()
    last_inbound_at: int | None = None
    version: int = 0
    # The latest electricity bill read from this contact's images (understanding.bill_to_item's
    # map; ``bill_from_item`` gives the typed BillExtraction back).
    last_bill: dict[str, Any] | None = None
    conversation: Conversation = field(default_factory=Conversation)
    session: Session | None = None
    flood: FloodWindow = field(default_factory=FloodWindow)
    # Earlier messages of a burst, read together with the message that answers them.
    pending: tuple[Turn, ...] = ()
    # A write a tool previewed, waiting for the customer's confirmation (domain.actions.PendingAction's item).
    action: dict[str, Any] | None = None
    # The options the last answer offered (titles, in order): the next message may pick one.
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one round trip tells the pipeline: the claim (idempotency table) and the profile."""

    claim: dict[str, Any] | None
    profile: Profile


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    provider_message_id: str
    text: str
    kind: PartKind = PartKind.REPLY


@dataclass(frozen=True, slots=True)
class Completion:
    outcome: str  # a service.pipeline.Outcome value
    outbound: Sequence[OutboundRecord] = ()
    memory: Sequence[Turn] | None = None  # new memory; None = leave the profile's memory alone
    media: dict[str, Any] | None = None  # inbound-item attributes from a MediaReading (key, size, …)
    bill: dict[str, Any] | None = None  # an electricity bill read from an image: the profile's last_bill
    understood: str | None = None  # what the assistant read for this message (≤ 4,000 chars)
    usage: dict[str, ModelUsage] = field(default_factory=dict)  # this message's LLM usage per model
    pending: Sequence[Turn] | None = None  # the profile's burst turns; None = unchanged
    session: Session | None = None  # the session after this message; None = profile has none to update
    closed_session: Session | None = None  # the previous session, closed by inactivity
    conversation: Conversation | None = None  # new conversation state; None = unchanged
    flood: FloodWindow | None = None
    edit_of: str | None = None  # an EDIT: the provider id of the message it changes
    action: dict[str, Any] | None = None  # the profile's pending action: a PendingAction item, {} = none; None = unchanged
    tools: Sequence[str] = ()  # the tools this message's answer used (names, for the console and analytics)
    choices: Sequence[str] | None = None  # the options offered (the profile's offered_choices), [] = none; None = unchanged


def claim_key(message: RoutedMessage) -> dict[str, str]:
    return {"id": f"{message.tenant_id}#{message.provider.value}#{message.provider_message_id}"}


def claim_id(tenant_id: str, provider: str, provider_message_id: str) -> str:
    return f"{tenant_id}#{provider}#{provider_message_id}"


# The claim condition: new, or not done and (lease expired, or held by this same SQS message — a
# crashed earlier delivery of it, or our own write whose answer was lost and botocore retried).
_CLAIMABLE = (
    "attribute_not_exists(id) OR (#status <> :done AND "
    "(attribute_not_exists(lease_until) OR lease_until < :now OR sqs_message_id = :sqs OR claim_token = :token))"
)


def read_claim(item: dict[str, Any] | None, *, now: int, sqs_message_id: str) -> Claim:
    """What a claim item means for this delivery (pure: the pipeline's claim step decides with it)."""
    if not item:
        return Claim(ClaimState.NEW)
    attempts = len(item.get("attempt_ids") or ())
    if item.get("status") == "done":
        return Claim(ClaimState.DUPLICATE, attempts=attempts)
    lease = int(item.get("lease_until", 0))
    if lease >= now and item.get("sqs_message_id") not in (None, sqs_message_id):
        return Claim(ClaimState.IN_FLIGHT, attempts=attempts, lease_until=lease)
    return Claim(
        ClaimState.RESUMED if item.get("status") in ("claimed", "replying") else ClaimState.NEW,
        reply_parts=tuple(item.get("reply_parts") or ()),
        sent_ids=tuple(item.get("sent_ids") or ()),
        reply_kind=PartKind(item.get("reply_kind") or "reply"),
        reply_lead=int(item.get("reply_lead", 0)),
        lead_kind=PartKind(item.get("lead_kind") or "echo"),
        media=item.get("media"),
        usage=item.get("llm_usage"),
        attempts=attempts,
        confirmed={int(k): str(v) for k, v in (item.get("confirmed") or {}).items()},
        lease_until=lease,
        agent=tuple(item.get("agent_steps") or ()),
    )


class ConversationStore:
    def __init__(self, table_name: str, idempotency_table_name: str, *, client: Any | None = None) -> None:
        self._table = table_name
        self._claims = idempotency_table_name
        self._client = client

    @property
    def _ddb(self) -> Any:
        return self._client or aws.client("dynamodb")

    # --- the read: one round trip ----------------------------------------------------------

    def snapshot(self, message: RoutedMessage) -> Snapshot:
        """The message's claim and the contact's profile in one BatchGetItem (both consistent)."""
        pk = contact_pk(message.tenant_id, message.contact.contact_id)
        profile_key = to_attrs({"PK": pk, "SK": PROFILE_SK})
        request: dict[str, Any] = {
            self._claims: {"Keys": [to_attrs(claim_key(message))], "ConsistentRead": True},
            self._table: {"Keys": [profile_key], "ConsistentRead": True},
        }
        found: dict[str, dict[str, Any]] = {}
        for _ in range(5):  # unprocessed keys (throttling) are retried a few times, then it is transient
            try:
                response = self._ddb.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise store_error(exc, "BatchGetItem") from exc
            for table, items in response.get("Responses", {}).items():
                for item in items:
                    found[table] = from_attrs(item)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise StoreError("DynamoDB BatchGetItem left keys unprocessed")
        return Snapshot(claim=found.get(self._claims), profile=profile_from_item(found.get(self._table)))

    def load_profile(self, tenant_id: str, contact_id: str) -> Profile:
        try:
            response = self._ddb.get_item(
                TableName=self._table, Key=to_attrs({"PK": contact_pk(tenant_id, contact_id), "SK": PROFILE_SK}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        return profile_from_item(from_attrs(response.get("Item")))

    # --- the claim -------------------------------------------------------------------------

    def claim(
        self,
        message: RoutedMessage,
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
        """Atomically claim a provider message id (one conditional UpdateItem): the exactly-once guard.

        Succeeds when the id is new, when an earlier attempt's lease expired or was released, or
        when the holder is this same SQS message (its crashed earlier delivery, or this very write
        retried by botocore after its answer was lost). ``reply`` checkpoints the reply in the same
        write, before anything is sent, so a retry never regenerates it.
        """
        token = secrets.token_hex(8)
        # No SQS message id (a local invoke): one that matches no other delivery.
        sqs_message_id = sqs_message_id or f"none-{token}"
        sets = [
            "#status = :status",
            "lease_until = :lease",
            "claim_token = :token",
            "sqs_message_id = :sqs",
            "first_claimed_at = if_not_exists(first_claimed_at, :now)",
            "expiration = :expiration",
        ]
        values: dict[str, Any] = {
            ":status": "replying" if reply else "claimed",
            ":done": "done",
            ":now": now,
            ":lease": now + lease_seconds,
            ":token": token,
            ":sqs": sqs_message_id,
            ":attempt": {attempt_id},
            ":expiration": now + ttl_days * DAY,
        }
        if reply is not None:
            parts, kind, lead, lead_kind, usage = reply
            sets += ["reply_parts = :parts", "sent_ids = :sent", "reply_kind = :kind", "reply_lead = :lead", "lead_kind = :lead_kind"]
            values.update({":parts": list(parts), ":sent": [], ":kind": kind.value, ":lead": lead, ":lead_kind": lead_kind.value})
            if usage:
                sets.append("llm_usage = :usage")
                values[":usage"] = usage
        if agent:
            sets.append("agent_steps = :agent")
            values[":agent"] = list(agent)
        try:
            self._ddb.update_item(
                TableName=self._claims,
                Key=to_attrs(claim_key(message)),
                UpdateExpression="SET " + ", ".join(sets) + " ADD attempt_ids :attempt",
                ConditionExpression=_CLAIMABLE,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs(values),
                # The snapshot told us the rest of the item: nothing to read back (less to parse).
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise store_error(exc, "UpdateItem") from exc
            returned: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            old = from_attrs(returned) or self._get_claim(message)
            lease = int(old.get("lease_until", 0))
            state = ClaimState.DUPLICATE if old.get("status") == "done" else ClaimState.IN_FLIGHT
            return Claim(state, attempts=len(old.get("attempt_ids") or ()), lease_until=lease)
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        claimed = replace(previous, token=token, written=True, lease_until=now + lease_seconds, attempts=previous.attempts + 1)
        if agent:
            claimed = replace(claimed, agent=tuple(agent))
        if reply is not None:
            parts, kind, lead, lead_kind, usage = reply
            claimed = replace(
                claimed, reply_parts=tuple(parts), sent_ids=(), reply_kind=kind, reply_lead=lead, lead_kind=lead_kind, usage=usage
            )
        return claimed

    def note_attempt(self, message: RoutedMessage, *, attempt_id: str, now: int, ttl_days: int) -> None:
        """Count a real attempt that failed before claiming (a text message's model failure), best effort."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self._ddb.update_item(
                TableName=self._claims,
                Key=to_attrs(claim_key(message)),
                UpdateExpression="SET #status = if_not_exists(#status, :attempted), expiration = if_not_exists(expiration, :expiration) "
                "ADD attempt_ids :attempt",
                ConditionExpression="attribute_not_exists(id) OR #status <> :done",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs(
                    {":attempted": "attempted", ":expiration": now + ttl_days * DAY, ":attempt": {attempt_id}, ":done": "done"}
                ),
            )

    def release_claim(self, message: RoutedMessage, claim: Claim) -> None:
        """Give the lease back after a failure so SQS's retry is not turned away as in-flight."""
        if not claim.written:
            return
        with contextlib.suppress(ClientError, BotoCoreError):  # best effort: the lease expires on its own
            self._ddb.update_item(
                TableName=self._claims,
                Key=to_attrs(claim_key(message)),
                UpdateExpression="SET lease_until = :zero",
                ConditionExpression="claim_token = :token AND #status <> :done",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs({":zero": 0, ":token": claim.token, ":done": "done"}),
            )

    def checkpoint_reply(
        self,
        message: RoutedMessage,
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
        """Record the reply and the parts already sent, so no retry regenerates or re-sends them."""
        update = "SET #status = :replying, reply_parts = :parts, sent_ids = :sent, reply_kind = :kind, reply_lead = :lead, lead_kind = :lk"
        values: dict[str, Any] = {
            ":replying": "replying",
            ":parts": list(parts),
            ":sent": list(sent_ids),
            ":kind": kind.value,
            ":lead": lead,
            ":lk": lead_kind.value,
            ":token": claim.token,
        }
        if usage:
            update += ", llm_usage = :usage"
            values[":usage"] = usage
        if agent:
            update += ", agent_steps = :agent"
            values[":agent"] = list(agent)
        self._update_claim(message, update, values)
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

    def checkpoint_agent(self, message: RoutedMessage, claim: Claim, agent: Sequence[dict[str, Any]]) -> Claim:
        """Record the agent loop's steps so far (one UpdateItem per tool step after the first)."""
        self._update_claim(message, "SET agent_steps = :agent", {":agent": list(agent), ":token": claim.token})
        return replace(claim, agent=tuple(agent))

    def checkpoint_media(self, message: RoutedMessage, claim: Claim, media: dict[str, Any]) -> Claim:
        """Record what a media message amounted to, so no retry downloads or transcribes it again."""
        self._update_claim(message, "SET media = :media", {":media": media, ":token": claim.token})
        return replace(claim, media=media)

    def _update_claim(self, message: RoutedMessage, update: str, values: dict[str, Any]) -> None:
        try:
            self._ddb.update_item(
                TableName=self._claims,
                Key=to_attrs(claim_key(message)),
                UpdateExpression=update,
                # Never on a done claim: a commit applied but unacknowledged must stay done (and empty).
                ConditionExpression="claim_token = :token AND #status <> :done",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs({**values, ":done": "done"}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate("lost the claim on an inbound message while replying") from exc
            raise store_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc

    def _get_claim(self, message: RoutedMessage) -> dict[str, Any]:
        try:
            response = self._ddb.get_item(TableName=self._claims, Key=to_attrs(claim_key(message)), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        return from_attrs(response.get("Item"))

    def confirm_send(self, tenant_id: str, status: StatusUpdate, inbound_id: str, part: int) -> bool:
        """A status webhook names one of our sends (Meta's callback data): note it on the open claim.

        A retry of that message then knows the part went out even though the send's HTTP answer
        was lost, and does not send it again. False when the claim is done or unknown.
        """
        key = to_attrs({"id": claim_id(tenant_id, status.provider.value, inbound_id)})
        return self._update_if(
            TableName=self._claims,
            Key=key,
            UpdateExpression="SET confirmed.#part = :id",
            ConditionExpression="attribute_exists(id) AND #status <> :done AND attribute_exists(confirmed)",
            ExpressionAttributeNames={"#status": "status", "#part": str(part)},
            ExpressionAttributeValues=to_attrs({":id": status.provider_message_id, ":done": "done"}),
        ) or self._confirm_first(tenant_id, status, inbound_id, part)

    def _confirm_first(self, tenant_id: str, status: StatusUpdate, inbound_id: str, part: int) -> bool:
        return self._update_if(
            TableName=self._claims,
            Key=to_attrs({"id": claim_id(tenant_id, status.provider.value, inbound_id)}),
            UpdateExpression="SET confirmed = :confirmed",
            ConditionExpression="attribute_exists(id) AND #status <> :done AND attribute_not_exists(confirmed)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_attrs({":confirmed": {str(part): status.provider_message_id}, ":done": "done"}),
        )

    def _update_if(self, **request: Any) -> bool:
        """One conditional UpdateItem: False when its condition does not hold, store errors raised."""
        try:
            self._ddb.update_item(**request)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise store_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        return True

    # --- commit --------------------------------------------------------------------------

    def complete_inbound(
        self,
        message: RoutedMessage,
        claim: Claim,
        profile: Profile | None,
        completion: Completion,
        *,
        now: int,
        ttl_days: int,
        sqs_message_id: str = "",
    ) -> None:
        """One idempotent transaction: claim → done, inbound + outbound messages, profile, session.

        ``ClientRequestToken`` makes a retry of an applied-but-unacknowledged commit (botocore
        retries timeouts) a no-op instead of a second application.
        """
        pk = contact_pk(message.tenant_id, message.contact.contact_id)
        ttl = now + ttl_days * DAY
        replied_with = [o.provider_message_id for o in completion.outbound]
        key = claim_key(message)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._claims,
                    "Key": to_attrs(key),
                    # The checkpointed reply text is dropped: a completed claim holds no content.
                    "UpdateExpression": (
                        "SET #status = :done, completed_at = :now, expiration = if_not_exists(expiration, :expiration) "
                        "REMOVE reply_parts, sent_ids, reply_kind, reply_lead, lead_kind, media, llm_usage, confirmed, agent_steps, "
                        "lease_until"
                    ),
                    "ConditionExpression": _CLAIMABLE,
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_attrs(
                        {
                            ":done": "done",
                            ":now": now,
                            ":token": claim.token or "-",
                            ":sqs": sqs_message_id or "-",
                            ":expiration": now + DEDUP_TTL_FLOOR_DAYS * DAY,
                        }
                    ),
                }
            },
            {"Put": {"TableName": self._table, "Item": to_attrs(_inbound_item(message, pk, completion, replied_with, now, ttl))}},
        ]
        for record in completion.outbound:
            items.append({"Update": _outbound_update(self._table, message, pk, record, now, ttl)})
        # The open session's running figures live on the profile (updated below anyway); its own
        # item is written when it opens and when it ends, so a message does not pay for it twice.
        opened = completion.session if completion.session is not None and completion.session.messages_in <= 1 else None
        for session in (completion.closed_session, opened):
            if session is not None:
                items.append({"Put": {"TableName": self._table, "Item": to_attrs(_session_item(message, pk, session, ttl))}})
        if profile is not None:
            items.append({"Update": self._profile_update(message.contact, pk, profile, completion, message.timestamp, ttl)})
        if completion.edit_of:
            # Before the commit, idempotent: a retry after a lost commit answer finds the claim done.
            self._apply_edit(pk, completion.edit_of, message, now)
        token = hashlib.sha256(f"{key['id']}|{claim.token}|{sqs_message_id}".encode()).hexdigest()[:36]
        try:
            self._ddb.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise ConcurrentUpdate("inbound claim or profile version changed under us") from exc
            raise store_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "TransactWriteItems") from exc

    def _apply_edit(self, pk: str, original_id: str, message: RoutedMessage, now: int) -> None:
        """An edit changes the stored message it edits (when it is still stored); best effort."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs({"PK": pk, "SK": inbound_sk(original_id)}),
                # The latest edit wins (edits can arrive out of order on redelivery): no counter.
                UpdateExpression="SET edited_text = :text, edited_at = :at, edited_by = :edit",
                ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(edited_at) OR edited_at <= :at)",
                ExpressionAttributeValues=to_attrs(
                    {":text": message.text or "", ":at": message.timestamp or now, ":edit": message.provider_message_id}
                ),
            )

    def _profile_update(
        self, contact: ContactRef, pk: str, profile: Profile, completion: Completion, inbound_at: int, ttl: int
    ) -> dict[str, Any]:
        sets = ["last_inbound_at = :inbound", "version = :next", "#ttl = :ttl", "entity = :entity", "contact_id = :cid"]
        values: dict[str, Any] = {
            ":inbound": max(inbound_at, profile.last_inbound_at or 0),
            ":next": profile.version + 1,
            ":ttl": ttl,
            ":entity": "profile",
            ":cid": contact.contact_id,
        }
        # Reply addresses live only here (and in queue bodies): keys and logs use contact_id.
        for attr, value in (("wa_id", contact.wa_id), ("user_id", contact.user_id), ("profile_name", contact.name), ("jid", contact.jid)):
            if value:
                sets.append(f"{attr} = :{attr}")
                values[f":{attr}"] = value
        optional: dict[str, Any] = {
            "memory": [t.to_item() for t in completion.memory] if completion.memory is not None else None,
            # The latest electricity bill the contact sent, for the assistant's tools (solar quotes).
            "last_bill": completion.bill,
            "pending": [t.to_item() for t in completion.pending] if completion.pending is not None else None,
            "#session": completion.session.to_item() if completion.session is not None else None,
            "conversation": completion.conversation.to_item() if completion.conversation is not None else None,
            "flood": completion.flood.to_item() if completion.flood is not None else None,
            "pending_action": completion.action,
            "offered_choices": list(completion.choices) if completion.choices is not None else None,
        }
        for attr, value in optional.items():
            if value is not None:
                placeholder = ":" + attr.lstrip("#")
                sets.append(f"{attr} = {placeholder}")
                values[placeholder] = value
        if profile.version:
            condition = "version = :expected"
            values[":expected"] = profile.version
        else:
            condition = "attribute_not_exists(PK)"
        names = {"#ttl": "ttl"}
        if completion.session is not None:
            names["#session"] = "session"
        return {
            "TableName": self._table,
            "Key": to_attrs({"PK": pk, "SK": PROFILE_SK}),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_attrs(values),
        }

    def set_conversation(self, tenant_id: str, contact_id: str, conversation: Conversation) -> None:
        """Change a contact's conversation state (tenant rules, admin CLI; the operator API later)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs({"PK": contact_pk(tenant_id, contact_id), "SK": PROFILE_SK}),
                UpdateExpression="SET conversation = :conversation, version = if_not_exists(version, :zero) + :one, "
                "entity = :entity, contact_id = :cid",
                ExpressionAttributeValues=to_attrs(
                    {":conversation": conversation.to_item(), ":zero": 0, ":one": 1, ":entity": "profile", ":cid": contact_id}
                ),
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "UpdateItem") from exc

    def sessions(self, tenant_id: str, contact_id: str) -> list[Session]:
        """A contact's sessions, oldest first: one Query on the contact's partition (never a Scan).

        The Query reads the profile and the session items together (``PROFILE`` sorts right
        before ``SESSION#``): the open session's running figures are the profile's.
        """
        items = self._query(contact_pk(tenant_id, contact_id), between=(PROFILE_SK, SESSION_PREFIX + "\uffff"))
        by_id: dict[str, Session] = {}
        for item in items:
            if item["SK"] == PROFILE_SK:
                continue
            session = Session.from_item(item)
            if session is not None:
                by_id[session.session_id] = session
        profile = next((i for i in items if i["SK"] == PROFILE_SK), None)
        current = Session.from_item(profile.get("session")) if profile else None
        if current is not None:
            by_id[current.session_id] = current
        return [by_id[k] for k in sorted(by_id)]

    # --- statuses ------------------------------------------------------------------------

    def record_status(self, status: StatusUpdate, *, ours: bool = False, now: int = 0, ttl_days: int = 0) -> StatusWrite:
        """Record a delivery status on the outbound message it refers to: one UpdateItem.

        Statuses arrive out of order (read before delivered); a lower rank never overwrites a
        higher one. A status that names one of our sends (``ours``: Meta echoed our callback data)
        may arrive before that send's commit wrote the message (the send's answer was lost, or the
        commit is just late): it is written anyway, as the message's first attributes, and the
        commit fills in the rest without touching them (``_outbound_update``), so the two commute
        however late the commit comes. A stub whose commit never comes expires after ``ttl_days``.
        Any other status (not ours: a message Atende may never have sent) is recorded only on a
        stored message.
        """
        values: dict[str, Any] = {":status": status.status.value, ":rank": status.status.rank, ":at": status.timestamp}
        sets = ["#status = :status", "status_rank = :rank", "status_at = :at"]
        if status.error_code is not None:
            sets.append("error_code = :code")
            values[":code"] = status.error_code
        if status.error_title:
            sets.append("error_title = :title")
            values[":title"] = status.error_title
        names = {"#status": "status"}
        if ours:
            sets.append("#ttl = if_not_exists(#ttl, :ttl)")
            names["#ttl"] = "ttl"
            values[":ttl"] = now + ttl_days * DAY
        condition = "attribute_not_exists(status_rank) OR status_rank < :rank" if ours else "attribute_exists(PK) AND status_rank < :rank"
        try:
            response = self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs(
                    {"PK": contact_pk(str(status.tenant_id), status.contact.contact_id), "SK": outbound_sk(status.provider_message_id)}
                ),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_attrs(values),
                ReturnValues="ALL_OLD" if ours else "NONE",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return StatusWrite.NOT_RECORDED
            raise store_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        if ours and "sent_at" not in (response.get("Attributes") or {}):
            return StatusWrite.AHEAD_OF_COMMIT
        return StatusWrite.RECORDED

    # --- reads ---------------------------------------------------------------------------

    def contact_items(self, tenant_id: str, contact_id: str) -> list[dict[str, Any]]:
        """Everything stored about one contact: one partition Query (export, erasure, tests)."""
        return self._query(contact_pk(tenant_id, contact_id))

    def _query(self, pk: str, *, between: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        condition = "PK = :pk AND SK BETWEEN :low AND :high" if between else "PK = :pk"
        bounds = {":low": between[0], ":high": between[1]} if between else {}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attrs({":pk": pk, **bounds}),
            "ConsistentRead": True,
        }
        while True:
            try:
                page = self._ddb.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise store_error(exc, "Query") from exc
            items.extend(from_attrs(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def profile_from_item(item: dict[str, Any] | None) -> Profile:
    item = item or {}
    return Profile(
        memory=tuple(Turn.from_item(t) for t in item.get("memory") or ()),
        last_inbound_at=item.get("last_inbound_at"),
        version=int(item.get("version", 0)),
        last_bill=item.get("last_bill"),
        conversation=Conversation.from_item(item.get("conversation")),
        session=Session.from_item(item.get("session")),
        flood=FloodWindow.from_item(item.get("flood")),
        pending=tuple(Turn.from_item(t) for t in item.get("pending") or ()),
        action=item.get("pending_action") or None,
        choices=tuple(str(c) for c in item.get("offered_choices") or ()),
    )


def _session_item(message: RoutedMessage, pk: str, session: Session, ttl: int) -> dict[str, Any]:
    return {
        "PK": pk,
        "SK": session_sk(session.session_id),
        "entity": "session",
        "channel_id": message.channel_id,
        "contact_id": message.contact.contact_id,
        **session.to_item(),
        "ttl": ttl,
    }


# Internal markers of the envelope that say nothing about what the customer sent.
_TRANSPORT_EXTRA = frozenset({"inline_media", "media_unavailable", "truncated"})


def _inbound_item(message: RoutedMessage, pk: str, completion: Completion, replied_with: list[str], now: int, ttl: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": pk,
        "SK": inbound_sk(message.provider_message_id),
        "entity": "inbound",
        "provider": message.provider.value,
        "channel_id": message.channel_id,
        "msg_type": message.type.value,
        "sent_at": message.timestamp,
        "processed_at": now,
        "outcome": completion.outcome,
        "replied_with": replied_with,
        "ttl": ttl,
    }
    optional = {
        "text": message.text,
        "context_id": message.context.message_id if message.context else None,
        "media_id": message.media.media_id if message.media else None,
        "media_mime_type": message.media.mime_type if message.media else None,
        "referral_source_id": message.referral.source_id if message.referral else None,
    }
    item.update({k: v for k, v in optional.items() if v})
    # What the customer sent, structured (a location, shared contacts, a reaction's emoji, an
    # order's items, an interactive reply's id): already bounded by InboundMessage.bounded().
    content = {k: v for k, v in message.extra.items() if k not in _TRANSPORT_EXTRA and v is not None and v != ""}
    if content:
        item["content"] = content
    if message.media and message.media.caption:
        item["caption"] = message.media.caption
    if completion.understood and completion.understood != message.text:  # a plain text is read as written
        item["understood"] = completion.understood[:UNDERSTOOD_MAX_CHARS]
    if completion.usage:
        item["llm"] = {model: u.to_item() for model, u in completion.usage.items()}
        item["cost_brl"] = sum((u.cost_brl for u in completion.usage.values()), start=ModelUsage().cost_brl)
    if completion.tools:
        item["tools"] = list(completion.tools)
    if completion.session is not None:
        item["session_id"] = completion.session.session_id
    if completion.media:
        item.update(completion.media)
    return item


def _outbound_item(message: RoutedMessage, pk: str, record: OutboundRecord, now: int, ttl: int) -> dict[str, Any]:
    return {
        "PK": pk,
        "SK": outbound_sk(record.provider_message_id),
        "entity": "outbound",
        "provider": message.provider.value,
        "channel_id": message.channel_id,
        "kind": record.kind.value,
        "text": record.text,
        "in_reply_to": message.provider_message_id,
        "sent_at": now,
        "status": "accepted",  # the provider accepted it; webhooks move it to sent/delivered/read
        "status_rank": 0,
        "ttl": ttl,
    }


# Written by the commit only when no status webhook got there first (record_status with ``ours``).
OUTBOUND_STATUS_ATTRIBUTES = frozenset({"status", "status_rank"})


def _outbound_update(table: str, message: RoutedMessage, pk: str, record: OutboundRecord, now: int, ttl: int) -> dict[str, Any]:
    """The commit's write of one sent message: an Update, not a Put, so a status that got there
    first keeps its status, rank and time; otherwise the message starts as "accepted"."""
    item = _outbound_item(message, pk, record, now, ttl)
    key = {"PK": item.pop("PK"), "SK": item.pop("SK")}
    names = {f"#a{i}": name for i, name in enumerate(item)}
    sets = [
        f"{alias} = if_not_exists({alias}, :v{i})" if name in OUTBOUND_STATUS_ATTRIBUTES else f"{alias} = :v{i}"
        for i, (alias, name) in enumerate(names.items())
    ]
    return {
        "TableName": table,
        "Key": to_attrs(key),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": to_attrs({f":v{i}": value for i, value in enumerate(item.values())}),
    }
