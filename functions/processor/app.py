"""ProcessorFunction: SQS FIFO batch → one answer per inbound message, statuses recorded.

FIFO-aware partial batch: a failing record fails only the rest of its own conversation
(MessageGroupId); other conversations in the batch carry on. Failed records come back after an
exponential visibility backoff instead of the queue's full visibility timeout.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from atende.bootstrap import build_reply_service
from atende.config import ProcessorSettings
from atende.domain.messages import EnvelopeError
from atende.errors import AtendeError
from atende.observability import count, logger, metrics
from atende.service.replies import Attempt, ReplyService, burst_neighbours
from atende.store.queue import dead_letter

tracer = Tracer()
batch = SqsFifoPartialProcessor(skip_group_on_error=True)
# Report an all-failed batch item by item too (instead of raising): the invocation stays
# "successful", Lambda does not retry the whole batch, and our per-record backoff still applies.
batch.raise_on_entire_batch_failure = False

# A record is started only with at least a worst-case record's time left (text with tools ~330 s:
# the agent loop's 240 s budget plus one final model step (service.agent), two provider calls,
# DynamoDB retries; media ~330 s: download, S3, transcription or vision with retries and
# fallback, then the answer); later ones are failed up front and retried after a short backoff
# rather than cut off by the timeout mid-reply.
_SAFETY_MARGIN_MS = 360_000
_MEDIA_SAFETY_MARGIN_MS = 360_000
# Envelopes are compact JSON we write: this key appears unescaped only on messages with media
# (a customer's text containing it would be escaped as \"media\").
_MEDIA_MARK = '"media":{'

_RETRY_BASE_SECONDS = 15
_RETRY_MAX_SECONDS = 900


class OutOfTime(AtendeError):
    is_transient = True
    attempted = False  # never started: not an attempt, and never a reason to dead-letter


# Per invocation: what the batch says about each record (set by lambda_handler, read by
# record_handler), and how each failed record should come back.
_followers: dict[str, tuple[int, ...]] = {}
_seen: dict[str, bool] = {}  # record id → whether the handler did real work on it
_retry_after: dict[str, int] = {}
_earlier: dict[str, tuple[int, ...]] = {}
_full_batch_end = [""]  # the last record's id when the batch was full (a burst may continue behind it)


@cache
def _settings() -> ProcessorSettings:
    return ProcessorSettings.from_env()


_override: ReplyService | None = None


def use_service(service: ReplyService | None) -> None:
    """Tests, the bench and the local stack wire their own service (None = build from the environment)."""
    global _override
    _override = service
    _built.cache_clear()


def _service() -> ReplyService:
    return _override if _override is not None else _built()


@cache
def _built() -> ReplyService:
    return build_reply_service(_settings())


_context: Any = None


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> str:
    margin = _MEDIA_SAFETY_MARGIN_MS if _MEDIA_MARK in record.body else _SAFETY_MARGIN_MS
    if _context is not None and _context.get_remaining_time_in_millis() < margin:
        raise OutOfTime("not enough time left in this invocation")
    settings = _settings()
    attempt = Attempt(
        int(record.attributes.approximate_receive_count or 1),
        settings.max_receive_count,
        sqs_message_id=record.message_id,
        later_in_batch=_followers.get(record.message_id, ()),
        max_attempts=settings.max_attempts,
        ends_full_batch=record.message_id == _full_batch_end[0],
        earlier_in_batch=_earlier.get(record.message_id, ()),
    )
    logger.set_correlation_id(record.attributes.message_deduplication_id)
    _seen[record.message_id] = True
    try:
        outcome = _service().handle(record.body, attempt)
    except EnvelopeError:
        # Poison: no retry can parse it. Dead-letter it now so its conversation's later messages
        # are not failed (FIFO order) until they dead-letter too.
        dead_letter(
            _settings().dead_letter_queue_url,
            record.body,
            group_id=record.attributes.message_group_id or "poison",
            dedup_id=record.attributes.message_deduplication_id or record.message_id,
        )
        count("RecordDeadLettered")
        logger.error("unreadable queue message moved to the DLQ", extra={"message_id": record.message_id})
        return "dead_lettered"
    except Exception as exc:
        attempted = bool(getattr(exc, "attempted", True))
        _seen[record.message_id] = attempted
        # Our own waits (a burst, a lease, a reconciliation), or the provider's Retry-After.
        retry_after = getattr(exc, "retry_after_seconds", None) or getattr(exc, "retry_after", None)
        if retry_after is not None:
            _retry_after[record.message_id] = min(max(1, math.ceil(float(retry_after))), _RETRY_MAX_SECONDS)
        if attempted:
            count("RecordFailed")
            logger.warning(
                "record failed",
                extra={"error": type(exc).__name__, "attempt": attempt.receive_count, "transient": getattr(exc, "is_transient", False)},
            )
            if attempt.receive_count >= attempt.max_receive_count:
                count("RecordDeadLettered")
        raise
    finally:
        logger.remove_keys(["provider_message_id", "contact_id", "tenant_id"])
    logger.info("record processed", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _context
    _context = context
    records = event.get("Records", [])
    _followers.clear()
    _seen.clear()
    _retry_after.clear()
    _full_batch_end[0] = records[-1]["messageId"] if records and len(records) >= _settings().batch_size else ""
    _earlier.clear()
    neighbours = burst_neighbours([(r["messageId"], r.get("attributes", {}).get("MessageGroupId"), r.get("body", "")) for r in records])
    for record_id, (earlier, later) in neighbours.items():
        _earlier[record_id] = earlier
        _followers[record_id] = later
    response = process_partial_response(event=event, record_handler=record_handler, processor=batch, context=context)
    _rescue(records, response)
    _backoff(event, response)
    return response


def _rescue(records: list[dict[str, Any]], response: dict[str, Any]) -> None:
    """A record that failed without being attempted on the delivery that could dead-letter it
    (dragged behind a failing message of its conversation, held for a burst, out of time) is
    re-queued as a fresh copy and the original deleted: SQS counts every delivery, and a message
    nobody tried must never reach the DLQ. The claim keeps the copy exactly-once.
    """
    failures = response.get("batchItemFailures", [])
    if not failures:
        return
    failed = {item["itemIdentifier"] for item in failures}
    threshold = _settings().max_receive_count - 1
    rescued: set[str] = set()
    dragged_group: set[str] = set()
    from atende.store import aws

    for record in records:
        record_id = record["messageId"]
        attributes = record.get("attributes", {})
        group = attributes.get("MessageGroupId") or ""
        if record_id not in failed:
            continue
        unattempted = not _seen.get(record_id, False)
        receives = int(attributes.get("ApproximateReceiveCount", "1"))
        # Once one record of a conversation is re-queued, its later ones follow it (order kept).
        if not unattempted or (receives < threshold and group not in dragged_group):
            continue
        dedup = attributes.get("MessageDeduplicationId") or record_id
        try:
            aws.client("sqs").send_message(
                QueueUrl=_settings().inbound_queue_url,
                MessageBody=record["body"],
                MessageGroupId=group or "rescued",
                MessageDeduplicationId=f"{dedup[:100]}~r{receives}",
            )
        except Exception as exc:  # best effort: it stays failed and SQS decides
            logger.warning("could not re-queue an unattempted record", extra={"error": type(exc).__name__})
            continue
        rescued.add(record_id)
        dragged_group.add(group)
        count("RecordRequeued")
    if rescued:
        response["batchItemFailures"] = [item for item in failures if item["itemIdentifier"] not in rescued]


def _backoff(event: dict[str, Any], response: dict[str, Any]) -> None:
    failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    if not failed:
        return
    from atende.store import aws

    queue_url = _settings().inbound_queue_url
    for record in event.get("Records", []):
        if record["messageId"] not in failed:
            continue
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        delay = _retry_after.get(record["messageId"]) or min(_RETRY_BASE_SECONDS * 2 ** (receives - 1), _RETRY_MAX_SECONDS)
        try:
            aws.client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=delay)
        except Exception as exc:  # best effort: the queue's own visibility timeout still applies
            logger.warning("could not shorten visibility", extra={"error": type(exc).__name__})
