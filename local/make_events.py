"""Regenerate events/*.json: the same signed events feed `make invoke`, `sam local invoke` and tests.

python -m local.make_events
"""

from __future__ import annotations

import json

from atende.channels.meta import sign_meta_body
from local.events import http_api_event, synthetic_sqs_record
from local.seed import DEMO
from local.template import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "meta"
EVENTS = ROOT / "events"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:atende-dev-inboundqueue.fifo"


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().rstrip(b"\n")


def _write(name: str, event: dict[str, object]) -> None:
    (EVENTS / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    EVENTS.mkdir(exist_ok=True)
    for fixture, name in (("text.json", "meta_text.json"), ("status_sent.json", "meta_status_sent.json")):
        raw = _raw(fixture)
        headers = {
            "content-type": "application/json",
            "user-agent": "facebookexternalua",
            "x-hub-signature-256": sign_meta_body(raw, DEMO.app_secret),
        }
        _write(name, http_api_event("POST", "/webhooks/meta", body=raw, headers=headers))
    _write(
        "meta_verify.json",
        http_api_event(
            "GET", "/webhooks/meta", raw_query=f"hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={DEMO.verify_token}"
        ),
    )
    evolution = (ROOT / "tests" / "fixtures" / "evolution" / "text_conversation.json").read_bytes().rstrip(b"\n")
    headers = {"content-type": "application/json", "user-agent": "axios/1.7.7", "x-atende-secret": DEMO.evolution_header_secret}
    _write("evolution_text.json", http_api_event("POST", "/webhooks/evolution", body=evolution, headers=headers))
    raw = _raw("text.json")
    _write(
        "meta_bad_signature.json", http_api_event("POST", "/webhooks/meta", body=raw, headers={"x-hub-signature-256": "sha256=" + "0" * 64})
    )
    # The queued envelope the webhook produces for text.json (contact id of the demo pseudonym key
    # is computed at invoke time, so this record uses a fixed example id).
    body = {
        "v": 1,
        "kind": "message",
        "message": {
            "tenant_id": DEMO.tenant_id,
            "channel_id": f"meta:{DEMO.phone_number_id}",
            "provider": "meta",
            "provider_message_id": "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA==",
            "contact": {
                "contact_id": "c_example0000000000000000000",
                "wa_id": DEMO.customer_wa_id,
                "user_id": DEMO.customer_user_id,
                "name": DEMO.customer_name,
            },
            "timestamp": 4102444800,  # 2100-01-01: always inside the 24 h window when invoked
            "type": "text",
            "text": "Olá! Vocês abrem no domingo? 🥐",
        },
    }
    record = synthetic_sqs_record(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        group_id=f"{DEMO.tenant_id}#c_example0000000000000000000",
        dedup_id=body["message"]["provider_message_id"],  # type: ignore[index]
        queue_arn=QUEUE_ARN,
    )
    from local.events import sqs_event

    _write("sqs_meta_text.json", sqs_event([record], queue_arn=QUEUE_ARN))


if __name__ == "__main__":
    main()
