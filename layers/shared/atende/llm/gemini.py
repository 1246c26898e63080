"""Google Gemini through the official ``google-genai`` SDK.

Tool steps declare each tool explicitly (``FunctionDeclaration`` with ``parameters_json_schema``),
with automatic function calling off: the SDK never runs anything. The model's own content of a
step (its function calls and their thought signatures) is kept in ``ModelStep.replay`` as plain
JSON and sent back verbatim on the next call, as thinking models require.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

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
    cached_sdk_client,
    sdk_http_client,
)

if TYPE_CHECKING:
    from atende.tools import ToolSpec

_RETRYABLE_STATUS = [408, 429, 500, 502, 503, 504]
# Google's documented stand-in for a function call the model did not write (a step another
# provider took, a checkpoint without replay): thinking models refuse calls without a signature.
SKIP_SIGNATURE = b"skip_thought_signature_validator"


def gemini_client(api_key: str, options: LlmOptions) -> Any:
    """The SDK client every Gemini adapter (chat, media) uses: one per container, key and options."""
    return cached_sdk_client("gemini", api_key, options, _build_gemini_client)


def _build_gemini_client(api_key: str, options: LlmOptions) -> Any:
    from google import genai  # lazy: the SDK pulls pydantic and more
    from google.genai import types

    http_options = types.HttpOptions(
        base_url=options.gemini_base_url,
        api_version=options.gemini_api_version,
        timeout=int(options.timeout_seconds * 1000),  # milliseconds
        retry_options=types.HttpRetryOptions(
            attempts=options.max_retries + 1, initial_delay=1.0, max_delay=8.0, http_status_codes=_RETRYABLE_STATUS
        ),
        httpx_client=sdk_http_client(options, follow_redirects=False),
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


# --- replay: the model's content as JSON -----------------------------------------------------------
#
# {"parts": [{"text": "...", "thought": true, "sig": "<base64>"},
#            {"call": {"name": "...", "args": "<JSON text>", "id": "<the API's id, when it gave one>"}, "sig": "..."}]}
# Arguments stay JSON text (a DynamoDB map refuses floats); signatures are standard base64.


def _replay_parts(parts: Sequence[Any]) -> list[dict[str, Any]]:
    stored: list[dict[str, Any]] = []
    for part in parts:
        item: dict[str, Any] = {}
        if part.function_call is not None:
            call = part.function_call
            item["call"] = {"name": call.name or "", "args": json.dumps(call.args or {}, ensure_ascii=False, sort_keys=True)}
            if call.id:
                item["call"]["id"] = call.id
        elif part.text is not None:
            item["text"] = part.text
        else:
            continue  # no other part kind is asked for (no code execution, no media output)
        if part.thought:
            item["thought"] = True
        if part.thought_signature:
            item["sig"] = base64.b64encode(part.thought_signature).decode("ascii")
        stored.append(item)
    return stored


def _parts_from_replay(types: ModuleType, stored: Sequence[dict[str, Any]]) -> list[Any]:
    parts: list[Any] = []
    for item in stored:
        signature = base64.b64decode(item["sig"]) if item.get("sig") else None
        if "call" in item:
            call = item["call"]
            function_call = types.FunctionCall(id=call.get("id"), name=call["name"], args=_json_object(call.get("args", "{}")))
            part = types.Part(function_call=function_call, thought_signature=signature)
        else:
            part = types.Part(text=str(item.get("text", "")), thought=item.get("thought"), thought_signature=signature)
        parts.append(part)
    return parts


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _function_response(output: str) -> dict[str, Any]:
    """A tool's JSON output as the object Gemini wants: an object goes as it is (a failure's "error"
    key is what Gemini reads as an error), anything else under "output"."""
    try:
        value = json.loads(output)
    except ValueError:
        return {"output": output}
    return value if isinstance(value, dict) else {"output": value}


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
            # Thinking tokens are billed as output (gemini-2.5-flash thinks by default).
            output_tokens=((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0,
        )

    def step(
        self, system_prompt: str, transcript: Sequence[TranscriptItem], tools: Sequence[ToolSpec], *, parallel_calls: bool = True
    ) -> ModelStep:
        types = self._types
        offered: dict[str, Any] = {}
        if tools:
            declarations = [
                types.FunctionDeclaration(name=spec.name, description=spec.description, parameters_json_schema=dict(spec.parameters))
                for spec in tools
            ]
            offered = {
                "tools": [types.Tool(function_declarations=declarations)],
                "tool_config": types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="AUTO")),
            }
        config = types.GenerateContentConfig(
            system_instruction=system_prompt,
            max_output_tokens=MAX_OUTPUT_TOKENS,
            # Declarations only, never Python callables: nothing for the SDK to run even if this were on.
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            **offered,
        )
        with gemini_errors():
            response = self._client.models.generate_content(model=self.model, contents=self._contents(transcript), config=config)
        candidate = response.candidates[0] if response.candidates else None
        parts = list(candidate.content.parts or []) if candidate and candidate.content else []
        if not parallel_calls:
            # Gemini has no switch for it: keep the model's content up to its first call (the
            # signature of parallel calls is on the first one), so what is replayed is what was kept.
            first = next((i for i, part in enumerate(parts) if part.function_call is not None), None)
            parts = parts if first is None else parts[: first + 1]
        step_number = sum(isinstance(item, ModelStep) for item in transcript)
        calls = tuple(
            ToolCall(
                call_id=part.function_call.id or f"gemini-{step_number}-{index}",  # deterministic: a re-run gets the same ids
                name=part.function_call.name or "",
                arguments=json.dumps(part.function_call.args or {}, ensure_ascii=False),
            )
            for index, part in enumerate(p for p in parts if p.function_call is not None)
        )
        text = "".join(part.text for part in parts if part.text and not part.thought and part.function_call is None).strip()
        if not text and not calls:
            raise LlmUnavailable("Gemini returned an empty answer")
        usage = response.usage_metadata
        return ModelStep(
            text=text,
            tool_calls=calls,
            provider=self.provider,
            model=self.model,
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            cached_tokens=(usage.cached_content_token_count or 0) if usage else 0,
            # Thinking tokens are billed as output.
            output_tokens=((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0,
            replay={"parts": _replay_parts(parts)},
        )

    def _contents(self, transcript: Sequence[TranscriptItem]) -> list[Any]:
        """Turns as user/model contents; a step as the model's own content (replayed when Gemini wrote
        it); the outputs answering a step as one content of function responses, in call order."""
        types = self._types
        contents: list[Any] = []
        responses: list[Any] = []
        api_ids: set[str] = set()  # the call ids Gemini gave (those we made up are never sent back)
        for item in transcript:
            if isinstance(item, ToolOutput):
                part = types.Part.from_function_response(name=item.name, response=_function_response(item.output))
                if item.call_id in api_ids:
                    part.function_response.id = item.call_id
                responses.append(part)
                continue
            if responses:
                contents.append(types.Content(role="user", parts=responses))
                responses = []
            if isinstance(item, Turn):
                contents.append(types.Content(role="model" if item.role == "assistant" else "user", parts=[types.Part(text=item.text)]))
                continue
            stored = item.replay.get("parts") if item.provider == self.provider and item.replay else None
            if stored:
                parts = _parts_from_replay(types, stored)
            else:
                parts = [types.Part(text=item.text)] if item.text else []
                for index, call in enumerate(item.tool_calls):
                    function_call = types.FunctionCall(name=call.name, args=_json_object(call.arguments))
                    parts.append(types.Part(function_call=function_call, thought_signature=SKIP_SIGNATURE if index == 0 else None))
            api_ids = {part.function_call.id for part in parts if part.function_call is not None and part.function_call.id}
            contents.append(types.Content(role="model", parts=parts))
        if responses:
            contents.append(types.Content(role="user", parts=responses))
        return contents
