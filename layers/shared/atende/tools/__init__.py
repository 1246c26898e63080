"""The assistant's tools: what a model may ask for, and what the conversation lets it do.

A tool is offered to the model as a ``ToolSpec`` (name, description, JSON Schema parameters) and run
by the tool layer with a ``ToolContext`` bound from the routed, signature-verified envelope: the
tenant, the contact and the inbound message come from there, never from the model's arguments
(complete mediation, OWASP LLM06:2025 / LLM03:2026). A tool never raises into the pipeline for a
business outcome: "not found", "out of stock", "the endpoint timed out" are ``ToolResult.failure``
values the model can explain. Only infrastructure faults that a retry can cure (DynamoDB throttling,
a Secrets Manager outage) propagate, as the usual transient errors.

Write tools (``ToolSpec.writes``) are never executed on the model's call: the agent loop turns the
call into a pending action the customer must confirm in their own next message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is asking, bound from the verified envelope. Tools scope every read and write to it."""

    tenant_id: str
    contact_id: str  # the pseudonymous contact id (store.keys), never a phone number
    inbound_id: str  # the provider message id being answered: the idempotency key of a write
    now: int  # unix seconds
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is offered. ``parameters`` is a JSON Schema object in the strict subset both
    SDKs accept: every property required, ``additionalProperties: false``, no ``$ref``."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    writes: bool = False  # creates or changes business data → needs the customer's confirmation


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the model sees of a run: JSON-serialisable data, or an error it can explain.

    ``summary`` is a short pt-BR line a write tool's confirmation shows the customer
    ("2× Ração Golden Adulto 15 kg — R$ 379,80"), rendered by code from validated data.
    """

    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""  # machine-ish code the model can explain: "not_found", "out_of_stock", "timeout"…
    message: str = ""  # a short explanation (English or pt-BR), never another contact's data
    summary: str = ""

    @classmethod
    def success(cls, data: Mapping[str, Any], summary: str = "") -> ToolResult:
        return cls(ok=True, data=data, summary=summary)

    @classmethod
    def failure(cls, error: str, message: str = "") -> ToolResult:
        return cls(ok=False, error=error, message=message)

    def to_model(self) -> dict[str, Any]:
        """The JSON object the model receives as the tool's output."""
        if self.ok:
            return {"ok": True, "data": dict(self.data)}
        return {"ok": False, "error": self.error, "message": self.message}


class Tool(Protocol):
    spec: ToolSpec

    def run(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        """Run with arguments already validated against ``spec.parameters``.

        A write tool's ``run`` is called only after the customer confirmed, with ``ctx.inbound_id``
        = the confirming message's id, and must be idempotent on it.
        """
        ...

    def preview(self, ctx: ToolContext, arguments: Mapping[str, Any]) -> ToolResult:
        """For write tools: check the arguments against the data (products exist, stock, prices) without
        writing, and return the ``summary`` to confirm. Read tools return ``run``'s result."""
        ...
