"""Tools answered by the tenant's own HTTPS endpoint (its ERP, its booking system…).

A tenant may point a tool at its own endpoint instead of Atende's built-in store. The contract the
endpoint implements is in docs/remote-tools.md; in short, one signed JSON ``POST`` per call::

    {"tool": "order_status", "dry_run": false, "arguments": {...},
     "context": {"tenant_id": "...", "contact": "ct_...", "session_id": "...", "message_id": "m_..."}}

    X-Atende-Timestamp: <unix seconds>
    X-Atende-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<raw body>")>
    Idempotency-Key: <hex, stable across retries of the same call>

What the tenant sees is its own business and nothing else: its tenant id, the call's arguments, and
*per-tenant* pseudonyms of the contact and the message — never the phone number, the contact's
Atende-wide id (which would let two tenants link a shared customer) or the provider message id
(Meta's ``wamid`` embeds the phone number).

Every failure — timeout, refused connection, redirect, non-2xx, non-JSON, schema mismatch, an answer
over 64 KiB — becomes a ``ToolResult.failure`` the model can explain; nothing from ``httpx`` reaches
the pipeline and no answer body reaches a log. Only a Secrets Manager outage (``StoreError``,
transient) propagates, as the tool contract says.

Config problems are refused when the settings are written (``remote_tool_from_config``): https only
(loopback http for the local stack when the caller allows it), no credentials, query or IP literal
in the URL, parameters in the strict JSON Schema subset both model SDKs accept.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import json
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from atende.errors import ConfigError
from atende.observability import count, logger, milliseconds
from atende.tools import ToolContext, ToolResult, ToolSpec

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_RESPONSE_BYTES",
    "MAX_TIMEOUT_SECONDS",
    "RemoteTool",
    "RemoteToolConfig",
    "RemoteToolConfigInvalid",
    "SecretReader",
    "idempotency_key",
    "remote_tool_from_config",
    "remote_tool_secret_name",
    "shared_http_client",
    "sign_atende_request",
    "verify_atende_signature",
]

TOOL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{2,39}")
DEFAULT_TIMEOUT_SECONDS = 4.0
# A tool call sits inside the processor's reply to one message (and the customer is waiting).
MAX_TIMEOUT_SECONDS = 8.0
MIN_TIMEOUT_SECONDS = 0.5
# The answer goes into the model's context (cost per token) and into the claim's checkpoint.
MAX_RESPONSE_BYTES = 64 * 1024
MIN_KEY_CHARS = 32  # an HMAC key shorter than this is a password, not a key
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "Atende-RemoteTool/1"

_DESCRIPTION_LIMIT = 1024  # OpenAI's function description limit
_SCHEMA_BYTES_LIMIT = 16 * 1024
_PARAMETERS_DEPTH_LIMIT = 5
_PARAMETERS_PROPERTIES_LIMIT = 100
_PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_URL_LIMIT = 2048
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
# Names that resolve to this machine or a private network by convention, never a tenant's server.
_PRIVATE_TLDS = frozenset({"localhost", "local", "internal", "intranet", "lan", "home", "corp", "arpa", "invalid", "test", "onion"})
# What the strict mode of both SDKs accepts in function parameters (OpenAI structured outputs,
# Gemini function declarations): no $ref/$defs, no oneOf/allOf/not, no conditionals.
_PARAMETER_KEYWORDS = frozenset(
    {
        "type",
        "title",
        "description",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "anyOf",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
    }
)
_JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_CONFIG_KEYS = frozenset({"description", "url", "parameters", "result", "secret_id", "timeout_seconds", "writes", "dry_run"})
_TENANT_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{1,39}")
_TENANT_MESSAGE_LIMIT = 200
_SUMMARY_LIMIT = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


# --- configuration ---------------------------------------------------------------------------


class RemoteToolConfigInvalid(ValueError):
    """The tenant's remote-tool settings are not valid; ``problems`` names every one at once."""

    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(f"remote tool {name!r}: " + "; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class RemoteToolConfig:
    """One tool of a tenant answered by its endpoint. Build it with ``remote_tool_from_config``.

    ``secret_id`` names a JSON secret ``{"key": "<HMAC key>", "tenant_id": "<the tenant>"}``; the
    tool refuses to sign with a secret bound to another tenant. ``dry_run`` (write tools): the
    endpoint understands ``"dry_run": true``; when False the confirmation is built from the
    arguments here, without calling the endpoint.
    """

    name: str
    description: str
    url: str
    parameters: Mapping[str, Any] = field(hash=False)
    result_schema: Mapping[str, Any] = field(hash=False)
    secret_id: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    writes: bool = False
    dry_run: bool = True

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters, writes=self.writes)

    def to_mapping(self) -> dict[str, Any]:
        """The settings form ``remote_tool_from_config`` reads back (the name is the key beside it)."""
        return {
            "description": self.description,
            "url": self.url,
            "parameters": dict(self.parameters),
            "result": dict(self.result_schema),
            "secret_id": self.secret_id,
            "timeout_seconds": self.timeout_seconds,
            "writes": self.writes,
            "dry_run": self.dry_run,
        }


