"""WebhookFunction under moto: verification, rejections that queue nothing, routing, enqueueing."""

from __future__ import annotations

import json

import pytest

from atende.channels.meta import sign_meta_body
from local.events import LambdaContext, http_api_event
from local.seed import DEMO
from tests.conftest import fixture_bytes
from tests.support import build_pipeline, signed_meta_event

TEXT_ID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDMTk0QzFFMzc1NkY5QzE0AA=="


@pytest.fixture
def pipeline(stack):
    return build_pipeline(stack)


def call(pipeline, event):
    return pipeline.webhook.lambda_handler(event, LambdaContext(function_name="WebhookFunction"))


# --- GET: subscription handshake -------------------------------------------------------


def test_subscription_with_the_verify_token_echoes_the_challenge_as_plain_text(pipeline):
    query = f"hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={DEMO.verify_token}"
    response = call(pipeline, http_api_event("GET", "/webhooks/meta", raw_query=query))
    assert response == {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "1158201444"}


@pytest.mark.parametrize(
    "query",
    [
        "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong-token",
        f"hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token={DEMO.verify_token}",
        "hub.mode=subscribe&hub.challenge=1158201444",
        "",
    ],
    ids=["wrong-token", "wrong-mode", "no-token", "no-query"],
)
def test_subscription_without_mode_and_token_is_forbidden(pipeline, query):
    response = call(pipeline, http_api_event("GET", "/webhooks/meta", raw_query=query))
    assert response["statusCode"] == 403


# --- POST: rejections change nothing ----------------------------------------------------


