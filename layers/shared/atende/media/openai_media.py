"""OpenAI media understanding through the official SDK: audio transcription and image reading.

Errors are translated exactly like ``atende.llm.openai``: timeouts, connection errors, 408/409/429
and 5xx (after the SDK's own retries) are LlmUnavailable; any other 4xx is LlmRejected.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from types import ModuleType
from typing import Any

from atende.errors import LlmRejected, LlmUnavailable, MediaUnavailable
from atende.llm import LlmOptions
from atende.media import MediaBlob
from atende.media.local_media import audio_duration_seconds
from atende.media.understanding import (
    BILL_INSTRUCTION,
    BILL_JSON_SCHEMA,
    BILL_SCHEMA_NAME,
    NO_SPEECH_MARKER,
    BillExtraction,
    ImageDescription,
    Transcript,
    description_instruction,
    parse_bill_json,
)

# The transcription endpoint recognises the format by the file name's extension; the customer's
# own file name is never sent (privacy, and WhatsApp's ".opus" is not an extension OpenAI lists).
AUDIO_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
}
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # the transcription endpoint's upload limit
IMAGE_TYPES = {"image/png": "image/png", "image/jpeg": "image/jpeg", "image/jpg": "image/jpeg", "image/webp": "image/webp"}
DESCRIPTION_MAX_TOKENS = 300
BILL_MAX_TOKENS = 300


@contextmanager
def _translated(openai: ModuleType) -> Iterator[None]:
    try:
        yield
    except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
        raise LlmUnavailable(f"OpenAI unavailable: {type(exc).__name__}") from exc
    except openai.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            raise LlmUnavailable(f"OpenAI HTTP {exc.status_code}") from exc
        raise LlmRejected(f"OpenAI HTTP {exc.status_code}") from exc
    except openai.OpenAIError as exc:
        raise LlmUnavailable(f"OpenAI error: {type(exc).__name__}") from exc


def _client(api_key: str, options: LlmOptions) -> tuple[ModuleType, Any]:
    import openai  # lazy, as in atende.llm.openai

    # The SDK retries 408/409/429/5xx and connection errors with exponential backoff itself.
    client = openai.OpenAI(
        api_key=api_key,
        base_url=options.openai_base_url,
        timeout=options.timeout_seconds,
        max_retries=options.max_retries,
        http_client=options.http_client,
    )
    return openai, client


class OpenAITranscriber:
    provider = "openai"

    def __init__(self, api_key: str, model: str, options: LlmOptions) -> None:
        self.model = model
        self._openai, self._client = _client(api_key, options)

    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        extension = AUDIO_EXTENSIONS.get(blob.base_mime)
        if extension is None:
            raise MediaUnavailable(f"OpenAI cannot transcribe {blob.base_mime}", reason="unsupported_type")
        if blob.size > MAX_AUDIO_BYTES:
            raise MediaUnavailable("audio over OpenAI's upload limit", reason="too_large")
        with _translated(self._openai):
            result = self._client.audio.transcriptions.create(
                model=self.model,
                file=(f"audio.{extension}", blob.data, blob.base_mime),
                language=language.split("-", 1)[0].lower(),  # ISO-639-1: "pt", not "pt-BR"
            )
        text = (result.text or "").strip()
        usage = result.usage
        seconds = usage.seconds if usage is not None and usage.type == "duration" else audio_duration_seconds(blob)
        return Transcript(text="" if text == NO_SPEECH_MARKER else text, provider=self.provider, model=self.model, seconds=seconds)


class OpenAIVision:
    provider = "openai"

    def __init__(self, api_key: str, model: str, options: LlmOptions, *, today: Callable[[], date] = date.today) -> None:
        self.model = model
        self._today = today
        self._openai, self._client = _client(api_key, options)

    def describe(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        content = self._ask(
            blob, description_instruction(caption, language), detail="auto", max_tokens=DESCRIPTION_MAX_TOKENS, response_format=None
        )
        return ImageDescription(text=content, provider=self.provider, model=self.model)

    def extract_bill(self, blob: MediaBlob) -> BillExtraction:
        response_format = {"type": "json_schema", "json_schema": {"name": BILL_SCHEMA_NAME, "strict": True, "schema": BILL_JSON_SCHEMA}}
        # "high" detail: amounts and dates are small print.
        content = self._ask(blob, BILL_INSTRUCTION, detail="high", max_tokens=BILL_MAX_TOKENS, response_format=response_format)
        return parse_bill_json(content, provider=self.provider, model=self.model, today=self._today())

    def _ask(self, blob: MediaBlob, instruction: str, *, detail: str, max_tokens: int, response_format: dict[str, Any] | None) -> str:
        mime = IMAGE_TYPES.get(blob.base_mime)
        if mime is None:
            raise MediaUnavailable(f"OpenAI cannot read {blob.base_mime}", reason="unsupported_type")
        data_url = f"data:{mime};base64,{base64.b64encode(blob.data).decode('ascii')}"
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": instruction},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": detail}},
                ],
            }
        ]
        extra = {"response_format": response_format} if response_format else {}
        with _translated(self._openai):
            response = self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_completion_tokens=max_tokens,  # no temperature: reasoning models refuse the parameter
                **extra,
            )
        message = response.choices[0].message if response.choices else None
        if message is not None and message.refusal:
            raise LlmRejected("OpenAI refused to read the image")
        text = (message.content or "").strip() if message else ""
        if not text:
            raise LlmUnavailable("OpenAI returned an empty answer")
        return text
