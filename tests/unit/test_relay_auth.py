"""Evolution and Whaticket delivery proofs: every scheme valid, missing, wrong, expired, tampered.

Replay (a signature accepted twice) and wrong-channel deliveries need the stored state and are
covered end to end in tests/integration/test_relay_webhooks.py.
"""

from __future__ import annotations

import jwt
import pytest

from atende.channels.relay_auth import (
    EvolutionAuth,
    WhaticketAuth,
    sha256_hex,
    sign_evolution_body,
    sign_whaticket_body,
    verify_evolution,
    verify_whaticket,
)
from atende.errors import ConfigError, SignatureInvalid, SignatureMissing, TimestampOutOfWindow

NOW = 1_763_726_400  # 2025-11-21T12:00:00Z
BODY = b'{"event":"messages.upsert","instance":"padaria-evolution","data":{"key":{"id":"3EB0C431C26A1916E1A7"}}}'
INSTANCE_TOKEN = "B6D711FCDE4D4FD5936544120E713976"
HMAC_SECRET = "relay-hmac-secret-9f2c1b7d"
HEADER_VALUE = "x5Yq0HcRk3mN1pL8sT4vW7zA2bD6eF9g"
JWT_KEY = "evolution-jwt-key-4b8e2f0a6c1d9e7b5a3f1c8d6e4b2a0f9c7e5d3b1a8f6e4c2d0b9a7f5e3c1d8b6"


def evolution_jwt(*, iat: int = NOW, exp: int | None = NOW + 600, key: str = JWT_KEY, alg: str = "HS256", **claims: object) -> str:
    payload: dict[str, object] = {"iat": iat, "app": "evolution", "action": "webhook", **claims}
    if exp is not None:
        payload["exp"] = exp
    return jwt.encode(payload, key, algorithm=alg)


ALL = EvolutionAuth(
    hmac_secret=HMAC_SECRET,
    header_name="x-atende-secret",
    header_value=HEADER_VALUE,
    jwt_key=JWT_KEY,
    apikey_sha256=sha256_hex(INSTANCE_TOKEN),
)


def good_headers() -> dict[str, str]:
    return {
        "x-webhook-signature": sign_evolution_body(BODY, HMAC_SECRET),
        "x-atende-secret": HEADER_VALUE,
        "authorization": f"Bearer {evolution_jwt()}",
    }


# --- Evolution ------------------------------------------------------------------------------


def test_every_scheme_valid_together_passes() -> None:
    verify_evolution(ALL, BODY, good_headers(), INSTANCE_TOKEN, now=NOW)


@pytest.mark.parametrize(
    ("auth", "headers", "apikey"),
    [
        (EvolutionAuth(hmac_secret=HMAC_SECRET), {"x-webhook-signature": sign_evolution_body(BODY, HMAC_SECRET)}, None),
        # Relays differ on the prefix; bare hex, any case, is the same signature.
        (EvolutionAuth(hmac_secret=HMAC_SECRET), {"x-webhook-signature": sign_evolution_body(BODY, HMAC_SECRET)[7:].upper()}, None),
        (EvolutionAuth(header_name="x-atende-secret", header_value=HEADER_VALUE), {"x-atende-secret": HEADER_VALUE}, None),
        (EvolutionAuth(jwt_key=JWT_KEY), {"authorization": f"Bearer {evolution_jwt()}"}, None),
        (EvolutionAuth(jwt_key=JWT_KEY), {"authorization": f"bearer {evolution_jwt(exp=NOW + 5)}"}, None),
        (EvolutionAuth(apikey_sha256=sha256_hex(INSTANCE_TOKEN)), {}, INSTANCE_TOKEN),
    ],
    ids=["hmac", "hmac-bare-hex", "header", "jwt", "jwt-lowercase-scheme", "apikey"],
)
def test_each_scheme_alone_accepts_its_proof(auth: EvolutionAuth, headers: dict[str, str], apikey: str | None) -> None:
    verify_evolution(auth, BODY, headers, apikey, now=NOW)


@pytest.mark.parametrize(
    ("drop", "apikey"),
    [("x-webhook-signature", INSTANCE_TOKEN), ("x-atende-secret", INSTANCE_TOKEN), ("authorization", INSTANCE_TOKEN), (None, None)],
    ids=["hmac", "header", "jwt", "apikey"],
)
def test_a_missing_proof_is_401_even_when_the_others_are_valid(drop: str | None, apikey: str | None) -> None:
    headers = good_headers()
    if drop:
        del headers[drop]
    with pytest.raises(SignatureMissing) as err:
        verify_evolution(ALL, BODY, headers, apikey, now=NOW)
    assert err.value.status_code == 401


