"""Unit tests call the reply service directly, without the processor's handler, whose ``finally``
removes the per-record log keys: remove them here after each test, so no test's keys (a
contact id, a message id) show up in another test's log assertions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _per_record_log_keys() -> Iterator[None]:
    yield
    from atende.observability import logger

    logger.remove_keys(["provider_message_id", "contact_id", "tenant_id"])
