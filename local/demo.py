"""`make demo [CHANNEL=meta|evolution|whaticket]`: play a short conversation through one provider
and print the transcript with the bot's replies.

The customer writes, sends a voice note (Ogg Opus, made by ``local.media_samples``) and a photo of
her electricity bill; the bot echoes what it heard ("🔊 Entendi: …") and answers each. The files
travel the way each provider carries them: Meta — registered in the Graph sandbox, the webhook
cites the media id and sha256; Evolution — the voice note inline (webhook ``message.base64``),
the photo fetched with getBase64FromMediaMessage; Whaticket — its relays carry no file, so one
voice note gets the polite "can't open files on this channel" notice. Finally the provider
redelivers a text and a media message, which get no second reply.

Uses the stack from `make run` when one is listening on 127.0.0.1:3000; otherwise starts its
own embedded stack for the duration. `--say TEXT` sends one message instead.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from atende.channels.meta import sign_meta_body
from atende.channels.relay_auth import sign_whaticket_body
from atende.media import MediaBlob
from atende.media.local_media import image_dimensions
from local.media_samples import BILL_PNG, ogg_opus_voice_note
from local.meta_payload import VOICE_NOTE_MIME, audio_webhook, image_webhook, text_webhook
from local.sandbox_relays import EvolutionSandbox, WhaticketSandbox, baileys_media_message
from local.seed import DEMO


@dataclass(frozen=True)
class Media:
    """A file the customer sends, and how the transcript shows it."""

    kind: Literal["audio", "image"]
    blob: MediaBlob
    label: str
    caption: str | None = None
    seconds: int | None = None  # audio: the recording's length

    def __str__(self) -> str:
        return f"{self.label} {self.caption}" if self.caption else self.label


Turn = str | Media

VOICE_NOTE_SECONDS = 7
VOICE_NOTE = Media(
    "audio",
    MediaBlob(ogg_opus_voice_note(seconds=VOICE_NOTE_SECONDS), VOICE_NOTE_MIME),
    f"🎤 (nota de voz, {VOICE_NOTE_SECONDS} s)",
    seconds=VOICE_NOTE_SECONDS,
)
BILL_PHOTO = Media(
    "image",
    MediaBlob(BILL_PNG, "image/png"),
    "🖼️ (imagem: conta de luz)",
    caption="Segue minha conta de luz, dá pra fazer um orçamento de energia solar?",
)

CONVERSATION: tuple[Turn, ...] = (
    "Oi, bom dia!",
    "Vocês abrem no domingo?",
    VOICE_NOTE,
    BILL_PHOTO,
    "Quanto custa o bolo de cenoura?",
    "Obrigada!",
)


def conversation(channel: str) -> tuple[Turn, ...]:
    """The scripted conversation; a Whaticket relay carries no file, so one voice note shows that."""
    if channel == "whaticket":
        return tuple(t for t in CONVERSATION if t is not BILL_PHOTO)
    return CONVERSATION


@dataclass(frozen=True)
class Exchange:
    """One message posted to the webhook and the replies it got."""

    status: int
    replies: list[str]
    message_id: str
    body: bytes  # what was posted: a redelivery posts exactly this again
    route: str | None = None  # how a file travelled, for the transcript


class Client:
    """Plays the customer through one provider: builds that provider's webhook, proves it the way
    the channel requires, puts files where that provider's sandbox serves them, and reads the
    bot's replies from that provider's sandbox outbox."""

    def __init__(self, webhook_base: str, sandbox_url: str, channel: str = "meta") -> None:
        self.channel = channel
        path = f"whaticket/{DEMO.whaticket_connection}" if channel == "whaticket" else channel
        self.webhook_url = f"{webhook_base}/webhooks/{path}"
        self.sandbox_url = sandbox_url
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
            # A relay signs every attempt afresh (a new timestamp), a redelivery too.
            ts = int(time.time())
            headers |= {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(body, ts, DEMO.whaticket_signing_secret)}
        return self.http.post(self.webhook_url, content=body, headers=headers)

    # --- webhook bodies, per provider -------------------------------------------------------

    def body(self, turn: Turn) -> tuple[bytes, str, str | None]:
        """(webhook body, message id, how the file travels)."""
        if self.channel == "meta":
            return self._meta_body(turn)
        message_id = f"3EB0{uuid.uuid4().hex[:16].upper()}"
        now = int(time.time())
        if self.channel == "evolution":
            return self._evolution_body(turn, message_id, now)
        if isinstance(turn, str):
            raw = WhaticketSandbox.relay_body(DEMO.customer_wa_id, turn, message_id=message_id, push_name=DEMO.customer_name, timestamp=now)
            return raw, message_id, None
        message = self._baileys(turn, now, raw=True)
        raw = WhaticketSandbox.relay_body(
            DEMO.customer_wa_id, message=message, message_id=message_id, push_name=DEMO.customer_name, timestamp=now
        )
        return raw, message_id, "the relay carries only Baileys metadata: no file to download"

    def _meta_body(self, turn: Turn) -> tuple[bytes, str, str | None]:
        if isinstance(turn, str):
            body, message_id = text_webhook(turn)
            return body, message_id, None
        registered = self._register(f"{self.sandbox_url}/sandbox/media", turn.blob)
        media_id, sha256 = str(registered["id"]), str(registered["sha256"])
        if turn.kind == "audio":
            body, message_id = audio_webhook(media_id, sha256, mime_type=turn.blob.mime_type, voice=True)
        else:
            body, message_id = image_webhook(media_id, sha256, mime_type=turn.blob.mime_type, caption=turn.caption)
        return body, message_id, f"Graph media id {media_id}, downloaded by the processor with the channel's token"

    def _evolution_body(self, turn: Turn, message_id: str, now: int) -> tuple[bytes, str, str | None]:
        def upsert(*, text: str | None = None, message: dict[str, Any] | None = None) -> bytes:
            return self._relay_bodies.upsert_body(
                DEMO.evolution_instance,
                message_id=message_id,
                remote_jid=f"{DEMO.customer_wa_id}@s.whatsapp.net",
                push_name=DEMO.customer_name,
                text=text,
                message=message,
                timestamp=now,
                apikey=DEMO.evolution_api_key,
            )

        if isinstance(turn, str):
            return upsert(text=turn), message_id, None
        message = self._baileys(turn, now, raw=False)
        if turn.kind == "audio":
            # Webhook base64 on: Evolution puts the decrypted file in the message itself.
            message["base64"] = base64.b64encode(turn.blob.data).decode("ascii")
            route = "inline in the webhook (message.base64)"
        else:
            self._register(f"{self.sandbox_url}/evolution/sandbox/media/{message_id}", turn.blob)
            route = "fetched by the processor with getBase64FromMediaMessage"
        return upsert(message=message), message_id, route

    @staticmethod
    def _baileys(turn: Media, now: int, *, raw: bool) -> dict[str, Any]:
        return baileys_media_message(
            turn.kind,
            turn.blob.data,
            turn.blob.mime_type,
            sent_at=now,
            caption=turn.caption,
            seconds=turn.seconds,
            ptt=turn.kind == "audio",
            dimensions=image_dimensions(turn.blob) if turn.kind == "image" else None,
            raw=raw,
        )

    def _register(self, url: str, blob: MediaBlob) -> dict[str, object]:
        """Put the file in the provider sandbox, as if the customer's phone had uploaded it."""
        response = self.http.post(url, content=blob.data, headers={"content-type": blob.mime_type})
        if response.status_code not in (200, 201):
            raise RuntimeError(
                f"the provider sandbox refused the demo's file (HTTP {response.status_code} from {url}); "
                "if `make run` was started before media support, restart it"
            )
        doc: dict[str, object] = response.json()
        return doc

    # --- the outbox ---------------------------------------------------------------------------

    def replies(self) -> list[str]:
        messages = self.http.get(self.outbox_url).json()["messages"]
        if self.channel == "meta":
            return [str(m["payload"]["text"]["body"]) for m in messages if m["payload"].get("type") == "text"]
        if self.channel == "evolution":
            return [str(m["payload"]["text"]) for m in messages if m["action"] == "sendText"]
        return [str(m["payload"]["body"]) for m in messages if m["action"] == "send"]

    def say(self, turn: Turn, *, wait: float = 20.0) -> Exchange:
        before = len(self.replies())
        body, message_id, route = self.body(turn)
        status = self.post(body).status_code
        return Exchange(status, self._replies_after(before, wait), message_id, body, route)

    def redeliver(self, exchange: Exchange, *, wait: float = 3.0) -> Exchange:
        """The provider posts the same message again (same body, same message id)."""
        before = len(self.replies())
        status = self.post(exchange.body).status_code
        return Exchange(status, self._replies_after(before, wait), exchange.message_id, exchange.body, exchange.route)

    def _replies_after(self, before: int, wait: float, *, settle: float = 0.6) -> list[str]:
        """The new replies: waits for the first, then until none has followed for ``settle`` seconds
        (a transcript echo and a multi-part answer arrive as several messages)."""
        deadline = time.monotonic() + wait
        seen, quiet_since = before, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.replies())
            if count != seen:
                seen, quiet_since = count, time.monotonic()
            elif seen > before and time.monotonic() - quiet_since >= settle:
                break
            time.sleep(0.1)
        return self.replies()[before:]


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


