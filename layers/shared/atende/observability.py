"""One logger, one metrics object for the whole package (Powertools, JSON logs, EMF metrics).

Logging rule: keys, never content. Use the pseudonymous contact id and provider message ids;
never a phone number, a name, message text, a raw payload or a URL carrying a token.
Metric names say what happened (InboundAccepted, ReplySent, ...); values are counts unless the
name ends in Ms. The Tracer lives in the processor only: aws-xray-sdk is too heavy for the
webhook's cold start.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Service and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
# (template Globals). Powertools resolves them once, at construction: the fallbacks keep a module
# imported before the environment is set (tools, tests) from emitting namespace-less metrics.
_SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "atende"
logger = Logger(service=_SERVICE)
# The `service` dimension is what the template's alarms filter on.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Atende", service=_SERVICE)

# httpx logs every request's full URL at INFO ("HTTP Request: GET https://…"): Meta's signed media
# URLs and Whaticket's token-in-path URLs must never reach a log, whatever level the root logger
# runs at (Lambda's log-level controls can lower it to INFO or DEBUG).
for _chatty in ("httpx", "httpcore"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


def count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def milliseconds(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
