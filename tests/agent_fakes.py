"""Fakes for the agent loop: a model that follows a script of tool calls, and a world (the reply
service on in-memory ports) whose tenant has tools on the in-memory business data.

``ScriptedAgentModel`` is a ``ToolCallingModel``: each queued step is a ``ModelStep`` or a
function of (transcript, offered tools) returning one, so a test can play a model that reacts to
what the tools answered (or, in the injection suite, one that obeys whatever it reads).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from atende.domain.catalogue import Product
from atende.domain.conversation import Turn
from atende.llm import ChatCompletion, ModelStep, ToolCall, ToolOutput, TranscriptItem
from atende.tools import ToolSpec

StepScript = ModelStep | Exception | Callable[[Sequence[TranscriptItem], Sequence[ToolSpec]], ModelStep]

PROVIDER, MODEL = "openai", "gpt-4.1-mini"


def calls(*named: tuple[str, dict[str, Any]], text: str = "", input_tokens: int = 900, output_tokens: int = 40) -> ModelStep:
    """A model step asking for tools: ``calls(("search_products", {"query": "ração"}))``."""
    tool_calls = tuple(ToolCall(f"call_{i}_{name}", name, json.dumps(args, ensure_ascii=False)) for i, (name, args) in enumerate(named))
    return ModelStep(text, tool_calls, PROVIDER, MODEL, input_tokens, 0, output_tokens)


def says(text: str, *, input_tokens: int = 1100, cached_tokens: int = 0, output_tokens: int = 60) -> ModelStep:
    return ModelStep(text, (), PROVIDER, MODEL, input_tokens, cached_tokens, output_tokens)


@dataclass
class StepCall:
    system: str
    transcript: tuple[TranscriptItem, ...]
    tools: tuple[str, ...]
    parallel_calls: bool

    def outputs(self) -> list[dict[str, Any]]:
        return [json.loads(i.output) for i in self.transcript if isinstance(i, ToolOutput)]


@dataclass
class ScriptedAgentModel:
    provider: str = PROVIDER
    model: str = MODEL
    default: str = "Posso ajudar em algo mais?"
    steps: list[StepCall] = field(default_factory=list)
    completions: int = 0
    _script: deque[StepScript] = field(default_factory=deque)

    def for_tenant(self, tenant: Any) -> ScriptedAgentModel:
        return self

    def then(self, *steps: StepScript) -> ScriptedAgentModel:
        self._script.extend(steps)
        return self

    def complete(self, system_prompt: str, turns: Sequence[Turn]) -> ChatCompletion:
        self.completions += 1
        return ChatCompletion(self.default, self.provider, self.model, 100, 10)

    def step(
        self, system_prompt: str, transcript: Sequence[TranscriptItem], tools: Sequence[ToolSpec], *, parallel_calls: bool = True
    ) -> ModelStep:
        self.steps.append(StepCall(system_prompt, tuple(transcript), tuple(t.name for t in tools), parallel_calls))
        scripted = self._script.popleft() if self._script else says(self.default)
        if isinstance(scripted, Exception):
            raise scripted
        if callable(scripted):
            return scripted(transcript, tools)
        return scripted


def product(pid: str, name: str, price: str, stock: int | None = 10, *, description: str = "", category: str = "") -> Product:
    return Product(product_id=pid, name=name, description=description, price=Decimal(price), stock=stock, category=category)


PET_SHOP_PRODUCTS = (
    product("racao-golden-15", "Ração Golden Adulto 15 kg", "189.90", 12, description="Ração premium para cães adultos.", category="Ração"),
    product("racao-premier-10", "Ração Premier Filhotes 10 kg", "219.90", 3, category="Ração"),
    product("coleira-m", "Coleira Antipulgas Tamanho M", "59.90", 0, category="Acessórios"),
    product("petisco-bifinho", "Petisco Bifinho Carne 500 g", "24.90", None, category="Petiscos"),
)
