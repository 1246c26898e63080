"""`make demo [CHANNEL=meta|evolution|whaticket]`: play a short conversation through one provider
and print the transcript with the bot's replies.

Uses the stack from `make run` when one is listening on 127.0.0.1:3000; otherwise starts its
own embedded stack for the duration. `--say TEXT` sends one message instead.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

import httpx

from atende.channels.meta import sign_meta_body
from atende.channels.relay_auth import sign_whaticket_body
from local.meta_payload import text_webhook
from local.sandbox_relays import EvolutionSandbox, WhaticketSandbox
from local.seed import DEMO

CONVERSATION = (
    "Oi, bom dia!",
    "Vocês abrem no domingo?",
    "Quanto custa o bolo de cenoura?",
    "Obrigada!",
)


class Client:
    """Plays the customer through one provider: builds that provider's webhook, proves it the way
    the channel requires, and reads the bot's replies from that provider's sandbox outbox."""

    def __init__(self, webhook_base: str, sandbox_url: str, channel: str = "meta") -> None:
        self.channel = channel
        path = f"whaticket/{DEMO.whaticket_connection}" if channel == "whaticket" else channel
        self.webhook_url = f"{webhook_base}/webhooks/{path}"
        self.outbox_url = f"{sandbox_url}{'' if channel == 'meta' else '/' + channel}/sandbox/outbox"
        self.http = httpx.Client(timeout=10)
        self._relay_bodies = EvolutionSandbox(api_keys=set())  # only its webhook-body builders are used

    def post(self, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if self.channel == "meta":
            headers["x-hub-signature-256"] = sign_meta_body(body, DEMO.app_secret)
        elif self.channel == "evolution":
            headers["x-atende-secret"] = DEMO.evolution_header_secret
        else:
            ts = int(time.time())
            headers |= {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(body, ts, DEMO.whaticket_signing_secret)}
        return self.http.post(self.webhook_url, content=body, headers=headers)

    def body(self, text: str, message_id: str | None) -> tuple[bytes, str]:
        if self.channel == "meta":
            return text_webhook(text, message_id=message_id)
        message_id = message_id or f"3EB0{uuid.uuid4().hex[:16].upper()}"
        if self.channel == "evolution":
            raw = self._relay_bodies.upsert_body(
                DEMO.evolution_instance,
                message_id=message_id,
                remote_jid=f"{DEMO.customer_wa_id}@s.whatsapp.net",
                push_name=DEMO.customer_name,
                text=text,
                timestamp=int(time.time()),
                apikey=DEMO.evolution_api_key,
            )
            return raw, message_id
        raw = WhaticketSandbox.relay_body(
            DEMO.customer_wa_id, text, message_id=message_id, push_name=DEMO.customer_name, timestamp=int(time.time())
        )
        return raw, message_id

    def replies(self) -> list[str]:
        messages = self.http.get(self.outbox_url).json()["messages"]
        if self.channel == "meta":
            return [str(m["payload"]["text"]["body"]) for m in messages if m["payload"].get("type") == "text"]
        if self.channel == "evolution":
            return [str(m["payload"]["text"]) for m in messages if m["action"] == "sendText"]
        return [str(m["payload"]["body"]) for m in messages if m["action"] == "send"]

    def say(self, text: str, *, message_id: str | None = None, wait: float = 20.0) -> tuple[int, list[str], str]:
        before = len(self.replies())
        body, message_id = self.body(text, message_id)
        status = self.post(body).status_code
        deadline = time.monotonic() + wait
        replies: list[str] = []
        while time.monotonic() < deadline:
            if len(self.replies()) > before:
                time.sleep(0.5)  # a multi-part reply's later parts follow within moments
                replies = self.replies()[before:]
                break
            time.sleep(0.1)
        return status, replies, message_id


ACCEPTED = {"meta": 200, "evolution": 200, "whaticket": 202}
LABELS = {
    "meta": "Meta Cloud API channel, signed webhooks",
    "evolution": "Evolution API channel, secret header + instance apikey",
    "whaticket": "Whaticket channel, timestamped HMAC-signed relay",
}


def running_stack(channel: str) -> Client | None:
    try:
        if httpx.get("http://127.0.0.1:3000/healthz", timeout=1).status_code == 200:
            return Client("http://127.0.0.1:3000", "http://127.0.0.1:3001", channel)
    except httpx.HTTPError:
        return None
    return None


def play(client: Client, messages: tuple[str, ...]) -> bool:
    accepted = ACCEPTED[client.channel]
    print(f"\nConversation with {DEMO.business_name} ({LABELS[client.channel]})\n")
    ok = True
    redeliver: tuple[str, str] | None = None
    for text in messages:
        status, replies, message_id = client.say(text)
        print(f"  👩 {DEMO.customer_name}: {text}")
        for reply in replies or ["(no reply within 20 s)"]:
            print(f"  🤖 {DEMO.business_name}: {reply}")
        print()
        ok = ok and status == accepted and len(replies) >= 1
        redeliver = redeliver or (text, message_id)
    if redeliver and len(messages) > 1:
        text, message_id = redeliver
        status, replies, _ = client.say(text, message_id=message_id, wait=3)
        verdict = "no duplicate reply ✔" if not replies else f"DUPLICATE REPLY ✘ {replies}"
        print(f"  ↻ the provider redelivers “{text}” (same message id, HTTP {status}): {verdict}\n")
        # A relay re-signs its retry (new timestamp): accepted, then recognised as answered.
        ok = ok and status == accepted and not replies
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo")
    parser.add_argument("--say", help="send one message instead of the scripted conversation")
    parser.add_argument("--channel", default="meta", choices=sorted(ACCEPTED), help="provider channel to play through")
    args = parser.parse_args()
    messages = (args.say,) if args.say else CONVERSATION
    client = running_stack(args.channel)
    if client is not None:
        return 0 if play(client, messages) else 1
    from local.stack import LocalStack

    print("No stack on 127.0.0.1:3000 — starting an embedded one for this demo…")
    stack = LocalStack(webhook_port=0, graph_port=0, aws_port=0).start()
    try:
        client = Client(f"http://127.0.0.1:{stack.webhook_port}", stack.sandbox_url, args.channel)
        return 0 if play(client, messages) else 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
