"""A two-step tool turn through the real pipeline: what one answered message costs with tools.

The customer asks a product question; a scripted model (no SDK, no network) asks for
``search_products``, reads its output and answers. Webhook → FIFO queue → processor under moto,
the tenant's catalogue in Atende's built-in store. Measured per answered message: model calls,
DynamoDB round trips (by operation) and processor CPU, next to the plain-text floor of the same
run (the same messages with tools off), so the figures are ratios on this machine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from moto import mock_aws

from atende.llm import ModelStep, ToolCall
from bench.processor import _report, _text, apply_tenant_settings, start_pipeline
from bench.profiles import Profile
from bench.scenario import RUNTIME_ENV, MetaText, apply_environment
from local.business_seed import BAKERY, seed_business
from local.seed import DEMO

TOOLS = ("search_products", "check_stock", "order_status", "recent_orders", "create_order", "open_ticket", "request_human")
QUESTION = "quanto custa o bolo de cenoura?"
GOAL_LLM_CALLS = 2  # the search step and the answer
# Snapshot, claim with the tool step, the reply's checkpoint, commit: 4. The catalogue is cached per
# container; its version is checked at most every 30 s (one GetItem, amortised: 0.01-0.05 here).
GOAL_DYNAMODB_MAX = 4.05


class TwoStepModel:
    """Search, then answer from what the search found: the shape of a real tool turn."""

    provider = "openai"
    model = "gpt-4.1-mini"

    def __init__(self) -> None:
        self.steps = 0

    def complete(self, system_prompt: str, turns: Sequence[Any]) -> Any:
        raise AssertionError("tools are on: the agent loop calls step()")

    def step(self, system_prompt: str, transcript: Sequence[Any], tools: Sequence[Any], *, parallel_calls: bool = True) -> ModelStep:
        self.steps += 1
        outputs = [item for item in transcript if hasattr(item, "output")]
        last = transcript[-1]
        if not outputs or not hasattr(last, "output"):
            call = ToolCall(f"call_{self.steps}", "search_products", json.dumps({"query": "bolo de cenoura"}))
            return ModelStep("", (call,), self.provider, self.model, 900, 0, 20)
        found = json.loads(last.output)["data"]["results"][0]
        return ModelStep(f"O {found['name']} custa {found['price']}.", (), self.provider, self.model, 1200, 512, 30)


def measure(profile: Profile) -> dict[str, Any]:
    apply_environment({**RUNTIME_ENV, "POWERTOOLS_TRACE_DISABLED": "true"})
    messages = max(10, profile.processor_messages // 2)
    with mock_aws():
        pipeline = start_pipeline()
        seed_business(pipeline.stack, {DEMO.tenant_id: BAKERY})
        apply_tenant_settings(pipeline.stack, {"tools": {"enabled": list(TOOLS)}})
        wired, pipeline.service._tools = pipeline.service._tools, None
        floor = _run(pipeline, messages, offset=0)  # the service without tools: the plain answer path, same run
        pipeline.service._tools = wired
        model = TwoStepModel()
        pipeline.service._model_for = lambda tenant: model
        tools = _run(pipeline, messages, offset=messages)
        llm_calls = round(model.steps / messages, 3)
    per_message = tools["per_message"]
    goals = {"llm_calls": llm_calls == GOAL_LLM_CALLS, "dynamodb_round_trips": per_message["dynamodb"] <= GOAL_DYNAMODB_MAX}
    return {
        "messages": messages,
        "question": QUESTION,
        "llm_calls_per_message": llm_calls,
        "per_message": per_message,
        "cold_first_message": tools["cold_first_message"],
        "cpu_ms_per_message": tools["cpu_ms_per_message"],
        "cpu_ms_per_message_excluding_moto": tools["cpu_ms_per_message_excluding_moto"],
        "floor_plain_text": {"dynamodb": floor["per_message"]["dynamodb"], "cpu_ms": floor["cpu_ms_per_message_excluding_moto"]},
        "cpu_vs_plain_text": round(tools["cpu_ms_per_message_excluding_moto"] / floor["cpu_ms_per_message_excluding_moto"], 2),
        "goals": goals,
        "pass": all(goals.values()),
        "note": (
            "Per answered message after the first (which pays the catalogue Query and the tool imports). The CPU ratio is "
            "against the same run's plain-text messages (tools off), excluding moto's own CPU."
        ),
    }


def _run(pipeline: Any, messages: int, *, offset: int) -> dict[str, Any]:
    meta, now = MetaText.load(), int(time.time())
    first = now - 4 * messages - 60
    texts = [_text(meta, offset + n, 500 + offset + n, first + 4 * n, body=QUESTION) for n in range(messages)]
    start = pipeline.snapshot()
    pipeline.deliver(texts[0])
    pipeline.drain()
    after_first = pipeline.snapshot()
    for raw in texts[1:]:
        pipeline.deliver(raw)
    pipeline.drain()
    return _report(pipeline, start, after_first, pipeline.snapshot(), messages)
