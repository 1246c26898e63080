"""Shared fixtures. Unit tests run with sockets disabled (pytest-socket, see pyproject)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def _share_botocore_data_loader() -> None:
    """One botocore data loader for every session of the test process.

    Each ``stack`` (and every ``aws.reset_clients()``) starts fresh boto3 sessions, and each new
    session re-reads and re-parses the service models' JSON files: ~40% of a ``stack`` fixture's
    setup, hundreds of times per run. The loader only reads botocore's and boto3's own data files
    (and nothing hooks ``service-data-loaded`` to edit them), so sharing its cache changes no
    request or answer. boto3 appends its data path to the loader of every session it creates: kept
    once here, not once per session.
    """
    import botocore.loaders
    import botocore.session

    if getattr(botocore.session.create_loader, "_atende_shared", False):
        return
    loaders: dict[str, botocore.loaders.Loader] = {}
    create = botocore.loaders.create_loader

    class UniquePaths(list[str]):
        def append(self, path: str) -> None:
            if path not in self:
                super().append(path)

    def shared_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        key = search_path_string or ""
        if key not in loaders:
            loader = create(search_path_string)
            loader._search_paths = UniquePaths(loader.search_paths)
            loaders[key] = loader
        return loaders[key]

    shared_loader._atende_shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = shared_loader  # type: ignore[assignment]


def _reuse_moto_kms_rsa_keys() -> None:
    """moto generates a fresh 2048-bit RSA key for every KMS key it creates (the media bucket's
    SSE-KMS key, in every ``stack``): 20-100 ms of CPU each. No test decrypts or signs with them
    (SSE-KMS under moto is headers), so the process generates one per key size and reuses it."""
    import functools
    import types

    import moto.kms.utils as kms_utils
    from cryptography.hazmat.primitives.asymmetric import rsa

    if isinstance(kms_utils.rsa, types.SimpleNamespace):
        return
    generate = functools.cache(lambda exponent, size: rsa.generate_private_key(public_exponent=exponent, key_size=size))
    reusing = types.SimpleNamespace(**{name: getattr(rsa, name) for name in dir(rsa) if not name.startswith("__")})
    reusing.generate_private_key = lambda public_exponent, key_size, backend=None: generate(public_exponent, key_size)
    kms_utils.rsa = reusing  # type: ignore[assignment]


_share_botocore_data_loader()
_reuse_moto_kms_rsa_keys()


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
