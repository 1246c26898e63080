"""Signed relay deliveries are accepted once: the signature is remembered for its window.

A conditional PutItem in the idempotency table (``id`` = ``replay#…``, TTL ``expiration``) is
shared by every webhook container, unlike an in-memory set. The webhook's IAM policy allows
only keys with that prefix. Low-level client calls only: this runs on the webhook.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.errors import StoreError
from atende.store import aws

REPLAY_KEY_PREFIX = "replay#"


class ReplayGuard:
    def __init__(self, table_name: str, *, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def _ddb(self) -> Any:
        return self._client or aws.client("dynamodb")

    @staticmethod
    def key(channel_id: str, signature: str) -> str:
        return f"{REPLAY_KEY_PREFIX}{channel_id}#{signature}"

    def first_seen(self, channel_id: str, signature: str, *, expires_at: int) -> bool:
        """Remember the signature; False when it was already remembered (a replay)."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item={"id": {"S": self.key(channel_id, signature)}, "expiration": {"N": str(expires_at)}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StoreError(f"DynamoDB PutItem failed: {exc.response.get('Error', {}).get('Code')}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB PutItem failed: {type(exc).__name__}") from exc
        return True

    def forget(self, channel_id: str, signature: str) -> None:
        """Undo ``first_seen`` when the delivery could not be queued, so the relay's retry is accepted."""
        try:
            self._ddb.delete_item(TableName=self._table, Key={"id": {"S": self.key(channel_id, signature)}})
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"DynamoDB DeleteItem failed: {type(exc).__name__}") from exc
