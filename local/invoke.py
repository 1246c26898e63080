"""In-process equivalent of `sam local invoke` (no Docker): run one function on one event file.

    python -m local.invoke WebhookFunction events/meta_text.json
    python -m local.invoke ProcessorFunction events/sqs_meta_text.json

The function runs with its template environment (Globals + own variables, resolved) against
the stack of `make run` when one is listening, else against a throwaway embedded moto server
provisioned from template.yaml and seeded with the demo tenant. Outbound Graph API calls go to
a local sandbox; the result is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.events import LambdaContext
from local.functions import invoke


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke")
    parser.add_argument("function", help="logical id in template.yaml, e.g. WebhookFunction")
    parser.add_argument("event", type=Path, help="event JSON file, e.g. events/meta_text.json")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())

    from local.stack import LocalStack

    stack = LocalStack(webhook_port=0, graph_port=0, aws_port=0, status_callbacks=False, poll_wait_seconds=0)
    stack.start()
    stack._stop.set()  # invoke drives the function itself: no background poller
    try:
        module = {"WebhookFunction": stack.webhook, "ProcessorFunction": stack.processor}.get(args.function)
        if module is None:
            parser.error(f"unknown function {args.function}")
        timeout = int(stack.stack.function(args.function).get("Timeout", 30))
        result = invoke(module.lambda_handler, event, LambdaContext(function_name=args.function, timeout_seconds=timeout))
        print(json.dumps(result, indent=2, ensure_ascii=False))
        for call in stack.sandbox.calls:
            print(f"graph-sandbox: {call.kind} → {call.to or call.payload.get('message_id')}: {call.text or ''}", file=sys.stderr)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
