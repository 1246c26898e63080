"""Build a Meta text-message webhook body for the demo and the curl example."""

from __future__ import annotations

import time
import uuid

from local.sandbox import meta_envelope
from local.seed import DEMO


def text_webhook(text: str, *, message_id: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    message_id = message_id or f"wamid.LOCAL{uuid.uuid4().hex.upper()}"
    value = {
        "contacts": [{"profile": {"name": DEMO.customer_name}, "wa_id": DEMO.customer_wa_id, "user_id": DEMO.customer_user_id}],
        "messages": [
            {
                "from": DEMO.customer_wa_id,
                "id": message_id,
                "timestamp": str(timestamp or int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    return meta_envelope(DEMO.phone_number_id, value), message_id
