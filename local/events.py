"""Build the exact event shapes Lambda delivers (HTTP API payload v2, SQS) and a context object.

Shared by the local stack, the in-process invoke, the tests and events/*.json, so every path
feeds the real handlers the same shapes AWS does.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def http_api_event(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    raw_query: str = "",
    base64_encode: bool = False,
) -> dict[str, Any]:
    """API Gateway HTTP API (payload format 2.0) event, as the Lambda integration sends it."""
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    query: dict[str, str] = {}
    if raw_query:
        from urllib.parse import parse_qsl

        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value  # API Gateway joins repeats
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": base64_encode,
    }
    if query:
        event["queryStringParameters"] = query
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if base64_encode else body.decode("utf-8")
    return event


def sqs_event(messages: Sequence[Mapping[str, Any]], *, queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """Lambda's SQS event from ReceiveMessage results (AttributeNames/MessageSystemAttributeNames=All)."""
    records = []
    for message in messages:
        attributes = dict(message.get("Attributes", {}))
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324 - SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def synthetic_sqs_record(body: str, *, group_id: str, dedup_id: str, receive_count: int = 1, queue_arn: str) -> dict[str, Any]:
    """One SQS record built by hand (events/*.json and tests that skip the queue)."""
    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{dedup_id}/{receive_count}"))
    now_ms = str(int(time.time() * 1000))
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"local-{message_id}",
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SequenceNumber": str(int(now_ms) * 1000),
            "MessageGroupId": group_id,
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "MessageDeduplicationId": dedup_id,
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
    }


@dataclass
class LambdaContext:
    """The attributes and method Powertools and our handlers read from Lambda's context."""

    function_name: str = "local"
    memory_limit_in_mb: int = 512
    timeout_seconds: int = 180
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))
