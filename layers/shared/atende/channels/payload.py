"""Defensive readers for provider JSON: every channel parser reads untrusted documents.

Stdlib only (webhook cold-start path). None means "absent or unusable", never an exception.
"""

from __future__ import annotations

import json
from typing import Any

from atende.errors import MalformedPayload


def decode_json(raw_body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or MalformedPayload (→ 400)."""
    try:
        doc = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MalformedPayload("body is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedPayload("body is not a JSON object")
    return doc


def text(value: Any) -> str | None:
    """A non-empty string, lone surrogates replaced; anything else None."""
    if not isinstance(value, str) or not value:
        return None
    if value.isascii():
        return value
    # JSON allows escaped lone surrogates ("\\ud800"); they are not text and would make every
    # later encode (queue body, LLM request, reply) fail. Replace them once, here.
    return value.encode("utf-8", "replace").decode("utf-8")


def integer(value: Any) -> int | None:
    """An int from an int, an all-ASCII-digit string or a protobuf Long ``{low, high, unsigned}``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():  # "²".isdigit() is True
        return int(value)
    if isinstance(value, dict) and "low" in value:
        low, high = value.get("low"), value.get("high", 0)
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool) and not isinstance(high, bool):
            unsigned = value.get("unsigned") is True
            combined = ((high & 0xFFFFFFFF) << 32) | (low & 0xFFFFFFFF)
            if not unsigned and combined >= 1 << 63:
                combined -= 1 << 64
            return combined
    return None


def number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, (int, float, str)):
        return None
    try:
        result = float(value)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer like 10**400
        return None
    return result if result == result and result not in (float("inf"), float("-inf")) else None


def obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one."""
    return value if isinstance(value, dict) else {}


def objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list (junk items dropped), or an empty list."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def items(value: Any) -> list[Any]:
    """A list's items as sent, junk included (so junk can be counted), or an empty list."""
    return value if isinstance(value, list) else []
