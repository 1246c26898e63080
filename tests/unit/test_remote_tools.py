"""Remote tools: the tenant's own endpoint behind the Tool protocol (no network: httpx.MockTransport)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from atende.errors import SecretNotFound, StoreError
from atende.tools import ToolContext, ToolResult
from atende.tools.remote import (
    MAX_RESPONSE_BYTES,
    RemoteTool,
    RemoteToolConfig,
    RemoteToolConfigInvalid,
    idempotency_key,
    remote_tool_from_config,
    shared_http_client,
    sign_atende_request,
    verify_atende_signature,
)
from local.tenant_endpoint import ORDER_STATUS_PARAMETERS, ORDER_STATUS_RESULT, SCHEDULE_PICKUP_PARAMETERS, SCHEDULE_PICKUP_RESULT

NOW = 1_765_000_000
KEY = "k" * 40
TENANT = "otica-boa-vista"
URL = "https://erp.oticaboavista.com.br/atende/tools"
SECRET_ID = "atende/dev/tools/otica-boa-vista/erp"
CTX = ToolContext(
    tenant_id=TENANT,
    contact_id="c_abcdefghijklmnopqrstuvwxyz",
    inbound_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjA",
    now=NOW,
    session_id="1764999000",
)
READY = {"order_number": "OS-1001", "status": "ready", "status_label": "Pronto para retirada", "item": "Óculos", "expected_date": None}


def settings(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "description": "Consulta a situação de uma ordem de serviço.",
        "url": URL,
        "parameters": ORDER_STATUS_PARAMETERS,
        "result": ORDER_STATUS_RESULT,
        "secret_id": SECRET_ID,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def config(name: str = "order_status", **changes: Any) -> RemoteToolConfig:
    return remote_tool_from_config(name, settings(**changes))


def problems(name: str = "order_status", **changes: Any) -> str:
    with pytest.raises(RemoteToolConfigInvalid) as raised:
        remote_tool_from_config(name, settings(**changes))
    assert isinstance(raised.value, ValueError)
    return "; ".join(raised.value.problems)


class FakeSecrets:
    def __init__(self, value: dict[str, str] | Exception | None = None) -> None:
        self.value = value if value is not None else {"key": KEY, "tenant_id": TENANT}
        self.refreshed: list[str] = []

    def get_json(self, secret_id: str) -> dict[str, str]:
        assert secret_id == SECRET_ID
        if isinstance(self.value, Exception):
            raise self.value
        return self.value

    def refresh(self, secret_id: str, *, min_age: float = 30.0) -> bool:
        self.refreshed.append(secret_id)
        return True


class Endpoint:
    """Records every request; answers with ``answer(request)``."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda request: httpx.Response(200, json=READY))

    def client(self) -> httpx.Client:
        def handler(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.answer(request)

        return httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)  # the tool must not follow anyway


def tool(endpoint: Endpoint, cfg: RemoteToolConfig | None = None, secrets: FakeSecrets | None = None) -> RemoteTool:
    return RemoteTool(cfg or config(), secrets=secrets or FakeSecrets(), http=endpoint.client(), clock=lambda: NOW + 0.75)


def answering(status: int, **kwargs: Any) -> Endpoint:
    return Endpoint(lambda request: httpx.Response(status, **kwargs))


# --- configuration --------------------------------------------------------------------------


def test_valid_settings_become_a_config_with_defaults_and_plain_json():
    # Given settings as DynamoDB returns them (numbers as Decimal)
    raw = settings(timeout_seconds=Decimal("2.5"))
    raw["parameters"] = {**ORDER_STATUS_PARAMETERS, "properties": {"order_number": {"type": "string", "maxLength": Decimal(12)}}}

    cfg = remote_tool_from_config("order_status", raw)

    assert (cfg.name, cfg.url, cfg.secret_id, cfg.timeout_seconds, cfg.writes, cfg.dry_run) == (
        "order_status",
        URL,
        SECRET_ID,
        2.5,
        False,
        True,
    )
    assert cfg.parameters["properties"]["order_number"]["maxLength"] == 12
    assert type(cfg.parameters["properties"]["order_number"]["maxLength"]) is int
    assert (cfg.spec.name, cfg.spec.writes, cfg.spec.parameters) == ("order_status", False, cfg.parameters)
    assert remote_tool_from_config("order_status", cfg.to_mapping()) == cfg


