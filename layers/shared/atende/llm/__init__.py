"""LLM providers behind one small interface.

``select_chat_model`` picks the tenant's provider; SDKs (openai, google-genai) are imported
inside their modules only when that provider is actually used, never at cold start, and their
clients are built once per container and key (``cached_sdk_client``), shared by chat and media.

Both SDKs talk through an ``httpx`` client (``sdk_http_client``): the one the project's channel
clients use, the one X-Ray instruments and the one tests inject with an ``httpx.MockTransport``.
openai 3 and google-genai 3 default to ``httpx2``; docs/decisions.md says why Atende does not
(yet) and when it will.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from atende.domain.conversation import Turn

if TYPE_CHECKING:
    import httpx

    from atende.domain.tenants import Tenant
    from atende.tools import ToolSpec

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"
MAX_OUTPUT_TOKENS = 800  # WhatsApp answers should be short; also bounds cost per message


@dataclass(frozen=True, slots=True)
class ChatCompletion:
    text: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for. ``arguments`` is the JSON text as the model wrote it:
    untrusted, validated by the tool layer against the tool's schema before anything runs."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """The answer to one ``ToolCall`` (matched by ``call_id``), as the JSON text the model reads."""

    call_id: str
    name: str
    output: str

    def to_item(self) -> dict[str, Any]:
        return {"k": "tool", "id": self.call_id, "n": self.name, "o": self.output}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ToolOutput:
        return cls(call_id=str(item["id"]), name=str(item["n"]), output=str(item["o"]))


@dataclass(frozen=True, slots=True)
class ModelStep:
    """One model call of the agent loop: a final text, or tool calls (possibly several: parallel calls),
    or both. ``replay`` is provider state that must go back with this step on the next call (Gemini's
    thought signatures, base64), JSON-serialisable so the step can be checkpointed on the claim."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    provider: str
    model: str
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    replay: dict[str, Any] | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "k": "step",
            "t": self.text,
            "c": [{"id": c.call_id, "n": c.name, "a": c.arguments} for c in self.tool_calls],
            "p": self.provider,
            "m": self.model,
            "in": self.input_tokens,
            "ca": self.cached_tokens,
            "out": self.output_tokens,
        }
        if self.replay:
            item["r"] = self.replay
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ModelStep:
        return cls(
            text=str(item.get("t", "")),
            tool_calls=tuple(ToolCall(str(c["id"]), str(c["n"]), str(c["a"])) for c in item.get("c", [])),
            provider=str(item.get("p", "")),
            model=str(item.get("m", "")),
            input_tokens=int(item.get("in", 0)),
            cached_tokens=int(item.get("ca", 0)),
            output_tokens=int(item.get("out", 0)),
            replay=dict(item["r"]) if item.get("r") else None,
        )


# What the agent loop sends: the remembered conversation (turns), then this message's steps and tool outputs.
TranscriptItem = Turn | ModelStep | ToolOutput


class ChatModel(Protocol):
    provider: str
    model: str

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        """Answer the last user turn. Raises LlmUnavailable (transient) or LlmRejected."""
        ...

    def step(
        self, system_prompt: str, transcript: Sequence[TranscriptItem], tools: Sequence[ToolSpec], *, parallel_calls: bool = True
    ) -> ModelStep:
        """One agent-loop call with tools offered (never executed by the SDK: no automatic function
        calling). Same error contract as ``complete``. With no tools it is a plain answer.

        ``transcript`` is the remembered turns, then this message's earlier steps, each followed by
        the ``ToolOutput`` of every call it made. ``parallel_calls=False`` keeps at most one call per
        step (asked of the provider where it has the switch, enforced here in any case). Usage:
        ``input_tokens`` counts every prompt token, ``cached_tokens`` the part of them read from the
        provider's prompt cache, ``output_tokens`` every billed output token (reasoning included).
        """
        ...


# The agent loop's name for the same interface: every ChatModel takes steps.
ToolCallingModel = ChatModel


