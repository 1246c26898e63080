"""Media end to end: provider webhook → SQS FIFO (moto) → processor → download, S3, understanding → reply.

The real handlers and adapters throughout: Graph and the relays are their sandboxes, S3/DynamoDB/SQS
are moto, and the openai / google-genai SDKs talk to ``tests/media_fakes.py`` (the assistant's chat to
``tests/fakes.FakeOpenAI``), routed by ``media_fakes.llm_transport``. Media is made in code
(``local/media_samples.py``). Failed records are made visible again at once (retry_immediately).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import boto3
import pytest

from atende.channels.relay_auth import sign_whaticket_body
from atende.domain.tenants import MediaSettings, Tenant
from atende.store.conversations import ConversationStore
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.media_samples import BILL_PNG, VOICE_NOTE, jpeg_headers
from local.sandbox_relays import baileys_media_message
from local.seed import DEMO
from tests.conftest import fixture_json
from tests.fakes import FakeOpenAI
from tests.media_fakes import FakeOpenAIMedia, llm_transport, openai_error
from tests.support import Pipeline, build_pipeline, enqueue_again

VOICE_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBMUY0QzJEOThCN0U2QTUxAA=="  # meta/audio_voice.json
VOICE_MEDIA_ID = "1098765432109876"
IMAGE_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBBMjM0NTY3ODlBQkNERUYwAA=="  # meta/image.json
IMAGE_MEDIA_ID = "1479537139650973"
VIDEO_MEDIA_ID = "2233445566778899"  # meta/video.json
STICKER_MEDIA_ID = "4455667788990011"  # meta/sticker.json
VOICE_MIME = "audio/ogg; codecs=opus"
MARIANA_JID = "5511987654321@s.whatsapp.net"
EVO_HEADERS = {"x-atende-secret": DEMO.evolution_header_secret}
EVOLUTION_ID = "3A0B5C2D9E4F6A1B8C7D"

SPOKEN = "Oi, bom dia! Vocês ainda têm pão de queijo? Queria encomendar duas dúzias para sábado."
ANSWER = "Temos sim! 🧀 Duas dúzias de pão de queijo saem por R$ 36,00. Posso reservar para sábado de manhã?"
PHOTO = jpeg_headers(1200, 1600)
DESCRIPTION = "Foto de um bolo de cenoura com a cobertura de chocolate escorrida e amassada dentro da caixa."
# An MP4's boxes (ftyp, free, mdat): stored and acknowledged, never decoded here.
MP4_CLIP = (
    b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00\x00\x00\x08free" + b"\x00\x00\x08\x08mdat" + bytes(range(256)) * 8
)
APOLOGY = "Desculpe, tive um problema para responder agora. 🙏 Já registramos o ocorrido; por favor, tente de novo em alguns minutos."
MEDIA_EXPIRED = "Não consegui abrir o arquivo que você enviou: ele pode ter expirado. Pode enviar de novo, por favor? 🙏"
NOT_DOWNLOADABLE = "Recebi seu arquivo, mas por este canal ainda não consigo abri-lo. Pode me contar em texto do que se trata?"
OFFLINE_VOICE_ANSWER = (
    "🤖 [modo offline] Recebi sua mensagem e vou repassar para a equipe.\n"
    "Você disse: “[mensagem de voz transcrita] [transcrição offline] áudio de 7 s” (mensagem 1 desta conversa)."
)


def now() -> int:
    return int(time.time())


def b64_digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def meta_webhook(fixture: str, data: bytes, **media: Any) -> bytes:
    """A named Meta media fixture, sent now, citing ``data``'s sha256 (plus any media field overrides),
    serialised as Meta serialises (compact ASCII JSON)."""
    doc = fixture_json(fixture)
    [message] = doc["entry"][0]["changes"][0]["value"]["messages"]
    message["timestamp"] = str(now())
    message[message["type"]] |= {"sha256": b64_digest(data), **media}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()


def make_pipeline(
    stack: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    provider: str = "local",
    media: MediaSettings | None = None,
    chat: FakeOpenAI | None = None,
    openai: FakeOpenAIMedia | None = None,
) -> Pipeline:
    """The demo tenant with ``media`` settings (on OpenAI when fakes are given)."""
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")  # SQS redelivery is the retry under test here
    monkeypatch.setenv("MEDIA_MAX_RETRIES", "0")
    if chat is not None or openai is not None:
        SecretStore(max_age=0).put_json(stack.resources["LlmSecret"].ref, {"openai_api_key": "sk-test-123"})
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    # Written before build_pipeline: the service's directory (CONFIG_CACHE_SECONDS) starts empty.
    directory.put_tenant(Tenant(tenant_id=DEMO.tenant_id, name=DEMO.business_name, llm_provider=provider, media=media or MediaSettings()))
    p = build_pipeline(stack, llm_transport=llm_transport(chat=chat, media=openai))
    return p


def store(stack: Any) -> ConversationStore:
    return ConversationStore(stack.resources["AtendeTable"].ref, stack.resources["IdempotencyTable"].ref)


def contact_items(stack: Any, contact_id: str) -> dict[str, dict[str, Any]]:
    return {i["SK"]: i for i in store(stack).contact_items(DEMO.tenant_id, contact_id)}


def contact_of(stack: Any, message_id: str) -> str:
    """The pseudonymous contact id an inbound message was recorded under (read back, so no test
    peeks at the queue: a receive would count as a delivery attempt)."""
    table = stack.resources["AtendeTable"].ref
    found = boto3.client("dynamodb").scan(
        TableName=table, FilterExpression="SK = :sk", ExpressionAttributeValues={":sk": {"S": f"MSG#IN#{message_id}"}}
    )["Items"]
    [item] = found
    return item["PK"]["S"].removeprefix(f"TENANT#{DEMO.tenant_id}#CONTACT#")


def media_key(contact_id: str, message_id: str, data: bytes, extension: str) -> str:
    segment = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return f"media/{DEMO.tenant_id}/{contact_id}/{segment}/{hashlib.sha256(data).hexdigest()[:16]}{extension}"


def bucket_keys(stack: Any) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.resources["MediaBucket"].ref)
    return [item["Key"] for item in listed.get("Contents", [])]


def evolution_says(p: Pipeline, message: dict[str, Any], message_id: str = EVOLUTION_ID) -> None:
    raw = p.evolution.upsert_body(
        DEMO.evolution_instance,
        message_id=message_id,
        remote_jid=MARIANA_JID,
        push_name=DEMO.customer_name,
        message=message,
        timestamp=now(),
        apikey=DEMO.evolution_api_key,
    )
    assert p.post("/webhooks/evolution", raw, EVO_HEADERS)["statusCode"] == 200


# --- Meta voice notes ---------------------------------------------------------------------------


def _voice_pipeline(stack, monkeypatch) -> tuple[Pipeline, FakeOpenAI, FakeOpenAIMedia]:
    """The demo tenant on OpenAI, echoing transcripts; Mariana's 7-second voice note in the Graph sandbox."""
    chat, openai = FakeOpenAI(reply=ANSWER), FakeOpenAIMedia(transcript=SPOKEN)
    p = make_pipeline(stack, monkeypatch, provider="openai", media=MediaSettings(transcript_echo=True), chat=chat, openai=openai)
    p.sandbox.add_media(VOICE_NOTE.data, VOICE_MIME, media_id=VOICE_MEDIA_ID)
    return p, chat, openai