def test_signed_text_is_accepted_and_queued_once_with_conversation_group_and_message_dedup_id(pipeline):
    response = pipeline.deliver(fixture_bytes("meta/text.json"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"received": 1, "statuses": 0}
    [queued] = pipeline.queued()
    message = queued["body"]["message"]
    assert queued["attributes"]["MessageDeduplicationId"] == TEXT_ID
    assert queued["attributes"]["MessageGroupId"] == f"meta:{DEMO.phone_number_id}#{message['contact']['contact_id']}"
    assert message["contact"]["contact_id"].startswith("c_")
    assert DEMO.customer_wa_id not in queued["attributes"]["MessageGroupId"]
    assert message["text"] == "Olá! Vocês abrem no domingo? 🥐"
    assert message["channel_id"] == f"meta:{DEMO.phone_number_id}"


def test_base64_encoded_body_is_decoded_before_the_signature_check(pipeline):
    raw = fixture_bytes("meta/text.json")
    response = pipeline.deliver(raw, base64_encode=True)
    assert response["statusCode"] == 200
    assert len(pipeline.queued()) == 1


@pytest.mark.parametrize(
    ("mutate", "status", "error"),
    [
        (lambda e: e["headers"].pop("x-hub-signature-256"), 401, "signature_missing"),
        (lambda e: e["headers"].update({"x-hub-signature-256": sign_meta_body(b"other", DEMO.app_secret)}), 403, "signature_invalid"),
        (lambda e: e["headers"].update({"x-hub-signature-256": sign_meta_body(b"x", "not-the-app-secret")}), 403, "signature_invalid"),
        (lambda e: e.update({"body": e["body"].replace("domingo", "sabado")}), 403, "signature_invalid"),
    ],
    ids=["missing", "other-body", "wrong-secret", "tampered"],
)
def test_bad_signatures_are_rejected_and_nothing_is_queued(pipeline, mutate, status, error):
    event = signed_meta_event(fixture_bytes("meta/text.json"))
    mutate(event)
    response = call(pipeline, event)
    assert (response["statusCode"], json.loads(response["body"])) == (status, {"error": error})
    assert pipeline.queued() == []


def test_re_serialised_body_fails_the_signature_meta_computed_over_the_raw_bytes(pipeline):
    raw = fixture_bytes("meta/text.json")
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()
    event = signed_meta_event(reserialised, signature=sign_meta_body(raw, DEMO.app_secret))
    assert call(pipeline, event)["statusCode"] == 403
    assert pipeline.queued() == []


def test_signed_but_malformed_json_is_a_400_and_queues_nothing(pipeline):
    response = pipeline.deliver(b'{"object":"whatsapp_business_account","entry":[')
    assert (response["statusCode"], json.loads(response["body"])) == (400, {"error": "malformed_payload"})
    assert pipeline.queued() == []


def test_signed_json_of_the_wrong_shape_is_a_400(pipeline):
    response = pipeline.deliver(b'{"object":"page","entry":[]}')
    assert response["statusCode"] == 400
    assert pipeline.queued() == []


def test_oversize_body_is_a_413_before_any_work(pipeline, monkeypatch):
    raw = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = pipeline.deliver(raw)
    assert (response["statusCode"], json.loads(response["body"])) == (413, {"error": "payload_too_large"})
    assert pipeline.queued() == []


def test_unknown_route_and_method(pipeline):
    assert call(pipeline, http_api_event("GET", "/webhooks/other"))["statusCode"] == 404
    assert call(pipeline, http_api_event("PUT", "/webhooks/meta", body=b"{}"))["statusCode"] == 405


# --- POST: routing ------------------------------------------------------------------------


def test_unknown_phone_number_id_is_acknowledged_then_dropped_by_the_processor(pipeline, capsys):
    # The webhook reads no tenant data: it accepts Meta's signed delivery for any number...
    response = pipeline.deliver(fixture_bytes("meta/unknown_phone_number.json"))
    assert response["statusCode"] == 200
    # ...and the processor, which owns routing, drops it with a metric and answers nobody.
    assert [r.failed for r in pipeline.runner.drain()] == [[]]
    assert pipeline.sandbox.calls == []
    assert pipeline.queued() == []
    assert '"InboundUnknownChannel":[1.0]' in capsys.readouterr().out


def test_errors_only_delivery_is_acknowledged_with_a_metric_and_nothing_queued(pipeline, capsys, log_output):
    response = pipeline.deliver(fixture_bytes("meta/errors_only.json"))
    assert response["statusCode"] == 200
    assert pipeline.queued() == []
    assert '"ProviderWebhookError":[1.0]' in capsys.readouterr().out
    [line] = [json.loads(x) for x in log_output.getvalue().splitlines() if "meta reported an error" in x]
    assert (line["channel_id"], line["code"]) == ("meta:100000000000001", 130429)


def test_other_subscription_fields_are_acknowledged(pipeline):
    assert pipeline.deliver(fixture_bytes("meta/account_update.json"))["statusCode"] == 200
    assert pipeline.queued() == []


def test_multi_entry_delivery_queues_each_message_and_status_in_its_own_conversation(pipeline):
    response = pipeline.deliver(fixture_bytes("meta/multi_entry.json"))
    assert json.loads(response["body"]) == {"received": 2, "statuses": 1}
    queued = pipeline.queued()
    kinds = sorted((q["body"]["kind"], q["attributes"]["MessageDeduplicationId"]) for q in queued)
    assert kinds == [("message", "wamid.MULTI.A1"), ("message", "wamid.MULTI.B1"), ("status", "wamid.OUTBOUND:delivered")]
    groups = {q["attributes"]["MessageDeduplicationId"]: q["attributes"]["MessageGroupId"] for q in queued}
    assert groups["wamid.MULTI.A1"] != groups["wamid.MULTI.B1"]
    assert groups["wamid.MULTI.A1"] == groups["wamid.OUTBOUND:delivered"]  # same customer, same order


def test_redelivered_webhook_within_five_minutes_is_deduplicated_by_the_fifo_queue(pipeline):
    raw = fixture_bytes("meta/text.json")
    assert pipeline.deliver(raw)["statusCode"] == 200
    assert pipeline.deliver(raw)["statusCode"] == 200
    assert len(pipeline.queued()) == 1


def test_enqueue_failure_answers_503_so_meta_retries(pipeline, monkeypatch):
    monkeypatch.setenv("INBOUND_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/does-not-exist.fifo")
    pipeline.webhook._ingresses.cache_clear()
    response = pipeline.deliver(fixture_bytes("meta/text.json"))
    assert (response["statusCode"], json.loads(response["body"])) == (503, {"error": "temporarily_unavailable"})


def test_unreadable_secret_answers_503_not_500(pipeline, monkeypatch):
    monkeypatch.setenv("META_SECRET_ID", "atende/dev/does-not-exist")
    pipeline.webhook._ingresses.cache_clear()
    response = pipeline.deliver(fixture_bytes("meta/text.json"))
    assert response["statusCode"] == 503
    assert pipeline.queued() == []


def test_logs_carry_no_phone_number_name_or_text_even_at_debug(pipeline, capsys, log_output):
    from atende.observability import logger

    logger.setLevel("DEBUG")  # the fixture restores the level
    pipeline.deliver(fixture_bytes("meta/text.json"))
    out = capsys.readouterr().out + log_output.getvalue()
    assert "inbound enqueued" in out
    for secret in (DEMO.customer_wa_id, "Mariana", "domingo", DEMO.app_secret):
        assert secret not in out


def test_base64_flag_with_invalid_base64_is_rejected_as_bad_signature(pipeline):
    event = signed_meta_event(fixture_bytes("meta/text.json"))
    event["isBase64Encoded"] = True
    event["body"] = "%%%not-base64%%%"
    assert call(pipeline, event)["statusCode"] == 403


@pytest.mark.parametrize("signature", ["sha256=é" + "0" * 63, "sha256=\u0661" * 2, "sha256=" + "ff" * 31 + "ﬀ"])
def test_non_ascii_signature_is_a_403_not_a_crash(pipeline, signature):
    event = signed_meta_event(fixture_bytes("meta/text.json"), signature=signature)
    assert call(pipeline, event)["statusCode"] == 403
    assert pipeline.queued() == []


def test_body_with_a_lone_surrogate_is_a_403_not_a_crash(pipeline):
    event = signed_meta_event(fixture_bytes("meta/text.json"))
    event["body"] = event["body"].replace("domingo", "domingo\ud800")
    assert call(pipeline, event)["statusCode"] == 403
    assert pipeline.queued() == []