def remote_tool_from_config(
    name: str, mapping: Mapping[str, Any], *, builtin_names: Collection[str] = (), allow_loopback: bool = False
) -> RemoteToolConfig:
    """Validate one remote tool's settings (``{"description", "url", "parameters", "result",
    "secret_id", "timeout_seconds"?, "writes"?, "dry_run"?}``); every problem is reported at once.

    ``name`` is a built-in tool's name (the remote tool replaces it) or a tenant tool name.
    ``allow_loopback``: only the local stack passes True — in Lambda, 127.0.0.1 is the runtime API.
    Numbers may come from DynamoDB as ``Decimal``; the schemas are stored as plain JSON.
    """
    problems: list[str] = []
    if name not in builtin_names and not (isinstance(name, str) and TOOL_NAME_PATTERN.fullmatch(name)):
        problems.append("name must be a built-in tool's name or 3-40 characters of a-z, 0-9 and '_', starting with a letter")
    if not isinstance(mapping, Mapping):
        raise RemoteToolConfigInvalid(str(name), [*problems, "settings must be an object"])
    unknown = sorted(str(key) for key in mapping if key not in _CONFIG_KEYS)
    if unknown:
        problems.append(f"unknown settings {unknown}")

    description = mapping.get("description")
    if not isinstance(description, str) or not description.strip():
        problems.append("description is required")
        description = ""
    elif len(description) > _DESCRIPTION_LIMIT:
        problems.append(f"description has {len(description)} characters; at most {_DESCRIPTION_LIMIT}")

    url = mapping.get("url")
    url_problem = _url_problem(url, allow_loopback=allow_loopback)
    if url_problem:
        problems.append(url_problem)

    parameters = _schema_setting("parameters", mapping.get("parameters"), problems)
    if parameters is not None:
        _strict_parameters(parameters, "parameters", 0, problems)
        _check_schema("parameters", parameters, problems)
    result_schema = _schema_setting("result", mapping.get("result"), problems)
    if result_schema is not None:
        if result_schema.get("type") != "object":
            problems.append("result must be a JSON Schema with type 'object' (the answer is a JSON object)")
        if _remote_refs(result_schema):
            problems.append("result may only use local $ref ('#/...')")
        _check_schema("result", result_schema, problems)

    secret_id = mapping.get("secret_id")
    if not isinstance(secret_id, str) or not (_SECRET_NAME.fullmatch(secret_id) or _SECRET_ARN.fullmatch(secret_id)):
        problems.append("secret_id must be a Secrets Manager secret name or ARN")

    timeout = mapping.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, Decimal)):
        problems.append("timeout_seconds must be a number")
        timeout = DEFAULT_TIMEOUT_SECONDS
    elif not MIN_TIMEOUT_SECONDS <= float(timeout) <= MAX_TIMEOUT_SECONDS:
        problems.append(f"timeout_seconds must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS}")

    flags = {}
    for flag, default in (("writes", False), ("dry_run", True)):
        value = mapping.get(flag, default)
        if not isinstance(value, bool):
            problems.append(f"{flag} must be true or false")
        flags[flag] = bool(value)

    if problems:
        raise RemoteToolConfigInvalid(str(name), problems)
    assert isinstance(url, str) and isinstance(secret_id, str) and parameters is not None and result_schema is not None
    return RemoteToolConfig(
        name=name,
        description=description,
        url=url,
        parameters=parameters,
        result_schema=result_schema,
        secret_id=secret_id,
        timeout_seconds=float(timeout),
        writes=flags["writes"],
        dry_run=flags["dry_run"],
    )


