"""Secrets Manager reads with a per-container cache (max_age), JSON secrets only."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.errors import ConfigError, StoreError
from atende.store import aws


class SecretStore:
    def __init__(self, client: Any | None = None, *, max_age: float = 300.0, clock: Any = time.monotonic) -> None:
        self._client = client
        self._max_age = max_age
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}

    def get_json(self, secret_id: str) -> dict[str, str]:
        now = self._clock()
        hit = self._cache.get(secret_id)
        if hit and now - hit[0] < self._max_age:
            return hit[1]
        client = self._client or aws.client("secretsmanager")
        try:
            raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure"):
                raise ConfigError(f"secret {secret_id} cannot be read ({code})") from exc
            raise StoreError(f"Secrets Manager error {code}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"Secrets Manager unreachable: {type(exc).__name__}") from exc
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"secret {secret_id} is not a JSON object") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"secret {secret_id} is not a JSON object")
        parsed = {str(k): str(v) for k, v in value.items() if v is not None}
        self._cache[secret_id] = (now, parsed)
        return parsed

    def get_field(self, secret_id: str, field: str) -> str:
        value = self.get_json(secret_id).get(field, "")
        if not value:
            raise ConfigError(f"secret {secret_id} has no {field!r}")
        return value

    def put_json(self, secret_id: str, value: dict[str, Any]) -> None:
        """Create or update a JSON secret (registration/admin path, never the hot path)."""
        client = self._client or aws.client("secretsmanager")
        body = json.dumps(value)
        try:
            client.put_secret_value(SecretId=secret_id, SecretString=body)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise StoreError("Secrets Manager error") from exc
            client.create_secret(Name=secret_id, SecretString=body)
        self._cache.pop(secret_id, None)
