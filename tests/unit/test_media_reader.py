"""MediaReader: a media message → the user turn the assistant reads, or the one notice the customer gets.

Everything real except the far ends: the Graph API and Evolution are their sandboxes behind
``httpx.MockTransport`` (the real MetaMediaDownloader and EvolutionClient talk to them), S3 is
moto, and the openai / google-genai SDKs run unmodified against ``tests/media_fakes.py``, which
check every request's shape. The offline stand-ins are the real ``local`` adapters. All media is
made in code (``local/media_samples.py`` and the two samples below).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber

from atende.channels.evolution_client import EvolutionClient
from atende.domain.messages import ContactRef, InboundMessage, MediaRef, MessageType, Provider
from atende.domain.privacy import pseudonymous_contact_id
from atende.domain.tenants import MediaSettings, Tenant
from atende.errors import LlmError, LlmUnavailable, ProviderAuthError, ProviderUnavailable, StoreError
from atende.llm import ChatModel, LlmKeys, LlmOptions
from atende.llm.local import LocalChatModel
from atende.llm.openai import OpenAIChatModel
from atende.media import MediaLimits
from atende.media.meta_download import MetaMediaDownloader
from atende.media.sources import EvolutionMediaSource, MetaMediaSource
from atende.media.store import MediaStore, StoredMedia
from atende.media.understanding import (
    BILL_INSTRUCTION,
    BILL_JSON_SCHEMA,
    BillExtraction,
    bill_from_item,
    description_instruction,
    select_transcriber,
    select_vision,
    transcription_instruction,
    video_instruction,
)
from atende.observability import metrics
from atende.service.media import SUMMARY_PROMPT, MediaReader, MediaReading
from atende.store import aws
from atende.store.dynamo import from_attrs, to_attrs
from local.media_samples import (
    BILL_FIELDS,
    BILL_PNG,
    CATALOGUE_PAGES,
    TONE_WAV,
    VOICE_NOTE,
    amr_nb,
    jpeg_headers,
    mp4_audio,
    ogg_opus_voice_note,
    pdf,
)
from local.sandbox import GraphSandbox
from local.sandbox_relays import EvolutionSandbox
from tests.media_fakes import FakeGemini, FakeOpenAIMedia, media_client, openai_error

BUCKET = "atende-dev-media-123456789012"
TENANT_ID = "padaria-pao-quente"
ACCESS_TOKEN = "EAAGm0PX4ZCpsBAUnitTestToken"
GRAPH_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v24.0"
EVOLUTION_URL = "http://127.0.0.1:3001/evolution"
EVOLUTION_INSTANCE = "padaria-evolution"
EVOLUTION_KEY = "B6D711FCDE4D4FD5936544120E713976"
OPENAI_KEY = "sk-proj-unit-test"
GEMINI_KEY = "AIzaSyUnitTest"
BOTH_KEYS = LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY)
NO_KEYS = LlmKeys()  # the offline stand-ins

MARIANA_PHONE = "5511987654321"
MARIANA = pseudonymous_contact_id(b"unit-test-pseudonym-key", MARIANA_PHONE)
SENT_AT = 1763724000

VOICE_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBMUY0QzJEOThCN0U2QTUxAA=="
IMAGE_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBBMjM0NTY3ODlBQkNERUYwAA=="
DOCUMENT_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBEMDNGNUI2QTk4QzFEMkU0AA=="
VIDEO_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBGNzcyQTE5QzhEMDNCNUE2AA=="
EVOLUTION_ID = "3A0B5C2D9E4F6A1B8C7D"

SPOKEN = "Oi, bom dia! Vocês ainda têm pão de queijo? Queria encomendar duas dúzias para sábado."
CAPTION = "Chegou assim 😞"
DESCRIPTION = "Foto de um bolo de cenoura com a cobertura de chocolate escorrida e amassada dentro da caixa."
BILL_DESCRIPTION = "Fatura de energia elétrica da Enel SP, com valor a pagar e código de barras legíveis."
BILL_CAPTION = "Segue a minha conta de luz, quanto eu economizaria com energia solar?"
BILL_LINE = (
    "[conta de luz lida automaticamente; confiança alta] distribuidora: Enel SP; valor total: R$ 187,43; "
    "vencimento: 10/12/2025; consumo: 245 kWh"
)
BILL_ITEM = {
    "is_electricity_bill": True,
    "confidence": "high",
    "provider": "openai",
    "model": "gpt-4.1-mini",
    "total_amount_brl": "187.43",
    "due_date": "2025-12-10",
    "consumption_kwh": 245,
    "distributor": "Enel SP",
}
NOT_A_BILL = json.dumps(
    {
        "is_electricity_bill": False,
        "total_amount_brl": None,
        "due_date": None,
        "consumption_kwh": None,
        "distributor": None,
        "confidence": "high",
    }
)
VOICE_MIME = "audio/ogg; codecs=opus"
QUOTE_TEXT = "Orçamento nº 2025-118 - Telhado solar\nTotal: R$ 1.250,00\nValidade: 15 dias"


# --- media made here (the rest comes from local.media_samples) ----------------------------------


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


# An MP4 as phones write it, boxes only (ftyp isom/mp42, free, a small mdat): enough to store,
# hash and send inline; no model here decodes it.
MP4_CLIP = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41") + _box(b"free", b"") + _box(b"mdat", bytes(range(256)) * 8)


def docx(text: str) -> bytes:
    """A minimal WordprocessingML document (what Word and Google Docs export), zipped by the stdlib."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in parts.items():
            archive.writestr(name, body)
    return out.getvalue()


DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run in DOS mode."
PHOTO = jpeg_headers(1200, 1600)
LONG_NOTE = ogg_opus_voice_note(seconds=95)
SCANNED_PDF = pdf(["", ""])  # pages without a text layer, like a scan


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def s3() -> Iterator[Any]:
    """The media bucket under moto, configured like template.yaml's (SSE-KMS with a bucket key)."""
    from moto import mock_aws

    with mock_aws():
        aws.reset_clients()
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]
            },
        )
        yield client
        aws.reset_clients()


@pytest.fixture
def emitted() -> Iterator[Callable[[], dict[str, float]]]:
    """The count metrics emitted during the test, summed by name (latencies left out: they vary)."""
    metrics.clear_metrics()

    def counts() -> dict[str, float]:
        return {name: sum(m["Value"]) for name, m in metrics.metric_set.items() if m["Unit"] == "Count"}

    yield counts
    metrics.clear_metrics()


@pytest.fixture
def graph() -> GraphSandbox:
    return GraphSandbox(access_tokens={ACCESS_TOKEN})