def remote_tool_secret_name(stage: str, tenant_id: str, tool_name: str) -> str:
    """Where registration keeps a remote tool's HMAC key; the processor may read ``atende/<stage>/tools/*``."""
    return f"atende/{stage}/tools/{tenant_id}/{tool_name}"


def _url_problem(url: object, *, allow_loopback: bool) -> str | None:
    if not isinstance(url, str) or not url:
        return "url is required"
    if len(url) > _URL_LIMIT or not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        return f"url must be at most {_URL_LIMIT} printable ASCII characters (IDN hosts in punycode)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "url is not a valid URL"
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "url must not carry credentials: the request is signed with the tool's secret"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "url must not have a query or fragment (credentials belong in the secret)"
    if port == 0:
        return "url has an invalid port"
    if host in _LOOPBACK_HOSTS:
        if not allow_loopback:
            return "url must not point at this machine (loopback is for the local stack only)"
        return None if parts.scheme in ("http", "https") else "url must be https"
    if parts.scheme != "https":
        return "url must be https"
    if _is_ip_literal(host):
        return "url must name a host, not an IP address"
    labels = host.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels) or not _TLD.fullmatch(labels[-1]):
        return "url must name a public DNS host (e.g. https://erp.example.com.br/atende)"
    if labels[-1] in _PRIVATE_TLDS or host.endswith(".home.arpa"):
        return "url must name a public DNS host, not a local or private one"
    return None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _schema_setting(what: str, value: object, problems: list[str]) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        problems.append(f"{what} must be a JSON Schema object")
        return None
    try:
        plain = _plain_json(value)
        size = len(json.dumps(plain, separators=(",", ":")).encode())
    except (TypeError, ValueError, RecursionError):
        problems.append(f"{what} must be plain JSON (objects with string keys, lists, strings, numbers, booleans, null)")
        return None
    if size > _SCHEMA_BYTES_LIMIT:
        problems.append(f"{what} is {size} bytes of JSON; at most {_SCHEMA_BYTES_LIMIT}")
        return None
    assert isinstance(plain, dict)
    return plain


def _plain_json(value: Any) -> Any:
    """``value`` as json.dumps writes it: DynamoDB's Decimals become int/float, tuples lists."""
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("object keys must be strings")
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON")