@pytest.mark.parametrize(
    ("header", "value", "apikey"),
    [
        ("x-webhook-signature", sign_evolution_body(BODY, "another-channels-secret"), INSTANCE_TOKEN),
        ("x-webhook-signature", "sha256=not-hex-at-all", INSTANCE_TOKEN),
        ("x-webhook-signature", "sha256=" + "é" * 64, INSTANCE_TOKEN),
        ("x-atende-secret", HEADER_VALUE[:-1] + "h", INSTANCE_TOKEN),
        ("authorization", f"Bearer {evolution_jwt(key='another-channels-jwt-key-7d5b3f1e9c8a6d4b2f0e8c6a4d2b0f9e')}", INSTANCE_TOKEN),
        ("authorization", "Bearer not.a.jwt", INSTANCE_TOKEN),
        ("authorization", f"Bearer {evolution_jwt(action='something-else')}", INSTANCE_TOKEN),
        ("authorization", f"Bearer {evolution_jwt(iat=NOW + 3600, exp=NOW + 4200)}", INSTANCE_TOKEN),
        (None, None, "4F1B0A0C9E2D4B7A8C6D5E3F2A1B0C9D"),
    ],
    ids=["hmac-wrong-key", "hmac-not-hex", "hmac-non-ascii", "header-wrong", "jwt-wrong-key", "jwt-garbage", "jwt-other-action",
         "jwt-issued-in-future", "apikey-wrong"],
)  # fmt: skip
def test_a_wrong_proof_is_403(header: str | None, value: str | None, apikey: str) -> None:
    headers = good_headers()
    if header and value:
        headers[header] = value
    with pytest.raises(SignatureInvalid) as err:
        verify_evolution(ALL, BODY, headers, apikey, now=NOW)
    assert err.value.status_code == 403


def test_expired_jwt_is_rejected_beyond_the_leeway() -> None:
    auth = EvolutionAuth(jwt_key=JWT_KEY)
    verify_evolution(auth, BODY, {"authorization": f"Bearer {evolution_jwt(iat=NOW - 620, exp=NOW - 20)}"}, None, now=NOW)
    with pytest.raises(TimestampOutOfWindow):
        verify_evolution(auth, BODY, {"authorization": f"Bearer {evolution_jwt(iat=NOW - 700, exp=NOW - 100)}"}, None, now=NOW)


def test_jwt_without_exp_or_with_another_algorithm_is_rejected() -> None:
    auth = EvolutionAuth(jwt_key=JWT_KEY)
    with pytest.raises(SignatureInvalid):
        verify_evolution(auth, BODY, {"authorization": f"Bearer {evolution_jwt(exp=None)}"}, None, now=NOW)
    with pytest.raises(SignatureInvalid):
        verify_evolution(auth, BODY, {"authorization": f"Bearer {evolution_jwt(alg='HS512')}"}, None, now=NOW)
    unsigned = jwt.encode({"iat": NOW, "exp": NOW + 600}, None, algorithm="none")
    with pytest.raises(SignatureInvalid):
        verify_evolution(auth, BODY, {"authorization": f"Bearer {unsigned}"}, None, now=NOW)


def test_tampered_body_fails_the_hmac_but_not_the_body_independent_proofs() -> None:
    tampered = BODY.replace(b"3EB0C431C26A1916E1A7", b"3EB0C431C26A1916E1A8")
    with pytest.raises(SignatureInvalid):
        verify_evolution(ALL, tampered, good_headers(), INSTANCE_TOKEN, now=NOW)
    # The documented weakness of (b)/(c)/(d): they are not bound to the body.
    weak = EvolutionAuth(header_name="x-atende-secret", header_value=HEADER_VALUE)
    verify_evolution(weak, tampered, {"x-atende-secret": HEADER_VALUE}, None, now=NOW)


def test_a_channel_with_no_scheme_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        verify_evolution(EvolutionAuth(), BODY, good_headers(), INSTANCE_TOKEN, now=NOW)


def test_secret_round_trip_and_validation() -> None:
    assert EvolutionAuth.from_secret(ALL.to_secret()) == ALL
    assert ALL.schemes == ("hmac", "header", "jwt", "apikey")
    assert EvolutionAuth.from_secret({"header_name": "X-Atende-Secret", "header_value": "v"}).header_name == "x-atende-secret"
    with pytest.raises(ConfigError):
        EvolutionAuth.from_secret({"header_name": "x-atende-secret"})


# --- Whaticket ------------------------------------------------------------------------------

SIGNING_SECRET = "whaticket-signing-secret-3c7e9a1f"
WT_BODY = b'{"number":"5511987654321","message":{"conversation":"Oi, tem p\xc3\xa3o de queijo?"}}'
SIGNED = WhaticketAuth(signing_secret=SIGNING_SECRET)
URL_TOKEN = "q8Xb3LkP0zR7wN2vY5tH9mJ4cF6dS1aG0eU"


def wt_headers(ts: int = NOW, body: bytes = WT_BODY, secret: str = SIGNING_SECRET) -> dict[str, str]:
    return {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(body, ts, secret)}


def verify_wt(auth: WhaticketAuth, headers: dict[str, str], *, body: bytes = WT_BODY, url_token: str | None = None) -> str | None:
    return verify_whaticket(auth, body, headers, url_token, now=NOW, window_seconds=300)


