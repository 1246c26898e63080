"""Google Gemini media understanding through the official ``google-genai`` SDK.

Media goes inline (``Part.from_bytes``): our size caps keep it far below what the Files API is for.
The SDK client and its error translation are ``atende.llm.gemini``'s, shared with the chat model.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from types import ModuleType
from typing import Any

from atende.errors import LlmUnavailable, MediaUnavailable
from atende.llm import LlmOptions
from atende.llm.gemini import gemini_client, gemini_errors
from atende.media import MediaBlob
from atende.media.local_media import audio_duration_seconds
from atende.media.understanding import (
    BILL_INSTRUCTION,
    BILL_JSON_SCHEMA,
    NO_SPEECH_MARKER,
    BillExtraction,
    ImageDescription,
    Transcript,
    description_instruction,
    parse_bill_json,
    transcription_instruction,
    video_instruction,
)

# Gemini's documented audio types (WAV, MP3, AIFF, AAC, OGG, FLAC), keyed by what providers send.
# WhatsApp voice notes are Ogg Opus; Gemini lists "audio/ogg" without naming the codec [uncertain].
AUDIO_TYPES = {
    "audio/ogg": "audio/ogg",
    "audio/opus": "audio/ogg",
    "audio/mpeg": "audio/mp3",
    "audio/mp3": "audio/mp3",
    "audio/wav": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/aac": "audio/aac",
    "audio/flac": "audio/flac",
    "audio/aiff": "audio/aiff",
    "audio/x-aiff": "audio/aiff",
}
# Gemini's documented video types; WhatsApp sends MP4 (H.264/AAC) and sometimes 3GPP.
VIDEO_TYPES = {
    "video/mp4": "video/mp4",
    "video/3gpp": "video/3gpp",
    "video/quicktime": "video/mov",
    "video/mpeg": "video/mpeg",
    "video/webm": "video/webm",
}
IMAGE_TYPES = {"image/png": "image/png", "image/jpeg": "image/jpeg", "image/jpg": "image/jpeg", "image/webp": "image/webp"}
# Inline data travels base64-encoded (x 4/3) in a request Google has documented as capped at 20 MB;
# 14 MiB of media keeps the request under that whatever the current cap is [uncertain].
MAX_INLINE_BYTES = 14 * 1024 * 1024
# Output caps leave room for the "thinking" tokens Gemini 2.5 counts against them.
TRANSCRIPT_MAX_TOKENS = 8192
DESCRIPTION_MAX_TOKENS = 2048
BILL_MAX_TOKENS = 2048


class _GeminiMedia:
    provider = "gemini"

    def __init__(self, api_key: str, model: str, options: LlmOptions) -> None:
        from google.genai import types

        self.model = model
        self._types = types
        self._client = gemini_client(api_key, options)

    def _generate(self, blob: MediaBlob, mime_type: str, instruction: str, config: Any) -> str:
        if blob.size > MAX_INLINE_BYTES:
            raise MediaUnavailable("media over Gemini's inline request limit", reason="too_large")
        contents: list[Any] = [self._types.Part.from_bytes(data=blob.data, mime_type=mime_type), instruction]
        with gemini_errors():
            response = self._client.models.generate_content(model=self.model, contents=contents, config=config)
        text = (response.text or "").strip()
        if not text:  # blocked (finishReason SAFETY...) or cut by the token cap
            raise LlmUnavailable("Gemini returned an empty answer")
        return text


class GeminiTranscriber(_GeminiMedia):
    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        mime_type = AUDIO_TYPES.get(blob.base_mime)
        if mime_type is None:
            raise MediaUnavailable(f"Gemini cannot transcribe {blob.base_mime}", reason="unsupported_type")
        config = self._types.GenerateContentConfig(temperature=0, max_output_tokens=TRANSCRIPT_MAX_TOKENS)
        text = self._generate(blob, mime_type, transcription_instruction(language), config)
        return Transcript(
            text="" if text == NO_SPEECH_MARKER else text, provider=self.provider, model=self.model, seconds=audio_duration_seconds(blob)
        )


class GeminiVision(_GeminiMedia):
    def __init__(self, api_key: str, model: str, options: LlmOptions, *, today: Callable[[], date] = date.today) -> None:
        super().__init__(api_key, model, options)
        self._today = today

    def describe(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        config = self._types.GenerateContentConfig(temperature=0, max_output_tokens=DESCRIPTION_MAX_TOKENS)
        text = self._generate(blob, self._image_type(blob), description_instruction(caption, language), config)
        return ImageDescription(text=text, provider=self.provider, model=self.model)

    accepts_video = True

    def describe_video(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        mime_type = VIDEO_TYPES.get(blob.base_mime)
        if mime_type is None:
            raise MediaUnavailable(f"Gemini cannot read {blob.base_mime}", reason="unsupported_type")
        config = self._types.GenerateContentConfig(temperature=0, max_output_tokens=DESCRIPTION_MAX_TOKENS)
        text = self._generate(blob, mime_type, video_instruction(caption, language), config)
        return ImageDescription(text=text, provider=self.provider, model=self.model)

    def extract_bill(self, blob: MediaBlob) -> BillExtraction:
        config = self._types.GenerateContentConfig(
            temperature=0,
            max_output_tokens=BILL_MAX_TOKENS,
            response_mime_type="application/json",
            response_schema=gemini_schema(self._types, BILL_JSON_SCHEMA),
        )
        text = self._generate(blob, self._image_type(blob), BILL_INSTRUCTION, config)
        return parse_bill_json(text, provider=self.provider, model=self.model, today=self._today())

    @staticmethod
    def _image_type(blob: MediaBlob) -> str:
        mime_type = IMAGE_TYPES.get(blob.base_mime)
        if mime_type is None:
            raise MediaUnavailable(f"Gemini cannot read {blob.base_mime}", reason="unsupported_type")
        return mime_type


def gemini_schema(types: ModuleType, schema: dict[str, Any]) -> Any:
    """The subset of JSON Schema our schemas use, as Gemini's OpenAPI-style ``Schema``:
    ``["number", "null"]`` becomes ``NUMBER`` + ``nullable``; ``additionalProperties`` has no equivalent."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    (kind,) = [k for k in kinds if k != "null"]
    return types.Schema(
        type=types.Type(kind.upper()),
        nullable=True if "null" in kinds else None,
        description=schema.get("description"),
        enum=schema.get("enum"),
        properties={name: gemini_schema(types, sub) for name, sub in schema["properties"].items()} if "properties" in schema else None,
        required=schema.get("required"),
    )
