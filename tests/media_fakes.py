"""Local fakes of the OpenAI and Gemini media endpoints, served through httpx.MockTransport.

They check requests the way the real APIs do and answer 400 when a request is malformed (a
missing file part, an unknown audio extension, a data URL that is not base64, a strict schema
that leaves a property out of ``required``, a response schema without the JSON MIME type), so an
adapter that builds a wrong request fails its test. Every request is recorded, parsed, for exact
assertions. Failures can be queued per fake. ``llm_transport`` puts them on one transport beside
the assistant's chat fake (``tests.fakes.FakeOpenAI``) for end-to-end tests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import deque
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from tests.fakes import FakeOpenAI

OPENAI_AUDIO_EXTENSIONS = frozenset({"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"})
_DATA_URL = re.compile(r"data:(image/(?:png|jpeg|webp|gif));base64,([A-Za-z0-9+/=]+)")


def openai_error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> httpx.Response:
    headers = {"retry-after-ms": "10"} if status == 429 else {}
    return httpx.Response(status, headers=headers, json={"error": {"message": message, "type": kind, "param": None, "code": code}})


def gemini_error(status: int, message: str, state: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message, "status": state}})


@dataclass(frozen=True)
class AudioUpload:
    """One multipart request to /audio/transcriptions, parsed."""

    fields: dict[str, str]  # the plain form fields (model, language, ...)
    filename: str
    content_type: str
    data: bytes


def parse_multipart(request: httpx.Request) -> tuple[dict[str, str], list[tuple[str, str, str, bytes]]]:
    """(form fields, [(name, filename, content type, bytes)]) of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    if not message.is_multipart():
        raise ValueError("not multipart")
    fields: dict[str, str] = {}
    files: list[tuple[str, str, str, bytes]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise ValueError("a form part without a body")
        if filename is None:
            fields[str(name)] = payload.decode()
        else:
            files.append((str(name), filename, part.get_content_type(), payload))
    return fields, files


def strict_schema_problem(schema: dict[str, Any], path: str = "schema") -> str | None:
    """What OpenAI's strict mode refuses: objects must list every property as required and forbid
    extras, down to the objects inside arrays."""
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return f"{path}: 'additionalProperties' is required to be supplied and to be false"
        if sorted(schema.get("required", [])) != sorted(properties):
            return f"{path}: 'required' is required to be supplied and to be an array including every key in properties"
        for name, sub in properties.items():
            if problem := strict_schema_problem(sub, f"{path}.{name}"):
                return problem
    if isinstance(schema.get("items"), dict):
        return strict_schema_problem(schema["items"], f"{path}.items")
    return None


class FakeOpenAIMedia:
    """``POST /v1/audio/transcriptions`` and ``POST /v1/chat/completions`` (images, structured output)."""

    host = "api.openai.com"

    def __init__(
        self,
        *,
        transcript: str = "",
        chat_reply: str = "",
        refusal: str | None = None,
        audio_seconds: float = 7.0,
        bill_reply: str | None = None,
    ) -> None:
        self.transcript = transcript
        self.chat_reply = chat_reply
        # The answer to structured-output requests (the bill schema), when it differs from chat_reply.
        self.bill_reply = bill_reply
        self.refusal = refusal
        self.audio_seconds = audio_seconds  # reported in whisper-1's "duration" usage
        self.uploads: list[AudioUpload] = []
        self.chats: list[dict[str, Any]] = []
        self.failures: deque[httpx.Response] = deque()

    def fail_next(self, response: httpx.Response, times: int = 1) -> None:
        self.failures.extend([response] * times)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return openai_error(401, "You didn't provide an API key.")
        if request.method == "POST" and request.url.path == "/v1/audio/transcriptions":
            return self._transcription(request)
        if request.method == "POST" and request.url.path == "/v1/chat/completions":
            return self._chat(request)
        return openai_error(404, f"Invalid URL ({request.method} {request.url.path})")

    def _transcription(self, request: httpx.Request) -> httpx.Response:
        try:
            fields, files = parse_multipart(request)
        except (ValueError, KeyError):
            return openai_error(400, "Could not parse multipart form")
        if "model" not in fields:
            return openai_error(400, "you must provide a model parameter")
        audio = [f for f in files if f[0] == "file"]
        if len(audio) != 1 or not audio[0][3]:
            return openai_error(400, "1 validation error for Request body -> file field required")
        _, filename, content_type, data = audio[0]
        if filename.rsplit(".", 1)[-1].lower() not in OPENAI_AUDIO_EXTENSIONS:
            return openai_error(400, "Invalid file format. Supported formats: " + str(sorted(OPENAI_AUDIO_EXTENSIONS)))
        self.uploads.append(AudioUpload(fields=fields, filename=filename, content_type=content_type, data=data))
        if self.failures:
            return self.failures.popleft()
        if fields["model"] == "whisper-1":
            usage: dict[str, Any] = {"type": "duration", "seconds": self.audio_seconds}
        else:
            usage = {"type": "tokens", "input_tokens": 62, "output_tokens": 21, "total_tokens": 83}
            usage["input_token_details"] = {"text_tokens": 0, "audio_tokens": 62}
        return httpx.Response(200, json={"text": self.transcript, "usage": usage})

    def _chat(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        for message in body.get("messages", []):
            content = message.get("content")
            for part in content if isinstance(content, list) else []:
                if part.get("type") == "image_url" and not _valid_data_url(part.get("image_url", {}).get("url", "")):
                    return openai_error(400, "Invalid image.", code="invalid_image_format")
        response_format = body.get("response_format")
        if response_format and response_format.get("type") == "json_schema":
            spec = response_format.get("json_schema", {})
            problem = strict_schema_problem(spec.get("schema", {})) if spec.get("strict") else None
            if not spec.get("name") or problem:
                return openai_error(400, f"Invalid schema for response_format '{spec.get('name')}': {problem}")
        self.chats.append(body)
        if self.failures:
            return self.failures.popleft()
        structured = bool(response_format) and self.bill_reply is not None
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-media{len(self.chats)}",
                "object": "chat.completion",
                "created": 1763722900,
                "model": "gpt-4.1-mini-2025-04-14",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None if self.refusal else self.bill_reply if structured else self.chat_reply,
                            "refusal": self.refusal,
                            "annotations": [],
                        },
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1130, "completion_tokens": 48, "total_tokens": 1178},
            },
        )