@dataclass(frozen=True, slots=True)
class LlmKeys:
    openai_api_key: str | None = None
    gemini_api_key: str | None = None

    @classmethod
    def from_secret(cls, secret: dict[str, str]) -> LlmKeys:
        return cls(openai_api_key=secret.get("openai_api_key") or None, gemini_api_key=secret.get("gemini_api_key") or None)


@dataclass(frozen=True, slots=True)
class LlmOptions:
    timeout_seconds: float = 20.0
    max_retries: int = 2
    openai_base_url: str | None = None
    gemini_base_url: str | None = None
    # Pinned, not the SDK's default (google-genai 3 moved it to v1): the version these adapters and
    # their fakes speak, changed on purpose (docs/decisions.md).
    gemini_api_version: str = "v1beta"
    http_client: httpx.Client | None = None  # injected in tests to point SDKs at local fakes


def sdk_http_client(options: LlmOptions, *, follow_redirects: bool) -> httpx.Client:
    """The ``httpx`` client an SDK client sends through: the injected one, else a new one.

    Called once per SDK client (``cached_sdk_client``), so each provider keeps one connection pool.
    The SDK sets each request's timeout from its own options; this one only bounds what it does not.
    """
    if options.http_client is not None:
        return options.http_client
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(options.timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        follow_redirects=follow_redirects,
    )


# A container meets few (provider, key, options) combinations: chat and media options per provider,
# times the keys in the LLM secret; a rotated key's client ages out instead of piling up.
SDK_CLIENTS_MAX = 8
_sdk_clients: OrderedDict[tuple[str, bytes, LlmOptions], Any] = OrderedDict()
_sdk_clients_lock = threading.Lock()


def cached_sdk_client[ClientT](provider: str, api_key: str, options: LlmOptions, build: Callable[[str, LlmOptions], ClientT]) -> ClientT:
    """The provider's SDK client for this key and these options, built once per container.

    Building one costs ~20 ms (openai) to ~45 ms (google-genai) of CPU, mostly TLS setup, and starts
    an empty connection pool; kept, every adapter and message reuses its connections. Keyed by the
    key's SHA-256 (the cache holds no raw key; the client does) and by the options (timeout, retries,
    base URLs, and the injected ``http_client`` by identity). A rotated key gets a new client.
    """
    cache_key = (provider, hashlib.sha256(api_key.encode()).digest(), options)
    with _sdk_clients_lock:
        if cache_key in _sdk_clients:
            _sdk_clients.move_to_end(cache_key)
            cached: ClientT = _sdk_clients[cache_key]
            return cached
    client = build(api_key, options)  # outside the lock: a concurrent miss builds a spare, the last one stays
    with _sdk_clients_lock:
        _sdk_clients[cache_key] = client
        while len(_sdk_clients) > SDK_CLIENTS_MAX:
            _sdk_clients.popitem(last=False)
    return client


def select_chat_model(tenant: Tenant, keys: LlmKeys, options: LlmOptions) -> ChatModel:
    """The tenant's choice; ``auto`` = OpenAI if keyed, else Gemini if keyed, else offline."""
    choice = tenant.llm_provider
    if choice == "auto":
        choice = "openai" if keys.openai_api_key else "gemini" if keys.gemini_api_key else "local"
    if choice == "openai" and keys.openai_api_key:
        from atende.llm.openai import OpenAIChatModel

        return OpenAIChatModel(keys.openai_api_key, tenant.llm_model or DEFAULT_OPENAI_MODEL, options)
    if choice == "gemini" and keys.gemini_api_key:
        from atende.llm.gemini import GeminiChatModel

        return GeminiChatModel(keys.gemini_api_key, tenant.llm_model or DEFAULT_GEMINI_MODEL, options)
    # An explicit provider without its key also lands here: answering offline beats not answering.
    from atende.llm.local import LocalChatModel

    return LocalChatModel()


def as_openai_messages(system_prompt: str, turns: Sequence[Turn]) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system_prompt}, *({"role": t.role, "content": t.text} for t in turns)]
