"""boto3 clients, created once per container and shared.

Endpoints come from the standard AWS_ENDPOINT_URL[_<SERVICE>] variables that boto3 honours
itself, so the local stack (moto server on 127.0.0.1) needs no code path of its own.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Lambda-friendly: fail fast, let SQS/the provider redeliver rather than hang the invocation.
# No client-side parameter validation: our requests are built by the store adapters (tested
# against moto, which validates), the services validate anyway, and botocore's walk over every
# request shape cost ~0.6 ms of CPU per DynamoDB call (bench: processor CPU per message).
_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}, parameter_validation=False)


@cache
def session() -> boto3.session.Session:
    return boto3.session.Session(region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))


@cache
def client(service: str) -> Any:
    return session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests and the local runtime switch endpoints)."""
    client.cache_clear()
    session.cache_clear()
