"""OpenAI media understanding through the official SDK: audio transcription and image reading.

The SDK client and its error translation are ``atende.llm.openai``'s, shared with the chat model.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from typing import Any

from atende.errors import LlmRejected, LlmUnavailable, MediaUnavailable
from atende.llm import LlmOptions
from atende.llm.openai import openai_client, openai_errors
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


class OpenAITranscriber:
    provider = "openai"

    def __init__(self, api_key: str, model: str, options: LlmOptions) -> None:
        self.model = model
        self._client = openai_client(api_key, options)

    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        extension = AUDIO_EXTENSIONS.get(blob.base_mime)
        if extension is None:
            raise MediaUnavailable(f"OpenAI cannot transcribe {blob.base_mime}", reason="unsupported_type")
        if blob.size > MAX_AUDIO_BYTES:
            raise MediaUnavailable("audio over OpenAI's upload limit", reason="too_large")
        with openai_errors():
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
        self._client = openai_client(api_key, options)

    def describe(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        content = self._ask(
            blob, description_instruction(caption, language), detail="auto", max_tokens=DESCRIPTION_MAX_TOKENS, response_format=None
        )
        return ImageDescription(text=content, provider=self.provider, model=self.model)

    accepts_video = False  # chat completions take images, not video

    def describe_video(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        raise MediaUnavailable("OpenAI chat models do not read video", reason="unsupported_type")

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
        with openai_errors():
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