@pytest.fixture
def evolution() -> EvolutionSandbox:
    return EvolutionSandbox(api_keys={EVOLUTION_KEY})


def tenant(provider: str = "auto", **media: Any) -> Tenant:
    return Tenant(tenant_id=TENANT_ID, name="Padaria Pão Quente", llm_provider=provider, media=MediaSettings(**media))


def reader(s3: Any, keys: LlmKeys = NO_KEYS, *fakes: FakeOpenAIMedia | FakeGemini) -> MediaReader:
    """Wired like bootstrap: the tenant's provider (offline without keys), fallback per tenant."""
    options = LlmOptions(max_retries=0, http_client=media_client(*fakes))
    return MediaReader(
        store=MediaStore(BUCKET, client=s3),
        transcriber_for=lambda t: select_transcriber(t.llm_provider, keys, options, fallback=t.media.fallback),
        vision_for=lambda t: select_vision(t.llm_provider, keys, options, fallback=t.media.fallback),
    )


def offline_chat() -> ChatModel:
    return LocalChatModel()


def no_chat() -> ChatModel:
    raise AssertionError("the chat model must not be asked")


def meta_source(graph: GraphSandbox, transport: httpx.MockTransport | None = None) -> MetaMediaSource:
    http = httpx.Client(transport=transport or graph.transport())
    return MetaMediaSource(MetaMediaDownloader(http, base_url=GRAPH_URL, api_version=GRAPH_VERSION, access_token=ACCESS_TOKEN))


def evolution_source(evolution: EvolutionSandbox) -> EvolutionMediaSource:
    client = EvolutionClient(
        httpx.Client(transport=evolution.transport()), base_url=EVOLUTION_URL, instance=EVOLUTION_INSTANCE, api_key=EVOLUTION_KEY
    )
    return EvolutionMediaSource(client)


def intercepted(graph: GraphSandbox, path_prefix: str, response: httpx.Response) -> httpx.MockTransport:
    """The Graph sandbox, except that requests under ``path_prefix`` get ``response``."""
    inner = graph.transport()

    def handle(request: httpx.Request) -> httpx.Response:
        return response if request.url.path.startswith(path_prefix) else inner.handle_request(request)

    return httpx.MockTransport(handle)


def b64_digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def meta_message(
    kind: MessageType,
    data: bytes,
    mime_type: str,
    *,
    graph: GraphSandbox,
    wamid: str,
    caption: str | None = None,
    filename: str | None = None,
    voice: bool = False,
    media_id: str | None = None,
) -> InboundMessage:
    """A Meta media message as the webhook parser produces it; its file is registered in the sandbox
    unless ``media_id`` names one registered already."""
    media_id = media_id or graph.add_media(data, mime_type)
    return InboundMessage(
        tenant_id=TENANT_ID,
        channel_id="meta:100000000000001",
        provider=Provider.META,
        provider_message_id=wamid,
        contact=ContactRef(contact_id=MARIANA, wa_id=MARIANA_PHONE, user_id="BR.1029384756102938", name="Mariana Souza"),
        timestamp=SENT_AT,
        type=kind,
        text=caption,
        media=MediaRef(media_id=media_id, mime_type=mime_type, sha256=b64_digest(data), caption=caption, filename=filename, voice=voice),
    )


def evolution_voice_note(data: bytes, *, inline_base64: str | None) -> InboundMessage:
    return InboundMessage(
        tenant_id=TENANT_ID,
        channel_id=f"evolution:{EVOLUTION_INSTANCE}",
        provider=Provider.EVOLUTION,
        provider_message_id=EVOLUTION_ID,
        contact=ContactRef(contact_id=MARIANA, wa_id=MARIANA_PHONE, name="Mariana Souza", jid=f"{MARIANA_PHONE}@s.whatsapp.net"),
        timestamp=SENT_AT,
        type=MessageType.AUDIO,
        media=MediaRef(
            media_id=EVOLUTION_ID, mime_type=VOICE_MIME, sha256=hashlib.sha256(data).hexdigest(), voice=True, inline_base64=inline_base64
        ),
    )


def stored(message_id: str, data: bytes, mime_type: str, extension: str) -> StoredMedia:
    """Where the file must land: the contact's prefix / hashed message id / content hash + extension."""
    digest = hashlib.sha256(data).hexdigest()
    segment = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return StoredMedia(
        key=f"media/{TENANT_ID}/{MARIANA}/{segment}/{digest[:16]}{extension}", size=len(data), sha256=digest, mime_type=mime_type
    )


def s3_object(s3: Any, key: str) -> tuple[bytes, str, str, bool, list[dict[str, str]]]:
    """(body, ContentType, SSE, bucket key, tags) of a stored object."""
    got = s3.get_object(Bucket=BUCKET, Key=key)
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    return got["Body"].read(), got["ContentType"], got["ServerSideEncryption"], got.get("BucketKeyEnabled", False), tags


def keys_in_bucket(s3: Any) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


RETAINED_90_DAYS = [{"Key": "retention", "Value": "90d"}]


def inline(data: bytes, mime_type: str) -> dict[str, Any]:
    """A Gemini inline part as the SDK sends it (URL-safe base64)."""
    return {"inlineData": {"data": base64.urlsafe_b64encode(data).decode(), "mimeType": mime_type}}


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


# --- voice notes and audio -------------------------------------------------------------------------


@pytest.mark.parametrize("echo", [False, True], ids=["no-echo", "echo"])
def test_voice_note_becomes_the_transcribed_user_turn_and_is_stored(s3, graph, emitted, echo: bool) -> None:
    # Given Mariana's 7-second voice note on Meta, and a tenant on OpenAI
    openai = FakeOpenAIMedia(transcript=f"  {SPOKEN}\n")
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai", transcript_echo=echo), meta_source(graph), no_chat
    )

    # Then the transcript is the user's turn, echoed only when the tenant wants it
    expected_stored = stored(VOICE_WAMID, VOICE_NOTE.data, VOICE_MIME, ".ogg")
    assert reading == MediaReading(
        turn=f"[mensagem de voz transcrita] {SPOKEN}",
        result="transcribed",
        echo=SPOKEN if echo else None,
        stored=expected_stored,
        seconds=7,
    )
    # one upload: the file part under a neutral name with the format's extension, the model, ISO-639-1 "pt"
    [upload] = openai.uploads
    assert (upload.fields, upload.filename, upload.content_type, upload.data) == (
        {"model": "gpt-4o-mini-transcribe", "language": "pt"},
        "audio.ogg",
        "audio/ogg",
        VOICE_NOTE.data,
    )
    assert s3_object(s3, expected_stored.key) == (VOICE_NOTE.data, VOICE_MIME, "aws:kms", True, RETAINED_90_DAYS)
    assert graph.media[message.media.media_id].downloads == 1
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(VOICE_NOTE.data), "MediaTranscribed": 1, "MediaAudioSeconds": 7}