def _strict_parameters(schema: Any, path: str, depth: int, problems: list[str]) -> None:
    """The strict subset: every object closed and fully required, arrays typed, no references."""
    if not isinstance(schema, dict):
        problems.append(f"{path} must be a schema object")
        return
    if depth > _PARAMETERS_DEPTH_LIMIT:
        problems.append(f"{path} nests deeper than {_PARAMETERS_DEPTH_LIMIT} levels")
        return
    unsupported = sorted(set(schema) - _PARAMETER_KEYWORDS)
    if unsupported:
        problems.append(f"{path} uses {unsupported}, outside the strict subset the models accept")
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    if depth == 0 and declared != "object":
        problems.append("parameters must have type 'object'")
    if declared is not None and not all(isinstance(t, str) and t in _JSON_TYPES for t in types):
        problems.append(f"{path}.type must be one of {sorted(_JSON_TYPES)} (or a list of them)")
    if declared is None and "anyOf" not in schema and "enum" not in schema and "const" not in schema:
        problems.append(f"{path} needs a type")
    for index, option in enumerate(schema.get("anyOf") or []):
        _strict_parameters(option, f"{path}.anyOf[{index}]", depth + 1, problems)
    if "object" in types:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            problems.append(f"{path} needs 'properties'")
            properties = {}
        if len(properties) > _PARAMETERS_PROPERTIES_LIMIT:
            problems.append(f"{path} has more than {_PARAMETERS_PROPERTIES_LIMIT} properties")
        required = schema.get("required", [])
        if not isinstance(required, list) or sorted(map(str, required)) != sorted(properties) or len(set(required)) != len(required):
            problems.append(f"{path}.required must list every property exactly once (strict mode)")
        if schema.get("additionalProperties") is not False:
            problems.append(f"{path}.additionalProperties must be false (strict mode)")
        for key, sub in properties.items():
            if not _PROPERTY_NAME.fullmatch(key):
                problems.append(f"{path}: property name {key[:70]!r} must be 1-64 characters of A-Z, a-z, 0-9 and '_'")
            _strict_parameters(sub, f"{path}.{key}", depth + 1, problems)
    if "array" in types:
        if not isinstance(schema.get("items"), dict):
            problems.append(f"{path} is an array and needs 'items'")
        else:
            _strict_parameters(schema["items"], f"{path}[]", depth + 1, problems)


def _check_schema(what: str, schema: dict[str, Any], problems: list[str]) -> None:
    jsonschema = _jsonschema()
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        problems.append(f"{what} is not a valid JSON Schema ({exc.validator} at /{where})")


def _remote_refs(schema: Any) -> bool:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and (not isinstance(value, str) or not value.startswith("#")):
                return True
            if _remote_refs(value):
                return True
    elif isinstance(schema, list):
        return any(_remote_refs(item) for item in schema)
    return False


@functools.cache
def _jsonschema() -> Any:
    """Imported on first use: cold starts that call no remote tool never load it."""
    import jsonschema  # type: ignore[import-untyped]

    return jsonschema


def _validator(schema: Mapping[str, Any]) -> Any:
    jsonschema = _jsonschema()
    return jsonschema.validators.validator_for(schema)(schema)


# --- signing -----------------------------------------------------------------------------------


def sign_atende_request(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Atende-Signature`` value: ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>.<raw body>"``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify_atende_signature(
    secret: str | bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """For the tenant's endpoint: is this request from Atende, signed within ``tolerance`` seconds?

    ``body`` is the raw request body exactly as received (before any JSON parsing); ``timestamp``
    and ``signature`` are the ``X-Atende-Timestamp`` and ``X-Atende-Signature`` headers; ``now`` is
    the endpoint's clock in unix seconds. Constant-time comparison. A stale or future timestamp is
    refused so a captured request cannot be replayed later (use the Idempotency-Key within the window).
    """
    if not isinstance(timestamp, str) or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    if not isinstance(signature, str) or not signature.startswith("sha256="):
        return False
    expected = sign_atende_request(secret, timestamp, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("ascii", "replace"))


def idempotency_key(tenant_id: str, tool: str, inbound_id: str, *, mode: str, arguments: Mapping[str, Any]) -> str:
    """Stable across every retry of the same call: same tenant, tool, inbound message, mode, arguments.

    The arguments are part of it so two different calls answering one message (order 1 and order 2)
    are not taken for one; the mode so a dry run and the real write never share an answer.
    """
    canonical = json.dumps(_plain_json(arguments), sort_keys=True, separators=(",", ":"))
    material = "\0".join(("atende.remote-tool.v1", tenant_id, tool, inbound_id, mode, canonical))
    return hashlib.sha256(material.encode()).hexdigest()


def _tenant_pseudonym(prefix: str, tenant_id: str, value: str) -> str:
    """A per-tenant id for an Atende id: stable for this tenant, unlinkable across tenants.

    Unkeyed on purpose (it survives a rotation of the tool's secret): the input is itself a keyed
    hash (contact) or never shown to the tenant (message id), so nothing can be enumerated back.
    """
    digest = hashlib.sha256("\0".join(("atende.remote-tool.pseudonym", prefix, tenant_id, value)).encode()).digest()
    return f"{prefix}_" + base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:26]


