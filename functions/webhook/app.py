"""WebhookFunction: API Gateway HTTP API (payload v2) → verify, normalise, enqueue, answer.

Thin on purpose: translate the HTTP event, call the provider's ingress use case, translate the
answer. Routes:

- ``GET|POST /webhooks/meta``
- ``POST /webhooks/evolution`` (and ``/webhooks/evolution/<event>``: Evolution's
  ``webhook_by_events`` appends the event name; the body's ``event`` is what counts)
- ``POST /webhooks/whaticket/<connection>`` (signed relays), ``POST /webhooks/whaticket`` with
  the connection in ``X-Atende-Channel``, and ``POST /webhooks/whaticket/<connection>/<token>``
  (the weaker URL-token option, for forks that cannot sign)
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from atende.bootstrap import WebhookIngresses, build_webhook
from atende.config import WebhookSettings
from atende.errors import AtendeError
from atende.observability import count, logger, metrics
from atende.service.ingress import HttpResponse

_NOT_FOUND = HttpResponse(404, '{"error":"not_found"}')
_NOT_ALLOWED = HttpResponse(405, '{"error":"method_not_allowed"}')
CHANNEL_HEADER = "x-atende-channel"


@cache
def _ingresses() -> WebhookIngresses:
    return build_webhook(WebhookSettings.from_env())


# No clear_state: this handler appends no per-request keys, so there is no state to leak.
@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        response = _route(event)
    except AtendeError as exc:
        # Configuration or AWS trouble (secret unreadable, DynamoDB throttled): 503 so the
        # provider redelivers later; nothing was queued, so nothing is lost or doubled.
        count("WebhookUnavailable")
        logger.exception("webhook could not process the delivery", extra={"error": type(exc).__name__})
        response = HttpResponse(503, '{"error":"temporarily_unavailable"}')
    return {"statusCode": response.status, "headers": dict(response.headers), "body": response.body}


def _route(event: dict[str, Any]) -> HttpResponse:
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    path = event.get("rawPath", "").rstrip("/")
    if path == "/webhooks/meta":
        if method == "GET":
            return _ingresses().meta.subscribe(_query(event))
        if method == "POST":
            return _ingresses().meta.receive(_raw_body(event), _header(event, "x-hub-signature-256"))
        return _NOT_ALLOWED
    segments = path.split("/")[1:]  # "", "webhooks", provider, ...
    if len(segments) < 2 or segments[0] != "webhooks" or segments[1] not in ("evolution", "whaticket"):
        return _NOT_FOUND
    if method != "POST":
        return _NOT_ALLOWED
    rest = segments[2:]
    if segments[1] == "evolution":
        if len(rest) > 1:
            return _NOT_FOUND
        return _ingresses().evolution.receive(_raw_body(event), _headers(event))
    if len(rest) > 2:
        return _NOT_FOUND
    headers = _headers(event)
    connection = rest[0] if rest else headers.get(CHANNEL_HEADER)
    url_token = rest[1] if len(rest) == 2 else None
    return _ingresses().whaticket.receive(connection, _raw_body(event), headers, url_token)


def _headers(event: dict[str, Any]) -> dict[str, str]:
    # HTTP API (payload v2) lower-cases names already; other front doors (tests, proxies) may not.
    return {str(k).lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)}


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    value = headers.get(name)  # HTTP API (payload v2) delivers header names lower-cased
    if value is None:  # other front doors (Function URLs behind proxies, tests) may not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _query(event: dict[str, Any]) -> dict[str, str]:
    # rawQueryString keeps dotted keys (hub.mode) exactly as Meta sent them.
    raw = event.get("rawQueryString")
    if raw:
        return dict(parse_qsl(raw, keep_blank_values=True))
    return dict(event.get("queryStringParameters") or {})


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            return b"\x00invalid-base64"  # fails the signature check (403), never a 500
    # surrogatepass: a body with a lone surrogate cannot be Meta's (ASCII) JSON; encode it anyway
    # so it fails the signature check (403) instead of raising (500).
    return body.encode("utf-8", "surrogatepass")
