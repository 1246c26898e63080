"""OpenAI (and OpenAI-compatible endpoints such as Groq via base URL) through the official SDK.

Chat Completions for both plain answers and tool steps (docs/decisions.md: portable to compatible
endpoints, stateless, what the fakes speak). Tools go as strict function tools; the SDK never runs
them. The SDK sends through the project's ``httpx`` client (``sdk_http_client``): openai 3 accepts
a legacy ``httpx.Client`` at run time, typed for ``httpx2`` only, hence the ``cast``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from atende.domain.conversation import Turn
from atende.errors import LlmAuthError, LlmRejected, LlmUnavailable
from atende.llm import (
    MAX_OUTPUT_TOKENS,
    ChatCompletion,
    LlmOptions,
    ModelStep,
    ToolCall,
    ToolOutput,
    TranscriptItem,
    as_openai_messages,
    cached_sdk_client,
    sdk_http_client,
)

if TYPE_CHECKING:
    from atende.tools import ToolSpec


def openai_client(api_key: str, options: LlmOptions) -> Any:
    """The SDK client every OpenAI adapter (chat, media) uses: one per container, key and options."""
    return cached_sdk_client("openai", api_key, options, _build_openai_client)


def _build_openai_client(api_key: str, options: LlmOptions) -> Any:
    import openai  # lazy: ~100 ms of imports we only pay when this provider is used

    # The SDK retries 408/409/429/5xx and connection errors with exponential backoff itself.
    return openai.OpenAI(
        api_key=api_key,
        base_url=options.openai_base_url,  # None = SDK default (honours OPENAI_BASE_URL)
        timeout=options.timeout_seconds,
        max_retries=options.max_retries,
        # follow_redirects: what the SDK's own default client does.
        http_client=cast(Any, sdk_http_client(options, follow_redirects=True)),
    )


@contextmanager
def openai_errors() -> Iterator[None]:
    """SDK errors → LlmUnavailable (timeouts, connection, 408/409/429, 5xx), LlmAuthError (401/403) or LlmRejected (other 4xx)."""
    import openai

    try:
        yield
    except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
        raise LlmUnavailable(f"OpenAI unavailable: {type(exc).__name__}") from exc
    except openai.APIStatusError as exc:
        if exc.status_code >= 500 or exc.status_code in (408, 409):
            raise LlmUnavailable(f"OpenAI HTTP {exc.status_code}") from exc
        if exc.status_code in (401, 403):
            raise LlmAuthError(f"OpenAI HTTP {exc.status_code}") from exc
        raise LlmRejected(f"OpenAI HTTP {exc.status_code}") from exc
    except openai.OpenAIError as exc:
        raise LlmUnavailable(f"OpenAI error: {type(exc).__name__}") from exc


def openai_tool(spec: ToolSpec) -> dict[str, Any]:
    """A strict function tool: the model's arguments must match the schema exactly (the tool layer
    validates them again all the same)."""
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": dict(spec.parameters), "strict": True},
    }


def openai_transcript(system_prompt: str, transcript: Sequence[TranscriptItem]) -> list[dict[str, Any]]:
    """Chat Completions messages: each step is the assistant message that asked for its calls, and
    each output a ``tool`` message answering one call id."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
    for item in transcript:
        if isinstance(item, Turn):
            messages.append({"role": item.role, "content": item.text})
        elif isinstance(item, ToolOutput):
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
        elif item.tool_calls:
            calls = [{"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in item.tool_calls]
            messages.append({"role": "assistant", "content": item.text or None, "tool_calls": calls})
        else:
            messages.append({"role": "assistant", "content": item.text})
    return messages


class OpenAIChatModel:
    provider = "openai"

    def __init__(self, api_key: str, model: str, options: LlmOptions) -> None:
        self.model = model
        self._client = openai_client(api_key, options)

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        with openai_errors():
            response = self._client.chat.completions.create(
                model=self.model,
                messages=as_openai_messages(system_prompt, turns),
                max_completion_tokens=MAX_OUTPUT_TOKENS,
            )
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content or "").strip() if choice else ""
        if not text:
            raise LlmUnavailable("OpenAI returned an empty answer")
        usage = response.usage
        return ChatCompletion(
            text=text,
            provider=self.provider,
            model=response.model or self.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    def step(
        self, system_prompt: str, transcript: Sequence[TranscriptItem], tools: Sequence[ToolSpec], *, parallel_calls: bool = True
    ) -> ModelStep:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": openai_transcript(system_prompt, transcript),
            "max_completion_tokens": MAX_OUTPUT_TOKENS,
        }
        if tools:  # tool_choice and parallel_tool_calls are refused without tools
            request |= {"tools": [openai_tool(spec) for spec in tools], "tool_choice": "auto", "parallel_tool_calls": parallel_calls}
        with openai_errors():
            response = self._client.chat.completions.create(**request)
        message = response.choices[0].message if response.choices else None
        text = (message.content or "").strip() if message else ""
        calls = tuple(
            ToolCall(call_id=call.id, name=call.function.name, arguments=call.function.arguments or "{}")
            for call in ((message.tool_calls or []) if message else [])
            if getattr(call, "function", None) is not None  # function calls only: no custom tools are offered
        )
        if not parallel_calls:
            calls = calls[:1]
        if not text and not calls:
            raise LlmUnavailable("OpenAI returned an empty answer")
        usage = response.usage
        details = usage.prompt_tokens_details if usage else None
        return ModelStep(
            text=text,
            tool_calls=calls,
            provider=self.provider,
            model=response.model or self.model,
            input_tokens=usage.prompt_tokens if usage else 0,
            cached_tokens=(details.cached_tokens or 0) if details else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )
