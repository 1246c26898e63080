"""Build a Meta text-message webhook body for the demo and the curl example (ASCII JSON, like Meta)."""

from __future__ import annotations

import json
import time
import uuid

from local.seed import DEMO


def text_webhook(text: str, *, message_id: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    message_id = message_id or f"wamid.LOCAL{uuid.uuid4().hex.upper()}"
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": DEMO.display_phone_number, "phone_number_id": DEMO.phone_number_id},
                            "contacts": [
                                {"profile": {"name": DEMO.customer_name}, "wa_id": DEMO.customer_wa_id, "user_id": DEMO.customer_user_id}
                            ],
                            "messages": [
                                {
                                    "from": DEMO.customer_wa_id,
                                    "id": message_id,
                                    "timestamp": str(timestamp or int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    # ensure_ascii: Meta escapes non-ASCII as \uXXXX and signs exactly those bytes.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode(), message_id