# What the inbound message item says about a media message.
MEDIA_FACTS = (
    "outcome",
    "msg_type",
    "replied_with",
    "media_id",
    "media_key",
    "media_size",
    "media_sha256",
    "media_mime_type",
    "media_seconds",
    "media_result",
    "understood",
    "bill",
)


def test_meta_voice_note_is_transcribed_echoed_answered_and_recorded(stack, monkeypatch) -> None:
    # Given Mariana's voice note and a tenant that echoes transcripts
    p, chat, openai = _voice_pipeline(stack, monkeypatch)
    assert p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))["statusCode"] == 200

    # When the processor drains the queue
    results = p.runner.drain()

    # Then the transcript was the user's turn, and the echo went out before the answer
    assert [r.failed for r in results] == [[]]
    [request] = chat.requests
    assert request["messages"][-1] == {"role": "user", "content": f"[mensagem de voz transcrita] {SPOKEN}"}
    assert [s.text for s in p.sandbox.sent] == [f"🔊 Entendi: “{SPOKEN}”", ANSWER]
    assert {s.to for s in p.sandbox.sent} == {DEMO.customer_wa_id}
    [upload] = openai.uploads
    assert (upload.fields, upload.filename, upload.data) == (
        {"model": "gpt-4o-mini-transcribe", "language": "pt"},
        "audio.ogg",
        VOICE_NOTE.data,
    )
    # the file, under the contact's prefix, encrypted and tagged with the tenant's retention
    contact_id = contact_of(stack, VOICE_WAMID)
    key = media_key(contact_id, VOICE_WAMID, VOICE_NOTE.data, ".ogg")
    assert bucket_keys(stack) == [key]
    s3 = boto3.client("s3")
    got = s3.get_object(Bucket=stack.resources["MediaBucket"].ref, Key=key)
    assert (got["Body"].read(), got["ContentType"], got["ServerSideEncryption"]) == (VOICE_NOTE.data, VOICE_MIME, "aws:kms")
    assert s3.get_object_tagging(Bucket=stack.resources["MediaBucket"].ref, Key=key)["TagSet"] == [{"Key": "retention", "Value": "90d"}]
    # and what it said, on the inbound message
    echo, reply = p.sandbox.sent
    items = contact_items(stack, contact_id)
    inbound = items[f"MSG#IN#{VOICE_WAMID}"]
    assert {k: inbound.get(k) for k in MEDIA_FACTS} == {
        "outcome": "replied",
        "msg_type": "audio",
        "replied_with": [echo.message_id, reply.message_id],
        "media_id": VOICE_MEDIA_ID,
        "media_key": key,
        "media_size": len(VOICE_NOTE.data),
        "media_sha256": hashlib.sha256(VOICE_NOTE.data).hexdigest(),
        "media_mime_type": VOICE_MIME,
        "media_seconds": 7,
        "media_result": "transcribed",
        "understood": f"[mensagem de voz transcrita] {SPOKEN}",
        "bill": None,
    }
    assert [(items[f"MSG#OUT#{s.message_id}"]["kind"], items[f"MSG#OUT#{s.message_id}"]["text"]) for s in (echo, reply)] == [
        ("echo", echo.text),
        ("reply", ANSWER),
    ]
    assert [(t["r"], t["t"]) for t in items["PROFILE"]["memory"]] == [
        ("user", f"[mensagem de voz transcrita] {SPOKEN}"),
        ("assistant", ANSWER),
    ]