def test_default_timeout_is_four_seconds():
    assert config().timeout_seconds == 4.0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://erp.oticaboavista.com.br/atende", "url must be https"),
        ("ftp://erp.oticaboavista.com.br/atende", "url must be https"),
        ("https://user:secret@erp.oticaboavista.com.br/atende", "must not carry credentials"),
        ("https://token@erp.oticaboavista.com.br/atende", "must not carry credentials"),
        ("https://erp.oticaboavista.com.br/atende?api_key=123", "must not have a query"),
        ("https://203.0.113.7/atende", "not an IP address"),
        ("https://[2001:db8::1]/atende", "not an IP address"),
        ("https://2130706433/atende", "public DNS host"),
        ("https://0x7f.1/atende", "public DNS host"),
        ("https://erp.internal/atende", "not a local or private one"),
        ("https://erp.localhost/atende", "not a local or private one"),
        ("https://localhost/atende", "loopback is for the local stack only"),
        ("http://127.0.0.1:3002/atende/tools", "loopback is for the local stack only"),
        ("https://erp.oticaboavista.com.br/ atende", "printable ASCII"),
        ("", "url is required"),
    ],
)
def test_urls_we_do_not_fetch_are_refused(url, expected):
    assert expected in problems(url=url)


def test_loopback_http_is_accepted_only_for_the_local_stack():
    for url in ("http://127.0.0.1:3002/atende/tools", "http://localhost:3002/atende/tools"):
        assert remote_tool_from_config("order_status", settings(url=url), allow_loopback=True).url == url
    # Loopback only: a private address is no more fetchable from the local stack than from Lambda
    for url, expected in (("http://10.0.0.5/atende", "url must be https"), ("https://10.0.0.5/atende", "not an IP address")):
        with pytest.raises(RemoteToolConfigInvalid) as raised:
            remote_tool_from_config("order_status", settings(url=url), allow_loopback=True)
        assert expected in "; ".join(raised.value.problems)


OPEN = {"type": "object", "properties": {"order_number": {"type": "string"}}, "required": ["order_number"]}


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (OPEN, "parameters.additionalProperties must be false"),
        ({**OPEN, "additionalProperties": False, "required": []}, "parameters.required must list every property"),
        ({"type": "array", "items": {"type": "string"}}, "parameters must have type 'object'"),
        ({**OPEN, "additionalProperties": False, "properties": {"order_number": {"$ref": "#/$defs/n"}}}, "uses ['$ref']"),
        ({**OPEN, "additionalProperties": False, "properties": {"order_number": {"oneOf": [{"type": "string"}]}}}, "uses ['oneOf']"),
        ({**OPEN, "additionalProperties": False, "properties": {"order_number": {"type": "array"}}}, "needs 'items'"),
        (
            {
                **OPEN,
                "additionalProperties": False,
                "properties": {"order_number": {"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n"]}},
            },
            "parameters.order_number.additionalProperties must be false",
        ),
        ({**OPEN, "additionalProperties": False, "properties": {"order_number": {"type": "text"}}}, "type must be one of"),
        (
            {**OPEN, "additionalProperties": False, "properties": {"order_number": {"type": "string", "minLength": -1}}},
            "not a valid JSON Schema",
        ),
        ("not a schema", "parameters must be a JSON Schema object"),
    ],
)
def test_parameter_schemas_outside_the_strict_subset_are_refused(parameters, expected):
    assert expected in problems(parameters=parameters)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"type": "array"}, "result must be a JSON Schema with type 'object'"),
        ({"type": "object", "properties": {"a": {"$ref": "https://schemas.example.com/a.json"}}}, "only use local $ref"),
        ({"type": "object", "required": "order_number"}, "result is not a valid JSON Schema"),
    ],
)
def test_bad_result_schemas_are_refused(result, expected):
    assert expected in problems(result=result)