def test_long_transcript_is_echoed_cut(s3, graph) -> None:
    said = "Queria saber o preço do bolo de fubá com goiabada. " * 30  # 1,530 characters
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), FakeOpenAIMedia(transcript=said)).read(
        message, tenant("openai", transcript_echo=True), meta_source(graph), no_chat
    )

    heard = said.strip()
    assert reading.turn == f"[mensagem de voz transcrita] {heard}"
    assert reading.echo == heard[:999].rstrip() + "…"
    assert len(reading.echo) <= 1000


@pytest.mark.parametrize(
    ("data", "mime_type", "voice", "turn", "seconds"),
    [
        (VOICE_NOTE.data, VOICE_MIME, True, "[mensagem de voz transcrita] [transcrição offline] áudio de 7 s", 7),
        (TONE_WAV.data, "audio/wav", False, "[áudio transcrito] [transcrição offline] áudio de 1 s", 1),
    ],
    ids=["voice-note", "audio-file"],
)
def test_offline_stand_in_transcribes_without_keys(s3, graph, data: bytes, mime_type: str, voice: bool, turn: str, seconds: int) -> None:
    message = meta_message(MessageType.AUDIO, data, mime_type, graph=graph, wamid=VOICE_WAMID, voice=voice)

    reading = reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    extension = ".ogg" if voice else ".wav"
    assert reading == MediaReading(turn=turn, result="transcribed", stored=stored(VOICE_WAMID, data, mime_type, extension), seconds=seconds)


def test_audio_over_the_tenants_duration_cap_is_refused_before_any_model_call(s3, graph, emitted) -> None:
    # Given a tenant that caps audio at 90 s and a 95-second voice note
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    message = meta_message(MessageType.AUDIO, LONG_NOTE, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai", transcript_echo=True, limits=MediaLimits(audio_seconds=90)), meta_source(graph), no_chat
    )

    # Then the notice names the cap in minutes; no transcription was paid for; the file is kept
    expected_stored = stored(VOICE_WAMID, LONG_NOTE, VOICE_MIME, ".ogg")
    assert reading == MediaReading(
        turn=None, result="too_long", notice="audio_too_long", notice_params={"minutes": "1,5"}, stored=expected_stored, seconds=95
    )
    assert (openai.uploads, openai.chats) == ([], [])
    assert keys_in_bucket(s3) == [expected_stored.key]
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(LONG_NOTE), "MediaUnavailable": 1, "MediaTooLong": 1}


@pytest.mark.parametrize(
    ("data", "mime_type"),
    [(mp4_audio(seconds=400), "audio/mp4"), (amr_nb(seconds=320), "audio/amr")],
    ids=["m4a", "amr"],
)
def test_forwarded_audio_files_are_capped_by_duration_too(s3, graph, data: bytes, mime_type: str) -> None:
    # Given audio files (not voice notes) longer than the default 300 s cap
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    message = meta_message(MessageType.AUDIO, data, mime_type, graph=graph, wamid=VOICE_WAMID)

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(message, tenant("openai"), meta_source(graph), no_chat)

    # Then refused before any transcription is paid for
    assert (reading.result, reading.notice, reading.notice_params) == ("too_long", "audio_too_long", {"minutes": "5"})
    assert openai.uploads == []


@pytest.mark.parametrize("said", ["", "[inaudível]"], ids=["empty", "no-speech-marker"])
def test_empty_transcript_is_an_inaudible_notice(s3, graph, emitted, said: str) -> None:
    openai = FakeOpenAIMedia(transcript=said)
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai", transcript_echo=True), meta_source(graph), no_chat
    )

    assert reading == MediaReading(
        turn=None,
        result="inaudible",
        notice="audio_inaudible",
        stored=stored(VOICE_WAMID, VOICE_NOTE.data, VOICE_MIME, ".ogg"),
        seconds=7,
    )
    assert len(openai.uploads) == 1
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(VOICE_NOTE.data), "MediaUnavailable": 1, "MediaInaudible": 1}


# --- images and electricity bills ----------------------------------------------------------------


def test_image_is_described_and_passed_on_with_its_caption(s3, graph, emitted) -> None:
    # Given a photo with a caption that says nothing about bills, on a tenant in "auto" mode
    openai = FakeOpenAIMedia(chat_reply=f"{DESCRIPTION}\n", bill_reply=json.dumps(BILL_FIELDS))
    message = meta_message(MessageType.IMAGE, PHOTO, "image/jpeg", graph=graph, wamid=IMAGE_WAMID, caption=CAPTION)

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(message, tenant("openai"), meta_source(graph), no_chat)

    # Then one request: the description instruction (with the caption) and the image part
    expected_stored = stored(IMAGE_WAMID, PHOTO, "image/jpeg", ".jpg")
    assert reading == MediaReading(
        turn=f"[imagem] {DESCRIPTION}\nLegenda do cliente: {CAPTION}", result="described", stored=expected_stored
    )
    assert openai.chats == [
        {
            "model": "gpt-4.1-mini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": description_instruction(CAPTION, "pt-BR")},
                        {"type": "image_url", "image_url": {"url": data_url(PHOTO, "image/jpeg"), "detail": "auto"}},
                    ],
                }
            ],
            "max_completion_tokens": 300,
        }
    ]
    assert s3_object(s3, expected_stored.key) == (PHOTO, "image/jpeg", "aws:kms", True, RETAINED_90_DAYS)
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(PHOTO), "MediaDescribed": 1}


BILL_REQUEST_FORMAT = {"type": "json_schema", "json_schema": {"name": "electricity_bill", "strict": True, "schema": BILL_JSON_SCHEMA}}