def test_redelivered_voice_note_is_neither_downloaded_nor_echoed_nor_answered_again(stack, monkeypatch, capsys) -> None:
    p, chat, openai = _voice_pipeline(stack, monkeypatch)
    raw = meta_webhook("meta/audio_voice.json", VOICE_NOTE.data)
    p.deliver(raw)
    p.runner.drain()

    # When Meta redelivers the webhook after SQS's dedup window
    enqueue_again(stack, p, raw)
    results = p.runner.drain()

    # Then
    assert [r.failed for r in results] == [[]]
    assert (p.sandbox.media[VOICE_MEDIA_ID].downloads, len(openai.uploads), len(chat.requests), len(p.sandbox.sent)) == (1, 1, 1, 2)
    assert '"InboundDuplicate":[1.0]' in capsys.readouterr().out


def test_chat_failure_after_the_transcript_retries_with_the_checkpointed_reading(stack, monkeypatch) -> None:
    # Given the assistant's model failing once, after the voice note was transcribed
    p, chat, openai = _voice_pipeline(stack, monkeypatch)
    chat.fail_next(503)
    p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))

    # When SQS redelivers the failed record
    results = p.runner.drain()

    # Then the retry reused the reading: one download, one transcription, one echo, one answer
    assert [len(r.failed) for r in results] == [1, 0]
    assert (p.sandbox.media[VOICE_MEDIA_ID].downloads, len(openai.uploads), len(chat.requests)) == (1, 1, 2)
    assert chat.requests[1]["messages"][-1] == {"role": "user", "content": f"[mensagem de voz transcrita] {SPOKEN}"}
    assert [s.text for s in p.sandbox.sent] == [f"🔊 Entendi: “{SPOKEN}”", ANSWER]


