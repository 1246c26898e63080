"""The provider bundles: one module per provider, found through one lazy registry.

Given the registry, when a route, a client or a media source is asked for, then it comes from
the bundle of the provider named — and a Meta delivery loads nothing of the other providers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from atende.channels.evolution_client import EvolutionClient
from atende.channels.meta_client import MetaClient
from atende.channels.whaticket_client import WhaticketClient, WhaticketTokenCache
from atende.config import ProcessorSettings
from atende.domain.messages import Provider
from atende.domain.tenants import Channel
from atende.errors import ConfigError
from atende.media.sources import EvolutionMediaSource, MetaMediaSource
from atende.providers import BUNDLES, OutboundContext, Ref, RouteMatch, match_route
from local.template import ROOT, load_template
from tests.conftest import fixture_bytes

TEMPLATE_PARAMS = {"{event}": "messages-upsert", "{connection}": "loja-centro", "{token}": "t" * 32}


def template_routes() -> set[tuple[str, str]]:
    events = load_template()["Resources"]["WebhookFunction"]["Properties"]["Events"].values()
    return {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events}


def concrete(path: str) -> str:
    for placeholder, value in TEMPLATE_PARAMS.items():
        path = path.replace(placeholder, value)
    return path


# --- the registry --------------------------------------------------------------------------------


def test_the_registry_lists_the_three_providers_each_from_its_own_module() -> None:
    assert list(BUNDLES) == [Provider.META, Provider.EVOLUTION, Provider.WHATICKET]
    assert [BUNDLES[p].provider for p in BUNDLES] == list(BUNDLES)
    assert [type(BUNDLES[p]).__module__ for p in BUNDLES] == ["atende.providers"] * 3
    assert [sys.modules[f"atende.providers.{p.value}"].BUNDLE for p in BUNDLES] == [BUNDLES[p] for p in BUNDLES]


def test_a_name_that_is_no_provider_has_no_bundle() -> None:
    assert BUNDLES.get("telegram") is None  # type: ignore[call-overload]
    assert BUNDLES.get("../service/registration") is None  # type: ignore[call-overload]


def test_every_named_parser_proof_and_registration_is_the_function_itself() -> None:
    from atende.channels import evolution, meta, relay_auth, whaticket
    from atende.service import registration

    named = {p: (BUNDLES[p].parser.load(), [r.load() for r in BUNDLES[p].proofs], BUNDLES[p].registration.load()) for p in BUNDLES}
    assert named == {
        Provider.META: (
            meta.parse_meta_webhook,
            [meta.verify_meta_signature, meta.verify_subscription],
            registration.register_meta_channel,
        ),
        Provider.EVOLUTION: (evolution.parse_evolution_webhook, [relay_auth.verify_evolution], registration.register_evolution_channel),
        Provider.WHATICKET: (whaticket.parse_whaticket_webhook, [relay_auth.verify_whaticket], registration.register_whaticket_channel),
    }


def test_a_ref_to_something_not_callable_is_refused() -> None:
    with pytest.raises(TypeError):
        Ref("atende.providers:WEBHOOK_PREFIX").load()


# --- webhook routes ------------------------------------------------------------------------------


def test_the_bundles_serve_exactly_the_template_routes() -> None:
    served = {(route.method, route.path) for p in BUNDLES for route in BUNDLES[p].routes}
    assert served == template_routes()


@pytest.mark.parametrize(("method", "path"), sorted(template_routes()))
def test_each_template_route_resolves_to_its_providers_route(method: str, path: str) -> None:
    match = match_route(method, concrete(path))
    assert isinstance(match, RouteMatch)
    assert (match.bundle.provider.value, match.route.method, match.route.path) == (path.split("/")[2], method, path)
    assert dict(match.params) == {p[1:-1]: v for p, v in TEMPLATE_PARAMS.items() if p in path}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "", 404),
        ("POST", "/webhooks", 404),
        ("POST", "/webhooks/telegram", 404),
        ("POST", "/webhooks/Meta", 404),
        ("POST", "/webhooks/meta/extra", 404),
        ("POST", "/other/webhooks/meta", 404),
        ("POST", "webhooks/meta", 404),
        ("POST", "/webhooks/evolution/a/b", 404),
        ("POST", "/webhooks/whaticket/a/b/c", 404),
        ("PUT", "/webhooks/meta", 405),
        ("post", "/webhooks/meta", 405),  # methods are matched exactly, as API Gateway sends them
        ("GET", "/webhooks/evolution", 405),
        ("GET", "/webhooks/evolution/messages-upsert", 405),
        ("GET", "/webhooks/whaticket", 405),
        ("DELETE", "/webhooks/whaticket/loja/token", 405),
    ],
)
def test_unserved_paths_are_404_and_unserved_methods_405(method: str, path: str, status: int) -> None:
    assert match_route(method, path) == status


class RecordingIngress:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, operation: str) -> Any:
        return lambda *args: self.calls.append((operation, *args))


HEADERS = {"x-atende-channel": "from-header", "x-signature": "cd"}


class FakeRequest:
    def __init__(self, params: Any) -> None:
        self.params = params

    def body(self) -> bytes:
        return b"{}"

    def header(self, name: str) -> str | None:
        return {"x-hub-signature-256": "sha256=ab"}.get(name)

    def headers(self) -> dict[str, str]:
        return HEADERS

    def query(self) -> dict[str, str]:
        return {"hub.mode": "subscribe"}


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("GET", "/webhooks/meta", ("subscribe", {"hub.mode": "subscribe"})),
        ("POST", "/webhooks/meta", ("receive", b"{}", "sha256=ab")),
        ("POST", "/webhooks/evolution", ("receive", b"{}", {"x-atende-channel": "from-header", "x-signature": "cd"})),
        ("POST", "/webhooks/evolution/messages-upsert", ("receive", b"{}", {"x-atende-channel": "from-header", "x-signature": "cd"})),
        ("POST", "/webhooks/whaticket", ("receive", "from-header", b"{}", {"x-atende-channel": "from-header", "x-signature": "cd"})),
        ("POST", "/webhooks/whaticket/loja", ("receive", "loja", b"{}", {"x-atende-channel": "from-header", "x-signature": "cd"})),
        ("POST", "/webhooks/whaticket//tok", ("receive", "", b"{}", HEADERS, "tok")),
        ("POST", "/webhooks/whaticket/loja/tok", ("receive", "loja", b"{}", HEADERS, "tok")),
    ],
)
def test_each_route_hands_its_ingress_the_parts_of_the_request_it_reads(method: str, path: str, call: tuple[Any, ...]) -> None:
    match = match_route(method, path)
    assert isinstance(match, RouteMatch)
    ingress = RecordingIngress()
    match.route.call(ingress, FakeRequest(match.params))
    assert ingress.calls == [call]


# --- what a delivery imports (fresh interpreters, as a new Lambda container) ----------------------

_CHILD = r"""
import json, sys
function_dir, layer_dir = sys.argv[1:3]
sys.path[:0] = [function_dir, layer_dir]
import app