def test_every_problem_is_reported_at_once():
    found = problems("Order-Status", url="http://x", secret_id="not a secret!", timeout_seconds=9, writes="yes", extra=1)
    for expected in (
        "name must be",
        "unknown settings ['extra']",
        "url must be https",
        "secret_id must be",
        "timeout_seconds must be between 0.5 and 8.0",
        "writes must be true or false",
    ):
        assert expected in found


def test_a_builtin_name_is_accepted_as_is_and_other_names_must_match_the_pattern():
    assert "name must be" in problems("ab")
    assert remote_tool_from_config("ab", settings(), builtin_names={"ab"}).name == "ab"
    assert config("buscar_produto_na_loja").name == "buscar_produto_na_loja"


def test_secret_ids_may_be_names_or_arns():
    arn = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:atende/prod/tools/otica-boa-vista/erp-AbCdEf"
    assert config(secret_id=arn).secret_id == arn
    assert "secret_id must be" in problems(secret_id="arn:aws:s3:::bucket")


# --- the signed request ---------------------------------------------------------------------


def test_run_posts_the_exact_signed_request():
    endpoint = Endpoint()

    result = tool(endpoint).run(CTX, {"order_number": "OS-1001"})

    assert result == ToolResult.success(READY)
    [request] = endpoint.requests
    assert (request.method, str(request.url)) == ("POST", URL)
    body = request.content
    doc = json.loads(body)
    contact, message = doc["context"]["contact"], doc["context"]["message_id"]
    assert doc == {
        "tool": "order_status",
        "dry_run": False,
        "arguments": {"order_number": "OS-1001"},
        "context": {"tenant_id": TENANT, "contact": contact, "session_id": "1764999000", "message_id": message},
    }
    # The tenant sees per-tenant pseudonyms, never Atende's contact id or the wamid (it embeds the phone)
    assert contact.startswith("ct_") and len(contact) == 29 and CTX.contact_id not in body.decode()
    assert message.startswith("m_") and CTX.inbound_id not in body.decode()
    expected_signature = "sha256=" + hmac.new(KEY.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert {
        k: request.headers[k] for k in ("content-type", "user-agent", "x-atende-timestamp", "x-atende-signature", "accept-encoding")
    } == {
        "content-type": "application/json",
        "user-agent": "Atende-RemoteTool/1",
        "x-atende-timestamp": str(NOW),
        "x-atende-signature": expected_signature,
        "accept-encoding": "identity",
    }
    assert request.headers["idempotency-key"] == idempotency_key(
        TENANT, "order_status", CTX.inbound_id, mode="run", arguments={"order_number": "OS-1001"}
    )
    assert "authorization" not in request.headers


def test_the_idempotency_key_is_stable_for_one_inbound_message_and_differs_for_another():
    endpoint = Endpoint()
    remote = tool(endpoint)
    other_message = ToolContext(tenant_id=TENANT, contact_id=CTX.contact_id, inbound_id="wamid.OTHER", now=NOW)

    remote.run(CTX, {"order_number": "OS-1001"})
    remote.run(CTX, {"order_number": "OS-1001"})  # a retry (SQS redelivery) of the same call
    remote.run(other_message, {"order_number": "OS-1001"})
    remote.run(CTX, {"order_number": "OS-1002"})  # a second, different call answering the same message

    first, retry, other, second_call = (r.headers["idempotency-key"] for r in endpoint.requests)
    assert first == retry
    assert len({first, other, second_call}) == 3
    assert len(first) == 64 and int(first, 16) >= 0


def test_the_contact_pseudonym_differs_between_tenants():
    endpoint = Endpoint()
    other_tenant = ToolContext(tenant_id="otica-centro", contact_id=CTX.contact_id, inbound_id=CTX.inbound_id, now=NOW)
    secrets = FakeSecrets({"key": KEY, "tenant_id": "otica-centro"})

    tool(endpoint).run(CTX, {"order_number": "OS-1001"})
    tool(endpoint, secrets=secrets).run(other_tenant, {"order_number": "OS-1001"})

    ours, theirs = (json.loads(r.content)["context"]["contact"] for r in endpoint.requests)
    assert ours != theirs


def test_a_secret_bound_to_another_tenant_signs_nothing():
    endpoint = Endpoint()

    result = tool(endpoint, secrets=FakeSecrets({"key": KEY, "tenant_id": "someone-else"})).run(CTX, {"order_number": "OS-1001"})

    assert (result.ok, result.error, endpoint.requests) == (False, "unavailable", [])


def test_a_missing_secret_is_a_failure_and_a_secrets_manager_outage_propagates():
    endpoint = Endpoint()

    missing = tool(endpoint, secrets=FakeSecrets(SecretNotFound("secret gone"))).run(CTX, {"order_number": "OS-1001"})
    assert (missing.error, endpoint.requests) == ("unavailable", [])
    with pytest.raises(StoreError):
        tool(endpoint, secrets=FakeSecrets(StoreError("throttled"))).run(CTX, {"order_number": "OS-1001"})


def test_any_text_the_model_writes_is_sent_escaped_and_signed():
    # Given a free-text parameter and a model that wrote a lone surrogate (valid JSON: "\ud800")
    free_text = {"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"], "additionalProperties": False}
    endpoint = Endpoint()
    arguments = json.loads('{"note": "lentes p/ óculos \\ud800"}')

    result = tool(endpoint, config(parameters=free_text)).run(CTX, arguments)

    assert result.ok
    [request] = endpoint.requests
    assert request.content.isascii() and json.loads(request.content)["arguments"] == arguments
    assert verify_atende_signature(KEY, str(NOW), request.content, request.headers["x-atende-signature"], now=NOW)


