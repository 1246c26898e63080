"""Emulates Lambda's SQS event source mapping for the local stack and the tests.

Receive (FIFO-aware, with system attributes) → build Lambda's SQS event → call the real
processor handler → delete the records it did not report in ``batchItemFailures``. Failed
records stay in the queue; SQS's RedrivePolicy moves them to the DLQ after maxReceiveCount.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from local.events import LambdaContext, sqs_event
from local.template import load_template


@cache
def processor_timeout_seconds() -> int:
    """The ProcessorFunction's Timeout in template.yaml: the context's remaining time follows it."""
    return int(load_template()["Resources"]["ProcessorFunction"]["Properties"]["Timeout"])


@dataclass
class BatchResult:
    received: int
    failed: list[str]
    response: dict[str, Any]


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

    def poll_once(self, wait_seconds: int = 0) -> BatchResult:
        response = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return BatchResult(0, [], {"batchItemFailures": []})
        event = sqs_event(messages, queue_arn=self._arn)
        result = self._handler(event, LambdaContext(function_name="ProcessorFunction", timeout_seconds=self._timeout_seconds))
        failed = [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            )
        if self._retry_immediately:
            for message in messages:
                if message["MessageId"] in failed:
                    self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return BatchResult(len(messages), failed, result)

    def drain(self, max_batches: int = 50) -> list[BatchResult]:
        """Poll until the queue yields nothing (bounded, so a stuck record cannot loop forever)."""
        results = []
        for _ in range(max_batches):
            result = self.poll_once()
            if not result.received:
                break
            results.append(result)
        return results
