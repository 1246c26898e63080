"""Per-contact state: inbound claims, profile + bounded memory, outbound messages and statuses.

Two tables (see docs/data-model.md):
- the idempotency table holds one claim per provider message id (TTL ≥ 7 days, no content once
  completed), so the redelivery guard survives an erasure of the contact's data;
- the main table holds the contact's partition: profile (memory, 24 h window), inbound and
  outbound messages with their provider ids and delivery statuses.

Round trips per answered text message: claim (UpdateItem), profile (GetItem), commit
(TransactWriteItems across both tables) — three. Multi-part replies add one checkpoint per part
so a retry never re-sends a part that already went out.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.domain.conversation import Turn
from atende.domain.messages import ContactRef, InboundMessage, StatusUpdate
from atende.errors import ConcurrentUpdate
from atende.store import aws
from atende.store.dynamo import error_code, from_attrs, store_error, to_attrs
from atende.store.keys import PROFILE_SK, contact_pk, inbound_sk, outbound_sk

DAY = 86400


class ClaimState(StrEnum):
    NEW = "new"  # first time we see this provider message id
    RESUMED = "resumed"  # an earlier attempt failed or crashed and its lease has expired
    DUPLICATE = "duplicate"  # already answered: a provider redelivery or an SQS duplicate
    IN_FLIGHT = "in_flight"  # another invocation holds a live lease


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    token: str = ""
    reply_parts: tuple[str, ...] = ()  # checkpointed reply, reused on resume (never regenerated)
    sent_ids: tuple[str, ...] = ()  # provider ids of the parts already delivered
    reply_kind: str = "reply"  # reply | apology | notice, of the checkpointed parts
    reply_lead: int = 0  # leading parts that are not the answer itself (the transcript echo, or why a file was not read)
    media: dict[str, Any] | None = None  # checkpointed MediaReading (service.media), reused on resume


@dataclass(frozen=True, slots=True)
class Profile:
    memory: tuple[Turn, ...] = ()
    last_inbound_at: int | None = None
    version: int = 0
    # The latest electricity bill read from this contact's images (understanding.bill_to_item's
    # map; ``bill_from_item`` gives the typed BillExtraction back).
    last_bill: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    provider_message_id: str
    text: str
    kind: str = "reply"  # reply | apology | notice | echo


@dataclass(frozen=True, slots=True)
class Completion:
    outcome: str  # replied | apology | unsupported | silent | outside_window | rejected
    outbound: Sequence[OutboundRecord] = ()
    memory: Sequence[Turn] | None = None  # new memory; None = leave the profile's memory alone
    media: dict[str, Any] | None = None  # inbound-item attributes from a MediaReading (key, size, …)
    bill: dict[str, Any] | None = None  # an electricity bill read from an image: the profile's last_bill


def claim_key(message: InboundMessage) -> dict[str, str]:
    return {"id": f"{message.tenant_id}#{message.provider.value}#{message.provider_message_id}"}


class ConversationStore:
    def __init__(self, table_name: str, idempotency_table_name: str, *, client: Any | None = None) -> None:
        self._table = table_name
        self._claims = idempotency_table_name
        self._client = client

    @property
    def _ddb(self) -> Any:
        return self._client or aws.client("dynamodb")

    # --- inbound claim -------------------------------------------------------------------

    def claim_inbound(self, message: InboundMessage, *, now: int, lease_seconds: int, ttl_days: int) -> Claim:
        """Atomically claim a provider message id: the exactly-once guard.

        One conditional UpdateItem: succeeds when the id is new, or when an earlier attempt's
        lease has expired (or was released) without finishing.
        """
        token = secrets.token_hex(8)
        try:
            response = self._ddb.update_item(
                TableName=self._claims,
                Key=to_attrs(claim_key(message)),
                UpdateExpression=(
                    "SET #status = if_not_exists(#status, :claimed), lease_until = :lease, claim_token = :token, "
                    "claims = if_not_exists(claims, :zero) + :one, first_claimed_at = if_not_exists(first_claimed_at, :now), "
                    "expiration = :expiration"
                ),
                ConditionExpression="attribute_not_exists(id) OR (#status <> :done AND lease_until < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs(
                    {
                        ":claimed": "claimed",
                        ":done": "done",
                        ":now": now,
                        ":lease": now + lease_seconds,
                        ":token": token,
                        ":one": 1,
                        ":zero": 0,
                        ":expiration": now + ttl_days * DAY,
                    }
                ),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise store_error(exc, "UpdateItem") from exc
            old = from_attrs(exc.response.get("Item")) or self._get_claim(message)
            return Claim(ClaimState.DUPLICATE if old.get("status") == "done" else ClaimState.IN_FLIGHT)
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        item = from_attrs(response.get("Attributes"))
        state = ClaimState.NEW if int(item.get("claims", 1)) == 1 else ClaimState.RESUMED
        return Claim(
            state,
            token,
            tuple(item.get("reply_parts") or ()),
            tuple(item.get("sent_ids") or ()),
            item.get("reply_kind") or "reply",
            int(item.get("reply_lead", 0)),
            item.get("media"),
        )

    def release_claim(self, message: InboundMessage, claim: Claim) -> None:
        """Give the lease back after a failure so SQS's retry is not turned away as in-flight."""
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
        self, message: InboundMessage, claim: Claim, parts: Sequence[str], sent_ids: Sequence[str], kind: str = "reply", lead: int = 0
    ) -> Claim:
        """Record the reply and the parts already sent, so no retry regenerates or re-sends them."""
        self._update_claim(
            message,
            "SET #status = :replying, reply_parts = :parts, sent_ids = :sent, reply_kind = :kind, reply_lead = :lead",
            {":replying": "replying", ":parts": list(parts), ":sent": list(sent_ids), ":kind": kind, ":lead": lead, ":token": claim.token},
        )
        return replace(claim, reply_parts=tuple(parts), sent_ids=tuple(sent_ids), reply_kind=kind, reply_lead=lead)

    def checkpoint_media(self, message: InboundMessage, claim: Claim, media: dict[str, Any]) -> Claim:
        """Record what a media message amounted to, so no retry downloads or transcribes it again."""
        self._update_claim(message, "SET media = :media", {":media": media, ":token": claim.token})
        return replace(claim, media=media)

    def _update_claim(self, message: InboundMessage, update: str, values: dict[str, Any]) -> None:
        names = {"ExpressionAttributeNames": {"#status": "status"}} if "#status" in update else {}
        try:
            self._ddb.update_item(
                TableName=self._claims,
                Key=to_attrs(claim_key(message)),
                UpdateExpression=update,
                ConditionExpression="claim_token = :token",
                ExpressionAttributeValues=to_attrs(values),
                **names,
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate("lost the claim on an inbound message while replying") from exc
            raise store_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc

    def _get_claim(self, message: InboundMessage) -> dict[str, Any]:
        try:
            response = self._ddb.get_item(TableName=self._claims, Key=to_attrs(claim_key(message)), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        return from_attrs(response.get("Item"))

    # --- profile -------------------------------------------------------------------------

    def load_profile(self, tenant_id: str, contact_id: str) -> Profile:
        try:
            response = self._ddb.get_item(
                TableName=self._table, Key=to_attrs({"PK": contact_pk(tenant_id, contact_id), "SK": PROFILE_SK}), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        item = from_attrs(response.get("Item"))
        return Profile(
            memory=tuple(Turn.from_item(t) for t in item.get("memory") or ()),
            last_inbound_at=item.get("last_inbound_at"),
            version=int(item.get("version", 0)),
            last_bill=item.get("last_bill"),
        )

    # --- commit --------------------------------------------------------------------------

    def complete_inbound(
        self, message: InboundMessage, claim: Claim, profile: Profile | None, completion: Completion, *, now: int, ttl_days: int
    ) -> None:
        """One transaction: claim → done, inbound + outbound messages, profile (memory, window)."""
        pk = contact_pk(message.tenant_id, message.contact.contact_id)
        ttl = now + ttl_days * DAY
        replied_with = [o.provider_message_id for o in completion.outbound]
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._claims,
                    "Key": to_attrs(claim_key(message)),
                    # The checkpointed reply text is dropped: a completed claim holds no content.
                    "UpdateExpression": (
                        "SET #status = :done, completed_at = :now REMOVE reply_parts, sent_ids, reply_kind, reply_lead, media, lease_until"
                    ),
                    "ConditionExpression": "claim_token = :token",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_attrs({":done": "done", ":now": now, ":token": claim.token}),
                }
            },
            {"Put": {"TableName": self._table, "Item": to_attrs(_inbound_item(message, pk, completion, replied_with, now, ttl))}},
        ]
        for record in completion.outbound:
            items.append({"Put": {"TableName": self._table, "Item": to_attrs(_outbound_item(message, pk, record, now, ttl))}})
        if profile is not None:
            items.append({"Update": self._profile_update(message.contact, pk, profile, completion, message.timestamp, ttl)})
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise ConcurrentUpdate("inbound claim or profile version changed under us") from exc
            raise store_error(exc, "TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "TransactWriteItems") from exc

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
        for attr, value in (("wa_id", contact.wa_id), ("user_id", contact.user_id), ("profile_name", contact.name)):
            if value:
                sets.append(f"{attr} = :{attr}")
                values[f":{attr}"] = value
        if completion.memory is not None:
            sets.append("memory = :memory")
            values[":memory"] = [t.to_item() for t in completion.memory]
        if completion.bill is not None:
            # The latest electricity bill the contact sent, for the assistant's tools (solar quotes).
            sets.append("last_bill = :bill")
            values[":bill"] = completion.bill
        if profile.version:
            condition = "version = :expected"
            values[":expected"] = profile.version
        else:
            condition = "attribute_not_exists(PK)"
        return {
            "TableName": self._table,
            "Key": to_attrs({"PK": pk, "SK": PROFILE_SK}),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": to_attrs(values),
        }

    # --- statuses ------------------------------------------------------------------------

    def record_status(self, status: StatusUpdate) -> bool:
        """Record a delivery status on the outbound message it refers to.

        Statuses arrive out of order (read before delivered); a lower rank never overwrites a
        higher one. Returns False when the message is unknown (not sent by Atende) or stale.
        """
        values: dict[str, Any] = {":status": status.status.value, ":rank": status.status.rank, ":at": status.timestamp}
        sets = ["#status = :status", "status_rank = :rank", "status_at = :at"]
        if status.error_code is not None:
            sets.append("error_code = :code")
            values[":code"] = status.error_code
        if status.error_title:
            sets.append("error_title = :title")
            values[":title"] = status.error_title
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs(
                    {"PK": contact_pk(status.tenant_id, status.contact.contact_id), "SK": outbound_sk(status.provider_message_id)}
                ),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(PK) AND status_rank < :rank",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_attrs(values),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise store_error(exc, "UpdateItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        return True

    # --- reads ---------------------------------------------------------------------------

    def contact_items(self, tenant_id: str, contact_id: str) -> list[dict[str, Any]]:
        """Everything stored about one contact: one partition Query (export, erasure, tests)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": to_attrs({":pk": contact_pk(tenant_id, contact_id)}),
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


def _inbound_item(message: InboundMessage, pk: str, completion: Completion, replied_with: list[str], now: int, ttl: int) -> dict[str, Any]:
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
    if completion.media:
        item.update(completion.media)
    return item


def _outbound_item(message: InboundMessage, pk: str, record: OutboundRecord, now: int, ttl: int) -> dict[str, Any]:
    return {
        "PK": pk,
        "SK": outbound_sk(record.provider_message_id),
        "entity": "outbound",
        "provider": message.provider.value,
        "channel_id": message.channel_id,
        "kind": record.kind,
        "text": record.text,
        "in_reply_to": message.provider_message_id,
        "sent_at": now,
        "status": "accepted",  # the provider accepted it; webhooks move it to sent/delivered/read
        "status_rank": 0,
        "ttl": ttl,
    }
