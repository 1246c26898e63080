"""Evolution and Whaticket webhooks end to end under moto: the real handler, per-channel secrets
in Secrets Manager, the replay table in DynamoDB, the FIFO queue. Every rejection queues nothing.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from atende.channels.relay_auth import sha256_hex, sign_whaticket_body
from atende.domain.tenants import Tenant
from atende.service.registration import register_evolution_channel, register_whaticket_channel
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.events import LambdaContext, http_api_event
from local.seed import DEMO
from tests.conftest import fixture_bytes

EVOLUTION_TEXT_ID = None  # read from the fixture below


@pytest.fixture
def webhook(stack):
    from local.functions import load_function_module

    module = load_function_module("WebhookFunction")
    module._ingresses.cache_clear()
    yield module
    module._ingresses.cache_clear()


def call(webhook, path, body, headers):
    event = http_api_event("POST", path, body=body, headers={"content-type": "application/json", **headers})
    response = webhook.lambda_handler(event, LambdaContext(function_name="WebhookFunction"))
    return response["statusCode"], json.loads(response["body"])


def queued(stack):
    sqs = boto3.client("sqs")
    url = stack.resources["InboundQueue"].ref
    seen = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]).get("Messages", []):
        seen.extend(batch)
    for message in seen:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return [{"body": json.loads(m["Body"]), "attributes": m["Attributes"]} for m in seen]


def register_other_tenant(stack):
    """A second business with its own Evolution instance and Whaticket connection."""
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    tenant = Tenant(tenant_id="sorveteria-gelato", name="Sorveteria Gelato")
    evo = register_evolution_channel(
        directory, SecretStore(max_age=0), stage="dev", tenant=tenant, instance="sorveteria-evolution",
        base_url="http://127.0.0.1:3001/evolution", api_key="0C6E1B7A2D9F4E3B8A5C1D7F0E2B4A6C", schemes=("header", "apikey"),
        generated={"header_value": "sorveteria-header-secret"},
    )  # fmt: skip
    wt = register_whaticket_channel(
        directory, SecretStore(max_age=0), stage="dev", tenant=tenant, connection="sorveteria-whaticket",
        base_url="http://127.0.0.1:3001/whaticket", api_token="sorveteria-api-token",
        generated={"signing_secret": "sorveteria-signing-secret"},
    )  # fmt: skip
    return evo, wt


# --- Evolution --------------------------------------------------------------------------------

EVO_PATH = "/webhooks/evolution"
EVO_HEADERS = {"x-atende-secret": DEMO.evolution_header_secret}


def evolution_text() -> bytes:
    return fixture_bytes("evolution/text_conversation.json")


def test_evolution_text_with_header_and_apikey_is_queued_in_its_conversation_group(stack, webhook):
    raw = evolution_text()
    doc = json.loads(raw)
    assert doc["instance"] == DEMO.evolution_instance and doc["apikey"] == DEMO.evolution_api_key
    status, answer = call(webhook, EVO_PATH, raw, EVO_HEADERS)
    assert (status, answer) == (200, {"received": 1, "statuses": 0})
    [item] = queued(stack)
    message = item["body"]["message"]
    assert message["channel_id"] == "evolution:padaria-evolution"
    assert message["provider"] == "evolution"
    assert message["provider_message_id"] == doc["data"]["key"]["id"]
    assert item["attributes"]["MessageDeduplicationId"] == doc["data"]["key"]["id"]
    assert item["attributes"]["MessageGroupId"] == f"evolution:padaria-evolution#{message['contact']['contact_id']}"
    assert "tenant_id" not in message  # routed by the processor


def test_evolution_by_events_url_suffix_is_accepted(stack, webhook):
    status, _ = call(webhook, f"{EVO_PATH}/messages-upsert", evolution_text(), EVO_HEADERS)
    assert status == 200
    assert len(queued(stack)) == 1


@pytest.mark.parametrize(
    ("headers", "mutate", "expected"),
    [
        ({}, None, (401, "signature_missing")),
        ({"x-atende-secret": "not-the-secret"}, None, (403, "signature_invalid")),
        (EVO_HEADERS, lambda d: d.update(apikey="4F1B0A0C9E2D4B7A8C6D5E3F2A1B0C9D"), (403, "signature_invalid")),
        (EVO_HEADERS, lambda d: d.update(apikey=None), (401, "signature_missing")),
        (EVO_HEADERS, lambda d: d.update(instance="padaria-evo-inexistente"), (403, "unknown_channel")),
        (EVO_HEADERS, lambda d: d.update(instance="../../meta"), (403, "unknown_channel")),
        (EVO_HEADERS, lambda d: d.pop("instance"), (400, "malformed_payload")),
    ],
    ids=["no-secret-header", "wrong-secret-header", "wrong-apikey", "null-apikey", "unknown-instance", "path-like-instance",
         "no-instance"],
)  # fmt: skip
def test_evolution_rejections_queue_nothing(stack, webhook, headers, mutate, expected):
    doc = json.loads(evolution_text())
    if mutate:
        mutate(doc)
    status, answer = call(webhook, EVO_PATH, json.dumps(doc).encode(), headers)
    assert (status, answer["error"]) == expected
    assert queued(stack) == []


def test_evolution_credentials_of_another_tenant_do_not_open_this_channel(stack, webhook):
    register_other_tenant(stack)
    doc = json.loads(evolution_text())
    # Sorveteria's valid header + apikey, but the body names Padaria's instance…
    doc["apikey"] = "0C6E1B7A2D9F4E3B8A5C1D7F0E2B4A6C"
    status, _ = call(webhook, EVO_PATH, json.dumps(doc).encode(), {"x-atende-secret": "sorveteria-header-secret"})
    assert status == 403
    # …and Padaria's credentials do not open Sorveteria's instance either.
    doc = json.loads(evolution_text())
    doc["instance"] = "sorveteria-evolution"
    status, _ = call(webhook, EVO_PATH, json.dumps(doc).encode(), EVO_HEADERS)
    assert status == 403
    assert queued(stack) == []


def test_evolution_malformed_and_oversize_bodies(stack, webhook):
    assert call(webhook, EVO_PATH, b'{"event": "messages.upsert", ', EVO_HEADERS)[0] == 400
    assert call(webhook, EVO_PATH, b"[]", EVO_HEADERS)[0] == 400
    huge = b'{"pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert call(webhook, EVO_PATH, huge, EVO_HEADERS) == (413, {"error": "payload_too_large"})
    assert queued(stack) == []


def test_evolution_from_me_and_groups_are_acknowledged_but_not_queued(stack, webhook):
    for name in ("from_me", "group", "status_broadcast", "send_message_echo"):
        status, answer = call(webhook, EVO_PATH, fixture_bytes(f"evolution/{name}.json"), EVO_HEADERS)
        assert (status, answer) == (200, {"received": 0, "statuses": 0}), name
    assert queued(stack) == []


def test_evolution_connection_close_raises_an_operator_alert(stack, webhook, log_output):
    status, _ = call(webhook, EVO_PATH, fixture_bytes("evolution/connection_close.json"), EVO_HEADERS)
    assert status == 200
    records = [json.loads(line) for line in log_output.getvalue().splitlines()]
    [alert] = [r for r in records if r["message"] == "whatsapp connection closed"]
    assert alert["level"] == "ERROR"
    assert alert["channel_id"] == "evolution:padaria-evolution"
    assert alert["state"] == "close"
    assert queued(stack) == []


def test_unknown_instances_are_remembered_so_a_flood_costs_one_secret_lookup(stack, webhook, monkeypatch):
    calls = []
    real = SecretStore.get_json

    def counting(self, secret_id):
        calls.append(secret_id)
        return real(self, secret_id)

    monkeypatch.setattr(SecretStore, "get_json", counting)
    doc = json.loads(evolution_text())
    doc["instance"] = "instancia-que-nao-existe"
    for _ in range(5):
        assert call(webhook, EVO_PATH, json.dumps(doc).encode(), EVO_HEADERS)[0] == 403
    assert calls.count("atende/dev/webhook-auth/evolution-instancia-que-nao-existe") == 1


# --- Whaticket --------------------------------------------------------------------------------

WT_PATH = f"/webhooks/whaticket/{DEMO.whaticket_connection}"


def signed(raw: bytes, *, ts: int | None = None, secret: str = DEMO.whaticket_signing_secret) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(raw, ts, secret)}


def whaticket_text() -> bytes:
    return fixture_bytes("whaticket/relay_number_conversation.json")


def test_whaticket_signed_delivery_is_accepted_with_202_and_queued(stack, webhook):
    raw = whaticket_text()
    assert call(webhook, WT_PATH, raw, signed(raw)) == (202, {"queued": True})
    [item] = queued(stack)
    message = item["body"]["message"]
    assert message["channel_id"] == "whaticket:padaria-whaticket"
    assert message["contact"]["wa_id"] == json.loads(raw)["number"]


def test_whaticket_connection_can_be_named_in_a_header(stack, webhook):
    raw = whaticket_text()
    headers = {**signed(raw), "x-atende-channel": DEMO.whaticket_connection}
    assert call(webhook, "/webhooks/whaticket", raw, headers) == (202, {"queued": True})
    assert call(webhook, "/webhooks/whaticket", raw, signed(raw, ts=int(time.time()) - 1))[0] == 403  # no channel named


def test_whaticket_replayed_signature_is_rejected_and_queues_nothing_more(stack, webhook):
    raw = whaticket_text()
    headers = signed(raw)
    assert call(webhook, WT_PATH, raw, headers)[0] == 202
    assert call(webhook, WT_PATH, raw, headers) == (403, {"error": "replayed"})
    assert len(queued(stack)) == 1


@pytest.mark.parametrize(
    ("headers_for", "expected"),
    [
        (lambda raw: {}, (401, "signature_missing")),
        (lambda raw: {"x-timestamp": str(int(time.time()))}, (401, "signature_missing")),
        (lambda raw: signed(raw, ts=int(time.time()) - 301), (403, "timestamp_out_of_window")),
        (lambda raw: signed(raw, ts=int(time.time()) + 600), (403, "timestamp_out_of_window")),
        (lambda raw: signed(raw, secret="sorveteria-signing-secret"), (403, "signature_invalid")),
        (lambda raw: signed(raw + b" "), (403, "signature_invalid")),
    ],
    ids=["no-headers", "no-signature", "stale", "future", "other-tenants-secret", "tampered-body"],
)
def test_whaticket_auth_rejections_queue_nothing(stack, webhook, headers_for, expected):
    raw = whaticket_text()
    status, answer = call(webhook, WT_PATH, raw, headers_for(raw))
    assert (status, answer["error"]) == expected
    assert queued(stack) == []


def test_whaticket_secret_of_another_connection_does_not_open_this_one(stack, webhook):
    register_other_tenant(stack)
    raw = whaticket_text()
    assert call(webhook, "/webhooks/whaticket/sorveteria-whaticket", raw, signed(raw))[0] == 403
    assert call(webhook, "/webhooks/whaticket/loja-inexistente", raw, signed(raw)) == (403, {"error": "unknown_channel"})
    assert queued(stack) == []


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("whaticket/no_number_no_jid.json", 422), ("whaticket/baileys_lid_without_number.json", 422),
     ("whaticket/number_without_message.json", 400)],
)  # fmt: skip
def test_whaticket_payload_without_answerable_sender_is_4xx_and_queues_nothing(stack, webhook, fixture, expected):
    raw = fixture_bytes(fixture)
    status, answer = call(webhook, WT_PATH, raw, signed(raw))
    assert status == expected
    assert answer["error"] in ("sender_unresolvable", "malformed_payload")
    assert queued(stack) == []


def test_whaticket_malformed_signed_body_is_400(stack, webhook):
    raw = b'{"number": "5511987654321", "message": '
    assert call(webhook, WT_PATH, raw, signed(raw)) == (400, {"error": "malformed_payload"})


def test_whaticket_from_me_is_acknowledged_not_queued(stack, webhook):
    raw = fixture_bytes("whaticket/baileys_from_me.json")
    assert call(webhook, WT_PATH, raw, signed(raw)) == (200, {"queued": False, "ignored": "from_me"})
    assert queued(stack) == []


def test_whaticket_enqueue_failure_is_503_and_the_relay_retry_is_accepted(stack, webhook, monkeypatch):
    raw = whaticket_text()
    headers = signed(raw)
    ingress = webhook._ingresses()
    good_url = ingress.queue._url
    monkeypatch.setattr(ingress.queue, "_url", good_url + "-deleted")  # SQS answers NonExistentQueue
    assert call(webhook, WT_PATH, raw, headers) == (503, {"error": "temporarily_unavailable"})
    monkeypatch.setattr(ingress.queue, "_url", good_url)
    assert call(webhook, WT_PATH, raw, headers) == (202, {"queued": True})  # same signature: not a replay
    assert len(queued(stack)) == 1


def test_whaticket_url_token_mode(stack, webhook):
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    token = "Zk3q9V1xR7mN2pL8sT4vW6yA0bC5dE1fG3hJ"
    reg = register_whaticket_channel(
        directory, SecretStore(max_age=0), stage="dev", tenant=Tenant(tenant_id=DEMO.tenant_id, name=DEMO.business_name),
        connection="fork-sem-assinatura", base_url="http://127.0.0.1:3001/whaticket", api_token="fork-token",
        auth_mode="url_token", generated={"url_token": token},
    )  # fmt: skip
    assert reg.webhook_path == f"/webhooks/whaticket/fork-sem-assinatura/{token}"
    raw = fixture_bytes("whaticket/baileys_conversation.json")
    assert call(webhook, reg.webhook_path, raw, {}) == (202, {"queued": True})
    assert call(webhook, reg.webhook_path[:-1] + "X", raw, {}) == (403, {"error": "signature_invalid"})
    assert call(webhook, "/webhooks/whaticket/fork-sem-assinatura", raw, signed(raw)) == (401, {"error": "signature_missing"})
    # The signing channel does not accept a URL token instead of its signature.
    assert call(webhook, f"{WT_PATH}/{token}", raw, {})[0] == 401
    assert len(queued(stack)) == 1


def test_unknown_relay_routes_and_methods(stack, webhook):
    assert call(webhook, "/webhooks/evolution/a/b", b"{}", {})[0] == 404
    assert call(webhook, "/webhooks/whaticket/a/b/c", b"{}", {})[0] == 404
    assert call(webhook, "/webhooks/telegram", b"{}", {})[0] == 404
    event = http_api_event("GET", "/webhooks/evolution")
    assert webhook.lambda_handler(event, LambdaContext(function_name="WebhookFunction"))["statusCode"] == 405


# --- review regressions: no lost deliveries, no takeovers -------------------------------------


def test_an_oversized_shared_contacts_list_is_queued_truncated_not_refused_forever(stack, webhook):
    doc = json.loads(fixture_bytes("evolution/contacts_array.json"))
    card = doc["data"]["message"]["contactsArrayMessage"]["contacts"][0]
    doc["data"]["message"]["contactsArrayMessage"]["contacts"] = [card] * 4000  # ~1 MB of vCards
    raw = json.dumps(doc).encode()
    assert len(raw) > 256 * 1024
    assert call(webhook, EVO_PATH, raw, EVO_HEADERS) == (200, {"received": 1, "statuses": 0})
    [item] = queued(stack)
    assert len(item["body"]["message"]["extra"]["contacts"]) == 20
    assert item["body"]["message"]["extra"]["truncated"] is True


def test_a_rotated_webhook_secret_is_picked_up_without_losing_deliveries(stack, webhook, monkeypatch):
    raw = evolution_text()
    assert call(webhook, EVO_PATH, raw, EVO_HEADERS)[0] == 200  # caches the current secret
    SecretStore(max_age=0).put_json(
        "atende/dev/webhook-auth/evolution-padaria-evolution",
        {"header_name": "x-atende-secret", "header_value": "rotated-header-secret", "apikey_sha256": sha256_hex(DEMO.evolution_api_key)},
    )
    ingress = webhook._ingresses()
    clock = ingress.secrets._clock
    monkeypatch.setattr(ingress.secrets, "_clock", lambda: clock() + 31)  # the cached copy is now 31 s old
    second = raw.replace(b'"conversation"', b'"conversation" ', 1)  # another delivery, same message id
    assert call(webhook, EVO_PATH, second, {"x-atende-secret": "rotated-header-secret"})[0] == 200
    assert call(webhook, EVO_PATH, raw, EVO_HEADERS)[0] == 403  # the old secret is gone for good


def test_a_bad_proof_does_not_make_every_request_re_read_the_secret(stack, webhook):
    from atende.store import aws

    fetched = []
    aws.client("secretsmanager").meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", lambda params, **_: fetched.append(params["SecretId"])
    )
    for _ in range(5):
        assert call(webhook, EVO_PATH, evolution_text(), {"x-atende-secret": "guess"})[0] == 403
    assert fetched.count("atende/dev/webhook-auth/evolution-padaria-evolution") == 1


@pytest.mark.parametrize(("reason", "logged_out"), [(401, True), (428, False)])
def test_only_a_logout_pages_a_human(stack, webhook, log_output, capsys, reason, logged_out):
    doc = json.loads(fixture_bytes("evolution/connection_close.json"))
    doc["data"]["statusReason"] = reason
    assert call(webhook, EVO_PATH, json.dumps(doc).encode(), EVO_HEADERS)[0] == 200
    [alert] = [json.loads(line) for line in log_output.getvalue().splitlines() if '"whatsapp connection closed"' in line]
    assert alert["logged_out"] is logged_out
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    names = {m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert "ChannelDisconnected" in names
    assert ("ChannelLoggedOut" in names) is logged_out


def test_another_tenant_cannot_take_over_a_registered_instance_or_its_secrets(stack):
    from atende.store.tenants import ChannelTaken

    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    secrets = SecretStore(max_age=0)
    before = secrets.get_json("atende/dev/webhook-auth/evolution-padaria-evolution")
    with pytest.raises(ChannelTaken):
        register_evolution_channel(
            directory, secrets, stage="dev", tenant=Tenant(tenant_id="sorveteria-gelato", name="Sorveteria Gelato"),
            instance=DEMO.evolution_instance, base_url="https://evo.sorveteria.example", api_key="0C6E1B7A2D9F4E3B8A5C1D7F0E2B4A6C",
        )  # fmt: skip
    assert secrets.get_json("atende/dev/webhook-auth/evolution-padaria-evolution") == before
    assert directory.channel_by_id("evolution:padaria-evolution").tenant_id == DEMO.tenant_id


def test_re_registering_keeps_the_webhook_secrets_unless_asked_to_rotate(stack):
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    secrets = SecretStore(max_age=0)
    tenant = Tenant(tenant_id=DEMO.tenant_id, name=DEMO.business_name)
    kwargs = {"stage": "dev", "tenant": tenant, "connection": DEMO.whaticket_connection, "base_url": "http://127.0.0.1:3001/whaticket"}
    kept = register_whaticket_channel(directory, secrets, api_token="new-api-token", **kwargs)
    assert kept.generated == {"signing_secret": DEMO.whaticket_signing_secret}
    rotated = register_whaticket_channel(directory, secrets, api_token="new-api-token", rotate=True, **kwargs)
    assert rotated.generated["signing_secret"] != DEMO.whaticket_signing_secret
    assert secrets.get_json("atende/dev/channels/whaticket-padaria-whaticket") == {"token": "new-api-token"}
