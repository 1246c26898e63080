"""WebhookFunction: API Gateway HTTP API (payload v2) → verify, normalise, enqueue, answer.

Thin on purpose: translate the HTTP event, call the provider's ingress use case, translate the
answer. The routes are the providers' (``atende.providers.<provider>``: ``BUNDLE.routes``, one per
template.yaml event, all under ``/webhooks/<provider>``); only the bundle a path names is
imported, so a Meta delivery never loads the Evolution/Whaticket code. No route with this path:
404; routes with it, none for this method: 405.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from atende.bootstrap import WebhookIngresses, build_webhook
from atende.config import WebhookSettings
from atende.errors import AtendeError
from atende.observability import count, logger, metrics
from atende.providers import match_route
from atende.service.ingress import HttpResponse

_UNROUTED = {
    404: HttpResponse(404, '{"error":"not_found"}'),
    405: HttpResponse(405, '{"error":"method_not_allowed"}'),
}


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
    match = match_route(method, event.get("rawPath", "").rstrip("/"))
    if isinstance(match, int):
        return _UNROUTED[match]
    return match.route.call(_ingresses().ingress(match.bundle), _Request(event, match.params))


class _Request:
    """The event as the providers' routes read it (``atende.providers.WebhookRequest``)."""

    __slots__ = ("_event", "params")

    def __init__(self, event: dict[str, Any], params: Mapping[str, str]) -> None:
        self._event = event
        self.params = params

    def body(self) -> bytes:
        return _raw_body(self._event)

    def header(self, name: str) -> str | None:
        return _header(self._event, name)

    def headers(self) -> dict[str, str]:
        return _headers(self._event)

    def query(self) -> dict[str, str]:
        return _query(self._event)


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
