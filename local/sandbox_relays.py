"""Local stand-ins for an Evolution API v2 server and a Whaticket backend that record every call.

The counterpart of ``local.sandbox.GraphSandbox``: one ``handle(method, path, headers, body)``
per sandbox, two transports (``transport()`` → ``httpx.MockTransport`` for tests, ``serve()`` →
a threaded HTTP server on 127.0.0.1 for the local stack). The real ``EvolutionClient`` and
``WhaticketClient`` talk to them unchanged. Each also writes the webhook bodies its provider
would post back (Evolution ``messages.upsert`` / ``messages.update``, a Whaticket SaaS relay),
and ``baileys_media_message`` the media content a customer's phone puts in them. The Baileys
content they build and name is read by ``atende.channels.baileys``, the parsers' own reader, so a
sandbox cannot post content the parsers would read differently. Request bodies are checked
against Evolution's JSON schemas with ``jsonschema`` (dev-only: the sandboxes never ship).

Inbound media (Evolution only; a Whaticket relay carries none): ``add_media`` registers a file
under its message id, or from another process ``POST /evolution/sandbox/media/{message id}``
(raw bytes, ``Content-Type``, optional ``?fileName=``); getBase64FromMediaMessage answers it.

Like GraphSandbox, ``calls`` holds the requests the "provider" accepted: a request refused for
its credentials, its body or an injected failure is answered and not recorded.
Shapes follow ../shared/docs/providers.md §2.3-2.7 (Evolution) and §3 (Whaticket).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import jwt
from jsonschema import Draft7Validator, ValidationError, validators  # type: ignore[import-untyped]

from atende.channels.baileys import MEDIA_KEYS, content_key, normalise_content
from atende.domain.messages import MessageType
from local.sandbox import send_json

Clock = Callable[[], float]

OUTBOX = "/sandbox/outbox"
MEDIA_REGISTRATION = "/sandbox/media"  # Evolution: POST {base}/sandbox/media/{message id}


@dataclass
class RelayCall:
    """One accepted request. ``instance``: the Evolution instance, or Whaticket's ``whatsappId`` (None when not sent)."""

    provider: Literal["evolution", "whaticket"]
    instance: str | None
    action: str  # Evolution: "sendText", "markMessageAsRead", ...; Whaticket: "send" or "login"
    payload: dict[str, Any]
    at: float
    message_id: str | None = None  # Evolution sends only: the id we answered with

    @property
    def to(self) -> str | None:
        """The recipient as the caller addressed it: ``number``, else the (first) key's ``remoteJid``."""
        if isinstance(self.payload.get("number"), str):
            return str(self.payload["number"])
        reads = self.payload.get("readMessages")
        key = self.payload.get("key") or (reads[0] if isinstance(reads, list) and reads else None)
        jid = key.get("remoteJid") if isinstance(key, dict) else None
        return jid if isinstance(jid, str) else None

    @property
    def text(self) -> str | None:
        """What the customer reads: sendText ``text``, sendMedia ``caption``, Whaticket ``body``."""
        value = self.payload.get("text") or self.payload.get("caption") or self.payload.get("body")
        return value if isinstance(value, str) else None


@dataclass
class _Failure:
    http_status: int
    message: Any  # Evolution: response.message (None = a default for the status); Whaticket: the error string
    to: str | None = None  # only calls to this recipient fail; None = any
    action: str | None = None  # only this action fails; None = any message send