def test_answer_failing_after_the_echo_is_resent_alone(stack, monkeypatch) -> None:
    # Given the echo accepted by Meta and the answer after it failing once
    p, chat, openai = _voice_pipeline(stack, monkeypatch)
    original = p.sandbox.handle
    texts = {"n": 0}

    def answer_fails_once(method, path, headers, body):
        if method == "POST" and json.loads(body or b"{}").get("type") == "text":
            texts["n"] += 1
            if texts["n"] == 2:
                return 503, {"error": {"code": 131000, "message": "Something went wrong", "type": "OAuthException"}}
        return original(method, path, headers, body)

    p.sandbox.handle = answer_fails_once
    p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))

    # When SQS redelivers the record
    results = p.runner.drain()

    # Then the echo is not repeated and nothing is downloaded, transcribed or generated again
    assert [len(r.failed) for r in results] == [1, 0]
    assert [s.text for s in p.sandbox.sent] == [f"🔊 Entendi: “{SPOKEN}”", ANSWER]
    assert (p.sandbox.media[VOICE_MEDIA_ID].downloads, len(openai.uploads), len(chat.requests)) == (1, 1, 1)


def test_transcription_failing_on_every_attempt_apologises_once_on_the_last(stack, monkeypatch, capsys) -> None:
    # Given OpenAI's transcription overloaded for good (and no Gemini key to fall back to)
    p, chat, openai = _voice_pipeline(stack, monkeypatch)
    openai.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"), times=5)
    assert p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))["statusCode"] == 200

    # When
    results = p.runner.drain()

    # Then four retries, and the fifth (maxReceiveCount) apologises instead of dead-lettering
    assert [len(r.failed) for r in results] == [1, 1, 1, 1, 0]
    assert [s.text for s in p.sandbox.sent] == [APOLOGY]
    assert (len(openai.uploads), chat.requests, p.dead_letters()) == (5, [], [])
    inbound = contact_items(stack, contact_of(stack, VOICE_WAMID))[f"MSG#IN#{VOICE_WAMID}"]
    assert (inbound["outcome"], "media_result" in inbound) == ("apology", False)
    assert '"ReplyApologySent":[1.0]' in capsys.readouterr().out


# --- Meta images, video, stickers -------------------------------------------------------------------


def test_bill_photo_is_read_offline_and_kept_on_the_profile(stack, monkeypatch) -> None:
    # Given the offline tenant and Mariana's photo of her electricity bill, captioned as such
    p = make_pipeline(stack, monkeypatch)
    p.sandbox.add_media(BILL_PNG, "image/png", media_id=IMAGE_MEDIA_ID)
    caption = "Segue minha conta de luz de novembro"
    assert p.deliver(meta_webhook("meta/image.json", BILL_PNG, caption=caption, mime_type="image/png"))["statusCode"] == 200

    # When
    assert [r.failed for r in p.runner.drain()] == [[]]

    # Then the bill is on the message and is the contact's last bill
    bill = {
        "is_electricity_bill": True,
        "confidence": "high",
        "provider": "local",
        "model": "atende-offline-1",
        "total_amount_brl": "187.43",
        "due_date": "2025-12-10",
        "consumption_kwh": 245,
        "distributor": "Enel SP",
    }
    items = contact_items(stack, contact_of(stack, IMAGE_WAMID))
    inbound = items[f"MSG#IN#{IMAGE_WAMID}"]
    assert (inbound["media_result"], inbound["bill"], items["PROFILE"]["last_bill"]) == ("described", bill, bill)
    assert inbound["understood"] == (
        f"[imagem] [descrição offline] imagem PNG de 360×640 pixels\nLegenda do cliente: {caption}\n"
        "[conta de luz lida automaticamente; confiança alta] distribuidora: Enel SP; valor total: R$ 187,43; "
        "vencimento: 10/12/2025; consumo: 245 kWh"
    )
    [reply] = p.sandbox.sent
    assert reply.text.startswith("🤖 [modo offline]")


