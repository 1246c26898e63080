"""A local stand-in for a tenant's own system: an optical shop's ERP answering Atende's remote tools.

What a tenant implements (docs/remote-tools.md), done the way we ask them to: the signature is
checked over the raw body before anything is parsed, the request must name this tenant, and every
``Idempotency-Key`` is answered once — a retry gets the stored answer, the same key with another
body is refused. Two tools:

- ``order_status`` (read): where a service order is (lenses at the lab, ready for pickup…);
- ``schedule_pickup`` (write, with ``dry_run``): book a pickup slot for a ready order.

One implementation, two transports, like ``local.sandbox``: ``handle`` (wrap it in an
``httpx.MockTransport`` with ``transport()``) and ``serve`` (a threaded HTTP server on 127.0.0.1).
``start_tenant_endpoint`` starts one; ``demo_remote_tools`` is the tenant settings to seed and
``demo_secret_value`` the secret that goes with them. ``python -m local.tenant_endpoint`` runs it alone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from atende.tools.remote import remote_tool_secret_name, verify_atende_signature
from local.sandbox import send_json

TOOLS_PATH = "/atende/tools"
MAX_REQUEST_BYTES = 64 * 1024


@dataclass(frozen=True)
class DemoOptician:
    """Well-known local-only values: the endpoint listens on 127.0.0.1 and holds made-up orders."""

    tenant_id: str = "otica-boa-vista"
    business_name: str = "Ótica Boa Vista"
    signing_key: str = "local-demo-remote-tool-signing-key-0123456789"
    stage: str = "dev"

    @property
    def secret_id(self) -> str:
        # One secret for both tools: they are one system; per tool is as valid.
        return remote_tool_secret_name(self.stage, self.tenant_id, "erp")


DEMO_OPTICIAN = DemoOptician()

# The service orders the ERP knows (status codes as the shop's system has them).
ORDERS: dict[str, dict[str, Any]] = {
    "OS-1001": {
        "status": "ready",
        "status_label": "Pronto para retirada",
        "item": "Óculos de grau, armação acetato preta",
        "expected_date": None,
    },
    "OS-1002": {
        "status": "in_lab",
        "status_label": "Lentes no laboratório",
        "item": "Lentes multifocais antirreflexo",
        "expected_date": "2025-12-10",
    },
    "OS-1003": {
        "status": "received",
        "status_label": "Pedido recebido, aguardando as lentes",
        "item": "Óculos de sol com grau",
        "expected_date": "2025-12-15",
    },
}
_PERIODS = {"manha": "de manhã", "tarde": "à tarde"}

ORDER_NUMBER = {
    "type": "string",
    "description": "Número da ordem de serviço, no formato OS-1234 (ou só os 4 dígitos).",
    "pattern": "^(OS-)?[0-9]{4}$",
}
ORDER_STATUS_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"order_number": ORDER_NUMBER},
    "required": ["order_number"],
    "additionalProperties": False,
}
ORDER_STATUS_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_number": {"type": "string"},
        "status": {"enum": ["received", "in_lab", "ready", "delivered"]},
        "status_label": {"type": "string", "maxLength": 80},
        "item": {"type": "string", "maxLength": 120},
        "expected_date": {"type": ["string", "null"]},
    },
    "required": ["order_number", "status", "status_label"],
    "additionalProperties": False,
}
SCHEDULE_PICKUP_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_number": ORDER_NUMBER,
        "date": {"type": "string", "description": "Dia da retirada, AAAA-MM-DD.", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "period": {"type": "string", "enum": ["manha", "tarde"], "description": "Manhã ou tarde."},
    },
    "required": ["order_number", "date", "period"],
    "additionalProperties": False,
}
SCHEDULE_PICKUP_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pickup_id": {"type": ["string", "null"]},  # null in a dry run: nothing was booked
        "order_number": {"type": "string"},
        "date": {"type": "string"},
        "period": {"enum": ["manha", "tarde"]},
        "summary": {"type": "string", "maxLength": 200},
    },
    "required": ["pickup_id", "order_number", "date", "period", "summary"],
    "additionalProperties": False,
}


def demo_remote_tools(url: str, secret_id: str = DEMO_OPTICIAN.secret_id) -> dict[str, dict[str, Any]]:
    """The tenant's remote-tool settings, tool name → what ``remote_tool_from_config`` reads."""
    return {
        "order_status": {
            "description": "Consulta a situação de uma ordem de serviço da ótica (óculos ou lentes) pelo número.",
            "url": url,
            "parameters": ORDER_STATUS_PARAMETERS,
            "result": ORDER_STATUS_RESULT,
            "secret_id": secret_id,
            "timeout_seconds": 4,
        },
        "schedule_pickup": {
            "description": "Agenda a retirada de um pedido pronto: dia e período (manhã ou tarde).",
            "url": url,
            "parameters": SCHEDULE_PICKUP_PARAMETERS,
            "result": SCHEDULE_PICKUP_RESULT,
            "secret_id": secret_id,
            "timeout_seconds": 4,
            "writes": True,
            "dry_run": True,
        },
    }