def _valid_data_url(url: str) -> bool:
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return False
    try:
        base64.b64decode(match.group(2), validate=True)
    except binascii.Error:
        return False
    return True


class FakeGemini:
    """``POST /v1beta/models/{model}:generateContent`` with inline media parts."""

    host = "generativelanguage.googleapis.com"

    def __init__(self, *, reply: str = "", bill_reply: str | None = None) -> None:
        self.reply = reply
        self.bill_reply = bill_reply  # the answer to requests with a response schema, when it differs
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (model, body)
        self.failures: deque[httpx.Response] = deque()

    def fail_next(self, response: httpx.Response, times: int = 1) -> None:
        self.failures.extend([response] * times)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("x-goog-api-key"):
            return gemini_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED")
        match = re.fullmatch(r"/v1beta/models/([\w.-]+):generateContent", request.url.path)
        if request.method != "POST" or match is None:
            return gemini_error(404, "Not found", "NOT_FOUND")
        body = _as_the_api_reads_it(json.loads(request.content))
        if problem := _gemini_problem(body):
            return gemini_error(400, problem, "INVALID_ARGUMENT")
        self.requests.append((match.group(1), body))
        if self.failures:
            return self.failures.popleft()
        structured = "responseSchema" in body.get("generationConfig", {}) and self.bill_reply is not None
        reply = self.bill_reply if structured else self.reply
        return httpx.Response(
            200,
            json={
                "candidates": [{"content": {"parts": [{"text": reply}], "role": "model"}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 1290, "candidatesTokenCount": 40, "totalTokenCount": 1330},
                "modelVersion": match.group(1),
            },
        )


# proto3 JSON: a field may be spelled with its JSON name or its proto name, and the API reads both
# as one field. google-genai 1.x sent inlineData's fields as "mimeType"; 3.x sends "mime_type".
_INLINE_FIELD_NAMES = {"mime_type": "mimeType", "display_name": "displayName"}


def _as_the_api_reads_it(body: dict[str, Any]) -> dict[str, Any]:
    """The request with inline media's field names in their JSON spelling (values untouched), so
    assertions see what the API parsed, whichever spelling the SDK wrote."""
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            if isinstance(part.get("inlineData"), dict):
                part["inlineData"] = {_INLINE_FIELD_NAMES.get(k, k): v for k, v in part["inlineData"].items()}
    return body


def _gemini_problem(body: dict[str, Any]) -> str | None:
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            inline = part.get("inlineData")
            if inline is None:
                if not isinstance(part.get("text"), str):
                    return "* GenerateContentRequest.contents.parts: must have one initialized field"
                continue
            if not inline.get("mimeType"):
                return "* GenerateContentRequest.contents.parts.inline_data.mime_type: required"
            try:  # proto3 JSON bytes: standard or URL-safe base64 (the SDK sends the latter)
                base64.b64decode(inline.get("data", "").replace("-", "+").replace("_", "/"), validate=True)
            except binascii.Error:
                return "Invalid value at 'contents.parts.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
    config = body.get("generationConfig", {})
    if "responseSchema" in config and config.get("responseMimeType") != "application/json":
        return "* GenerateContentRequest.generation_config.response_mime_type: only supported with response_schema when JSON"
    return None


def is_media_chat(body: dict[str, Any]) -> bool:
    """A chat completion that reads media (an image part, or the bill's response schema), not the assistant's turn."""
    if body.get("response_format"):
        return True
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list) and any(part.get("type") in ("image_url", "input_audio", "file") for part in content):
            return True
    return False


