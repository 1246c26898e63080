"""`make run`: start the embedded local stack and keep it serving until Ctrl-C.

python -m local.run [--verbose] [--seconds N]
"""

from __future__ import annotations

import argparse
import signal
import threading

from local.meta_payload import text_webhook
from local.seed import DEMO
from local.stack import LocalStack


def banner(stack: LocalStack) -> str:
    body, _ = text_webhook("Olá! Vocês abrem no domingo?")
    return f"""
Atende is running locally (no AWS account, no Docker, no API keys).

  webhook      {stack.webhook_url}        (the real WebhookFunction)
  graph API    http://127.0.0.1:{stack.graph_port}/sandbox/outbox  (messages the bot sent)
  AWS (moto)   http://127.0.0.1:{stack.aws_port}     (DynamoDB, SQS FIFO + DLQ, S3, Secrets Manager from template.yaml)
  LLM          {stack.llm_label}
  tenant       {DEMO.tenant_id} — Meta phone_number_id {DEMO.phone_number_id}, app secret '{DEMO.app_secret}'

Talk to it as Meta would — a signed webhook:

  BODY='{body.decode()}'
  SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac '{DEMO.app_secret}' | sed 's/^.* //')
  curl -sS -X POST {stack.webhook_url} -H 'Content-Type: application/json' -H "X-Hub-Signature-256: sha256=$SIG" --data-raw "$BODY"
  curl -sS http://127.0.0.1:{stack.graph_port}/sandbox/outbox

Send the same curl again: it is a redelivery of the same message id, and gets no second reply.

Or in another terminal:  make demo          (plays a short conversation against this stack)
                         make say TEXT='Quanto custa o bolo de cenoura?'
Press Ctrl-C to stop.
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local.run")
    parser.add_argument("--verbose", action="store_true", help="print the functions' JSON logs and EMF metrics")
    parser.add_argument("--seconds", type=float, default=0, help="stop after N seconds (0 = until Ctrl-C)")
    args = parser.parse_args()
    stack = LocalStack(verbose=args.verbose).start()
    print(banner(stack), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait(args.seconds or None)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
        print("stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