@pytest.mark.parametrize(
    ("mode", "caption", "description", "extracted"),
    [
        ("auto", BILL_CAPTION, DESCRIPTION, True),
        ("auto", None, BILL_DESCRIPTION, True),
        ("auto", "Dá pra ver o kWh?", DESCRIPTION, True),
        ("auto", CAPTION, DESCRIPTION, False),
        ("always", CAPTION, DESCRIPTION, True),
        ("off", BILL_CAPTION, BILL_DESCRIPTION, False),
    ],
    ids=["auto-caption", "auto-description", "auto-kwh", "auto-no-hint", "always", "off"],
)
def test_bill_extraction_follows_the_tenants_mode(s3, graph, mode: str, caption: str | None, description: str, extracted: bool) -> None:
    # Given a photo of a bill and a model that reads it
    openai = FakeOpenAIMedia(chat_reply=description, bill_reply=json.dumps(BILL_FIELDS))
    message = meta_message(MessageType.IMAGE, BILL_PNG, "image/png", graph=graph, wamid=IMAGE_WAMID, caption=caption)

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai", bill_extraction=mode), meta_source(graph), no_chat
    )

    # Then the extraction is asked for (strict schema, high detail) only when the mode says so
    lines = [f"[imagem] {description}"] + ([f"Legenda do cliente: {caption}"] if caption else []) + ([BILL_LINE] if extracted else [])
    assert reading == MediaReading(
        turn="\n".join(lines),
        result="described",
        stored=stored(IMAGE_WAMID, BILL_PNG, "image/png", ".png"),
        bill=BILL_ITEM if extracted else None,
    )
    assert [chat.get("response_format") for chat in openai.chats] == [None, BILL_REQUEST_FORMAT] if extracted else [None]
    if extracted:
        # the typed bill, as the assistant's tools read it back
        assert bill_from_item(reading.bill) == BillExtraction(
            is_electricity_bill=True,
            total_amount_brl=Decimal("187.43"),
            due_date=date(2025, 12, 10),
            consumption_kwh=245,
            distributor="Enel SP",
            confidence="high",
            missing=(),
            provider="openai",
            model="gpt-4.1-mini",
        )
        assert openai.chats[1]["messages"] == [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": BILL_INSTRUCTION},
                    {"type": "image_url", "image_url": {"url": data_url(BILL_PNG, "image/png"), "detail": "high"}},
                ],
            }
        ]


def test_low_confidence_bill_is_passed_on_with_what_was_not_read_and_a_request_to_confirm(s3, graph, emitted) -> None:
    # Given a blurry bill: the due date unreadable, the rest read with medium confidence
    answer = {**BILL_FIELDS, "due_date": None, "confidence": "medium"}
    openai = FakeOpenAIMedia(chat_reply=BILL_DESCRIPTION, bill_reply=json.dumps(answer))
    message = meta_message(MessageType.IMAGE, BILL_PNG, "image/png", graph=graph, wamid=IMAGE_WAMID)

    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(message, tenant("openai"), meta_source(graph), no_chat)

    assert reading == MediaReading(
        turn=(
            f"[imagem] {BILL_DESCRIPTION}\n"
            "[conta de luz lida automaticamente; confiança média] distribuidora: Enel SP; valor total: R$ 187,43; consumo: 245 kWh; "
            "não legível: vencimento. Confirme os valores com o cliente antes de usá-los."
        ),
        result="described",
        stored=stored(IMAGE_WAMID, BILL_PNG, "image/png", ".png"),
        bill={
            "is_electricity_bill": True,
            "confidence": "medium",
            "provider": "openai",
            "model": "gpt-4.1-mini",
            "total_amount_brl": "187.43",
            "consumption_kwh": 245,
            "distributor": "Enel SP",
            "missing": ["due_date"],
        },
    )
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(BILL_PNG), "MediaDescribed": 1, "MediaBillRead": 1}


def test_photo_that_is_not_a_bill_adds_no_bill_line(s3, graph, emitted) -> None:
    openai = FakeOpenAIMedia(chat_reply=DESCRIPTION, bill_reply=NOT_A_BILL)
    message = meta_message(MessageType.IMAGE, PHOTO, "image/jpeg", graph=graph, wamid=IMAGE_WAMID, caption=CAPTION)

    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai", bill_extraction="always"), meta_source(graph), no_chat
    )

    assert reading == MediaReading(
        turn=f"[imagem] {DESCRIPTION}\nLegenda do cliente: {CAPTION}",
        result="described",
        stored=stored(IMAGE_WAMID, PHOTO, "image/jpeg", ".jpg"),
    )
    assert len(openai.chats) == 2
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(PHOTO), "MediaDescribed": 1, "MediaBillNotABill": 1}


def test_offline_vision_describes_and_reads_the_bill_marker(s3, graph) -> None:
    message = meta_message(MessageType.IMAGE, BILL_PNG, "image/png", graph=graph, wamid=IMAGE_WAMID, caption=BILL_CAPTION)

    reading = reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    assert reading == MediaReading(
        turn=f"[imagem] [descrição offline] imagem PNG de 360×640 pixels\nLegenda do cliente: {BILL_CAPTION}\n{BILL_LINE}",
        result="described",
        stored=stored(IMAGE_WAMID, BILL_PNG, "image/png", ".png"),
        bill={**BILL_ITEM, "provider": "local", "model": "atende-offline-1"},
    )


def test_gemini_tenant_extracts_the_bill_with_a_response_schema(s3, graph) -> None:
    gemini = FakeGemini(reply=BILL_DESCRIPTION, bill_reply=json.dumps(BILL_FIELDS))
    message = meta_message(MessageType.IMAGE, BILL_PNG, "image/png", graph=graph, wamid=IMAGE_WAMID)

    reading = reader(s3, LlmKeys(gemini_api_key=GEMINI_KEY), gemini).read(message, tenant("gemini"), meta_source(graph), no_chat)

    assert reading.turn == f"[imagem] {BILL_DESCRIPTION}\n{BILL_LINE}"
    assert reading.bill == {**BILL_ITEM, "provider": "gemini", "model": "gemini-2.5-flash"}
    (_, describe), (_, extract) = gemini.requests
    assert describe["contents"] == [
        {"role": "user", "parts": [inline(BILL_PNG, "image/png"), {"text": description_instruction(None, "pt-BR")}]}
    ]
    assert extract["contents"] == [{"role": "user", "parts": [inline(BILL_PNG, "image/png"), {"text": BILL_INSTRUCTION}]}]
    assert (extract["generationConfig"]["responseMimeType"], extract["generationConfig"]["responseSchema"]["required"]) == (
        "application/json",
        BILL_JSON_SCHEMA["required"],
    )


# --- documents ---------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    """What pypdf reads from our PDFs, page texts joined as the reader joins them."""
    from pypdf import PdfReader

    return "\n\n".join(page.extract_text().strip() for page in PdfReader(io.BytesIO(data)).pages)


LONG_PAGES = [f"Página {n}: " + "Painel solar 550 W com inversor híbrido e garantia de 12 anos. " * 12 for n in (1, 2, 3)]
LONG_PDF = pdf(LONG_PAGES)


