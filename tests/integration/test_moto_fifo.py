"""moto 5.2.5's FIFO receive against SQS's per-group order, and local.runner's workaround (docs/moto-fifo.md).

SQS FIFO never hands out a later message of a group while an earlier one is in flight, and a
message whose visibility expires comes back ahead of the rest of its group.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.runner import QueueRunner

GROUP = "conversation-1"
VISIBILITY_SECONDS = 1
EXPIRED = VISIBILITY_SECONDS + 0.2


@pytest.fixture
def fifo() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="repro.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        yield sqs, url


def send(sqs: Any, url: str, *bodies: str, group: str = GROUP) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)


def receive(sqs: Any, url: str, **kwargs: Any) -> list[str]:
    return [m["Body"] for m in sqs.receive_message(QueueUrl=url, **{"MaxNumberOfMessages": 10, **kwargs}).get("Messages", [])]


# --- the reproduction: moto as it is ----------------------------------------------------------


def test_moto_returns_an_expired_message_first_when_it_was_its_groups_only_one_in_flight(fifo):
    # Given m1 and m2 in one group, and only m1 received (and not deleted)
    sqs, url = fifo
    send(sqs, url, "m1", "m2")
    assert receive(sqs, url, MaxNumberOfMessages=1, VisibilityTimeout=VISIBILITY_SECONDS) == ["m1"]
    assert receive(sqs, url) == []  # m1 in flight holds the group back, as in SQS

    # When m1's visibility expires
    time.sleep(EXPIRED)

    # Then m1 comes back first, as SQS does
    assert receive(sqs, url) == ["m1", "m2"]


def test_moto_skips_the_earlier_message_when_several_of_its_group_come_back_together(fifo):
    # Given m1 and m2 in one group, received together (as the event source mapping does) and not deleted
    sqs, url = fifo
    send(sqs, url, "m1", "m2")
    assert receive(sqs, url, VisibilityTimeout=VISIBILITY_SECONDS) == ["m1", "m2"]

    # When both visibilities expire together (a failed FIFO batch: the processor backs both off alike)
    time.sleep(EXPIRED)

    # Then moto answers m2 alone. SQS answers ["m1", "m2"]. This asserts moto 5.2.5's bug: when it
    # fails, moto is fixed — check docs/moto-fifo.md and drop local.runner.FifoOrder's workaround.
    assert receive(sqs, url, VisibilityTimeout=VISIBILITY_SECONDS) == ["m2"]
    # ... and m1 stays behind for as long as m2 keeps coming back.
    time.sleep(EXPIRED)
    assert receive(sqs, url, VisibilityTimeout=VISIBILITY_SECONDS) == ["m2"]


# --- the workaround: what the processor sees through local.runner.QueueRunner -----------------


class FailsFirstDelivery:
    """The processor on a transient error: the failed record and, FIFO, the rest of its group fail;
    each gets the same visibility backoff (functions/processor/app.py's _backoff, in seconds here)."""

    def __init__(self, sqs: Any, url: str, group: str) -> None:
        self._sqs, self._url, self._group = sqs, url, group
        self.batches: list[list[tuple[str, str]]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append([(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in records])
        if len(self.batches) > 1:
            return {"batchItemFailures": []}
        failed = [r for r in records if r["attributes"]["MessageGroupId"] == self._group]
        for record in failed:
            self._sqs.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=VISIBILITY_SECONDS
            )
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed]}


def test_through_the_runner_a_failed_group_comes_back_in_order_as_from_sqs(stack):
    # Given the template's inbound queue: m1, m2 in one conversation, o1 in another
    sqs = boto3.client("sqs")
    queue = stack.resources["InboundQueue"]
    send(sqs, queue.ref, "m1", "m2")
    send(sqs, queue.ref, "o1", group="conversation-2")
    processor = FailsFirstDelivery(sqs, queue.ref, GROUP)
    runner = QueueRunner(sqs, queue.ref, queue.attrs["Arn"], processor)

    # When the first batch fails m1 and m2 and their backoff expires together
    first = runner.poll_once()
    time.sleep(EXPIRED)
    runner.drain()

    # Then the processor sees m1 again before m2 (moto alone would hand it m2 first, and m2 only)
    assert first.failed and processor.batches == [[("m1", "1"), ("m2", "1"), ("o1", "1")], [("m1", "2"), ("m2", "2")]]
    assert receive(sqs, queue.ref) == []


class ScriptedQueue:
    """A fake SQS client that answers ReceiveMessage from a script: moto's answers, bug included."""

    def __init__(self, *answers: list[dict[str, Any]], max_receive_count: int = 5) -> None:
        self._answers = list(answers)
        self._max_receive_count = max_receive_count
        self.made_visible: list[str] = []
        self.deleted: list[str] = []

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {"Messages": self._answers.pop(0)} if self._answers else {}

    def delete_message_batch(self, *, Entries: list[dict[str, str]], **_: Any) -> None:
        self.deleted += [e["ReceiptHandle"] for e in Entries]

    def change_message_visibility(self, *, ReceiptHandle: str, VisibilityTimeout: int, **_: Any) -> None:
        assert VisibilityTimeout == 0
        self.made_visible.append(ReceiptHandle)

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"RedrivePolicy": f'{{"deadLetterTargetArn":"arn:dlq","maxReceiveCount":{self._max_receive_count}}}'}}


def message(body: str, receives: int, group: str = GROUP) -> dict[str, Any]:
    handle = f"{body}#{receives}"
    attributes = {"MessageGroupId": group, "ApproximateReceiveCount": str(receives), "MessageDeduplicationId": body}
    return {"MessageId": body, "ReceiptHandle": handle, "Body": body, "Attributes": attributes}


class Recorder:
    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.batches: list[list[tuple[str, str]]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        self.batches.append([(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in records])
        failed = [r["messageId"] for r in records if r["body"] in self.fail]
        self.fail.clear()
        return {"batchItemFailures": [{"itemIdentifier": f} for f in failed]}


def test_the_runner_holds_back_a_later_message_moto_hands_out_before_an_earlier_one():
    # Given moto's answers when m1 and m2 came back together: m2 alone (m1 skipped), then both
    queue = ScriptedQueue([message("m1", 1), message("m2", 1)], [message("m2", 2)], [message("m1", 2), message("m2", 3)])
    processor = Recorder(fail={"m1", "m2"})
    runner = QueueRunner(queue, "url", "arn:queue", processor, timeout_seconds=10)

    # When the runner polls through them
    first, held, second = runner.poll_once(), runner.poll_once(), runner.poll_once()

    # Then m2 never reaches the processor ahead of m1; it goes back at once, and its count is SQS's
    assert (first.failed, held.held_back, second.received) == (["m1", "m2"], ["m2"], 2)
    assert processor.batches == [[("m1", "1"), ("m2", "1")], [("m1", "2"), ("m2", "2")]]
    # m2 went back twice: behind failed m1 after the first batch, and when held back
    assert queue.made_visible == ["m2#1", "m2#2"]
    assert queue.deleted == ["m1#2", "m2#3"]


def test_a_message_on_its_last_receive_no_longer_holds_its_group_back():
    # Given m1 failed on its last delivery (maxReceiveCount 2): the queue dead-letters it, so m2 is next
    queue = ScriptedQueue([message("m1", 2)], [message("m2", 1)], max_receive_count=2)
    processor = Recorder(fail={"m1"})
    runner = QueueRunner(queue, "url", "arn:queue", processor, timeout_seconds=10)

    runner.poll_once()
    after = runner.poll_once()

    assert (after.held_back, processor.batches) == ([], [[("m1", "2")], [("m2", "1")]])