# --- the tool ----------------------------------------------------------------------------------


class SecretReader(Protocol):
    """What the tool needs from ``store.secrets.SecretStore``."""

    def get_json(self, secret_id: str) -> dict[str, str]: ...

    def refresh(self, secret_id: str, *, min_age: float = 30.0) -> bool: ...


@functools.cache
def shared_http_client() -> httpx.Client:
    """One client per container for every tenant's endpoint (connection reuse across invocations).

    No redirects (a 3xx is an answer, not a new URL to fetch), no proxy or .netrc from the
    environment (a netrc could attach credentials to a tenant's host); timeouts per request.
    """
    import httpx

    return httpx.Client(
        follow_redirects=False,
        trust_env=False,
        timeout=DEFAULT_TIMEOUT_SECONDS,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30.0),
    )


class _Refused(Exception):
    """Internal: the answer cannot be used. ``reason`` goes to logs, ``failure`` to the model."""

    def __init__(self, reason: str, failure: ToolResult, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure = failure
        self.status = status


_TIMEOUT = ToolResult.failure("timeout", "The business's system took too long to answer.")
_UNAVAILABLE = ToolResult.failure("unavailable", "The business's system is unavailable right now.")
_INVALID = ToolResult.failure("invalid_response", "The business's system gave an answer that could not be read.")
_NOT_FOUND = ToolResult.failure("not_found", "The business's system found nothing for this request.")
_REJECTED = ToolResult.failure("rejected", "The business's system refused this request.")
_INVALID_ARGUMENTS = ToolResult.failure("invalid_arguments", "The request does not match what this tool accepts.")


class RemoteTool:
    """A ``Tool`` whose answers come from the tenant's endpoint (contract: docs/remote-tools.md)."""

    def __init__(
        self,
        config: RemoteToolConfig,
        *,
        secrets: SecretReader,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.spec = config.spec
        self._secrets = secrets
        self._http = http
        self._clock = clock
        self._arguments = _validator(config.parameters)
        self._result = _validator(config.result_schema)

    def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        return self._call(ctx, arguments, dry_run=False)

    def preview(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        """Read tools: ``run``. Write tools: the endpoint's dry run, or a summary of the arguments
        when the endpoint has none (nothing is sent before the customer confirms)."""
        if not self.config.writes:
            return self.run(ctx, arguments)
        if self.config.dry_run:
            return self._call(ctx, arguments, dry_run=True)
        if not self._valid_arguments(arguments):
            return _INVALID_ARGUMENTS
        return ToolResult.success({"dry_run": True, "arguments": _plain_json(arguments)}, summary=_local_summary(arguments))

    # --- one request shape, one failure map ----------------------------------------------

    def _call(self, ctx: ToolContext, arguments: Mapping[str, Any], *, dry_run: bool) -> ToolResult:
        started = time.monotonic()
        if not self._valid_arguments(arguments):
            self._log_failure(ctx, "arguments_invalid", None, started)
            return _INVALID_ARGUMENTS
        try:
            key = self._signing_key(ctx)
            body = _request_body(self.config.name, ctx, arguments, dry_run=dry_run)
            headers = self._headers(ctx, arguments, body, key, dry_run=dry_run)
            status, raw = self._post(body, headers)
            result = self._interpret(status, raw)
        except _Refused as refused:
            if refused.status == 401:
                # Perhaps the key was just rotated: the next call reads it again (at most every 30 s).
                self._secrets.refresh(self.config.secret_id)
            self._log_failure(ctx, refused.reason, refused.status, started)
            return refused.failure
        elapsed = (time.monotonic() - started) * 1000
        count("RemoteToolSucceeded")
        milliseconds("RemoteToolMs", elapsed)
        logger.info(
            "remote tool answered", extra={"tool": self.config.name, "tenant_id": ctx.tenant_id, "dry_run": dry_run, "ms": round(elapsed)}
        )
        return result

    def _valid_arguments(self, arguments: Mapping[str, Any]) -> bool:
        # The tool layer validated them already; they leave Atende here, so once more costs nothing.
        try:
            return bool(self._arguments.is_valid(_plain_json(arguments)))
        except (TypeError, RecursionError):
            return False

    def _signing_key(self, ctx: ToolContext) -> bytes:
        try:
            secret = self._secrets.get_json(self.config.secret_id)
        except ConfigError as exc:  # missing or unreadable: a deployment problem; StoreError propagates
            raise _Refused("secret_unreadable", _UNAVAILABLE) from exc
        if secret.get("tenant_id") != ctx.tenant_id:
            # A tenant's settings naming another tenant's secret must not make us sign for it.
            raise _Refused("secret_other_tenant", _UNAVAILABLE)
        key = secret.get("key", "")
        if len(key) < MIN_KEY_CHARS:
            raise _Refused("secret_key_too_short", _UNAVAILABLE)
        return key.encode()

    def _headers(self, ctx: ToolContext, arguments: Mapping[str, Any], body: bytes, key: bytes, *, dry_run: bool) -> dict[str, str]:
        timestamp = str(int(self._clock()))
        mode = "dry_run" if dry_run else "run"
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",  # the size cap counts the bytes we read, uncompressed
            "User-Agent": USER_AGENT,
            "X-Atende-Timestamp": timestamp,
            "X-Atende-Signature": sign_atende_request(key, timestamp, body),
            "Idempotency-Key": idempotency_key(ctx.tenant_id, self.config.name, ctx.inbound_id, mode=mode, arguments=arguments),
        }

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        import httpx

        http = self._http or shared_http_client()
        timeout = self.config.timeout_seconds
        deadline = time.monotonic() + timeout  # from the request on: a cold secret read is not the endpoint's time
        try:
            with http.stream("POST", self.config.url, content=body, headers=headers, timeout=timeout, follow_redirects=False) as response:
                status = response.status_code
                if not (200 <= status < 300 or 400 <= status < 500):
                    return status, b""  # 3xx and 5xx: the body says nothing we use
                return status, _read_bounded(response, deadline)
        except httpx.TimeoutException as exc:
            raise _Refused("timeout", _TIMEOUT) from exc
        except httpx.DecodingError as exc:  # a body its own Content-Encoding cannot decode
            raise _Refused("undecodable_answer", _INVALID) from exc
        except httpx.RequestError as exc:  # refused connection, DNS, TLS, a dropped answer
            raise _Refused(f"transport_{type(exc).__name__}", _UNAVAILABLE) from exc

    def _interpret(self, status: int, raw: bytes) -> ToolResult:
        if 200 <= status < 300:
            doc = _json_object(raw)
            if doc is None:
                raise _Refused("not_json_object", _INVALID, status)
            error = _first_error(self._result, doc)
            if error is not None:
                raise _Refused(f"schema_mismatch:{error}", _INVALID, status)
            return ToolResult.success(doc, summary=_bounded_text(doc.get("summary"), _SUMMARY_LIMIT))
        if 300 <= status < 400:
            raise _Refused("redirect_not_followed", _UNAVAILABLE, status)
        if status == 401:
            raise _Refused("signature_refused", _UNAVAILABLE, status)
        if 400 <= status < 500:
            tenant = _tenant_error(raw)
            if tenant is not None:
                raise _Refused(f"tenant_error:{tenant.error}", tenant, status)
            fallback = {404: _NOT_FOUND, 403: _UNAVAILABLE, 408: _TIMEOUT, 429: _UNAVAILABLE}.get(status, _REJECTED)
            raise _Refused("client_error", fallback, status)
        raise _Refused("server_error", _UNAVAILABLE, status)

    def _log_failure(self, ctx: ToolContext, reason: str, status: int | None, started: float) -> None:
        elapsed = (time.monotonic() - started) * 1000
        count("RemoteToolFailed")
        milliseconds("RemoteToolMs", elapsed)
        # Keys only: the reason is ours (or the tenant's bounded error code), never an answer body.
        logger.warning(
            "remote tool failed",
            extra={"tool": self.config.name, "tenant_id": ctx.tenant_id, "reason": reason, "status": status, "ms": round(elapsed)},
        )


def _request_body(tool: str, ctx: ToolContext, arguments: Mapping[str, Any], *, dry_run: bool) -> bytes:
    doc = {
        "tool": tool,
        "dry_run": dry_run,
        "arguments": _plain_json(arguments),
        "context": {
            "tenant_id": ctx.tenant_id,
            "contact": _tenant_pseudonym("ct", ctx.tenant_id, ctx.contact_id),
            "session_id": ctx.session_id or None,
            "message_id": _tenant_pseudonym("m", ctx.tenant_id, ctx.inbound_id),
        },
    }
    # ASCII (\u escapes): a lone surrogate from the model ("\ud800" is valid JSON) cannot break the encoding.
    return json.dumps(doc, separators=(",", ":")).encode("ascii")


def _read_bounded(response: httpx.Response, deadline: float) -> bytes:
    """At most ``MAX_RESPONSE_BYTES`` of the raw body, within the call's timeout; refused beyond."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _Refused("compressed_answer", _INVALID, response.status_code)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _Refused("oversize", _INVALID, response.status_code)
    chunks: list[bytes] = []
    size = 0
    # Identity-encoded only (checked above), so the decoded bytes are the bytes on the wire.
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _Refused("oversize", _INVALID, response.status_code)
        if time.monotonic() > deadline:  # a server trickling bytes under the per-read timeout
            raise _Refused("timeout", _TIMEOUT, response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _first_error(validator: Any, doc: dict[str, Any]) -> str | None:
    """Where the answer breaks the result schema, by schema path and keyword (never the values)."""
    try:
        error = next(iter(validator.iter_errors(doc)), None)
    except RecursionError:
        return "too_deep"
    if error is None:
        return None
    return "/".join(str(part) for part in error.schema_path)


def _tenant_error(raw: bytes) -> ToolResult | None:
    """``{"error": "<code>", "message": "<text>"}`` from a 4xx: the tenant's own words, bounded, as data."""
    doc = _json_object(raw)
    code = doc.get("error") if doc else None
    if not isinstance(code, str) or not _TENANT_ERROR_CODE.fullmatch(code):
        return None
    assert doc is not None
    return ToolResult.failure(code, _bounded_text(doc.get("message"), _TENANT_MESSAGE_LIMIT))


def _bounded_text(value: object, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local_summary(arguments: Mapping[str, Any]) -> str:
    """The confirmation line of a write tool whose endpoint has no dry run: what will be sent."""
    parts = [f"{key}: {_argument_text(value)}" for key, value in arguments.items()]
    return _bounded_text("; ".join(parts), _SUMMARY_LIMIT)


def _argument_text(value: Any) -> str:
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, (str, int, float, Decimal)):
        return str(value)
    if value is None:
        return "—"
    return json.dumps(_plain_json(value), ensure_ascii=False, separators=(", ", ": "))