def demo_secret_value(demo: DemoOptician = DEMO_OPTICIAN) -> dict[str, str]:
    """What goes into ``demo.secret_id`` (Secrets Manager): the key, bound to its tenant."""
    return {"key": demo.signing_key, "tenant_id": demo.tenant_id}


@dataclass
class EndpointCall:
    """One request as the endpoint saw it (for tests and the demo's narration)."""

    tool: str
    dry_run: bool
    idempotency_key: str
    status: int
    replayed: bool = False
    context: dict[str, Any] = field(default_factory=dict)


Answer = tuple[int, dict[str, Any]]


class TenantEndpoint:
    """The shop's ERP. ``clock`` is the endpoint's own (unix seconds), for the signature window."""

    def __init__(self, demo: DemoOptician = DEMO_OPTICIAN, *, clock: Callable[[], float] = time.time) -> None:
        self.demo = demo
        self.clock = clock
        self.calls: list[EndpointCall] = []
        self.refused: list[int] = []  # statuses of requests refused before any business (signature, tenant)
        self.pickups: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, tuple[str, Answer]] = {}  # idempotency key → (body digest, answer)
        self._pickup_ids = itertools.count(1)
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if method != "POST" or path != TOOLS_PATH:
            return 404, _error("not_found", "Nothing here.")
        if len(body) > MAX_REQUEST_BYTES:
            return 413, _error("too_large", "Request too large.")
        # 1. Who is calling: the signature over the raw bytes, before any parsing.
        signed = verify_atende_signature(
            self.demo.signing_key,
            headers.get("x-atende-timestamp", ""),
            body,
            headers.get("x-atende-signature", ""),
            now=self.clock(),
        )
        if not signed:
            return self._refuse(401, "invalid_signature", "Signature missing, wrong or too old.")
        try:
            request = json.loads(body)
        except ValueError:
            return self._refuse(400, "bad_request", "Body is not JSON.")
        context = request.get("context") if isinstance(request, dict) else None
        if not isinstance(context, dict) or context.get("tenant_id") != self.demo.tenant_id:
            return self._refuse(403, "wrong_tenant", "This system serves another business.")
        key = headers.get("idempotency-key", "")
        if not key:
            return self._refuse(400, "bad_request", "Idempotency-Key is required.")
        tool, dry_run = str(request.get("tool")), request.get("dry_run") is True
        # 2. Once per key: the stored answer for a retry, a refusal for a key reused with another body.
        what = json.dumps([tool, dry_run, request.get("arguments")], sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(what.encode()).hexdigest()
        with self._lock:
            stored = self._answers.get(key)
            if stored is not None:
                replayed = stored[1] if stored[0] == digest else (422, _error("idempotency_key_reused", "Key reused for another request."))
                self.calls.append(EndpointCall(tool, dry_run, key, replayed[0], replayed=True, context=context))
                return replayed
            answer = self._answer(tool, request.get("arguments"), dry_run=dry_run)
            if answer[0] < 500:  # a failure of ours is no answer to remember
                self._answers[key] = (digest, answer)
            self.calls.append(EndpointCall(tool, dry_run, key, answer[0], context=context))
        return answer

    def _refuse(self, status: int, code: str, message: str) -> Answer:
        with self._lock:
            self.refused.append(status)
        return status, _error(code, message)

    # --- the business -------------------------------------------------------------------

    def _answer(self, tool: str, arguments: Any, *, dry_run: bool) -> Answer:
        if not isinstance(arguments, dict):
            return 400, _error("bad_request", "arguments must be an object.")
        if tool == "order_status":
            return self._order_status(arguments)
        if tool == "schedule_pickup":
            return self._schedule_pickup(arguments, dry_run=dry_run)
        return 404, _error("unknown_tool", f"No tool {tool[:40]!r} here.")

    def _order_status(self, arguments: dict[str, Any]) -> Answer:
        number = _service_order(arguments)
        order = ORDERS.get(number)
        if order is None:
            return 404, _error("order_not_found", f"Não encontramos a ordem de serviço {number[:12]}. Confira o número no seu recibo.")
        return 200, {"order_number": number, **order}

    def _schedule_pickup(self, arguments: dict[str, Any], *, dry_run: bool) -> Answer:
        number = _service_order(arguments)
        order = ORDERS.get(number)
        if order is None:
            return 404, _error("order_not_found", f"Não encontramos a ordem de serviço {number[:12]}.")
        if order["status"] != "ready":
            when = _brazilian_date(order["expected_date"]) if order["expected_date"] else "em breve"
            return 409, _error("order_not_ready", f"O pedido {number} ainda não está pronto (previsão: {when}).")
        try:
            day = date.fromisoformat(str(arguments.get("date")))
        except ValueError:
            return 422, _error("invalid_date", "Data inválida; use AAAA-MM-DD.")
        if day.weekday() == 6:
            return 422, _error("closed_that_day", "A ótica não abre aos domingos.")
        period = str(arguments.get("period"))
        if period not in _PERIODS:
            return 422, _error("invalid_period", "Período deve ser manhã ou tarde.")
        summary = f"Retirada do pedido {number} em {_brazilian_date(day.isoformat())}, {_PERIODS[period]}"
        pickup = {"order_number": number, "date": day.isoformat(), "period": period, "summary": summary}
        if dry_run:
            return 200, {"pickup_id": None, **pickup}
        pickup_id = f"RT-{next(self._pickup_ids):04d}"
        self.pickups[pickup_id] = pickup
        return 200, {"pickup_id": pickup_id, **pickup}

    # --- transports -----------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            headers = {k.lower(): v for k, v in request.headers.items()}
            status, doc = self.handle(request.method, request.url.path, headers, request.read())
            return httpx.Response(status, json=doc)

        return httpx.MockTransport(handler)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        if host != "127.0.0.1":
            raise ValueError("the demo endpoint listens on 127.0.0.1 only")
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_REQUEST_BYTES:
                    send_json(self, 413, _error("too_large", "Request too large."))
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, doc = endpoint.handle("POST", self.path, headers, self.rfile.read(length))
                send_json(self, status, doc)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="tenant-endpoint", daemon=True).start()
        return server


