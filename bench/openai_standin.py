"""api.openai.com for the media memory benchmark, behind an httpx.MockTransport.

Minimal on purpose: it answers ``POST /v1/audio/transcriptions`` and ``POST /v1/chat/completions``
and refuses a malformed request with a 400 like the real API, but it checks the multipart upload
by scanning the body in place (``bytes.find`` and a memoryview for the digest) instead of parsing
it with the ``email`` package as tests/media_fakes.py does. That parser turns a 16 MB upload into
several str and bytes copies, all in this process, and the benchmark measures this process's
memory: the server's side of the wire must cost next to nothing here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import Any

import httpx

AUDIO_EXTENSIONS = frozenset({"flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "wav", "webm"})


@dataclass(frozen=True)
class Upload:
    """One transcription request: its form fields and what the file part held (size and digest)."""

    fields: dict[str, str]
    filename: str
    content_type: str
    size: int
    sha256: str
    request_bytes: int  # the whole multipart body


@dataclass(frozen=True)
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    start: int
    end: int


class OpenAIStandIn:
    host = "api.openai.com"

    def __init__(self, *, transcript: str, reply: str) -> None:
        self.transcript = transcript
        self.reply = reply
        self.uploads: list[Upload] = []
        self.chat_request_bytes: list[int] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "You didn't provide an API key.")
        if request.method == "POST" and request.url.path == "/v1/audio/transcriptions":
            return self._transcription(request)
        if request.method == "POST" and request.url.path == "/v1/chat/completions":
            return self._chat(request)
        return _error(404, f"Invalid URL ({request.method} {request.url.path})")

    def _transcription(self, request: httpx.Request) -> httpx.Response:
        body = request.content  # already joined by MockTransport; read in place from here on
        try:
            parts = _multipart_parts(body, _boundary(request.headers.get("content-type", "")))
        except ValueError:
            return _error(400, "Could not parse multipart form")
        fields = {p.name: body[p.start : p.end].decode() for p in parts if p.filename is None}
        files = [p for p in parts if p.filename is not None]
        if "model" not in fields:
            return _error(400, "you must provide a model parameter")
        if len(files) != 1 or files[0].name != "file" or files[0].end == files[0].start:
            return _error(400, "1 validation error for Request body -> file field required")
        file = files[0]
        if str(file.filename).rsplit(".", 1)[-1].lower() not in AUDIO_EXTENSIONS:
            return _error(400, "Invalid file format. Supported formats: " + str(sorted(AUDIO_EXTENSIONS)))
        with memoryview(body) as view:
            digest = hashlib.sha256(view[file.start : file.end]).hexdigest()
        self.uploads.append(Upload(fields, str(file.filename), file.content_type or "", file.end - file.start, digest, len(body)))
        usage = {"type": "tokens", "input_tokens": 3_900, "output_tokens": 60, "total_tokens": 3_960}
        return httpx.Response(200, json={"text": self.transcript, "usage": usage})

    def _chat(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if not body.get("model") or not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "'messages' and 'model' are required")
        self.chat_request_bytes.append(len(request.content))
        message: dict[str, Any] = {"role": "assistant", "content": self.reply, "refusal": None, "annotations": []}
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-bench{len(self.chat_request_bytes)}",
                "object": "chat.completion",
                "created": 1763722900,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1_130, "completion_tokens": 48, "total_tokens": 1_178},
            },
        )


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})


def _boundary(content_type: str) -> bytes:
    header = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
    if header.get_content_type() != "multipart/form-data" or not header.get_param("boundary"):
        raise ValueError("not multipart/form-data")
    return str(header.get_param("boundary")).encode("ascii")


def _multipart_parts(body: bytes, boundary: bytes) -> list[_Part]:
    """Each part's headers and the span of its content in ``body`` (RFC 7578), without copying it."""
    opening, delimiter = b"--" + boundary, b"\r\n--" + boundary
    if not body.startswith(opening):
        raise ValueError("the body does not start with the boundary")
    parts: list[_Part] = []
    position = len(opening)
    while not body.startswith(b"--", position):  # "--" after a delimiter closes the body
        if not body.startswith(b"\r\n", position):
            raise ValueError("a delimiter not followed by CRLF")
        headers_end = body.find(b"\r\n\r\n", position + 2)
        if headers_end < 0:
            raise ValueError("a part without a header block")
        headers = HeaderParser().parsestr(body[position + 2 : headers_end].decode("utf-8"))
        start = headers_end + 4
        end = body.find(delimiter, start)
        if end < 0:
            raise ValueError("a part without a closing delimiter")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("a part without a name")
        content_type = headers.get_content_type() if headers.get("content-type") else None
        parts.append(_Part(name, headers.get_filename(), content_type, start, end))
        position = end + len(delimiter)
    return parts
