"""The embedded local stack: everything the main job needs on one machine, on 127.0.0.1 only.

- moto in server mode, with every stateful resource of template.yaml (local.provision);
- the real WebhookFunction behind an HTTP server (API Gateway HTTP API v2 events);
- the real ProcessorFunction fed by a poller that behaves like Lambda's SQS event source
  (local.runner, including per-group FIFO order: docs/moto-fifo.md);
- every handler call run as its own invocation (local.functions.invoke): the webhook's and the
  processor's log lines each carry their own function name and correlation id;
- provider sandboxes on one port (Graph API at /, Evolution at /evolution, Whaticket at
  /whaticket) that record outbound messages; Meta's and Evolution's post status webhooks back;
- the offline LLM unless OPENAI_API_KEY / GEMINI_API_KEY is set in the environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.events import LambdaContext, http_api_event
from local.functions import ensure_layer_on_path, invoke, load_function_module
from local.sandbox import GraphSandbox, OutboundCall, send_body, send_json, status_webhook
from local.sandbox_relays import EvolutionSandbox, RelayCall, WhaticketSandbox
from local.seed import DEMO

HOST = "127.0.0.1"


class LocalHTTPServer(ThreadingHTTPServer):
    """A thread per request, and a listen backlog for bursts: socketserver's default of 5 refuses
    (or resets) the connections beyond it while the accept loop is busy, where API Gateway would
    answer them all."""

    request_queue_size = 128
    daemon_threads = True


@dataclass
class LocalStack:
    aws_port: int = 5100
    webhook_port: int = 3000
    graph_port: int = 3001
    status_callbacks: bool = True
    verbose: bool = False
    poll_wait_seconds: int = 1
    _threads: list[threading.Thread] = field(default_factory=list)
    _servers: list[Any] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _log_level: int | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LocalStack:
        ensure_layer_on_path()
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log

        moto = ThreadedMotoServer(ip_address=HOST, port=self.aws_port, verbose=False)
        moto.start()
        self._servers.append(moto)
        self.aws_port = moto.get_host_and_port()[1]
        self._configure_environment()

        from atende.store import aws
        from local.provision import provision
        from local.seed import seed_demo

        self.sandbox = GraphSandbox(access_tokens={DEMO.access_token}, on_sent=self._after_send)
        self.evolution = EvolutionSandbox(api_keys={DEMO.evolution_api_key}, on_sent=self._after_evolution_send)
        self.whaticket = WhaticketSandbox(api_tokens={DEMO.whaticket_api_token})
        sandboxes = LocalHTTPServer((HOST, self.graph_port), self._sandbox_handler_class())
        self._servers.append(sandboxes)
        self.graph_port = sandboxes.server_address[1]
        self._spawn("provider-sandboxes", sandboxes.serve_forever)

        aws.reset_clients()
        self.stack = provision(stage="dev")
        seed_demo(self.stack, sandbox_url=self.sandbox_url)
        self._seed_tool_shops()
        self._store_llm_keys_from_environment()

        for logical_id in ("WebhookFunction", "ProcessorFunction"):
            os.environ.update(self.stack.function_environment(logical_id))
        os.environ["GRAPH_API_BASE_URL"] = f"http://{HOST}:{self.graph_port}"
        os.environ["REMOTE_TOOLS_ALLOW_LOOPBACK"] = "true"  # the optician's demo ERP is on 127.0.0.1
        os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO" if self.verbose else "WARNING"
        # The package logger may exist already (whoever imported atende.media before the stack
        # started, like local.demo), with the level of the environment it was created in.
        from atende.observability import logger

        self._log_level = logger.log_level
        logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
        self.webhook = load_function_module("WebhookFunction")
        self.processor = load_function_module("ProcessorFunction")
        self.webhook._ingresses.cache_clear()
        self.processor._settings.cache_clear()
        self.processor.use_service(None)

        self.webhook_server = LocalHTTPServer((HOST, self.webhook_port), self._webhook_handler_class())
        self._servers.append(self.webhook_server)
        self.webhook_port = self.webhook_server.server_address[1]
        self._spawn("webhook-http", self.webhook_server.serve_forever)
        self._spawn("processor-poller", self._poll_forever)
        return self

    def stop(self) -> None:
        """Stop every thread and server; moto's in-process state is reset for the next stack."""
        self._stop.set()
        for thread in self._threads:
            if thread.name == "processor-poller":
                thread.join(timeout=self.poll_wait_seconds + 5)
        import httpx

        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"http://{HOST}:{self.aws_port}/moto-api/reset", timeout=5)
        for server in reversed(self._servers):
            if hasattr(server, "server_close"):
                server.shutdown()
                server.server_close()
            else:
                server.stop()
        if self._log_level is not None:
            from atende.observability import logger

            logger.setLevel(self._log_level)

    @property
    def webhook_url(self) -> str:
        return self.webhook_url_for("meta")

    def webhook_url_for(self, provider: str) -> str:
        path = f"whaticket/{DEMO.whaticket_connection}" if provider == "whaticket" else provider
        return f"http://{HOST}:{self.webhook_port}/webhooks/{path}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.graph_port}"

    def outbox_url_for(self, provider: str) -> str:
        prefix = "" if provider == "meta" else f"/{provider}"
        return f"{self.sandbox_url}{prefix}/sandbox/outbox"

    # --- wiring -------------------------------------------------------------------------------

    def _configure_environment(self) -> None:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": f"http://{HOST}:{self.aws_port}",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
                "POWERTOOLS_METRICS_DISABLED": "false" if self.verbose else "true",
            }
        )
        os.environ.pop("AWS_PROFILE", None)

    def _seed_tool_shops(self) -> None:
        """Catalogues for every seeded shop, the shops whose assistant uses tools, and the
        optician's own ERP (a signed endpoint on 127.0.0.1) that answers its order questions."""
        from local.business_seed import seed_business
        from local.tenant_endpoint import start_tenant_endpoint
        from local.tool_shops import seed_tool_shops

        self.tenant_endpoint, server, url = start_tenant_endpoint(0)
        self._servers.append(server)
        seed_business(self.stack)
        seed_tool_shops(self.stack, endpoint_url=url)

    def _store_llm_keys_from_environment(self) -> None:
        keys = {
            k: os.environ[v] for k, v in (("openai_api_key", "OPENAI_API_KEY"), ("gemini_api_key", "GEMINI_API_KEY")) if os.environ.get(v)
        }
        if keys:
            from atende.store.secrets import SecretStore

            SecretStore(max_age=0).put_json(self.stack.resources["LlmSecret"].ref, keys)
        self.llm_label = ", ".join(sorted(k.split("_")[0] for k in keys)) or "offline (no key set)"

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_forever(self) -> None:
        import boto3

        from local.runner import QueueRunner

        queue = self.stack.resources["InboundQueue"]
        runner = QueueRunner(boto3.client("sqs"), queue.ref, queue.attrs["Arn"], self.processor.lambda_handler)
        while not self._stop.is_set():
            try:
                runner.poll_once(wait_seconds=self.poll_wait_seconds)
            except Exception as exc:  # keep the local stack alive; the handler logs details
                print(f"[processor] poll failed: {type(exc).__name__}")
                time.sleep(1)

    def _after_send(self, call: OutboundCall) -> None:
        if not self.status_callbacks or not call.message_id or not call.to:
            return
        self._spawn(f"status-{call.message_id}", lambda: self._play_statuses(call))

    def _play_statuses(self, call: OutboundCall) -> None:
        """Meta's part: sent, delivered, read callbacks for our message, signed with the app secret."""
        import httpx

        from atende.channels.meta import sign_meta_body

        for status in ("sent", "delivered", "read"):
            time.sleep(0.2)
            body = status_webhook(call.phone_number_id, call.message_id or "", call.to or "", status, int(time.time()))
            headers = {"content-type": "application/json", "x-hub-signature-256": sign_meta_body(body, DEMO.app_secret)}
            try:
                httpx.post(self.webhook_url, content=body, headers=headers, timeout=5)
            except httpx.HTTPError:
                return

    def _after_evolution_send(self, call: RelayCall) -> None:
        if not self.status_callbacks or not call.message_id or not call.to:
            return
        self._spawn(f"status-{call.message_id}", lambda: self._play_evolution_statuses(call))

    def _play_evolution_statuses(self, call: RelayCall) -> None:
        """Evolution's part: messages.update for our message, with the instance's webhook proofs."""
        import httpx

        to = call.to or ""
        remote_jid = to if "@" in to else f"{to}@s.whatsapp.net"
        headers = {"content-type": "application/json", "x-atende-secret": DEMO.evolution_header_secret}
        for status in ("SERVER_ACK", "DELIVERY_ACK", "READ"):
            time.sleep(0.2)
            body = self.evolution.status_update_body(str(call.instance), call.message_id or "", remote_jid, status, DEMO.evolution_api_key)
            try:
                httpx.post(self.webhook_url_for("evolution"), content=body, headers=headers, timeout=5)
            except httpx.HTTPError:
                return

    def _sandbox_handler_class(self) -> type[BaseHTTPRequestHandler]:
        """One port for the three provider sandboxes, dispatched by path prefix."""
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                sandbox: Any = stack.sandbox
                if self.path.startswith("/evolution/"):
                    sandbox = stack.evolution
                elif self.path.startswith("/whaticket/"):
                    sandbox = stack.whaticket
                file = stack.sandbox.download(method, self.path, headers) if sandbox is stack.sandbox else None
                if file is not None:  # a Meta media download: raw bytes, not JSON
                    send_body(self, *file)
                    return
                if method == "GET" and self.path == "/sandbox/outbox":
                    status, doc = 200, {"messages": [c.__dict__ for c in stack.sandbox.calls]}
                else:
                    status, doc = sandbox.handle(method, self.path, headers, body)
                send_json(self, status, doc)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _webhook_handler_class(self) -> type[BaseHTTPRequestHandler]:
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._send(200, {"content-type": "application/json"}, json.dumps({"ok": True}))
                    return
                self._invoke("GET")

            def do_POST(self) -> None:
                self._invoke("POST")

            def _invoke(self, method: str) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                event = http_api_event(method, path, body=body, headers=dict(self.headers.items()), raw_query=query)
                result = invoke(stack.webhook.lambda_handler, event, LambdaContext(function_name="WebhookFunction", timeout_seconds=10))
                self._send(result["statusCode"], result.get("headers", {}), result.get("body", ""))

            def _send(self, status: int, headers: dict[str, str], body: str) -> None:
                data = body.encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