@pytest.mark.parametrize(
    ("fixture", "media_id", "data", "mime_type", "user_turn"),
    [
        ("meta/image.json", IMAGE_MEDIA_ID, PHOTO, "image/jpeg", f"[imagem] {DESCRIPTION}\nLegenda do cliente: Chegou assim 😞"),
        (
            "meta/video.json",
            VIDEO_MEDIA_ID,
            MP4_CLIP,
            "video/mp4",
            "[vídeo recebido; o conteúdo não foi analisado]\nLegenda do cliente: Olha como chegou o bolo 😍",
        ),
    ],
    ids=["image-caption", "video-caption"],
)
def test_captioned_image_and_video_reach_the_assistant_with_their_caption(
    stack, monkeypatch, fixture, media_id, data, mime_type, user_turn
) -> None:
    # Given a tenant on OpenAI: images are described by the model, video is acknowledged (chat models do not read it)
    chat, openai = FakeOpenAI(), FakeOpenAIMedia(chat_reply=DESCRIPTION)
    p = make_pipeline(stack, monkeypatch, provider="openai", chat=chat, openai=openai)
    p.sandbox.add_media(data, mime_type, media_id=media_id)

    p.deliver(meta_webhook(fixture, data))
    assert [r.failed for r in p.runner.drain()] == [[]]

    [request] = chat.requests
    assert request["messages"][-1] == {"role": "user", "content": user_turn}
    assert len(openai.chats) == (1 if fixture == "meta/image.json" else 0)
    assert len(p.sandbox.sent) == 1


def test_expired_media_gets_one_polite_notice_and_no_model_call(stack, monkeypatch, capsys) -> None:
    # Given a voice note whose media id expired before the processor got to it
    chat, openai = FakeOpenAI(), FakeOpenAIMedia(transcript=SPOKEN)
    p = make_pipeline(stack, monkeypatch, provider="openai", media=MediaSettings(transcript_echo=True), chat=chat, openai=openai)
    p.sandbox.add_media(VOICE_NOTE.data, VOICE_MIME, media_id=VOICE_MEDIA_ID)
    p.sandbox.expire_media(VOICE_MEDIA_ID)
    assert p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))["statusCode"] == 200

    # When
    results = p.runner.drain()

    # Then
    assert [r.failed for r in results] == [[]]
    assert [s.text for s in p.sandbox.sent] == [MEDIA_EXPIRED]
    assert (chat.requests, openai.uploads, openai.chats, bucket_keys(stack), p.dead_letters()) == ([], [], [], [], [])
    inbound = contact_items(stack, contact_of(stack, VOICE_WAMID))[f"MSG#IN#{VOICE_WAMID}"]
    assert (inbound["outcome"], inbound["media_result"], "media_key" in inbound) == ("unsupported", "not_found", False)
    out = capsys.readouterr().out
    assert '"MediaUnavailable":[1.0]' in out and '"MediaNotFound":[1.0]' in out


def test_graph_download_failing_on_every_attempt_is_retried_then_dead_lettered(stack, monkeypatch, capsys) -> None:
    # Given the lookaside host failing every download (the media API itself answers)
    p = make_pipeline(stack, monkeypatch)
    p.sandbox.add_media(VOICE_NOTE.data, VOICE_MIME, media_id=VOICE_MEDIA_ID)
    served = p.sandbox.download
    p.sandbox.download = lambda method, path, headers: (
        (503, b"", "text/plain") if path.startswith("/sandbox/media/") else served(method, path, headers)
    )
    p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))

    # When SQS redelivers it up to maxReceiveCount
    results = p.runner.drain()

    # Then every attempt failed (the template's MaxReceiveCount: 10), the record is in the DLQ for a
    # redrive, and the customer got nothing
    assert [len(r.failed) for r in results] == [1] * 10
    [dead] = p.dead_letters()
    assert json.loads(dead["Body"])["message"]["provider_message_id"] == VOICE_WAMID
    assert (p.sandbox.sent, bucket_keys(stack)) == ([], [])
    assert '"RecordDeadLettered":[1.0]' in capsys.readouterr().out


def test_sticker_is_silent_and_never_downloaded(stack, monkeypatch) -> None:
    p = make_pipeline(stack, monkeypatch)
    sticker = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
    p.sandbox.add_media(sticker, "image/webp", media_id=STICKER_MEDIA_ID)

    p.deliver(meta_webhook("meta/sticker.json", sticker))

    assert [r.failed for r in p.runner.drain()] == [[]]
    assert (p.sandbox.calls, p.sandbox.media[STICKER_MEDIA_ID].downloads, bucket_keys(stack)) == ([], 0, [])