def test_short_pdf_is_passed_on_verbatim_with_its_name_and_caption(s3, graph, emitted) -> None:
    # Given a one-page quote with known text
    quote = pdf([QUOTE_TEXT])
    message = meta_message(
        MessageType.DOCUMENT,
        quote,
        "application/pdf",
        graph=graph,
        wamid=DOCUMENT_WAMID,
        caption="Esse orçamento ainda vale?",
        filename="orcamento-telhado.pdf",
    )

    # When
    reading = reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    # Then
    expected_stored = stored(DOCUMENT_WAMID, quote, "application/pdf", ".pdf")
    assert reading == MediaReading(
        turn=f"[documento “orcamento-telhado.pdf”, 1 página] Conteúdo: {QUOTE_TEXT}\nLegenda do cliente: Esse orçamento ainda vale?",
        result="read",
        stored=expected_stored,
        pages=1,
    )
    assert s3_object(s3, expected_stored.key) == (quote, "application/pdf", "aws:kms", True, RETAINED_90_DAYS)
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(quote), "MediaDocumentRead": 1}


def test_long_pdf_with_the_offline_model_keeps_its_opening(s3, graph) -> None:
    message = meta_message(
        MessageType.DOCUMENT, LONG_PDF, "application/pdf", graph=graph, wamid=DOCUMENT_WAMID, filename="catalogo-solar.pdf"
    )

    reading = reader(s3).read(message, tenant(), meta_source(graph), offline_chat)

    text = pdf_text(LONG_PDF)
    assert len(text) > 1_500
    opening = text[:1_499].rstrip() + "…"
    assert reading == MediaReading(
        turn=f"[documento “catalogo-solar.pdf”, 3 páginas] Resumo: {opening}",
        result="read",
        stored=stored(DOCUMENT_WAMID, LONG_PDF, "application/pdf", ".pdf"),
        pages=3,
    )


def test_long_pdf_is_summarised_by_the_tenants_chat_model(s3, graph, emitted) -> None:
    # Given the tenant's chat model on OpenAI (the fake answers the summary)
    summary = "Catálogo de painéis solares de 550 W com inversor híbrido e garantia de 12 anos, em 3 páginas."
    openai = FakeOpenAIMedia(chat_reply=f" {summary}\n")
    options = LlmOptions(max_retries=0, http_client=media_client(openai))
    message = meta_message(
        MessageType.DOCUMENT, LONG_PDF, "application/pdf", graph=graph, wamid=DOCUMENT_WAMID, filename="catalogo-solar.pdf"
    )

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai"), meta_source(graph), lambda: OpenAIChatModel(OPENAI_KEY, "gpt-4.1-mini", options)
    )

    # Then the whole extracted text went to the model under the summary prompt
    assert reading.turn == f"[documento “catalogo-solar.pdf”, 3 páginas] Resumo: {summary}"
    assert openai.chats == [
        {
            "model": "gpt-4.1-mini",
            "messages": [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": pdf_text(LONG_PDF)}],
            "max_completion_tokens": 800,
        }
    ]
    assert emitted() == {
        "MediaStored": 1,
        "MediaBytes": len(LONG_PDF),
        "MediaDocumentRead": 1,
        "LlmInputTokens": 1130,
        "LlmOutputTokens": 48,
    }


@pytest.mark.parametrize(
    ("data", "mime_type", "filename", "extension", "result", "notice", "pages", "metric"),
    [
        (pdf([QUOTE_TEXT], user_password="4321"), "application/pdf", "orcamento.pdf", ".pdf", "unsupported_type", "media_unsupported", None,
         "MediaUnsupportedType"),
        (SCANNED_PDF, "application/pdf", "digitalizado.pdf", ".pdf", "no_text", "document_without_text", 2, "MediaWithoutText"),
        (docx(QUOTE_TEXT), DOCX_MIME, "orcamento.docx", ".docx", "unsupported_type", "media_unsupported", None, "MediaUnsupportedType"),
    ],
    ids=["password-pdf", "scanned-pdf", "docx"],
)  # fmt: skip
def test_documents_that_cannot_be_read_get_a_notice_but_are_stored(
    s3, graph, emitted, data: bytes, mime_type: str, filename: str, extension: str, result: str, notice: str, pages: int | None, metric: str
) -> None:
    message = meta_message(MessageType.DOCUMENT, data, mime_type, graph=graph, wamid=DOCUMENT_WAMID, filename=filename)

    reading = reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    expected_stored = stored(DOCUMENT_WAMID, data, mime_type, extension)
    assert reading == MediaReading(turn=None, result=result, notice=notice, stored=expected_stored, pages=pages)
    assert s3_object(s3, expected_stored.key) == (data, mime_type, "aws:kms", True, RETAINED_90_DAYS)
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(data), "MediaUnavailable": 1, metric: 1}


def test_text_file_is_read_like_a_document(s3, graph) -> None:
    order = "Pedido para sábado:\n2 dúzias de pão de queijo\n1 bolo de cenoura com cobertura\nRetirada às 9h".encode()
    message = meta_message(MessageType.DOCUMENT, order, "text/plain", graph=graph, wamid=DOCUMENT_WAMID, filename="pedido.txt")

    reading = reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    assert reading == MediaReading(
        turn=f"[documento “pedido.txt”, 1 página] Conteúdo: {order.decode()}",
        result="read",
        stored=stored(DOCUMENT_WAMID, order, "text/plain", ".txt"),
        pages=1,
    )


def test_pdf_is_read_up_to_the_tenants_page_cap(s3, graph) -> None:
    # Given a three-page catalogue and a tenant that reads at most two pages
    catalogue = pdf(CATALOGUE_PAGES)
    message = meta_message(
        MessageType.DOCUMENT, catalogue, "application/pdf", graph=graph, wamid=DOCUMENT_WAMID, filename="catalogo-natal.pdf"
    )

    reading = reader(s3).read(message, tenant(limits=MediaLimits(pdf_pages=2)), meta_source(graph), no_chat)

    first_two = "\n\n".join(CATALOGUE_PAGES[:2])
    assert reading == MediaReading(
        turn=f"[documento “catalogo-natal.pdf”, 3 páginas, lidas 2] Conteúdo: {first_two}",
        result="read",
        stored=stored(DOCUMENT_WAMID, catalogue, "application/pdf", ".pdf"),
        pages=3,
    )


# --- the model refusing a file -------------------------------------------------------------------------------