def test_arguments_outside_the_schema_are_never_sent():
    endpoint = Endpoint()

    result = tool(endpoint).run(CTX, {"order_number": "1001; DROP TABLE"})

    assert (result.error, endpoint.requests) == ("invalid_arguments", [])


# --- the answer ---------------------------------------------------------------------------


def test_an_answer_that_breaks_the_result_schema_is_invalid_response():
    result = tool(answering(200, json={**READY, "status": "lost"})).run(CTX, {"order_number": "OS-1001"})

    assert (result.ok, result.error) == (False, "invalid_response")


@pytest.mark.parametrize("content", [b"<html>oops</html>", b"[1, 2]", b'{"status": NaN}', b"\xff\xfe"])
def test_an_answer_that_is_no_json_object_is_invalid_response(content):
    assert tool(answering(200, content=content)).run(CTX, {"order_number": "OS-1001"}).error == "invalid_response"


def test_an_oversize_answer_is_refused_while_streaming():
    chunk = b" " * 4096
    chunks_read: list[int] = []

    def stream() -> Iterator[bytes]:
        for index in range(1000):  # 4 MB on offer, no Content-Length
            chunks_read.append(index)
            yield chunk

    result = tool(answering(200, content=stream())).run(CTX, {"order_number": "OS-1001"})

    assert (result.error, result.message) == ("invalid_response", "The business's system gave an answer that could not be read.")
    assert len(chunks_read) == MAX_RESPONSE_BYTES // len(chunk) + 1  # stopped at the cap


def test_an_oversize_answer_is_refused_by_its_content_length():
    body = json.dumps({**READY, "item": "x" * MAX_RESPONSE_BYTES}).encode()

    assert tool(answering(200, content=body)).run(CTX, {"order_number": "OS-1001"}).error == "invalid_response"


def test_an_answer_at_the_cap_is_read():
    doc = {**READY, "status_label": "Pronto"}
    body = json.dumps(doc).encode()
    padded = body[:-1] + b" " * (MAX_RESPONSE_BYTES - len(body)) + b"}"

    assert tool(answering(200, content=padded)).run(CTX, {"order_number": "OS-1001"}) == ToolResult.success(doc)


def test_a_compressed_answer_is_refused():
    body = gzip.compress(json.dumps(READY).encode())

    result = tool(answering(200, content=iter([body]), headers={"content-encoding": "gzip"})).run(CTX, {"order_number": "OS-1001"})

    assert result.error == "invalid_response"


def test_a_timeout_is_timeout():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    assert tool(Endpoint(slow)).run(CTX, {"order_number": "OS-1001"}) == ToolResult.failure(
        "timeout", "The business's system took too long to answer."
    )