def start_tenant_endpoint(port: int = 0, *, demo: DemoOptician = DEMO_OPTICIAN) -> tuple[TenantEndpoint, ThreadingHTTPServer, str]:
    """Serve the demo ERP on 127.0.0.1 (``port=0``: a free one): the endpoint, its server (call
    ``shutdown()`` then ``server_close()`` to stop it) and the URL to put in the tool settings."""
    endpoint = TenantEndpoint(demo)
    server = endpoint.serve(port=port)
    return endpoint, server, f"http://127.0.0.1:{server.server_address[1]}{TOOLS_PATH}"


def _service_order(arguments: dict[str, Any]) -> str:
    """Customers say "1001" as often as "OS-1001": the ERP's numbers are OS-nnnn."""
    number = str(arguments.get("order_number", "")).strip().upper()
    return number if number.startswith("OS-") else f"OS-{number}"


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


def _brazilian_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def main() -> None:  # pragma: no cover - manual use
    import argparse

    parser = argparse.ArgumentParser(description="The demo optician's ERP, answering Atende's remote tools on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=3002)
    args = parser.parse_args()
    _, server, url = start_tenant_endpoint(args.port)
    print(f"tenant endpoint for {DEMO_OPTICIAN.business_name} at {url} (secret {DEMO_OPTICIAN.secret_id})")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