def llm_transport(
    *, chat: FakeOpenAI | None = None, media: FakeOpenAIMedia | None = None, gemini: FakeGemini | None = None
) -> httpx.MockTransport:
    """The LLM hosts of an end-to-end test on one transport (``tests.support.build_pipeline(llm_transport=)``).

    OpenAI's ``/v1/chat/completions`` serves both the assistant (``tests.fakes.FakeOpenAI``) and
    image reading (``FakeOpenAIMedia``): a request with a media part or a response schema goes to
    the media fake, any other to the chat fake; transcriptions always go to the media fake.
    """
    chat_transport = chat.transport() if chat is not None else None

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == FakeGemini.host:
            return gemini.handle(request) if gemini else httpx.Response(502, text="no Gemini fake")
        if request.url.host != FakeOpenAIMedia.host:
            return httpx.Response(502, text=f"no fake for {request.url.host}")
        if request.url.path.endswith("/chat/completions") and not is_media_chat(json.loads(request.content)):
            return chat_transport.handle_request(request) if chat_transport else httpx.Response(502, text="no chat fake")
        return media.handle(request) if media else httpx.Response(502, text="no OpenAI media fake")

    return httpx.MockTransport(route)


def media_client(*fakes: FakeOpenAIMedia | FakeGemini) -> httpx.Client:
    """One httpx client for the SDKs, routing each request to the fake owning its host."""
    by_host = {fake.host: fake for fake in fakes}

    def route(request: httpx.Request) -> httpx.Response:
        fake = by_host.get(request.url.host)
        return fake.handle(request) if fake else httpx.Response(502, text=f"no fake for {request.url.host}")

    return httpx.Client(transport=httpx.MockTransport(route))
