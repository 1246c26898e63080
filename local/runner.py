"""Emulates Lambda's SQS event source mapping for the local stack and the tests.

Receive (FIFO-aware, with system attributes) → build Lambda's SQS event → call the real
processor handler → delete the records it did not report in ``batchItemFailures``. Failed
records stay in the queue; SQS's RedrivePolicy moves them to the DLQ after maxReceiveCount.

moto 5.2.5 can hand out a later message of a FIFO group before an earlier one that came back
(docs/moto-fifo.md): ``FifoOrder`` keeps moto out of that state and holds back whatever it
still answers out of order, so the processor sees each group in the order SQS FIFO guarantees.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from local.events import LambdaContext, sqs_event
from local.functions import invoke
from local.template import load_template

Message = Mapping[str, Any]  # one ReceiveMessage result, system attributes included


@cache
def processor_timeout_seconds() -> int:
    """The ProcessorFunction's Timeout in template.yaml: the context's remaining time follows it."""
    return int(load_template()["Resources"]["ProcessorFunction"]["Properties"]["Timeout"])


@dataclass
class BatchResult:
    received: int  # records handed to the handler
    failed: list[str]
    response: dict[str, Any]
    held_back: list[str] = field(default_factory=list)  # received out of group order, put back unseen


class FifoOrder:
    """Which received messages SQS FIFO would have delivered, given what this consumer left in the queue.

    Remembers, per message group, the messages it received and did not see deleted, in the order
    it first saw them: moto's SequenceNumber is random, but moto answers in send order and never
    hands out a message before an earlier one of its group was received once. A message with an
    earlier one of its group left in the queue and not ahead of it in the same answer is held
    back. Assumes it is the queue's only consumer, as the event source mapping is.
    """

    def __init__(self, max_receive_count: Callable[[], int | None]) -> None:
        self._max_receive_count = max_receive_count  # the queue's RedrivePolicy, asked only when needed
        self._seen = itertools.count()
        self._ordinal: dict[str, int] = {}  # message id → order of first sight
        self._left: dict[str, set[str]] = {}  # group → ids received and still in the queue
        self._extra_receives: Counter[str] = Counter()  # receives SQS would not have made

    def admit(self, messages: Sequence[Message]) -> tuple[list[dict[str, Any]], list[Message]]:
        """Split an answer into the records to deliver (in group order, receive counts as SQS's) and those to hold back."""
        for message in messages:
            self._ordinal.setdefault(message["MessageId"], next(self._seen))
        admitted: list[Message] = []
        held: list[Message] = []
        blocked: set[str] = set()
        ids = {m["MessageId"] for m in messages}
        for message in sorted(messages, key=self._position):
            group = _group(message)
            if group is not None and (group in blocked or self._behind_one_left(message, group, answered=ids)):
                blocked.add(group)  # and so is the rest of its group in this answer
                held.append(message)
            else:
                admitted.append(message)
        for message in held:
            self._extra_receives[message["MessageId"]] += 1
            self._keep_unless_dead_lettered(message, queue_receive_count=int(message["Attributes"].get("ApproximateReceiveCount", "1")))
        return [self._as_sqs_counted(m) for m in admitted], held

    def settle(self, deleted: Sequence[Message], left: Sequence[Message]) -> list[Message]:
        """Record a batch's outcome (records as ``admit`` gave them); answer the left-behind ones to make visible at once.

        SQS keeps a failed group's later records behind the first one whatever their visibility;
        moto does only while that first one is its group's sole in-flight message, so the others
        go back at once (still behind it).
        """
        for message in deleted:
            self._forget(message)
        kept: set[str] = set()
        release: list[Message] = []
        for message in sorted(left, key=self._position):
            group = _group(message)
            if group in kept:
                release.append(message)
            elif group is not None:
                kept.add(group)
            queue_count = int(message["Attributes"].get("ApproximateReceiveCount", "1")) + self._extra_receives[message["MessageId"]]
            self._keep_unless_dead_lettered(message, queue_receive_count=queue_count)
        return release

    def _position(self, message: Message) -> int:
        return self._ordinal[message["MessageId"]]

    def _behind_one_left(self, message: Message, group: str, *, answered: set[str]) -> bool:
        """An earlier message of the group is in the queue but not in this answer."""
        position = self._position(message)
        return any(self._ordinal[other] < position and other not in answered for other in self._left.get(group, ()))

    def _keep_unless_dead_lettered(self, message: Message, *, queue_receive_count: int) -> None:
        """Remember a message left in the queue, unless the queue dead-letters it on its next receive.

        ``queue_receive_count`` is the queue's own count, held-back receives included: the one its
        RedrivePolicy acts on. A dead-lettered message no longer holds its group back.
        """
        limit = self._max_receive_count()
        if limit is not None and queue_receive_count >= limit:
            self._forget(message)
            return
        group = _group(message)
        if group is not None:
            self._left.setdefault(group, set()).add(message["MessageId"])

    def _forget(self, message: Message) -> None:
        message_id = message["MessageId"]
        group = _group(message)
        if group is not None and group in self._left:
            self._left[group].discard(message_id)
            if not self._left[group]:
                del self._left[group]
        self._ordinal.pop(message_id, None)
        self._extra_receives.pop(message_id, None)

    def _as_sqs_counted(self, message: Message) -> dict[str, Any]:
        extra = self._extra_receives[message["MessageId"]]
        if not extra:
            return dict(message)
        attributes = dict(message["Attributes"])
        attributes["ApproximateReceiveCount"] = str(int(attributes["ApproximateReceiveCount"]) - extra)
        return {**message, "Attributes": attributes}


def _group(message: Message) -> str | None:
    return message.get("Attributes", {}).get("MessageGroupId")


class QueueRunner:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]],
        *,
        batch_size: int = 5,
        retry_immediately: bool = False,
        timeout_seconds: int | None = None,
    ) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._arn = queue_arn
        self._handler = handler
        self._batch_size = batch_size
        # Tests: make failed records visible again at once instead of after the backoff.
        self._retry_immediately = retry_immediately
        self._timeout_seconds = timeout_seconds or processor_timeout_seconds()
        self._order = FifoOrder(self._redrive_limit)
        self._max_receive_count: int | None = None
        self._redrive_read = False

    def poll_once(self, wait_seconds: int = 0) -> BatchResult:
        response = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        )
        messages, held = self._order.admit(response.get("Messages", []))
        self._make_visible(held)
        held_back = [m["MessageId"] for m in held]
        if not messages:
            return BatchResult(0, [], {"batchItemFailures": []}, held_back)
        event = sqs_event(messages, queue_arn=self._arn)
        context = LambdaContext(function_name="ProcessorFunction", timeout_seconds=self._timeout_seconds)
        try:
            result = invoke(self._handler, event, context)
        except Exception:
            # A crashed invocation leaves the whole batch in the queue, as Lambda does.
            self._make_visible(self._order.settle([], messages))
            raise
        failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        done = [m for m in messages if m["MessageId"] not in failed]
        left = [m for m in messages if m["MessageId"] in failed]
        if done:
            deleted = self._sqs.delete_message_batch(
                QueueUrl=self._url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )
            # SQS answers 200 with per-entry failures: those records are still in the queue (and
            # still first of their group), as Lambda's event source would find them again.
            refused = {int(entry["Id"]) for entry in (deleted or {}).get("Failed", [])}
            left += [m for i, m in enumerate(done) if i in refused]
            done = [m for i, m in enumerate(done) if i not in refused]
        release = self._order.settle(done, left)
        self._make_visible(left if self._retry_immediately else release)
        return BatchResult(len(messages), failed, result, held_back)

    def drain(self, max_batches: int = 50) -> list[BatchResult]:
        """Poll until the queue yields nothing (bounded, so a stuck record cannot loop forever)."""
        results = []
        for _ in range(max_batches):
            result = self.poll_once()
            if not result.received and not result.held_back:
                break
            if result.received:
                results.append(result)
        return results

    def _make_visible(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)

    def _redrive_limit(self) -> int | None:
        """The queue's maxReceiveCount, read once, on the first failure (the happy path makes no extra call)."""
        if not self._redrive_read:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
            policy = attributes.get("RedrivePolicy")
            self._max_receive_count = int(json.loads(policy)["maxReceiveCount"]) if policy else None
            self._redrive_read = True
        return self._max_receive_count
