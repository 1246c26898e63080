"""Pseudonymous identifiers: keys and logs never carry a phone number."""

from __future__ import annotations

import base64
import hashlib
import hmac


def pseudonymous_contact_id(key: bytes, sender_id: str) -> str:
    """Keyed hash of a WhatsApp sender id (wa_id or business-scoped user id).

    HMAC (not a bare hash) so the 10^13 possible phone numbers cannot be enumerated back from
    the id without the key. Deployment-wide rather than per tenant on purpose: the webhook
    computes it before any tenant lookup (it reads no tenant data at all), and every key that
    uses it is prefixed by the tenant anyway (one partition per person per tenant). 130 bits of
    base32: collision-free at any realistic contact count, short enough for keys.
    """
    if not key:
        raise ValueError("pseudonym key must not be empty")
    digest = hmac.new(key, sender_id.encode(), hashlib.sha256).digest()
    return "c_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:26]
