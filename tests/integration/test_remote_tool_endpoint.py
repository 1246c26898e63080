"""RemoteTool against the demo ERP (local/tenant_endpoint.py) on a real 127.0.0.1 socket, the HMAC key
in (moto's) Secrets Manager read through the production SecretStore."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest

from atende.store.secrets import SecretStore
from atende.tools import ToolContext, ToolResult
from atende.tools.remote import RemoteTool, remote_tool_from_config, shared_http_client
from local.tenant_endpoint import DEMO_OPTICIAN, ORDERS, TenantEndpoint, demo_remote_tools, demo_secret_value, start_tenant_endpoint

pytestmark = [pytest.mark.enable_socket, pytest.mark.slow]

CUSTOMER = "c_7m3kq2x9ab4cd5ef6gh7ij8kl9"
ASKING = ToolContext(tenant_id=DEMO_OPTICIAN.tenant_id, contact_id=CUSTOMER, inbound_id="wamid.ASKING", now=0, session_id="1765000000")
CONFIRMING = ToolContext(
    tenant_id=DEMO_OPTICIAN.tenant_id, contact_id=CUSTOMER, inbound_id="wamid.CONFIRMING", now=0, session_id="1765000000"
)
PICKUP = {"order_number": "OS-1001", "date": "2025-12-12", "period": "tarde"}
SUMMARY = "Retirada do pedido OS-1001 em 12/12/2025, à tarde"


@dataclass
class Erp:
    endpoint: TenantEndpoint
    url: str
    secrets: SecretStore

    def tool(self, name: str, secret_id: str = DEMO_OPTICIAN.secret_id) -> RemoteTool:
        settings = demo_remote_tools(self.url, secret_id)[name]
        config = remote_tool_from_config(name, settings, allow_loopback=True)
        return RemoteTool(config, secrets=self.secrets, http=shared_http_client())


@pytest.fixture
def erp() -> Iterator[Erp]:
    from moto import mock_aws

    from atende.store import aws

    with mock_aws():
        aws.reset_clients()
        sm = boto3.client("secretsmanager")
        sm.create_secret(Name=DEMO_OPTICIAN.secret_id, SecretString=json.dumps(demo_secret_value()))
        sm.create_secret(Name="atende/dev/tools/otica-boa-vista/old", SecretString=json.dumps({**demo_secret_value(), "key": "x" * 40}))
        sm.create_secret(
            Name="atende/dev/tools/another-shop/erp", SecretString=json.dumps({**demo_secret_value(), "tenant_id": "another-shop"})
        )
        endpoint, server, url = start_tenant_endpoint(0)
        try:
            yield Erp(endpoint, url, SecretStore(max_age=300))
        finally:
            server.shutdown()
            server.server_close()
            aws.reset_clients()


def test_order_status_comes_from_the_tenants_system(erp):
    # Given the optician's order OS-1002, whose lenses are at the lab
    tool = erp.tool("order_status")

    # When the model asks for it
    result = tool.run(ASKING, {"order_number": "OS-1002"})

    # Then the ERP's answer is what the model sees, and the ERP saw a signed request naming this tenant only
    assert result == ToolResult.success({"order_number": "OS-1002", **ORDERS["OS-1002"]})
    [call] = erp.endpoint.calls
    assert (call.tool, call.dry_run, call.status, call.replayed) == ("order_status", False, 200, False)
    assert call.context["tenant_id"] == DEMO_OPTICIAN.tenant_id
    assert call.context["contact"].startswith("ct_") and call.context["contact"] != CUSTOMER
    assert call.context["message_id"].startswith("m_") and call.context["session_id"] == "1765000000"


def test_an_unknown_order_passes_the_tenants_own_error(erp):
    result = erp.tool("order_status").run(ASKING, {"order_number": "OS-9999"})

    assert result == ToolResult.failure("order_not_found", "Não encontramos a ordem de serviço OS-9999. Confira o número no seu recibo.")


def test_a_pickup_is_previewed_then_booked_once_however_often_the_confirmation_is_retried(erp):
    tool = erp.tool("schedule_pickup")

    # When the model proposes the pickup (dry run), then the customer confirms and the processor retries the confirmation
    preview = tool.preview(ASKING, PICKUP)
    booked = tool.run(CONFIRMING, PICKUP)
    retried = tool.run(CONFIRMING, PICKUP)

    # Then the preview booked nothing, the confirmation booked one pickup, and the retry got the same answer
    assert preview == ToolResult.success({**PICKUP, "pickup_id": None, "summary": SUMMARY}, summary=SUMMARY)
    assert booked == retried == ToolResult.success({**PICKUP, "pickup_id": "RT-0001", "summary": SUMMARY}, summary=SUMMARY)
    assert list(erp.endpoint.pickups) == ["RT-0001"]
    assert [(c.dry_run, c.replayed) for c in erp.endpoint.calls] == [(True, False), (False, False), (False, True)]
    assert erp.endpoint.calls[1].idempotency_key == erp.endpoint.calls[2].idempotency_key


def test_an_order_not_ready_cannot_be_picked_up(erp):
    result = erp.tool("schedule_pickup").preview(ASKING, {**PICKUP, "order_number": "OS-1002"})

    assert result == ToolResult.failure("order_not_ready", "O pedido OS-1002 ainda não está pronto (previsão: 10/12/2025).")


def test_a_key_the_endpoint_does_not_know_is_refused_as_unavailable(erp):
    result = erp.tool("order_status", secret_id="atende/dev/tools/otica-boa-vista/old").run(ASKING, {"order_number": "OS-1001"})

    assert result == ToolResult.failure("unavailable", "The business's system is unavailable right now.")
    assert (erp.endpoint.refused, erp.endpoint.calls) == ([401], [])  # refused at the signature, before any business


def test_another_tenants_secret_is_never_used_to_sign(erp):
    result = erp.tool("order_status", secret_id="atende/dev/tools/another-shop/erp").run(ASKING, {"order_number": "OS-1001"})

    assert (result.error, erp.endpoint.refused, erp.endpoint.calls) == ("unavailable", [], [])


def test_an_endpoint_that_is_down_is_unavailable(erp):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tool = Erp(erp.endpoint, f"http://127.0.0.1:{port}/atende/tools", erp.secrets).tool("order_status")

    assert tool.run(ASKING, {"order_number": "OS-1001"}).error == "unavailable"