# --- relays -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [False, True], ids=["getBase64FromMediaMessage", "inline-base64"])
def test_evolution_voice_note_is_transcribed_and_answered(stack, monkeypatch, inline: bool) -> None:
    # Given an Evolution voice note, its bytes either in the webhook or only in Evolution's store
    p = make_pipeline(stack, monkeypatch)
    message = baileys_media_message("audio", VOICE_NOTE.data, VOICE_MIME, sent_at=now(), seconds=7, ptt=True)
    if inline:
        message["base64"] = base64.b64encode(VOICE_NOTE.data).decode()
    else:
        p.evolution.add_media(EVOLUTION_ID, VOICE_NOTE.data, VOICE_MIME)
    evolution_says(p, message)

    # When
    assert [r.failed for r in p.runner.drain()] == [[]]

    # Then the file came from where it was, and the offline transcript was answered through Evolution
    fetched = ["getBase64FromMediaMessage"] if not inline else []
    assert [c.action for c in p.evolution.calls] == ["markMessageAsRead", *fetched, "sendText"]
    [reply] = p.evolution.sent
    assert (reply.payload["number"], reply.text) == (MARIANA_JID, OFFLINE_VOICE_ANSWER)
    contact_id = contact_of(stack, EVOLUTION_ID)
    assert bucket_keys(stack) == [media_key(contact_id, EVOLUTION_ID, VOICE_NOTE.data, ".ogg")]
    inbound = contact_items(stack, contact_id)[f"MSG#IN#{EVOLUTION_ID}"]
    assert (inbound["media_result"], inbound["media_seconds"], inbound["media_sha256"]) == (
        "transcribed",
        7,
        hashlib.sha256(VOICE_NOTE.data).hexdigest(),
    )
    assert p.sandbox.calls == []


def test_whaticket_media_gets_the_not_downloadable_notice(stack, monkeypatch) -> None:
    p = make_pipeline(stack, monkeypatch)
    message = baileys_media_message("image", PHOTO, "image/jpeg", sent_at=now(), caption="Chegou assim 😞", raw=True)
    raw = p.whaticket.relay_body(
        DEMO.customer_wa_id, message=message, message_id="3EB0IMAGE000000000001", push_name=DEMO.customer_name, timestamp=now()
    )
    ts = now()
    headers = {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(raw, ts, DEMO.whaticket_signing_secret)}
    assert p.post(f"/webhooks/whaticket/{DEMO.whaticket_connection}", raw, headers)["statusCode"] == 202

    assert [r.failed for r in p.runner.drain()] == [[]]

    # The notice first, then the assistant's answer to the caption (the customer's words still count).
    assert [s.payload["body"] for s in p.whaticket.sent] == [
        NOT_DOWNLOADABLE,
        "🤖 [modo offline] Recebi sua mensagem e vou repassar para a equipe.\n"
        "Você disse: “[imagem que não consegui abrir] Legenda do cliente: Chegou assim 😞” (mensagem 1 desta conversa).",
    ]
    assert bucket_keys(stack) == []
    items = contact_items(stack, contact_of(stack, "3EB0IMAGE000000000001"))
    inbound = items["MSG#IN#3EB0IMAGE000000000001"]
    assert (inbound["outcome"], inbound["media_result"]) == ("replied", "not_downloadable")
    assert sorted(i["kind"] for sk, i in items.items() if sk.startswith("MSG#OUT#")) == ["notice", "reply"]


# --- the local runner ------------------------------------------------------------------------------------------


def test_the_local_queue_runner_lets_the_processor_answer_media(stack) -> None:
    p = build_pipeline(stack)
    p.sandbox.add_media(VOICE_NOTE.data, VOICE_MIME, media_id=VOICE_MEDIA_ID)
    p.deliver(meta_webhook("meta/audio_voice.json", VOICE_NOTE.data))

    results = p.runner.drain()

    # The runner gives the processor the template's timeout, so a media record is started at once.
    assert [r.failed for r in results] == [[]]
    # The seeded demo tenant echoes transcripts: echo, then the answer.
    echo, answer = (s.text for s in p.sandbox.sent)
    assert echo == "🔊 Entendi: “[transcrição offline] áudio de 7 s”"
    assert answer is not None and answer.startswith("🤖 [modo offline]")
