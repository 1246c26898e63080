"""A local stand-in for Meta's Graph API (messages and media endpoints) that records every call.

One implementation, two transports: an ``httpx.MockTransport`` for tests and a threaded HTTP
server on 127.0.0.1 for the local stack. The real MetaClient talks to it unchanged.
Optionally it plays Meta's part back: signed status webhooks (sent, delivered, read).

Media (providers.md §1.8): ``add_media`` registers a file as an inbound media id; ``GET
/{version}/{media-id}`` answers its metadata and a signed download URL on this sandbox
(``/sandbox/media/{id}?sig=…``), which, like Meta's lookaside URL, still wants the Bearer token.
``expire_media`` makes the id answer like one past its 7 days. A process other than the stack's
(``make demo``) registers a file with ``POST /sandbox/media`` (raw bytes, the file's
``Content-Type``) → ``{"id", "mime_type", "sha256", "file_size"}``: what a webhook then cites.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_MESSAGES_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)/messages$")
_MEDIA_PATH = re.compile(r"^/(v\d+\.\d+)/([0-9A-Za-z_-]+)$")
_DOWNLOAD_PATH = re.compile(r"^/sandbox/media/([0-9A-Za-z_-]+)\?sig=([0-9a-f]+)$")
REGISTER_MEDIA_PATH = "/sandbox/media"
# The largest file Meta delivers (a document: providers.md §1.9); the registration refuses more.
MAX_MEDIA_BYTES = 100 * 1024 * 1024


@dataclass
class SandboxMedia:
    data: bytes = field(repr=False)
    mime_type: str
    signature: str
    sha256: str  # as the media API reports it: base64 of the digest
    expired: bool = False
    downloads: int = 0


@dataclass
class OutboundCall:
    phone_number_id: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.time)
    message_id: str | None = None

    @property
    def kind(self) -> str:
        return "read" if self.payload.get("status") == "read" else str(self.payload.get("type"))

    @property
    def to(self) -> str | None:
        return self.payload.get("to") or self.payload.get("recipient")

    @property
    def text(self) -> str | None:
        if self.payload.get("type") == "interactive":
            return ((self.payload.get("interactive") or {}).get("body") or {}).get("text")
        return (self.payload.get("text") or {}).get("body")


@dataclass
class Failure:
    http_status: int
    code: int
    to: str | None = None  # only sends to this recipient fail; None = any
    title: str = "Injected failure"


class GraphSandbox:
    def __init__(self, *, access_tokens: set[str], on_sent: Callable[[OutboundCall], None] | None = None) -> None:
        self.access_tokens = access_tokens
        self.calls: list[OutboundCall] = []
        self._failures: deque[Failure] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._on_sent = on_sent
        self.media: dict[str, SandboxMedia] = {}
        self._media_ids = itertools.count(1)

    # --- inspection and fault injection ---------------------------------------------------

    @property
    def sent(self) -> list[OutboundCall]:
        """Outbound messages (not read receipts)."""
        return [c for c in self.calls if c.kind != "read"]

    @property
    def reads(self) -> list[OutboundCall]:
        return [c for c in self.calls if c.kind == "read"]

    def fail_next(self, http_status: int, code: int, times: int = 1, *, to: str | None = None) -> None:
        """The next ``times`` message sends (to ``to``, if given) fail with this Graph API error."""
        for _ in range(times):
            self._failures.append(Failure(http_status, code, to))

    def add_media(self, data: bytes, mime_type: str, *, media_id: str | None = None, sha256: str | None = None) -> str:
        """Register an inbound file; returns its media id. ``sha256`` overrides the reported digest."""
        media_id = media_id or f"{1_090_000_000_000_000 + next(self._media_ids)}"
        digest = sha256 or base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        self.media[media_id] = SandboxMedia(data, mime_type, secrets.token_hex(8), digest)
        return media_id

    def expire_media(self, media_id: str) -> None:
        self.media[media_id].expired = True

    # --- the endpoints --------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == REGISTER_MEDIA_PATH:
            return self._register_media(headers, body)
        token = headers.get("authorization", "").removeprefix("Bearer ")
        media_match = _MEDIA_PATH.match(path)
        if method == "GET" and media_match:
            if token not in self.access_tokens:
                return 401, _error(190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
            return self._media_info(media_match.group(2), headers)
        match = _MESSAGES_PATH.match(path)
        if method != "POST" or not match:
            return 404, _error(100, "Unknown path components")
        if token not in self.access_tokens:
            return 401, _error(190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, _error(100, "Invalid parameter")
        if payload.get("messaging_product") != "whatsapp":
            return 400, _error(100, "The parameter messaging_product is required.")
        problem = messages_request_problem(payload)
        if problem is not None:
            return 400, _error(100, problem)
        call = OutboundCall(match.group(2), payload)
        with self._lock:
            if payload.get("status") == "read":
                self.calls.append(call)
                return 200, {"success": True}
            failure = next((f for f in self._failures if f.to in (None, call.to)), None)
            if failure is not None:
                self._failures.remove(failure)
                return failure.http_status, _error(failure.code, failure.title)
            call.message_id = f"wamid.SANDBOX{next(self._ids):08d}"
            self.calls.append(call)
        if self._on_sent:
            self._on_sent(call)
        recipient = call.to or ""
        contact = {"input": recipient, "user_id" if "." in recipient else "wa_id": recipient}
        return 200, {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": call.message_id}]}

    def _register_media(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """The sandbox's own endpoint (not Graph's): ``add_media`` over HTTP, for another process."""
        mime_type = " ".join(headers.get("content-type", "").split())
        if not mime_type or "/" not in mime_type:
            return 400, _error(100, "The file's Content-Type is required (e.g. audio/ogg; codecs=opus).")
        if not body:
            return 400, _error(100, "The request body must be the file's bytes.")
        if len(body) > MAX_MEDIA_BYTES:
            return 413, _error(100, f"The file is larger than {MAX_MEDIA_BYTES} bytes.")
        with self._lock:
            media_id = self.add_media(body, mime_type)
        media = self.media[media_id]
        return 200, {"id": media_id, "mime_type": media.mime_type, "sha256": media.sha256, "file_size": len(media.data)}

    def _media_info(self, media_id: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        media = self.media.get(media_id)
        if media is None or media.expired:
            # What Graph answers for an unknown id, and for an inbound one past its 7 days.
            return 400, {
                "error": {
                    "message": f"Unsupported get request. Object with ID '{media_id}' does not exist",
                    "type": "GraphMethodException",
                    "code": 100,
                    "error_subcode": 33,
                    "fbtrace_id": "ASandboxTrace",
                }
            }
        host = headers.get("host", "127.0.0.1")
        origin = f"http://{host}" if ":" in host else f"https://{host}"  # graph.facebook.com in tests
        return 200, {
            "messaging_product": "whatsapp",
            "url": f"{origin}/sandbox/media/{media_id}?sig={media.signature}",
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.data),
            "id": media_id,
        }

    def download(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes, str] | None:
        """The signed download URL: (status, body, content type), or None for any other path."""
        match = _DOWNLOAD_PATH.match(path)
        if method != "GET" or not match:
            return None
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.access_tokens:
            return 401, b"", "text/plain"
        media = self.media.get(match.group(1))
        if media is None or media.expired or media.signature != match.group(2):
            return 404, b"", "text/plain"
        media.downloads += 1
        return 200, media.data, media.mime_type

    # --- transports -----------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            file = self.download(request.method, request.url.raw_path.decode("ascii"), headers)
            if file is not None:
                status, data, content_type = file
                return httpx.Response(status, content=data, headers={"content-type": content_type})
            status, doc = self.handle(request.method, request.url.path, headers, request.content)
            return httpx.Response(status, json=doc)

        return httpx.MockTransport(handler)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                status, doc = sandbox.handle("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                self._reply(status, doc)

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path == "/sandbox/outbox":
                    self._reply(200, {"messages": [c.__dict__ for c in sandbox.calls]})
                elif (file := sandbox.download("GET", self.path, headers)) is not None:
                    send_body(self, *file)
                else:
                    status, doc = sandbox.handle("GET", self.path, headers, b"")
                    self._reply(status, doc)

            def _reply(self, status: int, doc: dict[str, Any]) -> None:
                send_json(self, status, doc)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=server.serve_forever, name="graph-sandbox", daemon=True).start()
        return server


def send_body(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("content-type", content_type)
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def send_json(handler: BaseHTTPRequestHandler, status: int, doc: Any) -> None:
    # Indented and not ASCII-escaped: the outbox is read by people too.
    send_body(handler, status, json.dumps(doc, ensure_ascii=False, indent=1).encode(), "application/json; charset=utf-8")


# What the Cloud API's POST /{phone-number-id}/messages accepts (the parts Atende uses), as JSON
# Schema: a malformed request is a 400 (#100) here as it is at Meta, so tests catch our own bugs.
_MEDIA_OBJECT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "link": {"type": "string", "pattern": "^https?://"},
        "caption": {"type": "string", "maxLength": 1024},
        "filename": {"type": "string"},
    },
    "oneOf": [{"required": ["id"]}, {"required": ["link"]}],
}
MESSAGES_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "oneOf": [
        {
            "title": "read receipt",
            "required": ["status", "message_id"],
            "properties": {
                "status": {"const": "read"},
                "message_id": {"type": "string", "minLength": 1},
                "typing_indicator": {"type": "object", "properties": {"type": {"const": "text"}}, "required": ["type"]},
            },
        },
        {
            "title": "message",
            "required": ["type"],
            "anyOf": [{"required": ["to"]}, {"required": ["recipient"]}],
            "properties": {
                "recipient_type": {"const": "individual"},
                "to": {"type": "string", "pattern": "^[0-9]{8,15}$"},
                "recipient": {"type": "string", "minLength": 1},
                "type": {"enum": ["text", "image", "audio", "video", "document", "sticker", "template", "interactive", "reaction"]},
                "context": {"type": "object", "required": ["message_id"], "properties": {"message_id": {"type": "string"}}},
                "biz_opaque_callback_data": {"type": "string", "maxLength": 512},
                "text": {
                    "type": "object",
                    "required": ["body"],
                    "properties": {"body": {"type": "string", "minLength": 1, "maxLength": 4096}, "preview_url": {"type": "boolean"}},
                },
                "image": _MEDIA_OBJECT,
                "audio": _MEDIA_OBJECT,
                "video": _MEDIA_OBJECT,
                "document": _MEDIA_OBJECT,
                "sticker": _MEDIA_OBJECT,
                "template": {"type": "object", "required": ["name", "language"]},
                "interactive": {"type": "object", "required": ["type", "action"]},
                "reaction": {"type": "object", "required": ["message_id", "emoji"]},
            },
            # The object named by ``type`` must be there.
            "allOf": [
                {"if": {"properties": {"type": {"const": kind}}}, "then": {"required": [kind]}}
                for kind in ("text", "image", "audio", "video", "document", "sticker", "template", "interactive", "reaction")
            ],
        },
    ],
}


def messages_request_problem(payload: dict[str, Any]) -> str | None:
    """Why Meta would refuse this /messages request (one line naming the parameter), or None."""
    read_receipt = payload.get("status") == "read"
    errors = sorted(_branch_validator(0 if read_receipt else 1).iter_errors(payload), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    first = errors[0]
    where = "".join(f"['{p}']" for p in first.absolute_path)
    if list(first.absolute_path) == ["text", "body"] and first.validator == "maxLength":
        return "Param text['body'] must be at most 4096 characters long."  # Meta's own wording
    message = first.message
    if first.validator in ("anyOf", "oneOf") and all("required" in option for option in first.validator_value):
        names = [name for option in first.validator_value for name in option["required"]]
        message = (
            f"exactly one of {', '.join(names)} is required" if first.validator == "oneOf" else f"one of {', '.join(names)} is required"
        )
    return f"Invalid parameter{' ' + where if where else ''}: {message}"


@functools.cache
def _branch_validator(index: int) -> Any:
    import jsonschema  # type: ignore[import-untyped]  # dev-only: the sandbox never ships

    return jsonschema.Draft202012Validator(MESSAGES_REQUEST_SCHEMA["oneOf"][index])


def _error(code: int, message: str, kind: str = "OAuthException") -> dict[str, Any]:
    return {"error": {"message": f"(#{code}) {message}", "type": kind, "code": code, "fbtrace_id": "ASandboxTrace"}}


def meta_envelope(phone_number_id: str, value: dict[str, Any]) -> bytes:
    """A Meta webhook body around one ``value``, serialised like Meta does (compact ASCII JSON)."""
    doc = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "551140028922", "phone_number_id": phone_number_id},
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    # ensure_ascii: Meta escapes non-ASCII characters (\u00e1) and signs exactly those bytes.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode()


def status_webhook(phone_number_id: str, message_id: str, recipient: str, status: str, timestamp: int) -> bytes:
    """A Meta status callback for one of our messages."""
    recipient_key = "recipient_user_id" if "." in recipient else "recipient_id"
    status_doc = {"id": message_id, "status": status, "timestamp": str(timestamp), recipient_key: recipient}
    return meta_envelope(phone_number_id, {"statuses": [status_doc]})