def test_model_refusing_the_file_is_an_unsupported_notice(s3, graph, emitted) -> None:
    # Given OpenAI answering 400 for this audio: asking again would not change it
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    openai.fail_next(openai_error(400, "Audio file might be corrupted or unsupported", code="invalid_value"))
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(message, tenant("openai"), meta_source(graph), no_chat)

    assert reading == MediaReading(
        turn=None, result="unsupported_type", notice="media_unsupported", stored=stored(VOICE_WAMID, VOICE_NOTE.data, VOICE_MIME, ".ogg")
    )
    assert emitted() == {
        "MediaStored": 1,
        "MediaBytes": len(VOICE_NOTE.data),
        "MediaModelRejected": 1,
        "MediaUnavailable": 1,
        "MediaUnsupportedType": 1,
    }


def test_invalid_model_key_is_not_answered_as_an_unsupported_format(s3, graph) -> None:
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    openai.fail_next(openai_error(401, "Incorrect API key provided: sk-proj-****test.", code="invalid_api_key"))
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    with pytest.raises(LlmError):
        reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(message, tenant("openai"), meta_source(graph), no_chat)


# --- video -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [LlmKeys(openai_api_key=OPENAI_KEY), LlmKeys()], ids=["openai", "offline"])
def test_video_is_acknowledged_without_analysis_by_models_that_do_not_read_video(s3, graph, emitted, keys: LlmKeys) -> None:
    openai = FakeOpenAIMedia(chat_reply=DESCRIPTION)
    message = meta_message(MessageType.VIDEO, MP4_CLIP, "video/mp4", graph=graph, wamid=VIDEO_WAMID, caption="Olha como chegou o bolo 😍")

    reading = reader(s3, keys, openai).read(message, tenant(), meta_source(graph), no_chat)

    assert reading == MediaReading(
        turn="[vídeo recebido; o conteúdo não foi analisado]\nLegenda do cliente: Olha como chegou o bolo 😍",
        result="acknowledged",
        stored=stored(VIDEO_WAMID, MP4_CLIP, "video/mp4", ".mp4"),
    )
    assert openai.chats == []
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(MP4_CLIP), "MediaVideoAcknowledged": 1}


def test_video_is_described_by_gemini_when_the_tenant_is_on_gemini(s3, graph, emitted) -> None:
    watched = "Vídeo de uma caixa de bolo aberta: a cobertura está escorrida e a lateral do bolo, amassada."
    gemini = FakeGemini(reply=watched)
    caption = "Olha como chegou o bolo 😍"
    message = meta_message(MessageType.VIDEO, MP4_CLIP, "video/mp4", graph=graph, wamid=VIDEO_WAMID, caption=caption)

    reading = reader(s3, LlmKeys(gemini_api_key=GEMINI_KEY), gemini).read(message, tenant("gemini"), meta_source(graph), no_chat)

    assert reading == MediaReading(
        turn=f"[vídeo] {watched}\nLegenda do cliente: {caption}",
        result="described",
        stored=stored(VIDEO_WAMID, MP4_CLIP, "video/mp4", ".mp4"),
    )
    assert gemini.requests == [
        (
            "gemini-2.5-flash",
            {
                "contents": [{"role": "user", "parts": [inline(MP4_CLIP, "video/mp4"), {"text": video_instruction(caption, "pt-BR")}]}],
                "generationConfig": {"temperature": 0.0, "maxOutputTokens": 2048},
            },
        )
    ]
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(MP4_CLIP), "MediaDescribed": 1}


# --- media that cannot be had: one notice, a metric, nothing stored ------------------------------------------


GRAPH_UNAVAILABLE = httpx.Response(
    503,
    json={
        "error": {
            "message": "An unexpected error has occurred. Please retry your request later.",
            "type": "OAuthException",
            "is_transient": True,
            "code": 2,
            "fbtrace_id": "AbCdEfGhIjKlMnOp",
        }
    },
)


def _expired(graph: GraphSandbox, media_id: str) -> MetaMediaSource:
    graph.expire_media(media_id)
    return meta_source(graph)


def _lookaside_404(graph: GraphSandbox, media_id: str) -> MetaMediaSource:
    return meta_source(graph, intercepted(graph, "/sandbox/media/", httpx.Response(404)))


def _as_is(graph: GraphSandbox, media_id: str) -> MetaMediaSource:
    return meta_source(graph)


def _graph_refuses(graph: GraphSandbox, media_id: str) -> MetaMediaSource:
    refusal = {"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100, "fbtrace_id": "AzXyWvUtSrQp"}}
    return meta_source(graph, intercepted(graph, f"/{GRAPH_VERSION}/", httpx.Response(400, json=refusal)))


@pytest.mark.parametrize(
    ("served", "sha256", "limits", "source", "result", "notice", "params", "metric", "downloads"),
    [
        ((PHOTO, "image/jpeg"), None, MediaLimits(), _expired, "not_found", "media_expired", {}, "MediaNotFound", 0),
        ((PHOTO, "image/jpeg"), None, MediaLimits(), _lookaside_404, "expired", "media_expired", {}, "MediaExpired", 0),
        ((PHOTO, "image/jpeg"), None, MediaLimits(), _graph_refuses, "not_found", "media_expired", {}, "MediaNotFound", 0),
        ((BILL_PNG, "image/png"), None, MediaLimits(image_bytes=1024), _as_is, "too_large", "media_too_large", {"limit": "1 KB"},
         "MediaTooLarge", 0),
        ((WINDOWS_EXE, "application/x-msdownload"), None, MediaLimits(), _as_is, "unsupported_type", "media_unsupported", {},
         "MediaUnsupportedType", 0),
        ((PHOTO, "image/jpeg"), b64_digest(b"another file"), MediaLimits(), _as_is, "checksum_mismatch", "media_expired", {},
         "MediaChecksumMismatch", 1),
    ],
    ids=["expired-id", "download-404", "graph-refusal", "over-tenant-cap", "unsupported-mime", "checksum-mismatch"],
)  # fmt: skip
def test_meta_media_that_cannot_be_had_is_one_notice_and_nothing_stored(
    s3, graph, emitted, served, sha256, limits, source, result: str, notice: str, params: dict[str, str], metric: str, downloads: int
) -> None:
    # Given an image message whose file cannot be had
    data, mime_type = served
    openai = FakeOpenAIMedia(chat_reply=DESCRIPTION)
    media_id = graph.add_media(data, mime_type, sha256=sha256)
    message = meta_message(MessageType.IMAGE, data, "image/jpeg", graph=graph, wamid=IMAGE_WAMID, caption=CAPTION, media_id=media_id)

    # When
    reading = reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
        message, tenant("openai", limits=limits), source(graph, media_id), no_chat
    )

    # Then one notice and its metric; size and type are refused before the download; no model asked.
    # The caption is still the customer's words: the assistant gets it, marked as an unopened image.
    unopened = f"[imagem que não consegui abrir] Legenda do cliente: {CAPTION}"
    assert reading == MediaReading(turn=unopened, result=result, notice=notice, notice_params=params)
    assert (keys_in_bucket(s3), graph.media[media_id].downloads, openai.chats) == ([], downloads, [])
    assert emitted() == {"MediaUnavailable": 1, metric: 1}


