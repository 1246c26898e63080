"""Google Gemini through the official ``google-genai`` SDK."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from atende.domain.conversation import Turn
from atende.errors import LlmAuthError, LlmRejected, LlmUnavailable
from atende.llm import MAX_OUTPUT_TOKENS, ChatCompletion, LlmOptions, cached_sdk_client

_RETRYABLE_STATUS = [408, 429, 500, 502, 503, 504]


def gemini_client(api_key: str, options: LlmOptions) -> Any:
    """The SDK client every Gemini adapter (chat, media) uses: one per container, key and options."""
    return cached_sdk_client("gemini", api_key, options, _build_gemini_client)


def _build_gemini_client(api_key: str, options: LlmOptions) -> Any:
    from google import genai  # lazy: the SDK pulls pydantic and more
    from google.genai import types

    http_options = types.HttpOptions(
        base_url=options.gemini_base_url,
        timeout=int(options.timeout_seconds * 1000),  # milliseconds
        retry_options=types.HttpRetryOptions(
            attempts=options.max_retries + 1, initial_delay=1.0, max_delay=8.0, http_status_codes=_RETRYABLE_STATUS
        ),
        httpx_client=options.http_client,
    )
    return genai.Client(api_key=api_key, http_options=http_options)


@contextmanager
def gemini_errors() -> Iterator[None]:
    """SDK errors → LlmUnavailable (5xx, 408/429, transport, unparsable), LlmAuthError (401/403, an invalid
    key's 400) or LlmRejected (other 4xx)."""
    import httpx
    from google.genai import errors

    try:
        yield
    except errors.ServerError as exc:
        raise LlmUnavailable(f"Gemini HTTP {exc.code}") from exc
    except errors.ClientError as exc:
        if exc.code in (408, 429):
            raise LlmUnavailable(f"Gemini HTTP {exc.code}") from exc
        if exc.code in (401, 403) or "API_KEY_INVALID" in str(exc.details) or "API key not valid" in str(exc.message):
            raise LlmAuthError(f"Gemini HTTP {exc.code}") from exc
        raise LlmRejected(f"Gemini HTTP {exc.code}") from exc
    except (errors.APIError, errors.UnknownApiResponseError) as exc:  # odd codes, unparsable answers
        raise LlmUnavailable(f"Gemini error: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:  # timeouts/connection errors surface unwrapped from the SDK
        raise LlmUnavailable(f"Gemini unreachable: {type(exc).__name__}") from exc


class GeminiChatModel:
    provider = "gemini"

    def __init__(self, api_key: str, model: str, options: LlmOptions) -> None:
        from google.genai import types

        self.model = model
        self._types = types
        self._client = gemini_client(api_key, options)

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        types = self._types
        contents = [types.Content(role="model" if t.role == "assistant" else "user", parts=[types.Part(text=t.text)]) for t in turns]
        with gemini_errors():
            response = self._client.models.generate_content(
                model=self.model,
                contents=contents,
                config=types.GenerateContentConfig(system_instruction=system_prompt, max_output_tokens=MAX_OUTPUT_TOKENS),
            )
        text = (response.text or "").strip()
        if not text:
            raise LlmUnavailable("Gemini returned an empty answer")
        usage = response.usage_metadata
        return ChatCompletion(
            text=text,
            provider=self.provider,
            model=self.model,
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=(usage.candidates_token_count or 0) if usage else 0,
        )