def test_whaticket_signature_is_hmac_of_timestamp_dot_raw_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SIGNING_SECRET.encode(), f"{NOW}.".encode() + WT_BODY, hashlib.sha256).hexdigest()
    assert sign_whaticket_body(WT_BODY, NOW, SIGNING_SECRET) == expected
    assert verify_wt(SIGNED, wt_headers()) == expected  # the value remembered for replay detection


@pytest.mark.parametrize("skew", [-300, -1, 0, 299, 300])
def test_timestamps_within_300_seconds_are_accepted(skew: int) -> None:
    verify_wt(SIGNED, wt_headers(NOW + skew))


@pytest.mark.parametrize("skew", [-301, 301, -86_400])
def test_timestamps_outside_the_window_are_rejected(skew: int) -> None:
    with pytest.raises(TimestampOutOfWindow) as err:
        verify_wt(SIGNED, wt_headers(NOW + skew))
    assert err.value.status_code == 403 and err.value.reason == "timestamp_out_of_window"


@pytest.mark.parametrize("missing", ["x-timestamp", "x-signature"])
def test_missing_whaticket_header_is_401(missing: str) -> None:
    headers = wt_headers()
    del headers[missing]
    with pytest.raises(SignatureMissing):
        verify_wt(SIGNED, headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-timestamp": "1763726400.5", "x-signature": "00"},
        {"x-timestamp": "-1763726400", "x-signature": "00"},
        {"x-timestamp": str(NOW), "x-signature": sign_whaticket_body(WT_BODY, NOW, "another-connections-secret")},
        {"x-timestamp": str(NOW + 1), "x-signature": sign_whaticket_body(WT_BODY, NOW, SIGNING_SECRET)},  # ts not the signed one
    ],
    ids=["fractional-ts", "negative-ts", "wrong-secret", "timestamp-swapped"],
)
def test_wrong_whaticket_signature_is_403(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        verify_wt(SIGNED, headers)


def test_tampered_whaticket_body_is_403() -> None:
    with pytest.raises(SignatureInvalid):
        verify_wt(SIGNED, wt_headers(), body=WT_BODY.replace(b"queijo", b"batata"))


def test_optional_webhook_token_is_checked_when_configured() -> None:
    auth = WhaticketAuth(signing_secret=SIGNING_SECRET, webhook_token="wt-token-71f3")
    verify_wt(auth, {**wt_headers(), "x-webhook-token": "wt-token-71f3"})
    with pytest.raises(SignatureMissing):
        verify_wt(auth, wt_headers())
    with pytest.raises(SignatureInvalid):
        verify_wt(auth, {**wt_headers(), "x-webhook-token": "wt-token-71f4"})


def test_url_token_mode_compares_the_path_token_and_remembers_nothing() -> None:
    auth = WhaticketAuth(url_token_sha256=sha256_hex(URL_TOKEN))
    assert verify_wt(auth, {}, url_token=URL_TOKEN) is None
    with pytest.raises(SignatureMissing):
        verify_wt(auth, {})
    with pytest.raises(SignatureInvalid):
        verify_wt(auth, {}, url_token=URL_TOKEN[:-1] + "X")


def test_a_signing_channel_never_falls_back_to_a_url_token() -> None:
    auth = WhaticketAuth(signing_secret=SIGNING_SECRET, url_token_sha256=sha256_hex(URL_TOKEN))
    with pytest.raises(SignatureMissing):
        verify_wt(auth, {}, url_token=URL_TOKEN)


def test_a_whaticket_channel_with_no_proof_configured_accepts_nothing() -> None:
    with pytest.raises(SignatureInvalid):
        verify_wt(WhaticketAuth(), wt_headers(), url_token=URL_TOKEN)


def test_a_header_name_without_its_value_cannot_even_be_constructed() -> None:
    # Otherwise verify_evolution would accept any value of that header.
    with pytest.raises(ConfigError):
        EvolutionAuth(header_name="x-atende-secret")
    with pytest.raises(ConfigError):
        EvolutionAuth(header_value=HEADER_VALUE)


@pytest.mark.parametrize(
    "claims",
    [
        {"iat": NOW, "exp": float("nan")},
        {"iat": NOW, "exp": float("inf")},
        {"iat": float("nan"), "exp": NOW + 600},
        {"iat": NOW, "exp": NOW + 3600},  # lives longer than Evolution's 600 s tokens
        {"exp": NOW + 86_400},  # no iat, expires a day from now
    ],
    ids=["exp-nan", "exp-infinity", "iat-nan", "too-long-lived", "far-exp-without-iat"],
)
def test_jwt_time_claims_must_be_finite_and_evolution_shaped(claims: dict[str, float]) -> None:
    token = jwt.encode({**claims, "app": "evolution", "action": "webhook"}, JWT_KEY, algorithm="HS256")
    with pytest.raises(SignatureInvalid):
        verify_evolution(EvolutionAuth(jwt_key=JWT_KEY), BODY, {"authorization": f"Bearer {token}"}, None, now=NOW)
