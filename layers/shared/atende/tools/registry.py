"""Which tools a tenant's assistant has for one message, and the checks every call goes through.

``tools_for`` builds the tenant's enabled tools (built-in ones on Atende's data, or the tenant's
own endpoint where ``tools.remote`` points one there), bound to what this message may see: the
contact's last bill comes from the profile the pipeline read. ``validate_arguments`` checks a
model's arguments against the tool's JSON Schema (the ``jsonschema`` library, imported on the
first tool call) before anything runs.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atende.domain.tenants import BUILTIN_TOOLS, Tenant, ToolSettings
from atende.tools import Tool

if TYPE_CHECKING:
    from atende.domain.conversation import Session
    from atende.tools.ports import BusinessData
    from atende.tools.remote import SecretReader

BUSINESS_TOOLS = frozenset({"search_products", "check_stock", "order_status", "recent_orders", "create_order", "open_ticket"})
ERROR_CHARS = 160


@dataclass(frozen=True, slots=True)
class ToolDeps:
    """The adapters tools run on (bootstrap wires them once per container)."""

    business: BusinessData | None = None
    sessions: Callable[[str, str], Sequence[Session]] | None = None
    secrets: SecretReader | None = None
    # Only the local stack: in Lambda 127.0.0.1 is the runtime API, never a tenant's endpoint.
    allow_loopback: bool = False


def validate_remote_tools(settings: ToolSettings, *, allow_loopback: bool = False) -> None:
    """Every ``tools.remote`` entry is a valid endpoint configuration (``RemoteToolConfigInvalid`` otherwise)."""
    if not settings.remote:
        return
    from atende.tools.remote import remote_tool_from_config

    for name, mapping in settings.remote.items():
        remote_tool_from_config(name, mapping, builtin_names=BUILTIN_TOOLS, allow_loopback=allow_loopback)


def tools_for(tenant: Tenant, deps: ToolDeps, *, last_bill: Mapping[str, Any] | None = None) -> dict[str, Tool]:
    """The tenant's enabled tools by name, in the order the tenant listed them.

    A built-in tool whose adapter is missing (no business store wired) is left out rather than
    offered and failing; a remote tool whose configuration no longer validates is left out too.
    """
    enabled = tenant.tools.enabled
    if not enabled:
        return {}
    built: dict[str, Tool] = {}
    business = None
    for name in enabled:
        tool: Tool | None
        if name in tenant.tools.remote:
            tool = _remote_tool(tenant.tenant_id, name, tenant.tools.remote[name], deps)
        elif name in BUSINESS_TOOLS:
            if deps.business is None:
                continue
            if business is None:
                from atende.tools.business import business_tools

                business = {t.spec.name: t for t in business_tools(deps.business)}
            tool = business.get(name)
        else:
            tool = _conversation_tool(name, deps, last_bill)
        if tool is not None:
            built[name] = tool
    if built:
        from atende.tools.conversation import OfferChoices

        built["offer_choices"] = OfferChoices()  # presentation, not business: offered with any tool
    return built


def _conversation_tool(name: str, deps: ToolDeps, last_bill: Mapping[str, Any] | None) -> Tool | None:
    from atende.tools.conversation import CustomerHistory, LastBill, RequestHuman

    if name == "customer_history":
        if deps.sessions is None:
            return None
        orders = None
        if deps.business is not None:
            business = deps.business
            orders = lambda tenant, contact: business.recent_orders(tenant, contact, limit=5)  # noqa: E731
        return CustomerHistory(deps.sessions, orders)
    if name == "last_bill":
        return LastBill(last_bill)
    if name == "request_human":
        return RequestHuman()
    return None


# Remote tools compile their JSON Schemas once per container and configuration.
_REMOTE_MAX = 64
_remote: OrderedDict[str, Tool] = OrderedDict()
_remote_lock = threading.Lock()


def _remote_tool(tenant_id: str, name: str, mapping: Mapping[str, Any], deps: ToolDeps) -> Tool | None:
    if deps.secrets is None:
        return None
    from atende.tools.remote import RemoteTool, RemoteToolConfigInvalid, remote_tool_from_config

    key = f"{tenant_id}|{name}|{json.dumps(mapping, sort_keys=True, default=str)}"
    with _remote_lock:
        if key in _remote:
            _remote.move_to_end(key)
            return _remote[key]
    try:
        config = remote_tool_from_config(name, mapping, builtin_names=BUILTIN_TOOLS, allow_loopback=deps.allow_loopback)
    except RemoteToolConfigInvalid:
        return None  # settings validation refuses these; one stored before a stricter rule is skipped
    tool = RemoteTool(config, secrets=deps.secrets)
    with _remote_lock:
        _remote[key] = tool
        while len(_remote) > _REMOTE_MAX:
            _remote.popitem(last=False)
    return tool


_validators: dict[str, Any] = {}


def validate_arguments(tool: Tool, arguments: Any) -> str | None:
    """None when ``arguments`` match the tool's schema, else a short reason the model can act on.

    The reason names the failing path and rule, never echoes the value (it may be injected text).
    """
    if not isinstance(arguments, dict):
        return "arguments must be a JSON object"
    schema = tool.spec.parameters
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _validators.get(key)
    if validator is None:
        import jsonschema  # type: ignore[import-untyped]

        validator = jsonschema.validators.validator_for(schema)(schema)
        _validators[key] = validator
    error = next(iter(sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path) or "(arguments)"
    return f"{path}: does not satisfy '{error.validator}'"[:ERROR_CHARS]
