"""Secrets Manager reads with a per-container cache (max_age), JSON secrets only."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.errors import ConfigError, SecretNotFound, StoreError
from atende.store import aws

_UNREADABLE = ("ResourceNotFoundException", "AccessDeniedException", "DecryptionFailure")
_ABSENT_LIMIT = 10_000  # bound the negative cache's memory under a flood of made-up names


class SecretStore:
    """JSON secrets with a per-container cache.

    ``prefetch`` names secrets that are always needed together (the webhook's app secret and
    pseudonym key): a miss on one fetches all of them in a single BatchGetSecretValue — one
    round trip instead of several on every cold start and cache expiry.
    """

    def __init__(
        self, client: Any | None = None, *, max_age: float = 300.0, clock: Any = time.monotonic, prefetch: tuple[str, ...] = ()
    ) -> None:
        self._client = client
        self._max_age = max_age
        self._clock = clock
        self._prefetch = prefetch
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}
        self._absent: dict[str, float] = {}

    def get_json(self, secret_id: str) -> dict[str, str]:
        now = self._clock()
        hit = self._cache.get(secret_id)
        if hit and now - hit[0] < self._max_age:
            return hit[1]
        if secret_id in self._prefetch and len(self._prefetch) > 1:
            self._fetch_batch(now)
            return self._cache[secret_id][1]
        client = self._client or aws.client("secretsmanager")
        try:
            raw = client.get_secret_value(SecretId=secret_id)["SecretString"]
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, secret_id) from exc
        self._cache[secret_id] = (now, _parse(secret_id, raw))
        return self._cache[secret_id][1]

    def _fetch_batch(self, now: float) -> None:
        client = self._client or aws.client("secretsmanager")
        try:
            response = client.batch_get_secret_value(SecretIdList=list(self._prefetch))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, ", ".join(self._prefetch)) from exc
        for error in response.get("Errors", []):
            raise _error_for(error.get("ErrorCode"), str(error.get("SecretId")))
        for value in response.get("SecretValues", []):
            # Ids may be given as ARN or name; the answer carries both.
            secret_id = next(s for s in self._prefetch if s in (value.get("ARN"), value.get("Name")))
            self._cache[secret_id] = (now, _parse(secret_id, value.get("SecretString", "")))
        missing = [s for s in self._prefetch if s not in self._cache]
        if missing:
            raise ConfigError(f"secrets {missing} were not returned")

    def find_json(self, secret_id: str, *, absent_for: float = 60.0) -> dict[str, str] | None:
        """Like ``get_json``, but None when the secret does not exist.

        For secrets named after attacker-supplied input (a webhook's instance name): absence is
        an answer, not an outage, and is itself cached for ``absent_for`` seconds so a flood of
        made-up names costs one call per name per minute, not one per request.
        """
        now = self._clock()
        miss = self._absent.get(secret_id)
        if miss is not None and now - miss < absent_for:
            return None
        try:
            value = self.get_json(secret_id)
        except SecretNotFound:
            if len(self._absent) >= _ABSENT_LIMIT:
                self._absent.clear()
            self._absent[secret_id] = now
            return None
        self._absent.pop(secret_id, None)
        return value

    def refresh(self, secret_id: str, *, min_age: float = 30.0) -> bool:
        """Drop a cached value older than ``min_age`` so the next read fetches it again.

        For credentials that may have just been rotated: a caller whose proof failed against the
        cached value retries once with a fresh one. ``min_age`` bounds that to one fetch per
        secret per ``min_age`` seconds, however many bad requests arrive. Returns whether dropped.
        """
        hit = self._cache.get(secret_id)
        if hit is None or self._clock() - hit[0] < min_age:
            return False
        del self._cache[secret_id]
        return True

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


def _parse(secret_id: str, raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"secret {secret_id} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"secret {secret_id} is not a JSON object")
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _translate(exc: Exception, secret_id: str) -> Exception:
    if isinstance(exc, ClientError):
        return _error_for(exc.response.get("Error", {}).get("Code"), secret_id)
    return StoreError(f"Secrets Manager unreachable: {type(exc).__name__}")


def _error_for(code: str | None, secret_id: str) -> Exception:
    """Missing or forbidden secrets are deployment problems; anything else may pass."""
    if code == "ResourceNotFoundException":
        return SecretNotFound(f"secret {secret_id} does not exist")
    if code in _UNREADABLE:
        return ConfigError(f"secret {secret_id} cannot be read ({code})")
    return StoreError(f"Secrets Manager error {code}")