def _print_replies(replies: list[str]) -> None:
    for reply in replies or ["(no reply within 20 s)"]:
        indent = " " * (len(DEMO.business_name) + 7)
        print(f"  🤖 {DEMO.business_name}: {reply.replace(chr(10), chr(10) + indent)}")


def play(client: Client, messages: Sequence[Turn]) -> bool:
    accepted = ACCEPTED[client.channel]
    print(f"\nConversation with {DEMO.business_name} ({LABELS[client.channel]})\n")
    ok = True
    redeliveries: dict[type, tuple[Turn, Exchange]] = {}  # the first text and the first file
    for turn in messages:
        exchange = client.say(turn)
        print(f"  👩 {DEMO.customer_name}: {turn}")
        if exchange.route:
            print(f"     ↳ {exchange.route}")
        _print_replies(exchange.replies)
        print()
        ok = ok and exchange.status == accepted and len(exchange.replies) >= 1
        redeliveries.setdefault(type(turn), (turn, exchange))
    if len(messages) > 1:
        for turn, first in redeliveries.values():
            again = client.redeliver(first)
            verdict = "no duplicate reply ✔" if not again.replies else f"DUPLICATE REPLY ✘ {again.replies}"
            shown = f"“{turn}”" if isinstance(turn, str) else turn.label
            print(f"  ↻ the provider redelivers {shown} (same message id, HTTP {again.status}): {verdict}\n")
            # A relay re-signs its retry (new timestamp): accepted, then recognised as answered.
            ok = ok and again.status == accepted and not again.replies
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo")
    parser.add_argument("--say", help="send one message instead of the scripted conversation")
    parser.add_argument("--channel", default="meta", choices=sorted(ACCEPTED), help="provider channel to play through")
    args = parser.parse_args()
    messages: tuple[Turn, ...] = (args.say,) if args.say else conversation(args.channel)
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