def test_a_refused_connection_is_unavailable():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    assert tool(Endpoint(refused)).run(CTX, {"order_number": "OS-1001"}).error == "unavailable"


def test_a_server_error_is_unavailable():
    assert tool(answering(500, json={"error": "boom", "message": "stack trace…"})).run(
        CTX, {"order_number": "OS-1001"}
    ) == ToolResult.failure("unavailable", "The business's system is unavailable right now.")


def test_a_404_with_the_tenants_error_body_passes_its_code_and_message():
    body = {"error": "order_not_found", "message": "Não encontramos a ordem de serviço OS-9999."}

    result = tool(answering(404, json=body)).run(CTX, {"order_number": "OS-9999"})

    assert result == ToolResult.failure("order_not_found", "Não encontramos a ordem de serviço OS-9999.")
    assert result.to_model() == {"ok": False, "error": "order_not_found", "message": "Não encontramos a ordem de serviço OS-9999."}


def test_the_tenants_error_message_is_bounded_and_flattened():
    body = {"error": "order_not_ready", "message": "linha 1\nlinha 2\u2028" + "x" * 500}

    result = tool(answering(409, json=body)).run(CTX, {"order_number": "OS-1002"})

    assert result.error == "order_not_ready"
    assert result.message.startswith("linha 1 linha 2 xxx") and len(result.message) == 200 and result.message.endswith("…")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"message": "no error code"}, "not_found"),
        (422, {"error": "Not A Code!", "message": "x"}, "rejected"),
        (400, None, "rejected"),
        (403, None, "unavailable"),
        (429, None, "unavailable"),
        (408, None, "timeout"),
    ],
)
def test_client_errors_without_a_usable_tenant_body_map_by_status(status, body, expected):
    kwargs = {"json": body} if body is not None else {"content": b"nope"}

    assert tool(answering(status, **kwargs)).run(CTX, {"order_number": "OS-1001"}).error == expected


def test_a_401_is_unavailable_and_refreshes_the_key():
    secrets = FakeSecrets()

    result = tool(answering(401, json={"error": "invalid_signature"}), secrets=secrets).run(CTX, {"order_number": "OS-1001"})

    assert (result.error, secrets.refreshed) == ("unavailable", [SECRET_ID])


def test_a_redirect_is_not_followed():
    endpoint = answering(302, headers={"location": "https://elsewhere.example.com/steal"})

    result = tool(endpoint).run(CTX, {"order_number": "OS-1001"})

    assert (result.error, [str(r.url) for r in endpoint.requests]) == ("unavailable", [URL])


def test_failures_log_keys_never_the_answer(log_output):
    body = {"error": "order_not_found", "message": "Pedido da cliente Mariana Souza não encontrado"}

    tool(answering(404, json=body)).run(CTX, {"order_number": "OS-1001"})
    tool(answering(200, json={**READY, "status": "Mariana Souza"})).run(CTX, {"order_number": "OS-1001"})

    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert [(line["message"], line["reason"], line["status"]) for line in lines] == [
        ("remote tool failed", "tenant_error:order_not_found", 404),
        ("remote tool failed", "schema_mismatch:properties/status/enum", 200),
    ]
    assert "Mariana" not in log_output.getvalue() and "OS-1001" not in log_output.getvalue()


# --- previews of write tools ----------------------------------------------------------------

PICKUP = {"order_number": "OS-1001", "date": "2025-12-12", "period": "tarde"}
PICKUP_PREVIEW = {**PICKUP, "pickup_id": None, "summary": "Retirada do pedido OS-1001 em 12/12/2025, à tarde"}


def pickup_config(**changes: Any) -> RemoteToolConfig:
    return config("schedule_pickup", parameters=SCHEDULE_PICKUP_PARAMETERS, result=SCHEDULE_PICKUP_RESULT, writes=True, **changes)


