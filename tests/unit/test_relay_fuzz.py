"""Property tests for the Evolution and Whaticket webhooks: whatever arrives, the answer is never
a 5xx, and nothing is queued without valid credentials. Ports (queue, secrets, replay memory) are
in-memory; the parsers, verifiers and ingress use cases are real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende.channels.relay_auth import EvolutionAuth, WhaticketAuth, sha256_hex, sign_evolution_body, sign_whaticket_body
from atende.config import WebhookSettings
from atende.observability import metrics
from atende.service.relay_ingress import EvolutionIngress, WhaticketIngress
from tests.unit.test_meta_fuzz import MemoryQueue, json_value, mutate

NOW = 1_763_726_400
FIXTURE_DIR = Path(__file__).parent.parent / "fixtures"
EVOLUTION_FIXTURES = sorted((FIXTURE_DIR / "evolution").glob("*.json"))
WHATICKET_FIXTURES = sorted((FIXTURE_DIR / "whaticket").glob("*.json"))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER_SECRET = "fuzz-header-secret"
INSTANCE_TOKEN = "B6D711FCDE4D4FD5936544120E713976"
JWT_KEY = "fuzz-jwt-key-5c1e9a7b3d2f8e6a4c0b9d7f5e3a1c8b6d4f2e0a9c7b5d3f1e8a6c4b2d0f9e7a5"
HMAC_SECRET = "fuzz-hmac-secret"
SIGNING_SECRET = "fuzz-signing-secret"
MAX_BODY = 256 * 1024


class Secrets:
    """Every instance named in a fixture is registered with the same proofs."""

    def __init__(self, evolution: EvolutionAuth, whaticket: WhaticketAuth) -> None:
        self._evolution = evolution.to_secret()
        self._whaticket = whaticket.to_secret()

    def get_field(self, secret_id: str, field: str) -> str:
        return {"key": "pseudonym-key"}[field]

    def refresh(self, secret_id: str, *, min_age: float = 30.0) -> bool:
        return False  # nothing cached goes stale within one example

    def find_json(self, secret_id: str, *, absent_for: float = 60.0) -> dict[str, str] | None:
        if secret_id.startswith("auth/evolution-"):
            return self._evolution
        if secret_id == "auth/whaticket-loja-centro":
            return self._whaticket
        return None


class MemoryReplay:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    def first_seen(self, channel_id: str, signature: str, *, expires_at: int) -> bool:
        key = f"{channel_id}#{signature}"
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def forget(self, channel_id: str, signature: str) -> None:
        self.seen.discard(f"{channel_id}#{signature}")


SETTINGS = WebhookSettings(
    inbound_queue_url="q",
    meta_secret_id="m",
    pseudonym_secret_id="p",
    max_body_bytes=MAX_BODY,
    channel_auth_secret_prefix="auth/",
    replay_table_name="replay",
)


def apikey_of(doc: Any) -> str:
    return doc.get("apikey") if isinstance(doc, dict) and isinstance(doc.get("apikey"), str) else "B6D711FCDE4D4FD5936544120E713976"


def evolution(queue: MemoryQueue, *, hmac: bool = False) -> EvolutionIngress:
    metrics.clear_metrics()
    auth = EvolutionAuth(
        header_name="x-atende-secret", header_value=HEADER_SECRET, apikey_sha256=sha256_hex("B6D711FCDE4D4FD5936544120E713976")
    )
    if hmac:
        auth = EvolutionAuth(hmac_secret=HMAC_SECRET)
    return EvolutionIngress(SETTINGS, queue, Secrets(auth, WhaticketAuth()), clock=lambda: NOW)


def whaticket(queue: MemoryQueue) -> WhaticketIngress:
    metrics.clear_metrics()
    return WhaticketIngress(
        SETTINGS, queue, Secrets(EvolutionAuth(), WhaticketAuth(signing_secret=SIGNING_SECRET)), MemoryReplay(), clock=lambda: NOW
    )


def assert_queued_items_are_well_formed(queue: MemoryQueue, provider: str) -> None:
    for item in queue.items:
        envelope = json.loads(item.body)
        body = envelope[envelope["kind"]]
        assert envelope["v"] == 1 and body["channel_id"].startswith(f"{provider}:")
        assert item.group_id.startswith(body["channel_id"] + "#c_")
        assert 0 < len(item.dedup_id) <= 128


header_values = st.one_of(st.none(), st.text(max_size=60))


def random_headers(draw_map: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in draw_map.items() if v is not None}


# --- Evolution --------------------------------------------------------------------------------


@FUZZ
@given(
    body=st.binary(max_size=2048),
    headers=st.fixed_dictionaries({"x-atende-secret": header_values, "x-webhook-signature": header_values, "authorization": header_values}),
)
def test_evolution_random_bytes_with_random_credentials_are_rejected_without_queueing(body, headers):
    queue = MemoryQueue()
    response = evolution(queue).receive(body, random_headers(headers))
    assert response.status in (400, 401, 403)
    assert queue.items == []


def all_schemes(queue: MemoryQueue) -> EvolutionIngress:
    metrics.clear_metrics()
    auth = EvolutionAuth(
        hmac_secret=HMAC_SECRET,
        header_name="x-atende-secret",
        header_value=HEADER_SECRET,
        jwt_key=JWT_KEY,
        apikey_sha256=sha256_hex("B6D711FCDE4D4FD5936544120E713976"),
    )
    return EvolutionIngress(SETTINGS, queue, Secrets(auth, WhaticketAuth()), clock=lambda: NOW)


def valid_evolution_headers(raw: bytes) -> dict[str, str]:
    token = jwt.encode({"iat": NOW, "exp": NOW + 600, "app": "evolution", "action": "webhook"}, JWT_KEY, algorithm="HS256")
    return {
        "x-webhook-signature": sign_evolution_body(raw, HMAC_SECRET),
        "x-atende-secret": HEADER_SECRET,
        "authorization": f"Bearer {token}",
    }


credential_breakers = st.sampled_from(["x-webhook-signature", "x-atende-secret", "authorization", "apikey"])


@FUZZ
@given(
    fixture=st.sampled_from(EVOLUTION_FIXTURES),
    broken=st.lists(credential_breakers, min_size=1, max_size=4, unique=True),
    junk=header_values,
)
def test_evolution_real_payloads_with_any_proof_missing_or_wrong_queue_nothing(fixture, broken, junk):
    doc = {**json.loads(fixture.read_bytes()), "apikey": INSTANCE_TOKEN}  # some events carry apikey null
    raw = json.dumps(doc).encode()
    headers = valid_evolution_headers(raw)
    queue = MemoryQueue()
    assert all_schemes(queue).receive(raw, headers).status in (200,)  # positive control: every proof valid
    queue.items.clear()
    for name in broken:
        if name == "apikey":
            doc = {**doc, "apikey": junk}
            raw = json.dumps(doc).encode()
            headers["x-webhook-signature"] = sign_evolution_body(raw, HMAC_SECRET)  # keep the HMAC valid for the new body
        elif junk is None:
            headers.pop(name)
        else:
            headers[name] = junk
    if doc.get("apikey") == "B6D711FCDE4D4FD5936544120E713976" and all(
        headers.get(h) == v for h, v in valid_evolution_headers(raw).items()
    ):
        return  # the "breakage" rebuilt a valid proof (junk equal to the secret): nothing to test
    response = all_schemes(queue).receive(raw, headers)
    assert response.status in (401, 403)
    assert queue.items == []


@FUZZ
@given(fixture=st.sampled_from(EVOLUTION_FIXTURES), position=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_evolution_raw_byte_flips_signed_for_the_original_are_refused(fixture, position, flip):
    original = json.dumps(json.loads(fixture.read_bytes())).encode()
    signed_original = {"x-webhook-signature": sign_evolution_body(original, HMAC_SECRET)}
    assert evolution(MemoryQueue(), hmac=True).receive(original, signed_original).status == 200  # positive control
    tampered = bytearray(original)
    tampered[position % len(tampered)] ^= flip
    queue = MemoryQueue()
    response = evolution(queue, hmac=True).receive(bytes(tampered), signed_original)
    assert response.status in (400, 403)  # 400 only when the flip broke the JSON envelope itself
    assert queue.items == []


@FUZZ
@given(fixture=st.sampled_from(EVOLUTION_FIXTURES), path=st.lists(st.integers(0, 50), max_size=8), replacement=json_value)
def test_evolution_authenticated_structural_mutations_never_5xx(fixture, path, replacement):
    doc = mutate(json.loads(fixture.read_bytes()), path, replacement)
    raw = json.dumps(doc).encode()
    queue = MemoryQueue()
    response = evolution(queue).receive(raw, {"x-atende-secret": HEADER_SECRET})
    # 401/403: the mutation hit the apikey or the instance name; 400: the envelope.
    assert response.status in (200, 400, 401, 403)
    if response.status != 200:
        assert queue.items == []
    assert_queued_items_are_well_formed(queue, "evolution")


@FUZZ
@given(fixture=st.sampled_from(EVOLUTION_FIXTURES), path=st.lists(st.integers(0, 50), max_size=8), replacement=json_value)
def test_evolution_mutations_signed_for_the_original_bytes_are_refused(fixture, path, replacement):
    original = fixture.read_bytes().rstrip(b"\n")
    raw = json.dumps(mutate(json.loads(original), path, replacement)).encode()
    queue = MemoryQueue()
    response = evolution(queue, hmac=True).receive(raw, {"x-webhook-signature": sign_evolution_body(original, HMAC_SECRET)})
    assert response.status in (400, 403)  # 400 only when the envelope itself no longer parses
    assert queue.items == []


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(100, 200_000), opener=st.sampled_from([b"[", b'{"a":', b'{"instance":"padaria-evolution","data":']))
def test_evolution_deeply_nested_bodies_are_a_4xx_not_a_crash(depth, opener):
    raw = (opener * depth)[:MAX_BODY]
    queue = MemoryQueue()
    assert evolution(queue).receive(raw, {"x-atende-secret": HEADER_SECRET}).status == 400
    assert queue.items == []


def test_evolution_huge_body_is_413_before_parsing():
    queue = MemoryQueue()
    raw = b'{"instance":"padaria-evolution","pad":"' + b"x" * MAX_BODY + b'"}'
    assert evolution(queue).receive(raw, {"x-atende-secret": HEADER_SECRET}).status == 413
    assert queue.items == []


# --- Whaticket --------------------------------------------------------------------------------


def wt_signed(raw: bytes, ts: int = NOW) -> dict[str, str]:
    return {"x-timestamp": str(ts), "x-signature": sign_whaticket_body(raw, ts, SIGNING_SECRET)}


@FUZZ
@given(body=st.binary(max_size=2048), headers=st.fixed_dictionaries({"x-timestamp": header_values, "x-signature": header_values}))
def test_whaticket_random_bytes_with_random_signatures_are_rejected_without_queueing(body, headers):
    queue = MemoryQueue()
    response = whaticket(queue).receive("loja-centro", body, random_headers(headers))
    assert response.status in (401, 403)
    assert queue.items == []


@FUZZ
@given(fixture=st.sampled_from(WHATICKET_FIXTURES), path=st.lists(st.integers(0, 50), max_size=8), replacement=json_value)
def test_whaticket_signed_structural_mutations_never_5xx(fixture, path, replacement):
    doc = mutate(json.loads(fixture.read_bytes()), path, replacement)
    raw = json.dumps(doc).encode()
    queue = MemoryQueue()
    response = whaticket(queue).receive("loja-centro", raw, wt_signed(raw))
    assert response.status in (200, 202, 400, 422)
    if response.status != 202:
        assert queue.items == []
    else:
        assert len(queue.items) == 1
    assert_queued_items_are_well_formed(queue, "whaticket")


@FUZZ
@given(fixture=st.sampled_from(WHATICKET_FIXTURES), path=st.lists(st.integers(0, 50), max_size=8), replacement=json_value)
def test_whaticket_mutations_signed_for_the_original_bytes_are_refused(fixture, path, replacement):
    original = fixture.read_bytes().rstrip(b"\n")
    raw = json.dumps(mutate(json.loads(original), path, replacement)).encode()
    if raw == original:
        return
    queue = MemoryQueue()
    assert whaticket(queue).receive("loja-centro", raw, wt_signed(original)).status == 403
    assert queue.items == []


@FUZZ
@given(
    fixture=st.sampled_from(WHATICKET_FIXTURES),
    ts=st.one_of(st.none(), st.integers(NOW - 10_000, NOW + 10_000).map(str), st.text(max_size=12)),
    signature=st.one_of(st.none(), st.text(max_size=70), st.text("0123456789abcdef", min_size=64, max_size=64)),
)
def test_whaticket_real_payloads_with_wrong_or_missing_signatures_queue_nothing(fixture, ts, signature):
    raw = fixture.read_bytes()
    headers = {k: v for k, v in {"x-timestamp": ts, "x-signature": signature}.items() if v is not None}
    queue = MemoryQueue()
    assert whaticket(queue).receive("loja-centro", raw, headers).status in (401, 403)
    assert queue.items == []


@FUZZ
@given(fixture=st.sampled_from(WHATICKET_FIXTURES), position=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_whaticket_raw_byte_flips_signed_for_the_original_are_refused(fixture, position, flip):
    original = fixture.read_bytes()
    tampered = bytearray(original)
    tampered[position % len(tampered)] ^= flip
    queue = MemoryQueue()
    assert whaticket(queue).receive("loja-centro", bytes(tampered), wt_signed(original)).status == 403
    assert queue.items == []


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(100, 200_000), opener=st.sampled_from([b"[", b'{"a":', b'{"number":"5511987654321","message":']))
def test_whaticket_deeply_nested_signed_bodies_are_a_400_not_a_crash(depth, opener):
    raw = (opener * depth)[:MAX_BODY]
    queue = MemoryQueue()
    assert whaticket(queue).receive("loja-centro", raw, wt_signed(raw)).status == 400
    assert queue.items == []


def test_whaticket_huge_body_is_413_before_verification():
    queue = MemoryQueue()
    assert whaticket(queue).receive("loja-centro", b" " * (MAX_BODY + 1), {}).status == 413
    assert queue.items == []
