"""OpenAI (and OpenAI-compatible endpoints such as Groq via base URL) through the official SDK."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from atende.domain.conversation import Turn
from atende.errors import LlmAuthError, LlmRejected, LlmUnavailable
from atende.llm import MAX_OUTPUT_TOKENS, ChatCompletion, LlmOptions, as_openai_messages, cached_sdk_client


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
        http_client=options.http_client,
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