def test_a_write_tools_preview_is_the_endpoints_dry_run_with_its_summary():
    endpoint = answering(200, json=PICKUP_PREVIEW)
    remote = tool(endpoint, pickup_config())

    preview = remote.preview(CTX, PICKUP)

    assert preview == ToolResult.success(PICKUP_PREVIEW, summary="Retirada do pedido OS-1001 em 12/12/2025, à tarde")
    [request] = endpoint.requests
    assert json.loads(request.content)["dry_run"] is True
    assert request.headers["idempotency-key"] == idempotency_key(
        TENANT, "schedule_pickup", CTX.inbound_id, mode="dry_run", arguments=PICKUP
    )
    assert request.headers["idempotency-key"] != idempotency_key(TENANT, "schedule_pickup", CTX.inbound_id, mode="run", arguments=PICKUP)


def test_without_a_dry_run_the_preview_is_built_here_and_nothing_is_sent():
    endpoint = Endpoint()

    preview = tool(endpoint, pickup_config(dry_run=False)).preview(CTX, PICKUP)

    assert preview == ToolResult.success(
        {"dry_run": True, "arguments": PICKUP}, summary="order_number: OS-1001; date: 2025-12-12; period: tarde"
    )
    assert endpoint.requests == []


def test_a_read_tools_preview_is_its_run():
    endpoint = Endpoint()

    assert tool(endpoint).preview(CTX, {"order_number": "OS-1001"}) == ToolResult.success(READY)
    assert json.loads(endpoint.requests[0].content)["dry_run"] is False


# --- the tenant's verification helper -------------------------------------------------------


def signed(body: bytes, timestamp: int = NOW, secret: str = KEY) -> tuple[str, str]:
    return str(timestamp), "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


BODY = b'{"tool":"order_status","dry_run":false,"arguments":{"order_number":"OS-1001"},"context":{}}'


def test_verify_accepts_a_valid_signature():
    timestamp, signature = signed(BODY)

    assert verify_atende_signature(KEY, timestamp, BODY, signature, now=NOW + 10) is True
    assert verify_atende_signature(KEY.encode(), timestamp, BODY, signature, now=NOW - 299) is True


def test_verify_refuses_a_wrong_secret():
    timestamp, signature = signed(BODY, secret="another-tenants-key-" * 2)

    assert verify_atende_signature(KEY, timestamp, BODY, signature, now=NOW) is False


def test_verify_refuses_a_stale_or_future_timestamp():
    timestamp, signature = signed(BODY)

    assert verify_atende_signature(KEY, timestamp, BODY, signature, now=NOW + 301) is False
    assert verify_atende_signature(KEY, timestamp, BODY, signature, now=NOW - 301) is False
    assert verify_atende_signature(KEY, timestamp, BODY, signature, now=NOW + 61, tolerance=60) is False


def test_verify_refuses_a_tampered_body():
    timestamp, signature = signed(BODY)

    assert verify_atende_signature(KEY, timestamp, BODY.replace(b"OS-1001", b"OS-1002"), signature, now=NOW) is False


@pytest.mark.parametrize(
    ("timestamp", "signature"), [("", "sha256=00"), ("1765000000.5", None), ("１７６５００００００", None), (str(NOW), "md5=abc")]
)
def test_verify_refuses_malformed_headers(timestamp, signature):
    _, good = signed(BODY)

    assert verify_atende_signature(KEY, timestamp, BODY, signature or good, now=NOW) is False


def test_the_documented_test_vector_holds():
    # docs/remote-tools.md gives tenants this example to check their own verification against
    doc = (Path(__file__).parents[2] / "docs" / "remote-tools.md").read_text()
    signature = "sha256=125423a9d28e448a6b71e0cbd31ca9e17e244b93f6fb041714bd6521bf7c6202"

    assert sign_atende_request("local-demo-remote-tool-signing-key-0123456789", "1765000000", b'{"tool":"order_status"}') == signature
    assert f"`{signature}`" in doc


def test_verify_checks_what_the_tool_signs():
    endpoint = Endpoint()
    tool(endpoint).run(CTX, {"order_number": "OS-1001"})
    [request] = endpoint.requests

    headers = request.headers
    assert verify_atende_signature(KEY, headers["x-atende-timestamp"], request.content, headers["x-atende-signature"], now=NOW) is True


def test_one_shared_client_per_container_that_follows_no_redirects():
    client = shared_http_client()

    assert client is shared_http_client()
    assert (client.follow_redirects, client.trust_env) == (False, False)
