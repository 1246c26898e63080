"""Tenants and channels: read on every message, so cached per warm container."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from atende.domain.messages import Provider
from atende.domain.tenants import Channel, Tenant
from atende.store import aws
from atende.store.dynamo import error_code, from_attrs, store_error, to_attrs
from atende.store.keys import channel_key, tenant_key

T = TypeVar("T")


class ChannelTaken(ValueError):
    """The provider id is registered to another tenant."""


class TenantDirectory:
    def __init__(self, table_name: str, *, client: Any | None = None, cache_seconds: float = 300.0, clock: Any = time.monotonic) -> None:
        self._table = table_name
        self._client = client
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, object]] = {}

    @property
    def _ddb(self) -> Any:
        return self._client or aws.client("dynamodb")

    def channel(self, provider: Provider, external_id: str) -> Channel | None:
        return self._cached(("channel", provider.value, external_id), channel_key(provider.value, external_id), Channel.from_item)

    def channel_by_id(self, channel_id: str) -> Channel | None:
        provider, _, external_id = channel_id.partition(":")
        return self.channel(Provider(provider), external_id)

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self._cached(("tenant", tenant_id), tenant_key(tenant_id), Tenant.from_item)

    def put_tenant(self, tenant: Tenant, *, only_if_absent: bool = False) -> bool:
        """Write the tenant; with ``only_if_absent`` an existing tenant is left untouched.

        Returns whether the item was written.
        """
        item = {**tenant_key(tenant.tenant_id), "entity": "tenant", **tenant.to_item()}
        written = self._put(item, only_if_absent=only_if_absent)
        self._cache.pop(("tenant", tenant.tenant_id), None)
        return written

    def put_channel(self, channel: Channel) -> None:
        """Write the channel; refused (``ChannelTaken``) when another tenant owns this provider id.

        Evolution instance and Whaticket connection names are chosen by each operator, so two
        businesses may pick the same one: the second registration must fail, never redirect the
        first business's customers.
        """
        item = {
            **channel_key(channel.provider.value, channel.external_id),
            "entity": "channel",
            "tenant_id": channel.tenant_id,
            "provider": channel.provider.value,
            "external_id": channel.external_id,
            "display_phone_number": channel.display_phone_number,
            "access_token_secret_id": channel.access_token_secret_id,
            "base_url": channel.base_url,
            "options": channel.options or None,
        }
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=to_attrs({k: v for k, v in item.items() if v is not None}),
                ConditionExpression="attribute_not_exists(PK) OR tenant_id = :tenant",
                ExpressionAttributeValues=to_attrs({":tenant": channel.tenant_id}),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ChannelTaken(f"{channel.channel_id} belongs to another tenant") from exc
            raise store_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "PutItem") from exc
        self._cache.pop(("channel", channel.provider.value, channel.external_id), None)

    def ensure_channel_available(self, channel: Channel) -> None:
        """Raise ``ChannelTaken`` before anything (secrets) is written for a channel owned by another tenant."""
        self._cache.pop(("channel", channel.provider.value, channel.external_id), None)
        current = self.channel(channel.provider, channel.external_id)
        if current is not None and current.tenant_id != channel.tenant_id:
            raise ChannelTaken(f"{channel.channel_id} belongs to another tenant")

    def _put(self, item: dict[str, Any], *, only_if_absent: bool = False) -> bool:
        condition = {"ConditionExpression": "attribute_not_exists(PK)"} if only_if_absent else {}
        try:
            self._ddb.put_item(TableName=self._table, Item=to_attrs({k: v for k, v in item.items() if v is not None}), **condition)
        except ClientError as exc:
            if only_if_absent and error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise store_error(exc, "PutItem") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "PutItem") from exc
        return True

    def _cached(self, cache_key: tuple[str, ...], key: dict[str, str], build: Callable[[dict[str, Any]], T]) -> T | None:
        """The built domain object, cached (the webhook asks for the same channel on every message)."""
        now = self._clock()
        hit = self._cache.get(cache_key)
        if hit and now - hit[0] < self._ttl:
            return hit[1]  # type: ignore[return-value]
        try:
            response = self._ddb.get_item(TableName=self._table, Key=to_attrs(key))
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        item = from_attrs(response.get("Item"))
        if not item:
            # Not cached: a number registered a minute ago must work at once, and unknown
            # numbers are rare (Meta only delivers for numbers subscribed to our app).
            return None
        value = build(item)
        self._cache[cache_key] = (now, value)
        return value