class _Sandbox:
    """What both sandboxes share: the call log, fault queue, outbox and the two transports."""

    provider: Literal["evolution", "whaticket"]
    _send_actions: frozenset[str]

    def __init__(self, *, base_path: str, on_sent: Callable[[RelayCall], None] | None, clock: Clock) -> None:
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self._on_sent = on_sent
        self._clock = clock
        self._calls: list[RelayCall] = []
        self._failures: deque[_Failure] = deque()
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[RelayCall]:
        with self._lock:
            return list(self._calls)

    @property
    def sent(self) -> list[RelayCall]:
        """Accepted message sends."""
        return [c for c in self.calls if c.action in self._send_actions]

    def outbox(self) -> dict[str, Any]:
        return {"messages": [dataclasses.asdict(c) for c in self.calls]}

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    # --- shared steps --------------------------------------------------------------------

    def _route(self, path: str) -> str | None:
        """The path below ``base_path`` (query string dropped), or None outside it."""
        path = path.split("?", 1)[0]
        if self.base_path and not path.startswith(self.base_path + "/"):
            return None
        return path[len(self.base_path) :]

    def _take_failure(self, call: RelayCall) -> _Failure | None:
        """Called with the lock held: the first queued failure that matches ``call``, removed."""
        for failure in self._failures:
            wanted = call.action == failure.action if failure.action else call.action in self._send_actions
            if wanted and failure.to in (None, call.to):
                self._failures.remove(failure)
                return failure
        return None

    def _record(self, call: RelayCall) -> None:
        with self._lock:
            self._calls.append(call)
        if self._on_sent and call.action in self._send_actions:
            self._on_sent(call)

    # --- transports -----------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, doc = self.handle(request.method, request.url.raw_path.decode("ascii"), headers, request.content)
            return httpx.Response(status, json=doc)

        return httpx.MockTransport(handler)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        """Serve on the loopback interface only (``port=0``: any free port; read ``server_address``)."""
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the sandboxes only listen on 127.0.0.1")
        sandbox = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_GET(self) -> None:
                self._dispatch("GET")

            def _dispatch(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, doc = sandbox.handle(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                send_json(self, status, doc)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, port), RequestHandler)
        self._served_at(f"http://{host}:{server.server_address[1]}")
        threading.Thread(target=server.serve_forever, name=f"{self.provider}-sandbox", daemon=True).start()
        return server

    def _served_at(self, origin: str) -> None:
        pass


