"""The inbound SQS FIFO queue: batched sends, per-conversation groups, provider-id dedup."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.errors import StoreError
from atende.store import aws

SQS_BATCH_LIMIT = 10  # SendMessageBatch accepts at most 10 entries
SQS_DEDUP_ID_LIMIT = 128
SQS_BATCH_BYTES = 250 * 1024  # 256 KiB per batch (sum of bodies), with room for attributes


@dataclass(frozen=True, slots=True)
class QueueItem:
    body: str
    group_id: str
    dedup_id: str


class InboundQueue:
    def __init__(self, queue_url: str, *, client: Any | None = None) -> None:
        self._url = queue_url
        self._client = client

    def enqueue(self, items: Sequence[QueueItem]) -> None:
        """Send everything or raise StoreError (the webhook then answers 5xx so the provider retries).

        Entries already accepted in a partially failed batch are deduplicated by SQS when the
        provider redelivers (same dedup id within 5 minutes) and by the processor's claim after.
        """
        client = self._client or aws.client("sqs")
        for chunk in _batches(items):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": item.body,
                    "MessageGroupId": item.group_id,
                    "MessageDeduplicationId": _dedup_id(item.dedup_id),
                }
                for i, item in enumerate(chunk)
            ]
            try:
                response = client.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise StoreError(f"SQS SendMessageBatch failed: {type(exc).__name__}") from exc
            if response.get("Failed"):
                codes = sorted({f.get("Code", "?") for f in response["Failed"]})
                raise StoreError(f"SQS rejected {len(response['Failed'])} entries: {','.join(codes)}")


def _batches(items: Sequence[QueueItem]) -> list[Sequence[QueueItem]]:
    """At most 10 entries and 256 KiB of bodies per SendMessageBatch (the limit is on the sum)."""
    batches: list[Sequence[QueueItem]] = []
    start, size = 0, 0
    for index, item in enumerate(items):
        body_size = len(item.body)  # bodies are ASCII JSON (to_json escapes the rest): chars = bytes
        if index > start and (index - start == SQS_BATCH_LIMIT or size + body_size > SQS_BATCH_BYTES):
            batches.append(items[start:index])
            start, size = index, 0
        size += body_size
    if start < len(items):
        batches.append(items[start:])
    return batches


def _dedup_id(value: str) -> str:
    # Dedup ids allow 128 chars of [A-Za-z0-9!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~]; wamids fit, but be safe.
    if len(value) <= SQS_DEDUP_ID_LIMIT and value.isascii() and value.isprintable() and " " not in value:
        return value
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()


def dead_letter(queue_url: str, body: str, *, group_id: str, dedup_id: str, client: Any | None = None) -> None:
    """Move a message that can never be processed straight to the DLQ (kept 14 days for an operator).

    Waiting for SQS to dead-letter it after maxReceiveCount would fail, and finally dead-letter,
    every later message of its conversation too (FIFO keeps them behind it).
    """
    client = client or aws.client("sqs")
    try:
        client.send_message(QueueUrl=queue_url, MessageBody=body, MessageGroupId=group_id, MessageDeduplicationId=_dedup_id(dedup_id))
    except (ClientError, BotoCoreError) as exc:
        raise StoreError(f"SQS SendMessage to the DLQ failed: {type(exc).__name__}") from exc
