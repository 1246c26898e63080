"""Pseudonymous identifiers: keys and logs never carry a phone number."""

from __future__ import annotations

import base64
import hashlib
import hmac


def pseudonymous_contact_id(key: bytes, tenant_id: str, sender_id: str) -> str:
    """Keyed hash of a WhatsApp sender id, scoped to one tenant.

    HMAC (not a bare hash) so the 10^13 possible phone numbers cannot be enumerated back from
    the id without the key, and tenant-scoped so one tenant's ids say nothing about another's.
    130 bits of base32: collision-free at any realistic contact count, short enough for keys.
    """
    if not key:
        raise ValueError("pseudonym key must not be empty")
    digest = hmac.new(key, f"{tenant_id}\x1f{sender_id}".encode(), hashlib.sha256).digest()
    return "c_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:26]