def _compact(doc: dict[str, Any]) -> bytes:
    # Node's JSON.stringify: no spaces, non-ASCII characters as UTF-8 (axios and request post exactly this).
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object ({} when empty, like Express's json parser), else None."""
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


# --- Evolution API v2 -----------------------------------------------------------------------

# Evolution's request schemas (src/validate/message.schema.ts, chat.schema.ts), down to the parts
# our client can get wrong, checked with JSON Schema as Evolution does (it uses the npm jsonschema).
_NUMBER = {"type": "string", "description": "Invalid format"}
_KEY_PROPERTIES = {"id": {"type": "string"}, "remoteJid": {"type": "string"}, "fromMe": {"type": "boolean"}}
_PRESENCES = ["unavailable", "available", "composing", "recording", "paused"]
_SCHEMAS: dict[str, dict[str, Any]] = {
    "sendText": {
        "type": "object",
        "properties": {
            "number": _NUMBER,
            "text": {"type": "string"},
            "delay": {"type": "integer", "description": "Enter a value in milliseconds"},
        },
        "required": ["number", "text"],
    },
    "sendMedia": {
        "type": "object",
        "properties": {
            "number": _NUMBER,
            "mediatype": {"type": "string", "enum": ["image", "document", "video", "audio"]},
            "mimetype": {"type": "string"},
            "media": {"type": "string"},
            "fileName": {"type": "string"},
            "caption": {"type": "string"},
            "delay": {"type": "integer", "description": "Enter a value in milliseconds"},
        },
        "required": ["number", "mediatype"],
    },
    "sendReaction": {
        "type": "object",
        "properties": {
            "key": {"type": "object", "properties": _KEY_PROPERTIES, "required": ["id", "remoteJid", "fromMe"]},
            "reaction": {"type": "string"},
        },
        "required": ["key", "reaction"],
    },
    "markMessageAsRead": {
        "type": "object",
        "properties": {
            "readMessages": {
                "type": "array",
                "minItems": 1,
                "items": {"properties": _KEY_PROPERTIES, "required": ["id", "fromMe", "remoteJid"]},
            }
        },
        "required": ["readMessages"],
    },
    "sendPresence": {
        "type": "object",
        "properties": {"number": _NUMBER, "delay": {"type": "number"}, "presence": {"type": "string", "enum": _PRESENCES}},
        "required": ["number", "presence", "delay"],
    },
    "getBase64FromMediaMessage": {
        "type": "object",
        "properties": {"message": {"type": "object"}, "convertToMp4": {"type": "boolean"}},
        "required": ["message"],
    },
}
_ROUTES = {
    "message": {"sendText", "sendMedia", "sendReaction"},
    "chat": {"markMessageAsRead", "sendPresence", "getBase64FromMediaMessage"},
}
_SEND_ACTIONS = frozenset(_ROUTES["message"])
_UPDATE_STATUSES = frozenset({"SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED", "DELETED"})
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


@dataclass(frozen=True)
class _Media:
    data: bytes
    mimetype: str
    file_name: str | None


class EvolutionSandbox(_Sandbox):
    """Evolution API v2 under ``base_path``: a channel's base URL is ``http://127.0.0.1:<port>/evolution``.

    ``instances`` (None = any name) makes other instance names 404 like a missing instance.
    ``honour_presence_delay`` makes ``delay`` block the request as the real server does.
    """

    provider = "evolution"
    _send_actions = _SEND_ACTIONS

    def __init__(
        self,
        api_keys: set[str],
        on_sent: Callable[[RelayCall], None] | None = None,
        base_path: str = "/evolution",
        *,
        instances: set[str] | None = None,
        honour_presence_delay: bool = False,
        webhook_url: str = "http://127.0.0.1:3000/webhooks/evolution",
        owner_jid: str = "551140028922@s.whatsapp.net",
        clock: Clock = time.time,
    ) -> None:
        super().__init__(base_path=base_path, on_sent=on_sent, clock=clock)
        self.api_keys = api_keys
        self.instances = instances
        self.honour_presence_delay = honour_presence_delay
        self.webhook_url = webhook_url
        self.owner_jid = owner_jid
        self.server_url = "http://127.0.0.1" + self.base_path  # updated by serve()
        self._media: dict[str, _Media] = {}
        self._ids = itertools.count(1)

    # --- inspection, media and fault injection --------------------------------------------

    @property
    def reads(self) -> list[RelayCall]:
        return [c for c in self.calls if c.action == "markMessageAsRead"]

    @property
    def presences(self) -> list[RelayCall]:
        """sendPresence calls; the requested ``delay`` (ms) is in ``payload["delay"]``."""
        return [c for c in self.calls if c.action == "sendPresence"]

    def add_media(self, message_id: str, data: bytes, mimetype: str, file_name: str | None = None) -> None:
        """Media that getBase64FromMediaMessage returns for ``message_id`` (as if in Evolution's store)."""
        with self._lock:
            self._media[message_id] = _Media(data, mimetype, file_name)

    def fail_next(self, http_status: int, times: int = 1, *, message: Any = None, to: str | None = None, action: str | None = None) -> None:
        """The next ``times`` message sends (to ``to`` / of ``action``, if given) fail with an Evolution error.

        ``message`` becomes ``response.message`` verbatim. Without it: 400 → the "not on WhatsApp"
        lookup result ``[{"exists": false, "jid", "number"}]``, 401 → "Unauthorized", 404 → the
        missing-instance message, 5xx → "Connection Closed", others → the status phrase.
        """
        if action is not None and action not in _SCHEMAS:
            raise ValueError(f"unknown Evolution action {action!r}")
        with self._lock:
            self._failures.extend(_Failure(http_status, message, to, action) for _ in range(times))

    # --- the API ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        route = self._route(path)
        if method == "GET" and route == OUTBOX:
            return 200, self.outbox()
        if method == "POST" and route is not None and route.startswith(MEDIA_REGISTRATION + "/"):
            return self._register_media(route.removeprefix(MEDIA_REGISTRATION + "/"), path, headers, body)
        segments = (route or "").split("/")[1:]
        if method != "POST" or len(segments) != 3 or segments[1] not in _ROUTES.get(segments[0], ()) or not segments[2]:
            return 404, _evolution_error(404, [f"Cannot {method} {path}"])
        action, instance = segments[1], unquote(segments[2])
        if self.instances is not None and instance not in self.instances:
            return 404, _evolution_error(404, [f'The "{instance}" instance does not exist'])
        if headers.get("apikey") not in self.api_keys:
            return 401, _evolution_error(401, "Unauthorized")
        payload = _json_object(body)
        if payload is None:
            return 400, _evolution_error(400, ["The request body is not a JSON object"])
        call = RelayCall("evolution", instance, action, payload, self._clock())
        with self._lock:
            failure = self._take_failure(call)
        if failure is not None:
            return failure.http_status, _evolution_error(failure.http_status, _failure_message(failure, call))
        errors = _schema_errors(_VALIDATORS[action], payload)
        if errors:
            return 400, _evolution_error(400, [errors])  # BadRequestException(messages): an array in an array
        status, doc = getattr(self, f"_{action}")(call)
        if status == 201:
            self._record(call)
            delay = payload.get("delay")
            if self.honour_presence_delay and isinstance(delay, int | float) and delay > 0:
                time.sleep(delay / 1000)
        return status, doc

    def _register_media(self, message_id: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """The sandbox's own endpoint (not Evolution's): ``add_media`` over HTTP, for another process.

        ``POST {base}/sandbox/media/{message id}[?fileName=…]``, the raw file as the body, its
        type as ``Content-Type`` → what getBase64FromMediaMessage will answer for that message.
        """
        message_id = unquote(message_id)
        mimetype = " ".join(headers.get("content-type", "").split())
        if not message_id or "/" in message_id:
            return 404, _evolution_error(404, [f"Cannot POST {path}"])
        if "/" not in mimetype:
            return 400, _evolution_error(400, ["The file's Content-Type is required"])
        if not body:
            return 400, _evolution_error(400, ["The request body must be the file's bytes"])
        file_name = parse_qs(urlsplit(path).query).get("fileName", [None])[0]
        self.add_media(message_id, body, mimetype, file_name)
        return 201, {"messageId": message_id, "mimetype": mimetype, "fileName": file_name, "size": len(body)}

    def _sendText(self, call: RelayCall) -> tuple[int, Any]:
        if not call.payload["text"].strip():
            return 400, _evolution_error(400, ["Text is required"])
        return self._sent(call, call.payload["number"], {"conversation": call.payload["text"]})

    def _sendMedia(self, call: RelayCall) -> tuple[int, Any]:
        p = call.payload
        media = p.get("media")
        is_url = isinstance(media, str) and media.startswith(("http://", "https://"))
        is_base64 = isinstance(media, str) and bool(_BASE64.match(media)) and len(media) % 4 == 0
        if is_base64 and p["mediatype"] == "document" and not p.get("fileName"):
            return 400, _evolution_error(400, ["For base64 the file name must be informed."])
        if not (is_url or is_base64):
            return 400, _evolution_error(400, ["Owned media must be a url or base64"])
        content = {"url": media if is_url else None, **{k: p.get(k) for k in ("mimetype", "caption", "fileName")}}
        key = MEDIA_KEYS[MessageType(p["mediatype"])]
        return self._sent(call, p["number"], {key: {k: v for k, v in content.items() if v is not None}})

    def _sendReaction(self, call: RelayCall) -> tuple[int, Any]:
        key = call.payload["key"]
        return self._sent(call, key["remoteJid"], {"reactionMessage": {"key": key, "text": call.payload["reaction"]}})

    def _markMessageAsRead(self, call: RelayCall) -> tuple[int, Any]:
        return 201, {"message": "Read messages", "read": "success"}

    def _sendPresence(self, call: RelayCall) -> tuple[int, Any]:
        if _jid(call.payload["number"]) is None:
            return 400, _evolution_error(400, [_not_on_whatsapp(call.payload["number"])])
        return 201, {"presence": call.payload["presence"]}

    def _getBase64FromMediaMessage(self, call: RelayCall) -> tuple[int, Any]:
        key = call.payload["message"].get("key")
        message_id = key.get("id") if isinstance(key, dict) else None
        with self._lock:
            media = self._media.get(message_id) if isinstance(message_id, str) else None
        if media is None:
            return 400, _evolution_error(400, ["Message not found"])
        top = media.mimetype.split("/", 1)[0]
        size = {"fileLength": len(media.data)}
        doc: dict[str, Any] = {"mediaType": MEDIA_KEYS[MessageType(top) if top in ("image", "video", "audio") else MessageType.DOCUMENT]}
        doc |= {"fileName": media.file_name} if media.file_name else {}
        # JavaScript drops undefined fields (caption, height, width) from the JSON entirely.
        doc |= {"size": size, "mimetype": media.mimetype, "base64": base64.b64encode(media.data).decode(), "buffer": None}
        return 201, doc

    def _sent(self, call: RelayCall, number: str, message: dict[str, Any]) -> tuple[int, Any]:
        remote_jid = _jid(number)
        if remote_jid is None:
            return 400, _evolution_error(400, [_not_on_whatsapp(number)])
        with self._lock:
            call.message_id = f"3EB0SANDBOX{next(self._ids):011d}"  # 22 chars from "3E": Baileys reads it as "web"
        return 201, {
            "key": {"remoteJid": remote_jid, "fromMe": True, "id": call.message_id},
            "status": "PENDING",
            "message": message,
            "messageType": content_key(message),
            "messageTimestamp": int(call.at),
            "instanceId": _instance_id(call.instance or ""),
            "source": "web",
        }

    # --- webhooks Evolution would post back ----------------------------------------------------

    def status_update_body(self, instance: str, message_id: str, remote_jid: str, status: str, apikey: str | None) -> bytes:
        """A ``messages.update`` body for one of our messages (providers.md §2.5: ``keyId``, not ``key.id``)."""
        if status not in _UPDATE_STATUSES:
            raise ValueError(f"not a messages.update status: {status!r}")
        data = {
            "keyId": message_id,
            "remoteJid": remote_jid,
            "fromMe": True,
            "status": status,
            "instanceId": _instance_id(instance),
            "messageId": "cm" + hashlib.sha256(message_id.encode()).hexdigest()[:23],  # Evolution's row id (a cuid)
        }
        return self._envelope("messages.update", instance, data, apikey)

    def upsert_body(
        self,
        instance: str,
        *,
        message_id: str,
        remote_jid: str,
        push_name: str,
        text: str | None = None,
        message: dict[str, Any] | None = None,
        timestamp: int,
        apikey: str | None,
        remote_jid_alt: str | None = None,
        speech_to_text: str | None = None,
    ) -> bytes:
        """A ``messages.upsert`` body for a customer's message: ``text`` (a conversation) or any Baileys ``message``.

        ``remote_jid_alt`` makes it an Evolution ≥ 2.3.5 LID delivery: ``remote_jid`` is then the
        ``…@lid`` and ``remote_jid_alt`` the phone JID (providers.md §2.4). ``speech_to_text`` is the
        transcript Evolution's OpenAI integration adds to a voice note (``message.speechToText``).
        """
        if (text is None) == (message is None):
            raise ValueError("give exactly one of text and message")
        content = {"conversation": text} if message is None else dict(message)
        message_type = _content_type(content)
        if speech_to_text is not None:
            if message_type != MEDIA_KEYS[MessageType.AUDIO]:
                raise ValueError("speech_to_text is only added to audio messages")
            content["speechToText"] = f"[audio] {speech_to_text}"  # Evolution's own prefix
        key: dict[str, Any] = {"remoteJid": remote_jid, "fromMe": False, "id": message_id}
        if remote_jid_alt is not None:
            key |= {"remoteJidAlt": remote_jid_alt, "addressingMode": "lid"}
        data: dict[str, Any] = {"key": key, "pushName": push_name, "status": "DELIVERY_ACK", "message": content}
        context = content.get(message_type)
        if isinstance(context, dict) and isinstance(context.get("contextInfo"), dict):
            data["contextInfo"] = context["contextInfo"]  # prepareMessage lifts it to the top level
        data |= {
            "messageType": message_type,
            "messageTimestamp": timestamp,
            "instanceId": _instance_id(instance),
            "source": _device(message_id),
        }
        return self._envelope("messages.upsert", instance, data, apikey)

    def _envelope(self, event: str, instance: str, data: dict[str, Any], apikey: str | None) -> bytes:
        now = datetime.fromtimestamp(self._clock(), UTC)
        return _compact(
            {
                "event": event,
                "instance": instance,
                "data": data,
                "destination": self.webhook_url,
                "date_time": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "sender": self.owner_jid,
                "server_url": self.server_url,
                "apikey": apikey,
            }
        )

    def _served_at(self, origin: str) -> None:
        self.server_url = origin + self.base_path


def _evolution_error(http_status: int, message: Any) -> dict[str, Any]:
    """Evolution's error middleware shape (providers.md §2.7)."""
    return {"status": http_status, "error": _phrase(http_status), "response": {"message": message}}


def _phrase(http_status: int) -> str:
    try:
        return HTTPStatus(http_status).phrase
    except ValueError:
        return "Error"


def _failure_message(failure: _Failure, call: RelayCall) -> Any:
    if failure.message is not None:
        return failure.message
    if failure.http_status == 400:
        return [_not_on_whatsapp(call.to or "")]
    if failure.http_status == 401:
        return "Unauthorized"
    if failure.http_status == 404:
        return [f'The "{call.instance}" instance does not exist']
    if failure.http_status >= 500:
        return "Connection Closed"
    return [_phrase(failure.http_status)]


# The npm jsonschema's wording, which Evolution returns verbatim: "<path> <message>", the
# leading "instance." cut, unless the failing schema has a description (then that is the message).
def _required(validator: Any, required: list[str], instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "object"):
        yield from (ValidationError(f'requires property "{name}"') for name in required if name not in instance)


def _type(validator: Any, types: str | list[str], instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    names = [types] if isinstance(types, str) else types
    if not any(validator.is_type(instance, name) for name in names):
        yield ValidationError(f"is not of a type(s) {','.join(names)}")


def _enum(validator: Any, enum: list[Any], instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if instance not in enum:
        yield ValidationError(f"is not one of enum values: {','.join(map(str, enum))}")


def _min_items(validator: Any, minimum: int, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "array") and len(instance) < minimum:
        yield ValidationError(f"does not meet minimum length of {minimum}")


_EvolutionValidator = validators.extend(Draft7Validator, {"required": _required, "type": _type, "enum": _enum, "minItems": _min_items})
_VALIDATORS = {action: _EvolutionValidator(schema) for action, schema in _SCHEMAS.items()}


def _schema_errors(validator: Any, payload: dict[str, Any]) -> list[str]:
    """Evolution's validation messages, in the order its validator finds them (schema keyword order)."""
    messages = []
    for error in validator.iter_errors(payload):
        description = error.schema.get("description") if isinstance(error.schema, dict) else None
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
        messages.append(description or f"instance{path} {error.message}".replace("instance.", "", 1))
    return messages


def _content_type(message: dict[str, Any]) -> str:
    """The Baileys content type of what a sandbox posts, read as the parsers read it.

    A sandbox never posts what no parser can read (Evolution emits only upserts with content).
    """
    name = content_key(message)
    if name is None or normalise_content(message) is None:
        raise ValueError("message holds no Baileys content")
    return name


def _jid(number: str) -> str | None:
    """Evolution's createJid, minus the Brazilian 9th-digit rewrite: a JID stays as is, else digits@s.whatsapp.net."""
    if "@" in number:
        return number
    digits = re.sub(r"[^0-9]", "", number)
    return f"{digits}@s.whatsapp.net" if digits else None


def _not_on_whatsapp(number: str) -> dict[str, Any]:
    """The onWhatsApp lookup result Evolution puts in a 400 when the number is not on WhatsApp."""
    jid = _jid(number) or "@s.whatsapp.net"
    return {"exists": False, "jid": jid, "number": number}


def _instance_id(instance: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"evolution-sandbox:{instance}"))


def _device(message_id: str) -> str:
    """Baileys ``getDevice``, which Evolution uses for ``source``."""
    if re.fullmatch(r"3A.{18}", message_id):
        return "ios"
    if re.fullmatch(r"3E.{20}", message_id):
        return "web"
    if re.fullmatch(r".{21}|.{32}", message_id):
        return "android"
    if re.match(r"3F|.{18}$", message_id):
        return "desktop"
    return "unknown"


# --- media messages, as a customer's phone sends them ------------------------------------------

_MEDIA_KINDS = {"audio": MessageType.AUDIO, "image": MessageType.IMAGE, "video": MessageType.VIDEO, "document": MessageType.DOCUMENT}


def baileys_media_message(
    kind: Literal["audio", "image", "video", "document"],
    data: bytes,
    mimetype: str,
    *,
    sent_at: int,
    caption: str | None = None,
    seconds: int | None = None,
    ptt: bool = False,
    file_name: str | None = None,
    dimensions: tuple[int, int] | None = None,
    raw: bool = False,
) -> dict[str, Any]:
    """A Baileys ``message`` holding one media item (``audioMessage``, ``imageMessage``, ...).

    ``fileSha256`` and ``fileLength`` describe ``data``; the fields about WhatsApp's encrypted CDN
    copy (``url``, ``directPath``, ``mediaKey``, ``fileEncSha256``) are derived from it so they are
    stable and look real, but nothing can download them: a relay carries no usable media (Whaticket)
    or the file comes from Evolution's own API. ``raw`` writes the 64-bit fields as protobuf Longs,
    as a raw Baileys message serialises (Whaticket relays); Evolution writes them as strings.
    A ``caption`` on audio is not in WhatsApp's proto, but relays carry one and the parsers keep it.
    """
    mtype = _MEDIA_KINDS.get(kind)
    if mtype is None:
        raise ValueError(f"not a media kind: {kind!r}")
    digest = hashlib.sha256(data).digest()
    name = f"{int.from_bytes(digest[:6])}_{int.from_bytes(digest[6:12])}_n.enc"
    path = f"/v/t62.7117-24/{name}?ccb=11-4&oh=01_Q5Aa{digest[12:20].hex()}&oe=6947A1B2&_nc_sid=5e03e0"
    body: dict[str, Any] = {
        "url": f"https://mmg.whatsapp.net{path}&mms3=true",
        "mimetype": mimetype,
        "fileSha256": base64.b64encode(digest).decode(),
        "fileLength": _long(len(data), raw),
        "mediaKey": base64.b64encode(hashlib.sha256(b"mediaKey" + digest).digest()).decode(),
        "fileEncSha256": base64.b64encode(hashlib.sha256(b"fileEnc" + digest).digest()).decode(),
        "directPath": path,
        "mediaKeyTimestamp": _long(sent_at, raw),
    }
    if kind == "audio":
        body |= {"seconds": seconds, "ptt": ptt}
        # A voice note's waveform: 64 amplitude samples, 0-100.
        body["waveform"] = base64.b64encode(bytes(b % 101 for b in hashlib.sha512(digest).digest())).decode() if ptt else None
    elif kind == "video":
        body["seconds"] = seconds
    elif kind == "document":
        body |= {"fileName": file_name, "title": file_name}
    if kind in ("image", "video") and dimensions is not None:
        body |= {"width": dimensions[0], "height": dimensions[1]}
    body["caption"] = caption
    message = {MEDIA_KEYS[mtype]: {k: v for k, v in body.items() if v is not None}}
    # What the sandbox's phone sends is what the parsers read: built and read by one vocabulary.
    read = normalise_content(message)
    if read is None or read.type is not mtype or read.text != caption:
        raise RuntimeError(f"channels.baileys does not read this {kind} message as one")
    return message


def _long(value: int, raw: bool) -> Any:
    """A uint64 field: Evolution's string, or the protobuf Long of a raw Baileys message."""
    return {"low": value & 0xFFFFFFFF, "high": value >> 32, "unsigned": True} if raw else str(value)


# --- Whaticket -------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")  # Whaticket's ^\d+$ (JavaScript's \d is ASCII only; Python's is not)


class WhaticketSandbox(_Sandbox):
    """A Whaticket (SaaS fork) backend: ``POST /api/messages/send`` and ``POST /auth/login`` under ``base_path``.

    A send's Bearer token is accepted when it is one of ``api_tokens`` or an unexpired JWT this
    sandbox's login issued (HS256 with a per-sandbox key; expiry judged by ``clock``).
    """

    provider = "whaticket"
    _send_actions = frozenset({"send"})

    def __init__(
        self,
        api_tokens: set[str],
        users: dict[str, str] | None = None,
        on_sent: Callable[[RelayCall], None] | None = None,
        base_path: str = "/whaticket",
        token_ttl_seconds: int = 900,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(base_path=base_path, on_sent=on_sent, clock=clock)
        self.api_tokens = api_tokens
        self.users = dict(users or {})
        self.token_ttl_seconds = token_ttl_seconds
        self._jwt_key = secrets.token_hex(32)
        self._logins = 0

    @property
    def logins(self) -> int:
        """Successful logins (tokens issued)."""
        with self._lock:
            return self._logins

    def fail_next(self, http_status: int, times: int = 1, *, error: str | None = None, to: str | None = None) -> None:
        """The next ``times`` sends (to the number ``to``, if given) fail with ``{"error": error}``.

        Without ``error``: "Internal server error" for 5xx (Whaticket's app.ts), else "ERR_SANDBOX_FAILURE".
        """
        default = "Internal server error" if http_status >= 500 else "ERR_SANDBOX_FAILURE"
        with self._lock:
            self._failures.extend(_Failure(http_status, error or default, to) for _ in range(times))

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        route = self._route(path)
        if method == "GET" and route == OUTBOX:
            return 200, self.outbox()
        if method == "POST" and route == "/auth/login":
            return self._login(_json_object(body) or {})
        if method != "POST" or route != "/api/messages/send":
            return 404, {"error": f"Cannot {method} {path}"}
        # Whaticket's middleware: const [, token] = authHeader.split(" ") (the scheme word is not checked).
        parts = headers.get("authorization", "").split(" ")
        token = parts[1] if len(parts) > 1 else ""
        if not self._valid(token):
            return 401, {"error": "ERR_SESSION_EXPIRED"}
        payload = _json_object(body) or {}
        whatsapp_id = payload.get("whatsappId")
        call = RelayCall("whaticket", None if whatsapp_id is None else str(whatsapp_id), "send", payload, self._clock())
        with self._lock:
            failure = self._take_failure(call)
        if failure is not None:
            return failure.http_status, {"error": failure.message}
        number = payload.get("number")
        if not isinstance(number, str) or not _DIGITS.fullmatch(number):
            return 400, {"error": "ERR_INVALID_NUMBER"}
        if not isinstance(payload.get("body"), str) or not payload["body"]:
            return 400, {"error": "ERR_SANDBOX_EMPTY_BODY"}  # sandbox-only: an empty send is our bug
        self._record(call)
        return 200, {"mensagem": "Mensagem enviada"}

    def _login(self, credentials: dict[str, Any]) -> tuple[int, Any]:
        email, password = credentials.get("email"), credentials.get("password")
        if not isinstance(email, str) or not isinstance(password, str) or email not in self.users:
            return 401, {"error": "ERR_INVALID_CREDENTIALS"}
        if not secrets.compare_digest(self.users[email].encode(), password.encode()):
            return 401, {"error": "ERR_INVALID_CREDENTIALS"}
        now = int(self._clock())
        user_id = list(self.users).index(email) + 1
        name = email.split("@", 1)[0]
        claims = {"username": name, "profile": "admin", "id": user_id, "companyId": 1, "iat": now, "exp": now + self.token_ttl_seconds}
        token = jwt.encode(claims, self._jwt_key, algorithm="HS256")
        with self._lock:
            self._logins += 1
            self._calls.append(RelayCall("whaticket", None, "login", {"email": email}, float(now)))  # never the password
        user = {"id": user_id, "name": name, "email": email, "profile": "admin", "companyId": 1, "queues": []}
        return 200, {"token": token, "user": user}

    def _valid(self, token: str) -> bool:
        if not token:
            return False
        if any(secrets.compare_digest(token.encode(), t.encode()) for t in self.api_tokens):
            return True
        try:
            # Expiry is judged against the injected clock, not PyJWT's time.time().
            claims = jwt.decode(token, self._jwt_key, algorithms=["HS256"], options={"require": ["exp"], "verify_exp": False})
        except jwt.InvalidTokenError:
            return False
        exp = claims.get("exp")
        return isinstance(exp, int | float) and self._clock() < exp

    @staticmethod
    def relay_body(
        number: str,
        text: str | None = None,
        *,
        message: dict[str, Any] | None = None,
        message_id: str,
        push_name: str,
        timestamp: int,
    ) -> bytes:
        """What a Whaticket SaaS ``webhook``/``n8n`` integration posts: the raw Baileys message (providers.md §3.2 shape 1).

        ``text`` (a conversation) or any Baileys ``message`` (e.g. ``baileys_media_message(..., raw=True)``).
        """
        if (text is None) == (message is None):
            raise ValueError("give exactly one of text and message")
        content = {"conversation": text} if message is None else message
        _content_type(content)  # the forks relay only messages with content
        return _compact(
            {
                "key": {"remoteJid": f"{number}@s.whatsapp.net", "fromMe": False, "id": message_id},
                "message": content,
                "pushName": push_name,
                "messageTimestamp": timestamp,
            }
        )
