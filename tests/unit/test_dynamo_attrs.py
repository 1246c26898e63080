"""store.dynamo's fast (de)serialisation paths give exactly what boto3's TypeSerializer/TypeDeserializer give."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from atende.store import dynamo

_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


def library_to_attrs(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(dynamo._to_dynamo(v)) for k, v in values.items()}


def library_from_attrs(item: dict[str, Any]) -> dict[str, Any]:
    return {k: dynamo._from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


_leaf = st.one_of(
    st.text(),
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.frozensets(st.text(min_size=1), min_size=1).map(set),
)
_values = st.recursive(
    _leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=12
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=5), _values, max_size=5))
def test_fast_paths_agree_with_boto3_both_ways(item: dict[str, Any]) -> None:
    # Given any item our stores could write; Then both directions match boto3's own result exactly
    expected = library_to_attrs(item)
    assert dynamo.to_attrs(item) == expected
    assert dynamo.from_attrs(expected) == library_from_attrs(expected)


def test_a_typical_profile_update_round_trips() -> None:
    # Given the shapes of a profile update: nested maps, lists, a Decimal cost, a string set
    item = {"memory": [{"r": "user", "t": "oi", "at": 1763722800}], "session": {"cost_brl": Decimal("0.000123"), "human": False}}
    attrs = dynamo.to_attrs({**item, "ids": {"a:1", "b:2"}, "gone": None})
    # Then it is DynamoDB's JSON, and reads back as plain Python (integral numbers as int)
    assert attrs["memory"] == {"L": [{"M": {"r": {"S": "user"}, "t": {"S": "oi"}, "at": {"N": "1763722800"}}}]}
    assert attrs["gone"] == {"NULL": True}
    assert dynamo.from_attrs(attrs)["session"] == {"cost_brl": 0.000123, "human": False}
