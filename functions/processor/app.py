"""ProcessorFunction: SQS FIFO batch → one answer per inbound message, statuses recorded.

FIFO-aware partial batch: a failing record fails only the rest of its own conversation
(MessageGroupId); other conversations in the batch carry on. Failed records come back after an
exponential visibility backoff instead of the queue's full visibility timeout.
"""

from __future__ import annotations

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
from atende.service.replies import Attempt, ReplyService
from atende.store.queue import dead_letter

tracer = Tracer()
batch = SqsFifoPartialProcessor(skip_group_on_error=True)
# Report an all-failed batch item by item too (instead of raising): the invocation stays
# "successful", Lambda does not retry the whole batch, and our per-record backoff still applies.
batch.raise_on_entire_batch_failure = False

# A record is started only with at least a worst-case record's time left (text ~90 s: LLM 3 x 20 s
# + backoff, two provider calls, DynamoDB retries; media ~330 s: download, S3, transcription or
# vision with retries and fallback, then the answer); later ones are failed up front and retried
# after a short backoff rather than cut off by the timeout mid-reply.
_SAFETY_MARGIN_MS = 100_000
_MEDIA_SAFETY_MARGIN_MS = 360_000
# Envelopes are compact JSON we write: this key appears unescaped only on messages with media
# (a customer's text containing it would be escaped as \"media\").
_MEDIA_MARK = '"media":{'

_RETRY_BASE_SECONDS = 15
_RETRY_MAX_SECONDS = 900


class OutOfTime(AtendeError):
    is_transient = True


@cache
def _settings() -> ProcessorSettings:
    return ProcessorSettings.from_env()


@cache
def _service() -> ReplyService:
    return build_reply_service(_settings())


_context: Any = None


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> str:
    margin = _MEDIA_SAFETY_MARGIN_MS if _MEDIA_MARK in record.body else _SAFETY_MARGIN_MS
    if _context is not None and _context.get_remaining_time_in_millis() < margin:
        raise OutOfTime("not enough time left in this invocation")
    attempt = Attempt(int(record.attributes.approximate_receive_count or 1), _settings().max_receive_count)
    logger.set_correlation_id(record.attributes.message_deduplication_id)
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
        count("RecordFailed")
        logger.warning(
            "record failed",
            extra={"error": type(exc).__name__, "attempt": attempt.receive_count, "transient": getattr(exc, "is_transient", False)},
        )
        if attempt.is_last:
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
    response = process_partial_response(event=event, record_handler=record_handler, processor=batch, context=context)
    _backoff(event, response)
    return response


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
        delay = min(_RETRY_BASE_SECONDS * 2 ** (receives - 1), _RETRY_MAX_SECONDS)
        try:
            aws.client("sqs").change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=delay)
        except Exception as exc:  # best effort: the queue's own visibility timeout still applies
            logger.warning("could not shorten visibility", extra={"error": type(exc).__name__})