def test_whaticket_media_is_not_downloadable(s3, emitted) -> None:
    # Given a Whaticket relay's image (no downloadable media, no source)
    message = InboundMessage(
        tenant_id=TENANT_ID,
        channel_id="whaticket:padaria-whaticket",
        provider=Provider.WHATICKET,
        provider_message_id="3EB0IMAGE000000000001",
        contact=ContactRef(contact_id=MARIANA, wa_id=MARIANA_PHONE, name="Mariana Souza"),
        timestamp=SENT_AT,
        type=MessageType.IMAGE,
        text=CAPTION,
        media=MediaRef(mime_type="image/jpeg", caption=CAPTION),
        extra={"media_unavailable": True},
    )

    reading = reader(s3).read(message, tenant(), None, no_chat)

    assert reading == MediaReading(
        turn=f"[imagem que não consegui abrir] Legenda do cliente: {CAPTION}", result="not_downloadable", notice="media_not_downloadable"
    )
    assert keys_in_bucket(s3) == []
    assert emitted() == {"MediaUnavailable": 1, "MediaNotDownloadable": 1}


def test_media_without_caption_that_cannot_be_had_is_answered_by_the_notice_alone(s3, graph) -> None:
    # Given an expired voice note (no caption: nothing else the assistant could answer)
    media_id = graph.add_media(VOICE_NOTE.data, VOICE_MIME)
    graph.expire_media(media_id)
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True, media_id=media_id)

    # When
    reading = reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    # Then
    assert reading == MediaReading(turn=None, result="not_found", notice="media_expired")


# --- transient failures raise: SQS retries the record -------------------------------------------------------


def test_graph_unavailable_raises_and_stores_nothing(s3, graph) -> None:
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    with pytest.raises(ProviderUnavailable) as caught:
        reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(
            message, tenant("openai"), meta_source(graph, intercepted(graph, f"/{GRAPH_VERSION}/", GRAPH_UNAVAILABLE)), no_chat
        )

    assert (caught.value.is_transient, keys_in_bucket(s3), openai.uploads) == (True, [], [])


def test_revoked_token_raises_for_a_redrive_not_a_notice(s3, graph) -> None:
    message = meta_message(MessageType.IMAGE, PHOTO, "image/jpeg", graph=graph, wamid=IMAGE_WAMID)
    graph.access_tokens = {"EAAGm0PX4ZCpsBANewToken"}

    with pytest.raises(ProviderAuthError):
        reader(s3).read(message, tenant(), meta_source(graph), no_chat)

    assert keys_in_bucket(s3) == []


def test_lookaside_unavailable_raises(s3, graph) -> None:
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    with pytest.raises(ProviderUnavailable):
        reader(s3).read(message, tenant(), meta_source(graph, intercepted(graph, "/sandbox/media/", httpx.Response(502))), no_chat)

    assert keys_in_bucket(s3) == []


def test_s3_unavailable_raises_before_any_model_call(s3, graph) -> None:
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)
    stubber = Stubber(s3)
    stubber.add_client_error(
        "put_object", service_error_code="SlowDown", service_message="Please reduce your request rate.", http_status_code=503
    )

    with stubber, pytest.raises(StoreError) as caught:
        reader(s3, LlmKeys(openai_api_key=OPENAI_KEY), openai).read(message, tenant("openai"), meta_source(graph), no_chat)

    assert (str(caught.value), caught.value.is_transient, openai.uploads) == ("S3 PutObject failed: SlowDown", True, [])
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("keys", "fallback"), [(LlmKeys(openai_api_key=OPENAI_KEY), True), (BOTH_KEYS, False)], ids=["no-other-key", "fallback-off"]
)
def test_model_unavailable_raises_after_storing(s3, graph, keys: LlmKeys, fallback: bool) -> None:
    # Given OpenAI overloaded and no fallback to take over
    openai = FakeOpenAIMedia(transcript=SPOKEN)
    openai.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"))
    gemini = FakeGemini(reply=SPOKEN)
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    # When / Then the error propagates (SQS retries); the file is already stored under its key
    with pytest.raises(LlmUnavailable):
        reader(s3, keys, openai, gemini).read(message, tenant("openai", fallback=fallback), meta_source(graph), no_chat)

    assert (len(openai.uploads), gemini.requests) == (1, [])
    assert keys_in_bucket(s3) == [stored(VOICE_WAMID, VOICE_NOTE.data, VOICE_MIME, ".ogg").key]


def test_transient_openai_failure_falls_back_to_gemini(s3, graph, emitted) -> None:
    # Given OpenAI overloaded, Gemini keyed, and the tenant's default fallback
    openai = FakeOpenAIMedia(transcript="never heard")
    openai.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"))
    gemini = FakeGemini(reply=f"{SPOKEN}\n")
    message = meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True)

    # When
    reading = reader(s3, BOTH_KEYS, openai, gemini).read(message, tenant("openai", transcript_echo=True), meta_source(graph), no_chat)

    # Then Gemini heard the same audio and its transcript is the turn
    assert reading == MediaReading(
        turn=f"[mensagem de voz transcrita] {SPOKEN}",
        result="transcribed",
        echo=SPOKEN,
        stored=stored(VOICE_WAMID, VOICE_NOTE.data, VOICE_MIME, ".ogg"),
        seconds=7,
    )
    assert len(openai.uploads) == 1
    assert gemini.requests == [
        (
            "gemini-2.5-flash",
            {
                "contents": [{"role": "user", "parts": [inline(VOICE_NOTE.data, "audio/ogg"), {"text": transcription_instruction("pt")}]}],
                "generationConfig": {"temperature": 0.0, "maxOutputTokens": 8192},
            },
        )
    ]
    assert emitted() == {"MediaStored": 1, "MediaBytes": len(VOICE_NOTE.data), "MediaTranscribed": 1, "MediaAudioSeconds": 7}


# --- Evolution ---------------------------------------------------------------------------------------------