class Secrets:
    values = {("atende/test/meta", "app_secret"): "test-app-secret", ("atende/test/pseudonym", "key"): "k" * 32}
    def get_field(self, secret_id, field):
        return self.values[(secret_id, field)]
    def find_json(self, secret_id, *, absent_for=60.0):
        return None  # no relay channel is registered here
    def refresh(self, secret_id, *, min_age=30.0):
        return False

class Queue:
    items = []
    def enqueue(self, items):
        self.items.extend(items)

class Context:
    function_name = "WebhookFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:WebhookFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

ingresses = app._ingresses()
ingresses.secrets, ingresses.queue = Secrets(), Queue()
response = app.lambda_handler(json.load(sys.stdin), Context())
print("RESULT " + json.dumps({"status": response["statusCode"], "queued": len(Queue.items), "modules": sorted(sys.modules)}))
"""

RELAY_MARKERS = ("evolution", "whaticket", "relay", "baileys", "replay", "registration")
NEVER_ON_THE_WEBHOOK = ("fastapi", "pydantic", "httpx", "openai", "google")


def deliver_in_a_fresh_interpreter(path: str, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
    from local.events import http_api_event

    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "atende",
        "POWERTOOLS_METRICS_NAMESPACE": "Atende",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "INBOUND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/atende-test-inbound.fifo",
        "META_SECRET_ID": "atende/test/meta",
        "PSEUDONYM_SECRET_ID": "atende/test/pseudonym",
        "CHANNEL_AUTH_SECRET_PREFIX": "atende/test/webhook-auth/",
        "REPLAY_TABLE_NAME": "atende-test-idempotency",
    }
    event = http_api_event("POST", path, body=raw, headers={"content-type": "application/json", **headers})
    result = subprocess.run(
        [sys.executable, "-I", "-c", _CHILD, str(ROOT / "functions" / "webhook"), str(ROOT / "layers" / "shared")],
        input=json.dumps(event),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


def test_a_meta_delivery_imports_the_meta_bundle_and_nothing_of_the_other_providers() -> None:
    from atende.channels.meta import sign_meta_body

    raw = fixture_bytes("meta/text.json")
    result = deliver_in_a_fresh_interpreter("/webhooks/meta", raw, {"x-hub-signature-256": sign_meta_body(raw, "test-app-secret")})
    modules = result.pop("modules")
    assert result == {"status": 200, "queued": 1}
    assert "atende.providers.meta" in modules
    assert [m for m in modules if any(marker in m for marker in RELAY_MARKERS)] == []
    assert [m for m in modules if m.split(".")[0] in NEVER_ON_THE_WEBHOOK] == []


def test_an_evolution_delivery_imports_the_evolution_bundle_and_nothing_of_whaticket() -> None:
    result = deliver_in_a_fresh_interpreter("/webhooks/evolution", fixture_bytes("evolution/text_conversation.json"), {})
    modules = result.pop("modules")
    assert result == {"status": 403, "queued": 0}  # no channel is registered in the child
    assert {"atende.providers.evolution", "atende.service.relay_ingress"} <= set(modules)
    assert [m for m in modules if "whaticket" in m or "replay" in m or "registration" in m] == []
    assert [m for m in modules if m.split(".")[0] in NEVER_ON_THE_WEBHOOK] == []


def test_the_bundle_modules_import_no_adapter_until_a_factory_is_called() -> None:
    adapters = ("atende.channels.", "atende.service.", "atende.media.", "atende.store.", "httpx", "boto3")
    child = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import atende.providers.meta, atende.providers.evolution, atende.providers.whaticket; "
        f"print(sorted(m for m in sys.modules if m.startswith({adapters!r})))"
    )
    layer = str(ROOT / "layers" / "shared")
    result = subprocess.run([sys.executable, "-I", "-c", child, layer], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- outbound factories (processor side) ---------------------------------------------------------


class FakeSecrets:
    def __init__(self, values: dict[str, dict[str, str]]) -> None:
        self.values = values

    def get_json(self, secret_id: str) -> dict[str, str]:
        return self.values[secret_id]

    def get_field(self, secret_id: str, field: str) -> str:
        return self.values[secret_id][field]


SETTINGS = ProcessorSettings(
    table_name="atende-test",
    idempotency_table_name="atende-test-idempotency",
    inbound_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/in.fifo",
    dead_letter_queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/dlq.fifo",
    meta_token_secret_id="atende/test/meta-token",
    llm_secret_id="atende/test/llm",
    media_bucket="atende-test-media",
)
SECRETS = {
    "atende/test/meta-token": {"access_token": "deployment-token"},
    "atende/test/channels/meta-200": {"access_token": "own-number-token"},
    "atende/test/channels/evolution-loja": {"api_key": "instance-key"},
    "atende/test/channels/whaticket-a": {"email": "bot@example.com", "password": "pw"},
    "atende/test/channels/whaticket-b": {"email": "bot@example.com", "password": "pw"},
}


def outbound(requests: list[httpx.Request]) -> OutboundContext:
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/auth/login"):
            return httpx.Response(200, json={"token": "login-jwt"})
        if "graph" in request.url.host:
            return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT1"}]})
        return httpx.Response(200, json={"key": {"id": "OUT1"}})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    return OutboundContext(settings=SETTINGS, secrets=FakeSecrets(SECRETS), http=client)  # type: ignore[arg-type]


def channel(provider: Provider, external_id: str, secret: str | None, base_url: str | None = None) -> Channel:
    return Channel(tenant_id="padaria", provider=provider, external_id=external_id, access_token_secret_id=secret, base_url=base_url)


@pytest.mark.parametrize(
    ("number", "secret", "token"),
    [("100", None, "deployment-token"), ("200", "atende/test/channels/meta-200", "own-number-token")],
    ids=["deployment-token", "own-token"],
)
def test_a_meta_channel_sends_through_the_graph_api_with_its_token(number: str, secret: str | None, token: str) -> None:
    requests: list[httpx.Request] = []
    context = outbound(requests)
    meta = channel(Provider.META, number, secret)
    messenger = BUNDLES[Provider.META].messenger(meta, context)
    messenger.send_text("5511987654321", "Olá")
    assert isinstance(messenger, MetaClient)
    assert isinstance(BUNDLES[Provider.META].media_source(meta, messenger, context), MetaMediaSource)
    [request] = requests
    assert (str(request.url), request.headers["authorization"]) == (
        f"{SETTINGS.graph_api_base_url}/{SETTINGS.graph_api_version}/{number}/messages",
        f"Bearer {token}",
    )


def test_an_evolution_channel_sends_through_its_instance_and_reads_media_through_it() -> None:
    requests: list[httpx.Request] = []
    context = outbound(requests)
    evolution = channel(Provider.EVOLUTION, "loja", "atende/test/channels/evolution-loja", "https://evo.example.com/")
    messenger = BUNDLES[Provider.EVOLUTION].messenger(evolution, context)
    messenger.send_text("5511987654321@s.whatsapp.net", "Olá")
    assert isinstance(messenger, EvolutionClient)
    assert isinstance(BUNDLES[Provider.EVOLUTION].media_source(evolution, messenger, context), EvolutionMediaSource)
    [request] = requests
    assert (str(request.url), request.headers["apikey"]) == ("https://evo.example.com/message/sendText/loja", "instance-key")


def test_an_evolution_channel_without_an_evolution_client_is_a_config_error() -> None:
    context = outbound([])
    evolution = channel(Provider.EVOLUTION, "loja", "atende/test/channels/evolution-loja", "https://evo.example.com")
    meta_client = BUNDLES[Provider.META].messenger(channel(Provider.META, "100", None), context)
    with pytest.raises(ConfigError):
        BUNDLES[Provider.EVOLUTION].media_source(evolution, meta_client, context)


@pytest.mark.parametrize("provider", [Provider.EVOLUTION, Provider.WHATICKET])
@pytest.mark.parametrize(("secret", "base_url"), [(None, "https://x.example.com"), ("atende/test/channels/evolution-loja", None)])
def test_a_self_hosted_channel_without_base_url_or_credentials_is_a_config_error(
    provider: Provider, secret: str | None, base_url: str | None
) -> None:
    with pytest.raises(ConfigError):
        BUNDLES[provider].messenger(channel(provider, "loja", secret, base_url), outbound([]))


def test_whaticket_connections_share_one_login_token_cache_per_context_and_have_no_media_source() -> None:
    requests: list[httpx.Request] = []
    context = outbound(requests)
    first, second = (channel(Provider.WHATICKET, c, f"atende/test/channels/whaticket-{c}", "https://wt.example.com") for c in "ab")
    for connection in (first, second):
        messenger = BUNDLES[Provider.WHATICKET].messenger(connection, context)
        assert isinstance(messenger, WhaticketClient)
        messenger.send_text("5511987654321", "Olá")
        assert BUNDLES[Provider.WHATICKET].media_source(connection, messenger, context) is None
    assert [r.url.path for r in requests] == ["/auth/login", "/api/messages/send", "/api/messages/send"]  # one login for both
    assert context.shared(WhaticketTokenCache) is context.shared(WhaticketTokenCache)
    assert outbound([]).shared(WhaticketTokenCache) is not context.shared(WhaticketTokenCache)  # one per container, not per process
