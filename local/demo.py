"""`make demo`: play a short signed conversation and print the transcript with the bot's replies.

Uses the stack from `make run` when one is listening on 127.0.0.1:3000; otherwise starts its
own embedded stack for the duration. `--say TEXT` sends one message instead.
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx

from atende.channels.meta import sign_meta_body
from local.meta_payload import text_webhook
from local.seed import DEMO

CONVERSATION = (
    "Oi, bom dia!",
    "Vocês abrem no domingo?",
    "Quanto custa o bolo de cenoura?",
    "Obrigada!",
)


class Client:
    def __init__(self, webhook_url: str, outbox_url: str) -> None:
        self.webhook_url = webhook_url
        self.outbox_url = outbox_url
        self.http = httpx.Client(timeout=10)

    def post(self, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json", "x-hub-signature-256": sign_meta_body(body, DEMO.app_secret)}
        return self.http.post(self.webhook_url, content=body, headers=headers)

    def outbox(self) -> list[dict[str, object]]:
        return [m for m in self.http.get(self.outbox_url).json()["messages"] if m["payload"].get("type") == "text"]

    def say(self, text: str, *, message_id: str | None = None, wait: float = 20.0) -> tuple[int, list[str], str]:
        before = len(self.outbox())
        body, message_id = text_webhook(text, message_id=message_id)
        status = self.post(body).status_code
        deadline = time.monotonic() + wait
        replies: list[str] = []
        while time.monotonic() < deadline:
            new = self.outbox()[before:]
            if new:
                time.sleep(0.5)  # a multi-part reply's later parts follow within moments
                replies = [str(m["payload"]["text"]["body"]) for m in self.outbox()[before:]]  # type: ignore[index]
                break
            time.sleep(0.1)
        return status, replies, message_id


def running_stack() -> Client | None:
    try:
        if httpx.get("http://127.0.0.1:3000/healthz", timeout=1).status_code == 200:
            return Client("http://127.0.0.1:3000/webhooks/meta", "http://127.0.0.1:3001/sandbox/outbox")
    except httpx.HTTPError:
        return None
    return None


def play(client: Client, messages: tuple[str, ...]) -> bool:
    print(f"\nConversation with {DEMO.business_name} (Meta channel, signed webhooks)\n")
    ok = True
    redeliver: tuple[str, str] | None = None
    for text in messages:
        status, replies, message_id = client.say(text)
        print(f"  👩 {DEMO.customer_name}: {text}")
        for reply in replies or ["(no reply within 20 s)"]:
            print(f"  🤖 {DEMO.business_name}: {reply}")
        print()
        ok = ok and status == 200 and len(replies) >= 1
        redeliver = redeliver or (text, message_id)
    if redeliver and len(messages) > 1:
        text, message_id = redeliver
        status, replies, _ = client.say(text, message_id=message_id, wait=3)
        verdict = "no duplicate reply ✔" if not replies else f"DUPLICATE REPLY ✘ {replies}"
        print(f"  ↻ Meta redelivers the webhook of “{text}” (same message id, HTTP {status}): {verdict}\n")
        ok = ok and status == 200 and not replies
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo")
    parser.add_argument("--say", help="send one message instead of the scripted conversation")
    parser.add_argument("--channel", default="meta", choices=["meta"], help="provider channel to play through")
    args = parser.parse_args()
    messages = (args.say,) if args.say else CONVERSATION
    client = running_stack()
    if client is not None:
        return 0 if play(client, messages) else 1
    from local.stack import LocalStack

    print("No stack on 127.0.0.1:3000 — starting an embedded one for this demo…")
    stack = LocalStack(webhook_port=0, graph_port=0, aws_port=0).start()
    try:
        client = Client(stack.webhook_url, f"http://127.0.0.1:{stack.graph_port}/sandbox/outbox")
        return 0 if play(client, messages) else 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
