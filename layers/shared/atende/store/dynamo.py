"""Small helpers over the low-level DynamoDB client (lighter to import than boto3.resource)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from atende.errors import StoreError

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _attr(v) for k, v in values.items()}


def from_attrs(item: Mapping[str, Any] | None) -> dict[str, Any]:
    if not item:
        return {}
    return {k: _value(v) for k, v in item.items()}


# Fast paths for the plain types our items are made of (str, int, bool, dict, list): boto3's
# TypeSerializer/TypeDeserializer check every value against collections.abc ABCs, which was a
# measurable share of the processor's CPU per message. Everything else (Decimal, float, sets,
# bytes, None) goes through boto3's own (de)serializer, unchanged.


def _attr(value: Any) -> dict[str, Any]:
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int:
        return {"N": str(value)}
    if kind is dict:
        return {"M": {k: _attr(v) for k, v in value.items() if v is not None}}
    if kind is list or kind is tuple:
        return {"L": [_attr(v) for v in value]}
    return dict(_serializer.serialize(_to_dynamo(value)))


def _value(attr: Mapping[str, Any]) -> Any:
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        text = attr["N"]
        try:
            return int(text)
        except ValueError:
            return _from_dynamo(Decimal(text))
    if "BOOL" in attr:
        return attr["BOOL"]
    if "M" in attr:
        return {k: _value(v) for k, v in attr["M"].items()}
    if "L" in attr:
        return [_value(v) for v in attr["L"]]
    return _from_dynamo(_deserializer.deserialize(attr))  # type: ignore[arg-type]  # a wire-format attribute value


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def store_error(exc: Exception, operation: str) -> StoreError:
    if isinstance(exc, ClientError):
        return StoreError(f"DynamoDB {operation} failed: {error_code(exc)}")
    if isinstance(exc, BotoCoreError):
        return StoreError(f"DynamoDB {operation} failed: {type(exc).__name__}")
    return StoreError(f"DynamoDB {operation} failed")