def test_evolution_inline_media_is_used_without_any_http_call(s3, evolution) -> None:
    message = evolution_voice_note(VOICE_NOTE.data, inline_base64=base64.b64encode(VOICE_NOTE.data).decode())

    reading = reader(s3).read(message, tenant(), evolution_source(evolution), no_chat)

    assert reading == MediaReading(
        turn="[mensagem de voz transcrita] [transcrição offline] áudio de 7 s",
        result="transcribed",
        stored=stored(EVOLUTION_ID, VOICE_NOTE.data, VOICE_MIME, ".ogg"),
        seconds=7,
    )
    assert evolution.calls == []


@pytest.mark.parametrize("inline_base64", [None, "T2dnUwACAAAAAAAAAAAN!!"], ids=["no-inline", "invalid-inline"])
def test_evolution_media_is_fetched_with_get_base64_from_media_message(s3, evolution, inline_base64: str | None) -> None:
    # Given the file in Evolution's store, and no usable bytes in the webhook
    evolution.add_media(EVOLUTION_ID, VOICE_NOTE.data, VOICE_MIME)
    message = evolution_voice_note(VOICE_NOTE.data, inline_base64=inline_base64)

    # When
    reading = reader(s3).read(message, tenant(), evolution_source(evolution), no_chat)

    # Then one getBase64FromMediaMessage for this message id, and the file read as usual
    assert reading == MediaReading(
        turn="[mensagem de voz transcrita] [transcrição offline] áudio de 7 s",
        result="transcribed",
        stored=stored(EVOLUTION_ID, VOICE_NOTE.data, VOICE_MIME, ".ogg"),
        seconds=7,
    )
    assert [(call.action, call.instance, call.payload) for call in evolution.calls] == [
        ("getBase64FromMediaMessage", EVOLUTION_INSTANCE, {"message": {"key": {"id": EVOLUTION_ID}}, "convertToMp4": False})
    ]
    assert s3_object(s3, reading.stored.key) == (VOICE_NOTE.data, VOICE_MIME, "aws:kms", True, RETAINED_90_DAYS)


def test_evolution_media_it_no_longer_has_is_a_notice(s3, evolution, emitted) -> None:
    message = evolution_voice_note(VOICE_NOTE.data, inline_base64=None)

    reading = reader(s3).read(message, tenant(), evolution_source(evolution), no_chat)

    assert reading == MediaReading(turn=None, result="not_found", notice="media_expired")
    assert emitted() == {"MediaUnavailable": 1, "MediaNotFound": 1}


# --- the checkpoint -----------------------------------------------------------------------------------------


READINGS = [
    MediaReading(
        turn=f"[mensagem de voz transcrita] {SPOKEN}",
        result="transcribed",
        echo=SPOKEN,
        stored=stored(VOICE_WAMID, VOICE_NOTE.data, VOICE_MIME, ".ogg"),
        seconds=7,
    ),
    MediaReading(
        turn=f"[imagem] {BILL_DESCRIPTION}\n{BILL_LINE}",
        result="described",
        stored=stored(IMAGE_WAMID, BILL_PNG, "image/png", ".png"),
        bill={**BILL_ITEM, "missing": ["due_date"], "confidence": "low"},
    ),
    MediaReading(
        turn=None,
        result="too_long",
        notice="audio_too_long",
        notice_params={"minutes": "1,5"},
        stored=stored(VOICE_WAMID, LONG_NOTE, VOICE_MIME, ".ogg"),
        seconds=95,
    ),
    MediaReading(
        turn=None,
        result="no_text",
        notice="document_without_text",
        stored=stored(DOCUMENT_WAMID, SCANNED_PDF, "application/pdf", ".pdf"),
        pages=2,
    ),
    MediaReading(turn=None, result="not_downloadable", notice="media_not_downloadable"),
]


@pytest.mark.parametrize("reading", READINGS, ids=["transcribed", "bill", "too-long", "no-text", "not-downloadable"])
def test_reading_survives_the_claim_checkpoint(reading: MediaReading) -> None:
    item = reading.to_item()

    assert MediaReading.from_item(item) == reading
    assert MediaReading.from_item(from_attrs(to_attrs({"media": item}))["media"]) == reading


def test_checkpoint_item_holds_no_empty_or_absent_values() -> None:
    item = MediaReading(turn=None, result="not_downloadable", notice="media_not_downloadable").to_item()

    assert item == {"result": "not_downloadable", "notice": "media_not_downloadable"}


# --- privacy ---------------------------------------------------------------------------------------------


def test_logs_carry_no_transcript_caption_file_name_or_media_url(s3, graph, log_output) -> None:
    # Given a voice note (OpenAI failing over to Gemini), a captioned photo, a named document and a 404
    openai = FakeOpenAIMedia(transcript=SPOKEN, chat_reply=DESCRIPTION, bill_reply=NOT_A_BILL)
    openai.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"))
    gemini = FakeGemini(reply=SPOKEN)
    read = reader(s3, BOTH_KEYS, openai, gemini).read
    filename = "comprovante-pix-Mariana-Souza.pdf"
    messages = [
        meta_message(MessageType.AUDIO, VOICE_NOTE.data, VOICE_MIME, graph=graph, wamid=VOICE_WAMID, voice=True),
        meta_message(MessageType.IMAGE, PHOTO, "image/jpeg", graph=graph, wamid=IMAGE_WAMID, caption=BILL_CAPTION),
        meta_message(MessageType.DOCUMENT, pdf([QUOTE_TEXT]), "application/pdf", graph=graph, wamid=DOCUMENT_WAMID, filename=filename),
    ]

    # When
    readings = [read(m, tenant("openai", transcript_echo=True), meta_source(graph), no_chat) for m in messages]
    lost = meta_message(MessageType.IMAGE, PHOTO, "image/jpeg", graph=graph, wamid=IMAGE_WAMID, caption=CAPTION)
    readings.append(read(lost, tenant("openai"), _lookaside_404(graph, ""), no_chat))

    # Then the log says what happened, by kind and outcome, and nothing the customer sent
    logged = log_output.getvalue()
    assert [r.result for r in readings] == ["transcribed", "described", "read", "expired"]
    records = [json.loads(line) for line in logged.splitlines()]
    assert [(r["kind"], r["result"]) for r in records if r["message"] == "media read"] == [
        ("audio", "transcribed"),
        ("image", "described"),
        ("document", "read"),
        ("image", "expired"),
    ]
    secrets = [
        SPOKEN,
        DESCRIPTION,
        BILL_CAPTION,
        CAPTION,
        filename,
        "Mariana",
        MARIANA_PHONE,
        "Orçamento",
        "sig=",
        "/sandbox/media/",
        ACCESS_TOKEN,
    ]
    secrets += [media.signature for media in graph.media.values()]
    assert [s for s in secrets if s in logged or json.dumps(s)[1:-1] in logged] == []
