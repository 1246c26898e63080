"""Media understanding: header probes, offline stand-ins, bill validation, documents, provider
selection and fallback, and the real openai / google-genai SDKs against local fakes.

The SDKs run unmodified; only their transport is an ``httpx.MockTransport`` (tests/media_fakes.py),
which answers 400 to malformed requests the way the real APIs do. All media is made by
tests/media_samples.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from atende.errors import LlmAuthError, LlmRejected, LlmUnavailable, MediaUnavailable
from atende.llm import LlmKeys, LlmOptions
from atende.media import MediaBlob
from atende.media.documents import DocumentText, extract_text
from atende.media.gemini_media import MAX_INLINE_BYTES, GeminiTranscriber, GeminiVision
from atende.media.local_media import (
    BILL_MARKER_KEYWORD,
    LocalTranscriber,
    LocalVision,
    audio_duration_seconds,
    image_dimensions,
    png_text_chunks,
)
from atende.media.openai_media import OpenAITranscriber, OpenAIVision
from atende.media.understanding import (
    BILL_INSTRUCTION,
    BILL_JSON_SCHEMA,
    BillExtraction,
    FallbackTranscriber,
    FallbackVision,
    ImageDescription,
    Transcriber,
    Transcript,
    bill_from_item,
    bill_to_item,
    description_instruction,
    parse_bill_json,
    select_transcriber,
    select_vision,
    transcription_instruction,
)
from local.media_samples import (
    BILL_FIELDS,
    BILL_IMAGE,
    CATALOGUE_PAGES,
    MENU_IMAGE,
    MENU_TEXT,
    PHOTO_JPEG,
    TONE_WAV,
    VOICE_NOTE,
    jpeg_headers,
    pdf,
    png,
)
from tests.media_fakes import FakeGemini, FakeOpenAIMedia, gemini_error, media_client, openai_error

OPENAI_KEY = "sk-proj-test"
GEMINI_KEY = "AIzaTest"
TODAY = date(2025, 11, 20)
SPOKEN = "Oi, bom dia! Vocês ainda têm pão de queijo? Queria encomendar duas dúzias para sábado."
MENU_DESCRIPTION = "Foto de um cardápio impresso: pão de queijo a R$ 6,50 e bolo de cenoura a R$ 32,00."
CAPTION = "Vocês têm esses dois hoje?"


def today() -> date:
    return TODAY


def bill(**overrides: Any) -> BillExtraction:
    """The sample bill as read by ``provider``, with ``overrides``."""
    values: dict[str, Any] = {
        "is_electricity_bill": True,
        "total_amount_brl": Decimal("187.43"),
        "due_date": date(2025, 12, 10),
        "consumption_kwh": 245,
        "distributor": "Enel SP",
        "confidence": "high",
        "missing": (),
        "provider": "openai",
        "model": "gpt-4.1-mini",
    }
    return BillExtraction(**{**values, **overrides})


def bill_json(**overrides: Any) -> str:
    return json.dumps({**BILL_FIELDS, **overrides})


# --- samples and header probes (audio durations: test_audio_duration.py) --------------------------


@pytest.mark.parametrize(
    ("blob", "dimensions"),
    [
        (MENU_IMAGE, (120, 40)),
        (BILL_IMAGE, (360, 640)),
        (PHOTO_JPEG, (1200, 1600)),
        # An Exif segment and fill bytes before the frame header, as phone cameras write them
        (MediaBlob(b"\xff\xd8\xff\xe1\x00\x0aExif\x00\x00\x00\x00\xff" + jpeg_headers(1080, 1920)[2:], "image/jpeg"), (1080, 1920)),
        (MediaBlob(MENU_IMAGE.data[:20], "image/png"), None),
        (MediaBlob(b"\xff\xd8\xff\xda\x00\x08", "image/jpeg"), None),
        (MediaBlob(b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"), None),
    ],
    ids=["png", "png-bill", "jpeg", "jpeg-exif-fill", "truncated-png", "jpeg-scan-first", "webp"],
)
def test_image_dimensions_from_headers(blob: MediaBlob, dimensions: tuple[int, int] | None) -> None:
    assert image_dimensions(blob) == dimensions


def test_png_text_chunks() -> None:
    assert png_text_chunks(MENU_IMAGE.data) == {"Title": "Cardápio Padaria Pão Quente", "Description": MENU_TEXT}
    assert png_text_chunks(PHOTO_JPEG.data) == {}


def test_results_keep_customer_content_out_of_repr() -> None:
    assert repr(Transcript(text=SPOKEN, provider="openai", model="gpt-4o-mini-transcribe", seconds=7.0)) == (
        "Transcript(provider='openai', model='gpt-4o-mini-transcribe', seconds=7.0)"
    )
    assert "187.43" not in repr(bill()) and "2025" not in repr(bill()) and "245" not in repr(bill())
    assert "Cardápio" not in repr(DocumentText(text=MENU_TEXT, pages_read=1, total_pages=1, truncated=False))


# --- offline stand-ins -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (VOICE_NOTE, Transcript("[transcrição offline] áudio de 7 s", "local", "atende-offline-1", 7.0)),
        (TONE_WAV, Transcript("[transcrição offline] áudio de 1 s", "local", "atende-offline-1", 1.0)),
        (
            MediaBlob(b"\xff\xf1\x50\x80" + bytes(20_000), "audio/aac"),  # ADTS AAC carries no duration
            Transcript("[transcrição offline] áudio de 20 KB", "local", "atende-offline-1"),
        ),
    ],
    ids=["voice-note", "wav", "aac-unknown-length"],
)
def test_local_transcriber_is_a_labelled_deterministic_marker(blob: MediaBlob, expected: Transcript) -> None:
    assert LocalTranscriber().transcribe(blob) == expected


@pytest.mark.parametrize(
    ("blob", "text"),
    [
        (MENU_IMAGE, "[descrição offline] imagem PNG de 120×40 pixels"),
        (PHOTO_JPEG, "[descrição offline] imagem JPEG de 1200×1600 pixels"),
        (MediaBlob(b"RIFF" + b"\x00" * 3000, "image/webp"), "[descrição offline] imagem WEBP de 3 KB"),
    ],
    ids=["png", "jpeg", "webp-unknown-size"],
)
def test_local_vision_describes_only_what_headers_tell(blob: MediaBlob, text: str) -> None:
    assert LocalVision().describe(blob, caption=CAPTION) == ImageDescription(text, "local", "atende-offline-1")


def test_local_vision_reads_the_test_marker_through_validation() -> None:
    # Given the sample bill (fields in a tEXt chunk) / When / Then: the same result a model's JSON gives
    assert LocalVision(today=today).extract_bill(BILL_IMAGE) == bill(provider="local", model="atende-offline-1")


@pytest.mark.parametrize(
    "blob",
    [
        MENU_IMAGE,
        PHOTO_JPEG,
        MediaBlob(png(10, 10, texts={BILL_MARKER_KEYWORD: "{not json"}), "image/png"),
    ],
    ids=["menu", "photo", "broken-marker"],
)
def test_local_vision_anything_else_is_not_a_bill(blob: MediaBlob) -> None:
    assert LocalVision(today=today).extract_bill(blob) == BillExtraction(
        False, None, None, None, None, "low", (), provider="local", model="atende-offline-1"
    )


def test_local_vision_marker_values_are_validated_like_a_models() -> None:
    # Given a marked image whose amount is negative
    blob = MediaBlob(png(10, 10, texts={BILL_MARKER_KEYWORD: bill_json(total_amount_brl=-187.43)}), "image/png")

    # When / Then the amount is dropped, never corrected
    assert LocalVision(today=today).extract_bill(blob) == bill(
        total_amount_brl=None, confidence="low", missing=("total_amount_brl",), provider="local", model="atende-offline-1"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: LocalTranscriber().transcribe(MENU_IMAGE),
        lambda: LocalVision().describe(VOICE_NOTE),
        lambda: LocalVision().extract_bill(MediaBlob(pdf(["Conta"]), "application/pdf")),
    ],
    ids=["image-as-audio", "audio-as-image", "pdf-as-bill-image"],
)
def test_local_stand_ins_refuse_the_wrong_kind_of_media(call: Callable[[], object]) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        call()
    assert caught.value.reason == "unsupported_type"


# --- validating a model's bill JSON ------------------------------------------------------------------


def validated(raw: str) -> BillExtraction:
    return parse_bill_json(raw, provider="openai", model="gpt-4.1-mini", today=TODAY)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, bill()),
        ({"total_amount_brl": 150}, bill(total_amount_brl=Decimal("150.00"))),
        ({"total_amount_brl": 0}, bill(total_amount_brl=Decimal("0.00"))),
        ({"consumption_kwh": 245.0}, bill()),
        ({"distributor": "  CEMIG \n Distribuição "}, bill(distributor="CEMIG Distribuição")),
        # Nulls are honest "could not read": listed as missing, the confidence is the model's
        (
            {"total_amount_brl": None, "consumption_kwh": None, "confidence": "medium"},
            bill(total_amount_brl=None, consumption_kwh=None, confidence="medium", missing=("total_amount_brl", "consumption_kwh")),
        ),
        # Wrong or implausible values: dropped (never repaired) and the confidence falls to low
        ({"total_amount_brl": -187.43}, bill(total_amount_brl=None, confidence="low", missing=("total_amount_brl",))),
        ({"total_amount_brl": "187,43"}, bill(total_amount_brl=None, confidence="low", missing=("total_amount_brl",))),
        ({"total_amount_brl": True}, bill(total_amount_brl=None, confidence="low", missing=("total_amount_brl",))),
        ({"total_amount_brl": 187.437}, bill(total_amount_brl=None, confidence="low", missing=("total_amount_brl",))),
        ({"total_amount_brl": 18743000}, bill(total_amount_brl=None, confidence="low", missing=("total_amount_brl",))),
        ({"due_date": "2025-02-30"}, bill(due_date=None, confidence="low", missing=("due_date",))),
        ({"due_date": "10/12/2025"}, bill(due_date=None, confidence="low", missing=("due_date",))),
        ({"due_date": "1925-12-10"}, bill(due_date=None, confidence="low", missing=("due_date",))),
        ({"due_date": "2031-01-10"}, bill(due_date=None, confidence="low", missing=("due_date",))),
        ({"due_date": 20251210}, bill(due_date=None, confidence="low", missing=("due_date",))),
        ({"consumption_kwh": -245}, bill(consumption_kwh=None, confidence="low", missing=("consumption_kwh",))),
        ({"consumption_kwh": 245.5}, bill(consumption_kwh=None, confidence="low", missing=("consumption_kwh",))),
        ({"consumption_kwh": "245 kWh"}, bill(consumption_kwh=None, confidence="low", missing=("consumption_kwh",))),
        ({"distributor": "   "}, bill(distributor=None, confidence="low", missing=("distributor",))),
        ({"distributor": "Enel " * 40}, bill(distributor=None, confidence="low", missing=("distributor",))),
        ({"distributor": 42}, bill(distributor=None, confidence="low", missing=("distributor",))),
        ({"confidence": "certain"}, bill(confidence="low")),
        # A non-bill keeps none of the values the model may have filled in anyway
        (
            {"is_electricity_bill": False, "confidence": "high"},
            BillExtraction(False, None, None, None, None, "high", (), "openai", "gpt-4.1-mini"),
        ),
        ({"is_electricity_bill": "sim"}, BillExtraction(False, None, None, None, None, "low", (), "openai", "gpt-4.1-mini")),
    ],
    ids=[
        "valid",
        "integer-amount",
        "zero-amount",
        "integral-float-kwh",
        "distributor-whitespace",
        "honest-nulls",
        "negative-amount",
        "amount-as-text",
        "amount-bool",
        "amount-sub-centavo",
        "amount-absurd",
        "impossible-date",
        "date-not-iso",
        "date-too-old",
        "date-too-far-ahead",
        "date-as-number",
        "negative-kwh",
        "fractional-kwh",
        "kwh-as-text",
        "blank-distributor",
        "distributor-too-long",
        "distributor-number",
        "unknown-confidence",
        "not-a-bill",
        "bill-flag-not-bool",
    ],
)
def test_bill_validation(overrides: dict[str, Any], expected: BillExtraction) -> None:
    assert validated(bill_json(**overrides)) == expected


def test_bill_validation_keeps_exact_centavos() -> None:
    # JSON numbers are read as Decimal: no float noise, and the trailing zero is kept
    assert validated(bill_json().replace("187.43", "1234.10")).total_amount_brl == Decimal("1234.10")


def test_bill_validation_non_finite_amount_is_dropped() -> None:
    raw = bill_json().replace("187.43", "NaN")
    assert validated(raw) == bill(total_amount_brl=None, confidence="low", missing=("total_amount_brl",))


@pytest.mark.parametrize(
    "raw", ["", "{", "Claro! Aqui está: {", '["is_electricity_bill", true]', "null"], ids=["empty", "cut", "prose", "array", "null"]
)
def test_bill_json_that_is_not_an_object_is_unavailable(raw: str) -> None:
    with pytest.raises(LlmUnavailable) as caught:
        validated(raw)
    assert caught.value.is_transient is True


def test_rejected_bill_fields_are_logged_by_name_never_by_value(log_output: Any) -> None:
    # When
    validated(bill_json(total_amount_brl=-187.43, due_date="2025-02-30"))

    # Then one warning naming the fields; no amount, date or distributor in the logs
    (record,) = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert (record["level"], record["message"], record["provider"], record["fields"]) == (
        "WARNING",
        "bill fields rejected",
        "openai",
        ["total_amount_brl", "due_date"],
    )
    assert not any(value in log_output.getvalue() for value in ("187", "2025-02-30", "Enel", "245"))


# --- documents -----------------------------------------------------------------------------------------

CATALOGUE = MediaBlob(pdf(CATALOGUE_PAGES), "application/pdf", "catalogo-natal-2025.pdf")
CATALOGUE_TEXT = "\n\n".join(CATALOGUE_PAGES)


def test_pdf_text_all_pages() -> None:
    assert extract_text(CATALOGUE, max_pages=20, max_chars=20_000) == DocumentText(
        text=CATALOGUE_TEXT, pages_read=3, total_pages=3, truncated=False
    )


def test_pdf_page_bound() -> None:
    assert extract_text(CATALOGUE, max_pages=2, max_chars=20_000) == DocumentText(
        text="\n\n".join(CATALOGUE_PAGES[:2]), pages_read=2, total_pages=3, truncated=True
    )


def test_pdf_char_bound_stops_reading_pages() -> None:
    # Given a bound the first page already exceeds / When
    result = extract_text(CATALOGUE, max_pages=20, max_chars=40)

    # Then the text is cut, and pages 2-3 were not even read
    assert result == DocumentText(text=CATALOGUE_PAGES[0][:40], pages_read=1, total_pages=3, truncated=True)


def test_pdf_char_bound_equal_to_the_text_is_not_truncation() -> None:
    assert extract_text(CATALOGUE, max_pages=3, max_chars=len(CATALOGUE_TEXT)) == DocumentText(
        text=CATALOGUE_TEXT, pages_read=3, total_pages=3, truncated=False
    )


def test_pdf_without_text_layer_reads_as_empty() -> None:
    # Given a scanned-style PDF (pages, no text) / When / Then the caller can tell and fall back to vision
    assert extract_text(MediaBlob(pdf(["", ""]), "application/pdf"), max_pages=20, max_chars=20_000) == DocumentText(
        text="", pages_read=2, total_pages=2, truncated=False
    )


def test_pdf_with_owner_password_only_opens() -> None:
    # Given a PDF encrypted with an empty user password (utility and bank PDFs often are)
    blob = MediaBlob(pdf(["Conta de luz - Enel SP\nTotal a pagar: R$ 187,43"], user_password=""), "application/pdf")

    # When / Then
    assert extract_text(blob, max_pages=20, max_chars=20_000) == DocumentText(
        text="Conta de luz - Enel SP\nTotal a pagar: R$ 187,43", pages_read=1, total_pages=1, truncated=False
    )


def test_pdf_sent_as_octet_stream_is_recognised_by_its_header() -> None:
    blob = MediaBlob(CATALOGUE.data, "application/octet-stream")
    assert extract_text(blob, max_pages=1, max_chars=20_000).text == CATALOGUE_PAGES[0]


@pytest.mark.parametrize(
    "data",
    [
        pdf(["Conta protegida"], user_password="12345"),
        CATALOGUE.data[: len(CATALOGUE.data) // 2],
        b"%PDF-1.7\n" + b"\x00\x13 not a pdf body " * 50,
        b"<html><body>Conta</body></html>",
        b"",
    ],
    ids=["user-password", "truncated", "garbage-after-header", "html-labelled-pdf", "empty"],
)
def test_unreadable_pdf_is_unsupported(data: bytes) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        extract_text(MediaBlob(data, "application/pdf"), max_pages=20, max_chars=20_000)
    assert (caught.value.reason, caught.value.is_transient) == ("unsupported_type", False)


@pytest.mark.parametrize(
    ("blob", "max_chars", "expected"),
    [
        (
            MediaBlob("Pedido: 2 dúzias de pão de queijo 🧀".encode(), "text/plain; charset=utf-8"),
            100,
            ("Pedido: 2 dúzias de pão de queijo 🧀", False),
        ),
        (MediaBlob(b"\xef\xbb\xbfproduto;preco\npanetone;59,90\n", "text/csv"), 100, ("produto;preco\npanetone;59,90\n", False)),
        (MediaBlob(b'{"pedido": 1042, "itens": ["p\xc3\xa3o"]}', "application/json"), 100, ('{"pedido": 1042, "itens": ["pão"]}', False)),
        (MediaBlob(b"pre\xe7o: R$ 6,50", "text/plain"), 100, ("pre\ufffdo: R$ 6,50", False)),  # Latin-1, not UTF-8
        (MediaBlob(("ação " * 1000).encode(), "text/plain"), 12, ("ação ação aç", True)),
        (MediaBlob("🧀🧀🧀🧀".encode(), "text/plain"), 4, ("🧀🧀🧀🧀", False)),
        (MediaBlob("🧀🧀🧀🧀🧀".encode(), "text/plain"), 4, ("🧀🧀🧀🧀", True)),
    ],
    ids=["utf8-emoji", "csv-bom", "json", "latin1-replaced", "char-bound", "exact-bound-4-byte-chars", "over-bound-4-byte-chars"],
)
def test_text_documents(blob: MediaBlob, max_chars: int, expected: tuple[str, bool]) -> None:
    text, truncated = expected
    assert extract_text(blob, max_pages=20, max_chars=max_chars) == DocumentText(
        text=text, pages_read=1, total_pages=1, truncated=truncated
    )


def test_text_document_decodes_only_a_bounded_prefix() -> None:
    # Given 10 MB of text and a 20-character bound / When
    result = extract_text(MediaBlob(b"a" * 10_000_000, "text/plain"), max_pages=1, max_chars=20)

    # Then
    assert result == DocumentText(text="a" * 20, pages_read=1, total_pages=1, truncated=True)


@pytest.mark.parametrize(
    "mime",
    ["application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/html", "image/png", "application/zip"],
)
def test_other_document_types_are_unsupported(mime: str) -> None:
    with pytest.raises(MediaUnavailable) as caught:
        extract_text(MediaBlob(b"PK\x03\x04 whatever", mime), max_pages=20, max_chars=20_000)
    assert caught.value.reason == "unsupported_type"


def test_document_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        extract_text(CATALOGUE, max_pages=0, max_chars=20_000)


# --- OpenAI through the real SDK --------------------------------------------------------------------------


def fake_options(*fakes: FakeOpenAIMedia | FakeGemini, max_retries: int = 0) -> LlmOptions:
    return LlmOptions(max_retries=max_retries, http_client=media_client(*fakes))


def data_url(blob: MediaBlob) -> str:
    return f"data:{blob.base_mime};base64,{base64.b64encode(blob.data).decode()}"


@pytest.mark.parametrize(
    ("blob", "language", "filename", "content_type"),
    [
        (VOICE_NOTE, "pt", "audio.ogg", "audio/ogg"),
        (TONE_WAV, "pt-BR", "audio.wav", "audio/wav"),  # the customer's file name is never sent
        (MediaBlob(b"ID3" + b"\x00" * 64, "audio/mpeg", "AUD-20251120-WA0003.mp3"), "pt", "audio.mp3", "audio/mpeg"),
    ],
    ids=["voice-note", "wav", "mp3"],
)
def test_openai_transcription_request_and_result(blob: MediaBlob, language: str, filename: str, content_type: str) -> None:
    # Given
    fake = FakeOpenAIMedia(transcript=f"  {SPOKEN}\n")

    # When
    transcript = OpenAITranscriber(OPENAI_KEY, "gpt-4o-mini-transcribe", fake_options(fake)).transcribe(blob, language=language)

    # Then one multipart upload: model, ISO-639-1 language, the bytes under a name with the right extension
    (upload,) = fake.uploads
    assert (upload.fields, upload.filename, upload.content_type, upload.data) == (
        {"model": "gpt-4o-mini-transcribe", "language": "pt"},
        filename,
        content_type,
        blob.data,
    )
    # gpt-4o-mini-transcribe reports tokens, not seconds: the duration comes from the file's headers
    assert transcript == Transcript(text=SPOKEN, provider="openai", model="gpt-4o-mini-transcribe", seconds=audio_duration_seconds(blob))


def test_openai_transcription_prefers_the_reported_duration() -> None:
    fake = FakeOpenAIMedia(transcript=SPOKEN, audio_seconds=6.98)
    transcript = OpenAITranscriber(OPENAI_KEY, "whisper-1", fake_options(fake)).transcribe(VOICE_NOTE)
    assert transcript == Transcript(text=SPOKEN, provider="openai", model="whisper-1", seconds=6.98)


@pytest.mark.parametrize("said", ["", "  ", "[inaudível]"], ids=["empty", "blank", "marker"])
def test_openai_transcription_of_silence_is_empty(said: str) -> None:
    transcript = OpenAITranscriber(OPENAI_KEY, "gpt-4o-mini-transcribe", fake_options(FakeOpenAIMedia(transcript=said))).transcribe(
        VOICE_NOTE
    )
    assert transcript.text == ""


@pytest.mark.parametrize(
    ("blob", "reason"),
    [
        (MediaBlob(b"#!AMR\n" + b"\x00" * 64, "audio/amr"), "unsupported_type"),
        (MediaBlob(b"\xff\xf1" + b"\x00" * 64, "audio/aac"), "unsupported_type"),
        (MediaBlob(b"\x00" * (25 * 1024 * 1024 + 1), "audio/ogg"), "too_large"),
    ],
    ids=["amr", "aac", "over-25-mb"],
)
def test_openai_transcription_refuses_what_the_endpoint_cannot_take(blob: MediaBlob, reason: str) -> None:
    fake = FakeOpenAIMedia(transcript=SPOKEN)
    with pytest.raises(MediaUnavailable) as caught:
        OpenAITranscriber(OPENAI_KEY, "gpt-4o-mini-transcribe", fake_options(fake)).transcribe(blob)
    assert (caught.value.reason, fake.uploads) == (reason, [])


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (openai_error(429, "Rate limit reached for gpt-4o-mini-transcribe", "requests", "rate_limit_exceeded"), LlmUnavailable),
        (openai_error(500, "The server had an error while processing your request.", "server_error"), LlmUnavailable),
        (openai_error(503, "The engine is currently overloaded.", "server_error"), LlmUnavailable),
        (openai_error(400, "Audio file might be corrupted or unsupported", code="invalid_value"), LlmRejected),
        (openai_error(401, "Incorrect API key provided.", code="invalid_api_key"), LlmAuthError),
    ],
    ids=["429", "500", "503", "400", "401"],
)
def test_openai_transcription_error_mapping(failure: httpx.Response, expected: type[Exception]) -> None:
    # Given a failing API and no retries
    fake = FakeOpenAIMedia(transcript=SPOKEN)
    fake.fail_next(failure)

    # When
    with pytest.raises(expected) as caught:
        OpenAITranscriber(OPENAI_KEY, "gpt-4o-mini-transcribe", fake_options(fake)).transcribe(VOICE_NOTE)

    # Then one request, the error of our tree, and no customer content in the message
    assert (type(caught.value), len(fake.uploads), str(caught.value)) == (expected, 1, f"OpenAI {_status_words(failure)}")


def _status_words(failure: httpx.Response) -> str:
    return {429: "unavailable: RateLimitError", 500: "unavailable: InternalServerError", 503: "unavailable: InternalServerError"}.get(
        failure.status_code, f"HTTP {failure.status_code}"
    )


def test_openai_transcription_timeout_is_unavailable() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    options = LlmOptions(max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(timeout)))
    with pytest.raises(LlmUnavailable, match=r"^OpenAI unavailable: APITimeoutError$"):
        OpenAITranscriber(OPENAI_KEY, "gpt-4o-mini-transcribe", options).transcribe(VOICE_NOTE)


def test_openai_describe_request_and_result() -> None:
    # Given
    fake = FakeOpenAIMedia(chat_reply=f"{MENU_DESCRIPTION}\n")

    # When
    described = OpenAIVision(OPENAI_KEY, "gpt-4.1-mini", fake_options(fake)).describe(MENU_IMAGE, caption=CAPTION)

    # Then the instruction (with the caption) and the image as a data URL, in one user message
    assert fake.chats == [
        {
            "model": "gpt-4.1-mini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": description_instruction(CAPTION, "pt-BR")},
                        {"type": "image_url", "image_url": {"url": data_url(MENU_IMAGE), "detail": "auto"}},
                    ],
                }
            ],
            "max_completion_tokens": 300,
        }
    ]
    assert described == ImageDescription(text=MENU_DESCRIPTION, provider="openai", model="gpt-4.1-mini")
    assert description_instruction(CAPTION, "pt-BR").endswith(f"\nLegenda enviada com a imagem: {CAPTION}")


def test_openai_extract_bill_asks_for_strict_structured_output() -> None:
    # Given
    fake = FakeOpenAIMedia(chat_reply=bill_json())

    # When
    extracted = OpenAIVision(OPENAI_KEY, "gpt-4.1-mini", fake_options(fake), today=today).extract_bill(PHOTO_JPEG)

    # Then
    assert fake.chats == [
        {
            "model": "gpt-4.1-mini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": BILL_INSTRUCTION},
                        {"type": "image_url", "image_url": {"url": data_url(PHOTO_JPEG), "detail": "high"}},
                    ],
                }
            ],
            "max_completion_tokens": 300,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "electricity_bill", "strict": True, "schema": BILL_JSON_SCHEMA},
            },
        }
    ]
    assert BILL_JSON_SCHEMA["required"] == [
        "is_electricity_bill",
        "total_amount_brl",
        "due_date",
        "consumption_kwh",
        "distributor",
        "confidence",
    ]
    assert extracted == bill()


def test_openai_extract_bill_validates_the_models_answer() -> None:
    fake = FakeOpenAIMedia(chat_reply=bill_json(total_amount_brl=-187.43, due_date="2025-13-10"))
    extracted = OpenAIVision(OPENAI_KEY, "gpt-4.1-mini", fake_options(fake), today=today).extract_bill(BILL_IMAGE)
    assert extracted == bill(total_amount_brl=None, due_date=None, confidence="low", missing=("total_amount_brl", "due_date"))


@pytest.mark.parametrize(
    ("fake", "expected", "message"),
    [
        (FakeOpenAIMedia(refusal="I'm sorry, I can't help with that."), LlmRejected, "OpenAI refused to read the image"),
        (FakeOpenAIMedia(chat_reply="   "), LlmUnavailable, "OpenAI returned an empty answer"),
        (FakeOpenAIMedia(chat_reply='{"is_electricity_bill": tru'), LlmUnavailable, "openai returned unparsable bill JSON"),
    ],
    ids=["refusal", "empty", "cut-json"],
)
def test_openai_extract_bill_unusable_answers(fake: FakeOpenAIMedia, expected: type[Exception], message: str) -> None:
    with pytest.raises(expected) as caught:
        OpenAIVision(OPENAI_KEY, "gpt-4.1-mini", fake_options(fake), today=today).extract_bill(BILL_IMAGE)
    assert (type(caught.value), str(caught.value)) == (expected, message)


@pytest.mark.parametrize("mime", ["image/heic", "image/gif", "image/svg+xml"])
def test_openai_vision_refuses_unsupported_images_without_a_request(mime: str) -> None:
    fake = FakeOpenAIMedia(chat_reply=MENU_DESCRIPTION)
    with pytest.raises(MediaUnavailable) as caught:
        OpenAIVision(OPENAI_KEY, "gpt-4.1-mini", fake_options(fake)).describe(MediaBlob(b"\x00" * 64, mime))
    assert (caught.value.reason, fake.chats) == ("unsupported_type", [])


def test_openai_vision_server_error_is_unavailable_after_retries() -> None:
    # Given a persistent 503 and one retry allowed (the SDK waits < 1 s)
    fake = FakeOpenAIMedia(chat_reply=MENU_DESCRIPTION)
    fake.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"), times=2)

    # When / Then: one try plus one retry
    with pytest.raises(LlmUnavailable):
        OpenAIVision(OPENAI_KEY, "gpt-4.1-mini", fake_options(fake, max_retries=1)).describe(MENU_IMAGE)
    assert len(fake.chats) == 2


# --- Gemini through the real SDK ---------------------------------------------------------------------------

GEMINI_URL_MODEL = "gemini-2.5-flash"


def inline(blob: MediaBlob, mime_type: str) -> dict[str, Any]:
    return {"inlineData": {"data": base64.urlsafe_b64encode(blob.data).decode(), "mimeType": mime_type}}


def test_gemini_transcription_request_and_result() -> None:
    # Given
    fake = FakeGemini(reply=f"{SPOKEN}\n")

    # When
    transcript = GeminiTranscriber(GEMINI_KEY, "gemini-2.5-flash", fake_options(fake)).transcribe(VOICE_NOTE)

    # Then the audio inline (codec parameter dropped), then the verbatim-transcription instruction
    assert fake.requests == [
        (
            GEMINI_URL_MODEL,
            {
                "contents": [{"role": "user", "parts": [inline(VOICE_NOTE, "audio/ogg"), {"text": transcription_instruction("pt")}]}],
                "generationConfig": {"temperature": 0.0, "maxOutputTokens": 8192},
            },
        )
    ]
    assert transcription_instruction("pt").startswith("Transcreva literalmente a fala deste áudio, em português do Brasil.")
    assert transcript == Transcript(text=SPOKEN, provider="gemini", model="gemini-2.5-flash", seconds=7.0)


def test_gemini_transcription_of_silence_is_empty() -> None:
    transcript = GeminiTranscriber(GEMINI_KEY, "gemini-2.5-flash", fake_options(FakeGemini(reply="[inaudível]\n"))).transcribe(TONE_WAV)
    assert transcript == Transcript(text="", provider="gemini", model="gemini-2.5-flash", seconds=1.0)


def test_gemini_describe_request_and_result() -> None:
    fake = FakeGemini(reply=MENU_DESCRIPTION)
    described = GeminiVision(GEMINI_KEY, "gemini-2.5-flash", fake_options(fake)).describe(PHOTO_JPEG, caption=CAPTION)
    assert fake.requests == [
        (
            GEMINI_URL_MODEL,
            {
                "contents": [
                    {"role": "user", "parts": [inline(PHOTO_JPEG, "image/jpeg"), {"text": description_instruction(CAPTION, "pt-BR")}]}
                ],
                "generationConfig": {"temperature": 0.0, "maxOutputTokens": 2048},
            },
        )
    ]
    assert described == ImageDescription(text=MENU_DESCRIPTION, provider="gemini", model="gemini-2.5-flash")


def test_gemini_extract_bill_asks_for_a_json_response_schema() -> None:
    # Given
    fake = FakeGemini(reply=bill_json())

    # When
    extracted = GeminiVision(GEMINI_KEY, "gemini-2.5-flash", fake_options(fake), today=today).extract_bill(BILL_IMAGE)

    # Then the same fields as OpenAI's strict schema, nullable where JSON Schema says "null"
    ((model, body),) = fake.requests
    assert body["contents"] == [{"role": "user", "parts": [inline(BILL_IMAGE, "image/png"), {"text": BILL_INSTRUCTION}]}]
    config = body["generationConfig"]
    assert (model, config["responseMimeType"], config["temperature"], config["maxOutputTokens"]) == (
        GEMINI_URL_MODEL,
        "application/json",
        0.0,
        2048,
    )
    properties = BILL_JSON_SCHEMA["properties"]
    assert {k: v for k, v in config["responseSchema"].items() if k != "property_ordering"} == {
        "type": "OBJECT",
        "required": ["is_electricity_bill", "total_amount_brl", "due_date", "consumption_kwh", "distributor", "confidence"],
        "properties": {
            "is_electricity_bill": {"type": "BOOLEAN", "description": properties["is_electricity_bill"]["description"]},
            "total_amount_brl": {"type": "NUMBER", "nullable": True, "description": properties["total_amount_brl"]["description"]},
            "due_date": {"type": "STRING", "nullable": True, "description": properties["due_date"]["description"]},
            "consumption_kwh": {"type": "INTEGER", "nullable": True, "description": properties["consumption_kwh"]["description"]},
            "distributor": {"type": "STRING", "nullable": True, "description": properties["distributor"]["description"]},
            "confidence": {"type": "STRING", "enum": ["high", "medium", "low"], "description": properties["confidence"]["description"]},
        },
    }
    assert extracted == bill(provider="gemini", model="gemini-2.5-flash")


def test_gemini_extract_bill_validates_the_models_answer() -> None:
    fake = FakeGemini(reply=bill_json(consumption_kwh=-245, distributor=""))
    extracted = GeminiVision(GEMINI_KEY, "gemini-2.5-flash", fake_options(fake), today=today).extract_bill(BILL_IMAGE)
    assert extracted == bill(
        consumption_kwh=None,
        distributor=None,
        confidence="low",
        missing=("consumption_kwh", "distributor"),
        provider="gemini",
        model="gemini-2.5-flash",
    )


@pytest.mark.parametrize(
    ("failure", "expected", "message"),
    [
        (gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"), LlmUnavailable, "Gemini HTTP 503"),
        (gemini_error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"), LlmUnavailable, "Gemini HTTP 429"),
        (gemini_error(400, "Unsupported MIME type: audio/ogg", "INVALID_ARGUMENT"), LlmRejected, "Gemini HTTP 400"),
        (gemini_error(403, "API key not valid. Please pass a valid API key.", "PERMISSION_DENIED"), LlmAuthError, "Gemini HTTP 403"),
    ],
    ids=["503", "429", "400", "403"],
)
def test_gemini_transcription_error_mapping(failure: httpx.Response, expected: type[Exception], message: str) -> None:
    fake = FakeGemini(reply=SPOKEN)
    fake.fail_next(failure)
    with pytest.raises(expected) as caught:
        GeminiTranscriber(GEMINI_KEY, "gemini-2.5-flash", fake_options(fake)).transcribe(VOICE_NOTE)
    assert (type(caught.value), str(caught.value), len(fake.requests)) == (expected, message, 1)


def test_gemini_blocked_answer_is_unavailable() -> None:
    fake = FakeGemini(reply="")
    with pytest.raises(LlmUnavailable, match=r"^Gemini returned an empty answer$"):
        GeminiVision(GEMINI_KEY, "gemini-2.5-flash", fake_options(fake)).describe(MENU_IMAGE)


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda v, t: t.transcribe(MediaBlob(b"#!AMR\n", "audio/amr")), "unsupported_type"),
        (lambda v, t: t.transcribe(MediaBlob(b"\x00" * 64, "audio/mp4")), "unsupported_type"),
        (lambda v, t: t.transcribe(MediaBlob(b"\x00" * (MAX_INLINE_BYTES + 1), "audio/ogg")), "too_large"),
        (lambda v, t: v.describe(MediaBlob(b"\x00" * 64, "image/tiff")), "unsupported_type"),
        (lambda v, t: v.extract_bill(MediaBlob(pdf(["Conta"]), "application/pdf")), "unsupported_type"),
    ],
    ids=["amr", "mp4-audio", "over-inline-limit", "tiff", "pdf-as-image"],
)
def test_gemini_refuses_what_it_cannot_take_without_a_request(
    call: Callable[[GeminiVision, GeminiTranscriber], object], reason: str
) -> None:
    fake = FakeGemini(reply=SPOKEN)
    options = fake_options(fake)
    with pytest.raises(MediaUnavailable) as caught:
        call(GeminiVision(GEMINI_KEY, "gemini-2.5-flash", options), GeminiTranscriber(GEMINI_KEY, "gemini-2.5-flash", options))
    assert (caught.value.reason, fake.requests) == (reason, [])


# --- selection -------------------------------------------------------------------------------------------

BOTH = LlmKeys(openai_api_key=OPENAI_KEY, gemini_api_key=GEMINI_KEY)


@pytest.mark.parametrize(
    ("setting", "keys", "fallback", "transcriber", "vision"),
    [
        ("auto", BOTH, False, (OpenAITranscriber, "openai", "gpt-4o-mini-transcribe"), (OpenAIVision, "openai", "gpt-4.1-mini")),
        (
            "auto",
            LlmKeys(gemini_api_key=GEMINI_KEY),
            False,
            (GeminiTranscriber, "gemini", "gemini-2.5-flash"),
            (GeminiVision, "gemini", "gemini-2.5-flash"),
        ),
        ("auto", LlmKeys(), True, (LocalTranscriber, "local", "atende-offline-1"), (LocalVision, "local", "atende-offline-1")),
        ("gemini", BOTH, False, (GeminiTranscriber, "gemini", "gemini-2.5-flash"), (GeminiVision, "gemini", "gemini-2.5-flash")),
        (
            "openai",
            LlmKeys(gemini_api_key=GEMINI_KEY),
            True,
            (LocalTranscriber, "local", "atende-offline-1"),
            (LocalVision, "local", "atende-offline-1"),
        ),
        ("local", BOTH, True, (LocalTranscriber, "local", "atende-offline-1"), (LocalVision, "local", "atende-offline-1")),
        ("auto", BOTH, True, (FallbackTranscriber, "openai", "gpt-4o-mini-transcribe"), (FallbackVision, "openai", "gpt-4.1-mini")),
        ("gemini", BOTH, True, (FallbackTranscriber, "gemini", "gemini-2.5-flash"), (FallbackVision, "gemini", "gemini-2.5-flash")),
        (
            "openai",
            LlmKeys(openai_api_key=OPENAI_KEY),
            True,
            (OpenAITranscriber, "openai", "gpt-4o-mini-transcribe"),
            (OpenAIVision, "openai", "gpt-4.1-mini"),
        ),
    ],
    ids=[
        "auto-both",
        "auto-gemini-only",
        "auto-none",
        "gemini-explicit",
        "openai-without-key",
        "local-explicit",
        "fallback-openai-first",
        "fallback-gemini-first",
        "fallback-without-a-second-key",
    ],
)
def test_select_media_adapters(
    setting: str, keys: LlmKeys, fallback: bool, transcriber: tuple[type, str, str], vision: tuple[type, str, str]
) -> None:
    # Given a tenant's provider setting and the deployment's keys
    fake_openai, fake_gemini = FakeOpenAIMedia(), FakeGemini()
    options = fake_options(fake_openai, fake_gemini)

    # When
    chosen_transcriber = select_transcriber(setting, keys, options, fallback=fallback)
    chosen_vision = select_vision(setting, keys, options, fallback=fallback)

    # Then the right adapters with their default models, and no request made
    assert (type(chosen_transcriber), chosen_transcriber.provider, chosen_transcriber.model) == transcriber
    assert (type(chosen_vision), chosen_vision.provider, chosen_vision.model) == vision
    assert (fake_openai.uploads, fake_openai.chats, fake_gemini.requests) == ([], [], [])


# --- fallback --------------------------------------------------------------------------------------------


def test_fallback_transcribes_with_gemini_when_openai_is_unavailable() -> None:
    # Given OpenAI overloaded and Gemini fine
    fake_openai, fake_gemini = FakeOpenAIMedia(transcript=SPOKEN), FakeGemini(reply=SPOKEN)
    fake_openai.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"))
    transcriber = select_transcriber("auto", BOTH, fake_options(fake_openai, fake_gemini), fallback=True)

    # When
    transcript = transcriber.transcribe(VOICE_NOTE)

    # Then OpenAI was tried once, then Gemini answered
    assert (len(fake_openai.uploads), len(fake_gemini.requests)) == (1, 1)
    assert transcript == Transcript(text=SPOKEN, provider="gemini", model="gemini-2.5-flash", seconds=7.0)


def test_fallback_transcribes_with_openai_when_gemini_is_unavailable() -> None:
    fake_openai, fake_gemini = FakeOpenAIMedia(transcript=SPOKEN), FakeGemini(reply=SPOKEN)
    fake_gemini.fail_next(gemini_error(429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"))
    transcriber = select_transcriber("gemini", BOTH, fake_options(fake_openai, fake_gemini), fallback=True)

    transcript = transcriber.transcribe(VOICE_NOTE)

    assert (len(fake_gemini.requests), len(fake_openai.uploads)) == (1, 1)
    assert transcript == Transcript(text=SPOKEN, provider="openai", model="gpt-4o-mini-transcribe", seconds=7.0)


def test_no_fallback_on_a_rejected_key() -> None:
    # Given OpenAI rejecting the key (retrying elsewhere would hide a misconfiguration)
    fake_openai, fake_gemini = FakeOpenAIMedia(transcript=SPOKEN), FakeGemini(reply=SPOKEN)
    fake_openai.fail_next(openai_error(401, "Incorrect API key provided.", code="invalid_api_key"))
    transcriber = select_transcriber("openai", BOTH, fake_options(fake_openai, fake_gemini), fallback=True)

    # When / Then
    with pytest.raises(LlmAuthError):
        transcriber.transcribe(VOICE_NOTE)
    assert (len(fake_openai.uploads), fake_gemini.requests) == (1, [])


def test_no_fallback_on_unsupported_media() -> None:
    fake_openai, fake_gemini = FakeOpenAIMedia(transcript=SPOKEN), FakeGemini(reply=SPOKEN)
    transcriber = select_transcriber("openai", BOTH, fake_options(fake_openai, fake_gemini), fallback=True)
    with pytest.raises(MediaUnavailable):
        transcriber.transcribe(MediaBlob(b"\xff\xf1" + b"\x00" * 64, "audio/aac"))
    assert (fake_openai.uploads, fake_gemini.requests) == ([], [])


def test_fallback_when_both_are_unavailable_raises_unavailable() -> None:
    fake_openai, fake_gemini = FakeOpenAIMedia(transcript=SPOKEN), FakeGemini(reply=SPOKEN)
    fake_openai.fail_next(openai_error(500, "The server had an error while processing your request.", "server_error"))
    fake_gemini.fail_next(gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"))
    transcriber = select_transcriber("auto", BOTH, fake_options(fake_openai, fake_gemini), fallback=True)

    with pytest.raises(LlmUnavailable, match=r"^Gemini HTTP 503$") as caught:
        transcriber.transcribe(VOICE_NOTE)

    # Then each provider was tried once; the first failure stays attached for the logs
    assert (len(fake_openai.uploads), len(fake_gemini.requests)) == (1, 1)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert [str(e) for e in chain if isinstance(e, LlmUnavailable)] == ["Gemini HTTP 503", "OpenAI unavailable: InternalServerError"]


def test_fallback_vision_describes_and_extracts_with_the_other_provider() -> None:
    # Given OpenAI's chat endpoint down for two calls
    fake_openai, fake_gemini = FakeOpenAIMedia(chat_reply=MENU_DESCRIPTION), FakeGemini(reply=MENU_DESCRIPTION)
    fake_openai.fail_next(openai_error(503, "The engine is currently overloaded.", "server_error"), times=2)
    vision = select_vision("openai", BOTH, fake_options(fake_openai, fake_gemini), fallback=True)

    # When
    described = vision.describe(MENU_IMAGE, caption=CAPTION)
    fake_gemini.reply = bill_json(due_date=None, confidence="medium")
    extracted = vision.extract_bill(BILL_IMAGE)

    # Then
    assert described == ImageDescription(text=MENU_DESCRIPTION, provider="gemini", model="gemini-2.5-flash")
    assert extracted.provider == "gemini" and extracted.due_date is None and extracted.missing == ("due_date",)
    assert (len(fake_openai.chats), len(fake_gemini.requests)) == (2, 2)


class ScriptedTranscriber:
    provider = "openai"
    model = "gpt-4o-mini-transcribe"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        raise self.error


def test_fallback_adapter_is_built_only_when_needed(log_output: Any) -> None:
    # Given a primary that is rejected, then one that is unavailable, and a factory that counts builds
    built: list[str] = []

    def secondary() -> Transcriber:
        built.append("gemini")
        return LocalTranscriber()

    # When the primary is rejected: the secondary is never built
    with pytest.raises(LlmRejected):
        FallbackTranscriber(ScriptedTranscriber(LlmRejected("OpenAI HTTP 400")), secondary).transcribe(VOICE_NOTE)
    assert built == []

    # When it is unavailable, twice: built once, and the fallback logged without content
    fallback = FallbackTranscriber(ScriptedTranscriber(LlmUnavailable("OpenAI HTTP 503")), secondary)
    assert [fallback.transcribe(VOICE_NOTE).provider for _ in range(2)] == ["local", "local"]
    assert built == ["gemini"]
    records = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert [(r["message"], r["task"], r["provider"], r["error"]) for r in records] == [
        ("media provider unavailable; trying the other", "transcribe", "openai", "OpenAI HTTP 503")
    ] * 2


@pytest.mark.parametrize(
    "bill",
    [
        BillExtraction(
            is_electricity_bill=True,
            total_amount_brl=Decimal("187.43"),
            due_date=date(2025, 12, 10),
            consumption_kwh=245,
            distributor="Enel SP",
            confidence="high",
            missing=(),
            provider="openai",
            model="gpt-4.1-mini",
        ),
        BillExtraction(
            is_electricity_bill=True,
            total_amount_brl=None,
            due_date=None,
            consumption_kwh=312,
            distributor="CEMIG",
            confidence="low",
            missing=("total_amount_brl", "due_date"),
            provider="gemini",
            model="gemini-2.5-flash",
        ),
    ],
    ids=["complete", "partly-legible"],
)
def test_bill_item_round_trips_through_dynamodb(bill: BillExtraction) -> None:
    from atende.store.dynamo import from_attrs, to_attrs

    item = from_attrs(to_attrs({"bill": bill_to_item(bill)}))["bill"]

    assert bill_from_item(item) == bill
    assert "total_amount_brl" not in item or item["total_amount_brl"] == "187.43"  # a string: no float rounding
