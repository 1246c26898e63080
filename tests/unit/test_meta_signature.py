"""Meta webhook security: X-Hub-Signature-256 over raw bytes, the GET handshake, JSON decoding.

Reference: ../shared/docs/providers.md §1.1-1.2 (401 missing, 403 mismatch, 400 malformed).
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from atende.channels.meta import decode_json, verify_meta_signature, verify_subscription
from atende.errors import MalformedPayload, SignatureInvalid, SignatureMissing
from tests.conftest import fixture_bytes

APP_SECRET = "4f1d2c3b5a6e7f8091a2b3c4d5e6f708"  # shape of a Meta App Secret (32 hex chars)
VERIFY_TOKEN = "padaria-verify-2025"


def meta_header(raw_body: bytes, secret: str = APP_SECRET) -> str:
    """What Meta sends: lowercase hex HMAC-SHA256 of the raw body, computed independently of the code under test."""
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


# --- verify_meta_signature -----------------------------------------------------------------


def test_valid_signature_over_raw_body_is_accepted() -> None:
    # Given Meta's text delivery, signed with the app secret
    raw = fixture_bytes("meta/text.json")

    # When / Then: verification returns without raising
    assert verify_meta_signature(raw, meta_header(raw), APP_SECRET) is None


@pytest.mark.parametrize("header", [None, ""], ids=["absent", "empty"])
def test_missing_signature_header_is_401(header: str | None) -> None:
    # Given a delivery without X-Hub-Signature-256
    raw = fixture_bytes("meta/text.json")

    # When
    with pytest.raises(SignatureMissing) as caught:
        verify_meta_signature(raw, header, APP_SECRET)

    # Then
    assert type(caught.value) is SignatureMissing
    assert (caught.value.status_code, caught.value.reason) == (401, "signature_missing")


def test_signature_made_with_another_secret_is_403() -> None:
    # Given a body signed with someone else's app secret
    raw = fixture_bytes("meta/text.json")
    header = meta_header(raw, secret="0000000000000000000000000000beef")

    # When
    with pytest.raises(SignatureInvalid) as caught:
        verify_meta_signature(raw, header, APP_SECRET)

    # Then
    assert type(caught.value) is SignatureInvalid
    assert (caught.value.status_code, caught.value.reason) == (403, "signature_invalid")


def test_body_tampered_by_one_byte_is_403() -> None:
    # Given a genuine signature, then the Brazilian price in the body changed by one byte
    raw = fixture_bytes("meta/text_ddd31.json")
    header = meta_header(raw)
    tampered = raw.replace(b"cenoura", b"cenourA")
    assert len(tampered) == len(raw)
    assert sum(a != b for a, b in zip(raw, tampered, strict=True)) == 1

    # When / Then
    with pytest.raises(SignatureInvalid) as caught:
        verify_meta_signature(tampered, header, APP_SECRET)
    assert caught.value.status_code == 403


@pytest.mark.parametrize(
    "make_header",
    [
        lambda raw: hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest(),  # bare hex
        lambda raw: "sha1=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha1).hexdigest(),  # legacy X-Hub-Signature
    ],
    ids=["bare-hex", "legacy-sha1"],
)
def test_header_without_sha256_prefix_is_403(make_header) -> None:
    # Given a header that is not "sha256=<hex>"
    raw = fixture_bytes("meta/text.json")

    # When / Then
    with pytest.raises(SignatureInvalid) as caught:
        verify_meta_signature(raw, make_header(raw), APP_SECRET)
    assert caught.value.status_code == 403


def test_uppercase_hex_digest_is_accepted() -> None:
    # Given the right digest written in uppercase hex (hex is case-insensitive; the code lower-cases it)
    raw = fixture_bytes("meta/image.json")
    digest = meta_header(raw).removeprefix("sha256=")

    # When / Then
    assert verify_meta_signature(raw, "sha256=" + digest.upper(), APP_SECRET) is None


def test_signature_covers_metas_escaped_bytes_not_a_reserialised_body() -> None:
    # Given Meta's body as sent: ASCII JSON with \uXXXX escapes ("Ol\u00e1", emoji as surrogate pairs)
    raw = fixture_bytes("meta/text.json")
    assert b"Ol\\u00e1" in raw
    assert b"\\ud83e\\udd50" in raw
    header = meta_header(raw)
    # ... and the same document re-serialised the way a framework might (UTF-8, no escapes)
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(reserialised) == json.loads(raw)
    assert reserialised != raw

    # When / Then: the raw bytes verify ...
    assert verify_meta_signature(raw, header, APP_SECRET) is None
    # ... and the equivalent re-serialised body does not
    with pytest.raises(SignatureInvalid):
        verify_meta_signature(reserialised, header, APP_SECRET)


def test_empty_app_secret_never_verifies() -> None:
    # Given a misconfigured (empty) app secret and an attacker who signs with the empty key
    raw = fixture_bytes("meta/text.json")
    forged = meta_header(raw, secret="")

    # When / Then: the delivery must be refused, not accepted
    with pytest.raises(SignatureInvalid):
        verify_meta_signature(raw, forged, "")


# --- verify_subscription (GET handshake) ---------------------------------------------------

HANDSHAKE = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}


def test_subscription_with_the_configured_token_echoes_the_challenge() -> None:
    # Given Meta's GET when the webhook is configured / When
    challenge = verify_subscription(HANDSHAKE, VERIFY_TOKEN)

    # Then the raw challenge is echoed back
    assert challenge == "1158201444"


@pytest.mark.parametrize(
    ("query", "configured_token"),
    [
        ({**HANDSHAKE, "hub.verify_token": "token-errado"}, VERIFY_TOKEN),
        ({**HANDSHAKE, "hub.mode": "unsubscribe"}, VERIFY_TOKEN),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.mode"}, VERIFY_TOKEN),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.challenge"}, VERIFY_TOKEN),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.verify_token"}, VERIFY_TOKEN),
        ({**HANDSHAKE, "hub.verify_token": ""}, ""),
    ],
    ids=["wrong-token", "mode-not-subscribe", "mode-missing", "challenge-missing", "token-missing", "empty-configured-token"],
)
def test_subscription_is_refused(query: dict[str, str], configured_token: str) -> None:
    # Given a handshake that must get 403 / When / Then
    assert verify_subscription(query, configured_token) is None


# --- decode_json ---------------------------------------------------------------------------


def test_decode_json_returns_the_object() -> None:
    # Given Meta's account_update delivery / When / Then
    assert decode_json(fixture_bytes("meta/account_update.json")) == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "time": 1763723400,
                "changes": [{"value": {"phone_number": "551140028922", "event": "VERIFIED_ACCOUNT"}, "field": "account_update"}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
        (b'{"object":"whatsapp_business_account","entry":[', "body is not valid JSON"),
        (b'{"text":{"body":"Ol\xe1"}}', "body is not valid JSON"),  # Latin-1 "á": invalid UTF-8
        (b'[{"object":"whatsapp_business_account","entry":[]}]', "body is not a JSON object"),
        (b'"whatsapp_business_account"', "body is not a JSON object"),
    ],
    ids=["html", "empty", "truncated", "invalid-utf8", "json-list", "json-string"],
)
def test_decode_json_rejects_what_is_not_a_json_object(raw: bytes, message: str) -> None:
    # Given a body that is not a JSON object / When
    with pytest.raises(MalformedPayload) as caught:
        decode_json(raw)

    # Then it is a 400, never an unhandled exception
    assert type(caught.value) is MalformedPayload
    assert (caught.value.status_code, str(caught.value)) == (400, message)


def test_decode_json_rejects_pathologically_nested_json() -> None:
    # Given 100 000 nested arrays (valid JSON grammar, ~100 KB, well under the 3 MB limit)
    raw = b"[" * 100_000 + b"]" * 100_000

    # When / Then
    with pytest.raises(MalformedPayload):
        decode_json(raw)
