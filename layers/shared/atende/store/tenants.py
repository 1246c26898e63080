"""Tenants and channels: read on every message, so cached per warm container.

A tenant item carries a ``version`` that every write increments: a settings change reads the
tenant with its version (``tenant_record``) and writes it back with ``expected_version``, so two
operators changing the same tenant at once cannot silently undo each other's change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from atende.domain.messages import Provider
from atende.domain.tenants import Channel, Tenant
from atende.errors import ConcurrentUpdate
from atende.store import aws
from atende.store.dynamo import error_code, from_attrs, store_error, to_attrs
from atende.store.keys import channel_key, tenant_key

T = TypeVar("T")


class ChannelTaken(ValueError):
    """The provider id is registered to another tenant."""


class TenantChanged(ConcurrentUpdate):
    """The tenant item changed (or disappeared) since it was read: read it again and reapply."""


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """A tenant as stored, with the version a conditional write must expect."""

    tenant: Tenant
    version: int  # 0 = an item written before tenant items had versions


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

    def tenant_record(self, tenant_id: str) -> TenantRecord | None:
        """The tenant and its version, read consistently and never from the cache (settings changes)."""
        try:
            response = self._ddb.get_item(TableName=self._table, Key=to_attrs(tenant_key(tenant_id)), ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc, "GetItem") from exc
        item = from_attrs(response.get("Item"))
        if not item:
            return None
        return TenantRecord(tenant=Tenant.from_item(item), version=int(item.get("version", 0)))

    def put_tenant(self, tenant: Tenant, *, only_if_absent: bool = False, expected_version: int | None = None) -> bool:
        """Write the tenant's settings and increment its version.

        With ``only_if_absent`` an existing tenant is left untouched (returns False). With
        ``expected_version`` the write happens only if the stored tenant still has that version
        (``TenantChanged`` otherwise); the new version is ``expected_version + 1``. Without either,
        the settings are overwritten. Returns whether the item was written. Settings that are
        None (no model, no text overrides) are removed from the item.
        """
        if only_if_absent and expected_version is not None:
            raise ValueError("pass only_if_absent or expected_version, not both")
        if expected_version is not None and expected_version < 0:
            raise ValueError("expected_version must not be negative")
        attributes = {"entity": "tenant", **tenant.to_item()}
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values: dict[str, Any] = {f":a{i}": value for i, value in enumerate(attributes.values()) if value is not None}
        sets = [f"#a{i} = :a{i}" for i, value in enumerate(attributes.values()) if value is not None]
        removes = [f"#a{i}" for i, value in enumerate(attributes.values()) if value is None]
        names["#version"] = "version"
        condition: dict[str, str] = {}
        if only_if_absent:
            sets.append("#version = :one")
            values[":one"] = 1
            condition["ConditionExpression"] = "attribute_not_exists(PK)"
        elif expected_version is not None:
            sets.append("#version = :next")
            values[":next"] = expected_version + 1
            if expected_version:
                condition["ConditionExpression"] = "#version = :expected"
                values[":expected"] = expected_version
            else:
                condition["ConditionExpression"] = "attribute_exists(PK) AND attribute_not_exists(#version)"
        else:
            sets.append("#version = if_not_exists(#version, :zero) + :one")
            values.update({":zero": 0, ":one": 1})
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=to_attrs(tenant_key(tenant.tenant_id)),
                UpdateExpression=update,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_attrs(values),
                **condition,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise store_error(exc, "UpdateItem") from exc
            if only_if_absent:
                return False
            raise TenantChanged(f"tenant {tenant.tenant_id} changed since version {expected_version} was read") from exc
        except BotoCoreError as exc:
            raise store_error(exc, "UpdateItem") from exc
        finally:
            self.forget_tenant(tenant.tenant_id)
        return True

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop this container's cached copy (other warm containers keep theirs up to ``cache_seconds``)."""
        self._cache.pop(("tenant", tenant_id), None)

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
