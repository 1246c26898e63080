"""Shared fixtures. Unit tests run with sockets disabled (pytest-socket, see pyproject)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, a fixed region, no endpoint overrides: nothing can reach real AWS."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "atende")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Atende")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


def fixture_bytes(name: str, *, timestamp: int | None = None) -> bytes:
    """A provider payload exactly as stored (Meta's ASCII JSON with \\uXXXX escapes).

    ``timestamp`` rewrites the message/status timestamps textually — never by re-serialising,
    which would change the bytes the signature covers.
    """
    raw = (FIXTURES / name).read_bytes().rstrip(b"\n")
    if timestamp is not None:
        raw = re.sub(rb'"timestamp":"\d+"', b'"timestamp":"%d"' % timestamp, raw)
    return raw


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(name))


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """All stateful resources of template.yaml, created under moto, plus the demo tenant."""
    from moto import mock_aws

    from atende.store import aws
    from local.provision import provision
    from local.seed import seed_demo

    with mock_aws():
        aws.reset_clients()
        created = provision(stage="dev")
        seed_demo(created)
        for logical_id in ("WebhookFunction", "ProcessorFunction"):
            for key, value in created.function_environment(logical_id).items():
                monkeypatch.setenv(key, value)
        yield created
        aws.reset_clients()


@pytest.fixture
def log_output() -> Iterator[Any]:
    """Everything the package logs during the test, formatted exactly as in Lambda (JSON lines)."""
    import io
    import logging

    from atende.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    level = logger.log_level
    logger.setLevel(logging.INFO)  # the level the template deploys with, whatever ran before
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
