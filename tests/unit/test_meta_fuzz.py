"""Property tests: whatever arrives at the Meta webhook, the answer is never a 5xx, and nothing is
queued unless the signature is valid. Ports are in-memory fakes; the parser and verifier are real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende.channels.meta import parse_meta_webhook, sign_meta_body
from atende.config import WebhookSettings
from atende.domain.messages import Provider
from atende.domain.tenants import Channel
from atende.observability import metrics
from atende.service.ingress import MetaIngress

SECRET = "fuzz-app-secret"
FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "meta").glob("*.json"))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class MemoryQueue:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def enqueue(self, items: list[Any]) -> None:
        self.items.extend(items)


class Secrets:
    def get_field(self, secret_id: str, field: str) -> str:
        return {"app_secret": SECRET, "verify_token": "vt", "key": "pseudonym-key"}[field]


def ingress(queue: MemoryQueue) -> MetaIngress:
    # The handler's @log_metrics flushes once per invocation; here there is no handler, so drop
    # what the previous example recorded (Powertools auto-flushes at 100 metrics).
    metrics.clear_metrics()
    settings_ = WebhookSettings(inbound_queue_url="q", meta_secret_id="m", pseudonym_secret_id="p", max_body_bytes=256 * 1024)
    return MetaIngress(settings_, queue, Secrets())


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(
    json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=25
)


def mutate(doc: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by walking ``path`` (indices modulo each container's size)."""
    if not path or not isinstance(doc, (dict, list)) or not doc:
        return replacement
    keys = list(doc.keys()) if isinstance(doc, dict) else list(range(len(doc)))
    key = keys[path[0] % len(keys)]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[key] = mutate(doc[key], path[1:], replacement)
    return copy


contact_entries = st.lists(
    st.fixed_dictionaries({}, optional={"wa_id": json_leaf, "user_id": json_leaf, "profile": json_value}), max_size=3
)
CHANNEL = Channel(tenant_id="t", provider=Provider.META, external_id="100000000000001")

signatures = st.one_of(st.none(), st.text(max_size=80), st.builds("sha256=".__add__, st.text(max_size=70)))


@FUZZ
@given(body=st.binary(max_size=2048), signature=signatures)
def test_random_bytes_with_random_signatures_are_rejected_without_queueing(body, signature):
    queue = MemoryQueue()
    response = ingress(queue).receive(body, signature)
    assert response.status in (401, 403)
    assert queue.items == []


@FUZZ
@given(fixture=st.sampled_from(FIXTURES), path=st.lists(st.integers(0, 50), max_size=8), replacement=json_value)
def test_signed_structural_mutations_of_real_payloads_never_5xx(fixture, path, replacement):
    doc = mutate(json.loads(fixture.read_bytes()), path, replacement)
    raw = json.dumps(doc).encode()
    queue = MemoryQueue()
    response = ingress(queue).receive(raw, sign_meta_body(raw, SECRET))
    assert response.status in (200, 400)
    if response.status == 400:
        assert queue.items == []
    for item in queue.items:  # whatever was queued is a well-formed envelope of the payload's channel
        envelope = json.loads(item.body)
        assert envelope["v"] == 1 and envelope[envelope["kind"]]["channel_id"].startswith("meta:")
        assert item.group_id.startswith(envelope[envelope["kind"]]["channel_id"] + "#c_")


@FUZZ
@given(fixture=st.sampled_from(FIXTURES), path=st.lists(st.integers(0, 50), max_size=8), replacement=json_value)
def test_mutated_payloads_signed_for_the_original_bytes_are_refused(fixture, path, replacement):
    original = fixture.read_bytes().rstrip(b"\n")
    raw = json.dumps(mutate(json.loads(original), path, replacement)).encode()  # never Meta's exact bytes
    assert raw != original
    queue = MemoryQueue()
    response = ingress(queue).receive(raw, sign_meta_body(original, SECRET))
    assert response.status == 403
    assert queue.items == []


@FUZZ
@given(
    kind=st.sampled_from(["edit", "revoke", "interactive", "button", "text"]),
    body=json_value,
    contacts=st.one_of(json_value, contact_entries),
    keep_sender=st.booleans(),
)
def test_odd_content_and_contacts_never_raise(kind, body, contacts, keep_sender):
    # The content readers and the contacts[]-only sender lookup, on whatever the payload holds there
    doc = json.loads((FIXTURES[0].parent / "text.json").read_bytes())
    value = doc["entry"][0]["changes"][0]["value"]
    raw = value["messages"][0]
    del raw["text"]
    raw.update({"type": kind, kind: body})
    if not keep_sender:
        del raw["from"]
    value["contacts"] = contacts
    delivery = parse_meta_webhook(doc, lambda _: CHANNEL, lambda sender: "c_" + sender)
    assert len(delivery.messages) + delivery.ignored == 1
    for message in delivery.messages:
        assert message.text is None or isinstance(message.text, str)
        assert json.loads(message.to_json())["message"]["type"] == kind


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(100, 200_000), opener=st.sampled_from([b"[", b'{"a":']))
def test_deeply_nested_signed_bodies_are_a_400_not_a_crash(depth, opener):
    raw = opener * depth
    raw = raw[: 256 * 1024]
    queue = MemoryQueue()
    response = ingress(queue).receive(raw, sign_meta_body(raw, SECRET))
    assert response.status == 400 and queue.items == []


def test_oversize_body_is_refused_before_verification():
    queue = MemoryQueue()
    raw = b" " * (256 * 1024 + 1)
    assert ingress(queue).receive(raw, None).status == 413
    assert queue.items == []
