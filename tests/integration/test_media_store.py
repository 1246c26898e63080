"""MediaStore against the template's MediaBucket under moto: key layout, SSE-KMS, retention tags,
idempotency, per-contact listing and erasure (LGPD), and the translation of S3 failures.

Media bytes are real files built here (a WAV voice clip with the stdlib ``wave`` module, a PNG).
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import wave
import zlib
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from atende.domain.privacy import pseudonymous_contact_id
from atende.errors import StoreError
from atende.media import MediaBlob
from atende.media.store import RETENTION_TIERS, MediaStore, StoredMedia, contact_prefix, retention_tag
from local.seed import DEMO

PSEUDONYM_KEY = b"integration-test-pseudonym-key"
MARIANA = pseudonymous_contact_id(PSEUDONYM_KEY, "5511987654321")
JOAO = pseudonymous_contact_id(PSEUDONYM_KEY, "553188887766")
TENANT = DEMO.tenant_id
# Meta wamids are base64 (``+``, ``/``, ``=``) of a protobuf that carries the sender's number.
VOICE_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNFQjBBMUY0QzJEOThCN0U2QTUxAA=="
IMAGE_WAMID = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBBMjM0NTY3ODlBQkNERUYwAA=="
SLASHED_WAMID = "wamid.HBgMNTUzMTg4ODg3NzY2FQIAEhgg/+Q0NkI3RjlBOEI1QzJEMUUzRkE5QjhDN0Q2RTVGNAA="


def wav_voice_clip(seconds: float = 0.25, rate: int = 8000) -> bytes:
    """Mono 16-bit PCM: a 440 Hz triangle wave, as the stdlib writes it."""
    frames = b"".join(struct.pack("<h", int(8000 * (abs((i * 440 * 4 / rate) % 4 - 2) - 1))) for i in range(int(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(rate)
        clip.writeframes(frames)
    return out.getvalue()


def png_photo(width: int = 8, height: int = 8) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in (200, x * 30 % 256, y * 30 % 256)) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


WAV = wav_voice_clip()
PNG = png_photo()
VOICE = MediaBlob(data=WAV, mime_type="audio/wav")
PHOTO = MediaBlob(data=PNG, mime_type="image/png")


def message_segment(message_id: str) -> str:
    return hashlib.sha256(message_id.encode()).hexdigest()[:32]


@pytest.fixture
def bucket(stack) -> str:
    return stack.resources["MediaBucket"].ref


@pytest.fixture
def media(bucket) -> MediaStore:
    return MediaStore(bucket)


@pytest.fixture
def s3() -> Any:
    return boto3.client("s3")


def test_voice_clip_is_stored_encrypted_tagged_and_typed(media: MediaStore, s3: Any, bucket: str) -> None:
    # When Mariana's voice clip is stored under a 90-day policy
    stored = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=VOICE_WAMID, blob=VOICE, retention_days=90)

    # Then the key is the contact's prefix / hashed message id / content hash + extension
    sha = hashlib.sha256(WAV).hexdigest()
    key = f"media/padaria-pao-quente/{MARIANA}/{message_segment(VOICE_WAMID)}/{sha[:16]}.wav"
    assert stored == StoredMedia(key=key, size=len(WAV), sha256=sha, mime_type="audio/wav")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert (head["ServerSideEncryption"], head["BucketKeyEnabled"], head["ContentType"], head["ContentLength"]) == (
        "aws:kms",
        True,
        "audio/wav",
        len(WAV),
    )
    assert head["Metadata"] == {"sha256": sha}
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == [{"Key": "retention", "Value": "90d"}]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == WAV


def test_document_filename_and_phone_never_reach_s3(media: MediaStore, s3: Any, bucket: str) -> None:
    # Given a receipt whose file name names the customer
    receipt = MediaBlob(data=b"%PDF-1.4\n%%EOF\n", mime_type="application/pdf", filename="comprovante-pix-Mariana-Souza.pdf")

    stored = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=VOICE_WAMID, blob=receipt, retention_days=30)

    head = s3.head_object(Bucket=bucket, Key=stored.key)
    assert head["Metadata"] == {"sha256": hashlib.sha256(receipt.data).hexdigest()}
    assert stored.key.endswith(".pdf")
    for personal in ("Mariana", "5511987654321", "comprovante", VOICE_WAMID):
        assert personal not in stored.key


def test_the_upload_carries_a_sha256_checksum_for_s3_to_verify(media: MediaStore, s3: Any, bucket: str) -> None:
    # Given a client whose outgoing requests we can see (moto answers them)
    sent: list[dict[str, str]] = []
    s3.meta.events.register_first(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}),
    )
    store = MediaStore(bucket, client=s3)

    store.put(tenant_id=TENANT, contact_id=MARIANA, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=30)

    [headers] = sent
    assert headers["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(PNG).digest()).decode()
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert headers["x-amz-tagging"] == "retention=30d"


@pytest.mark.parametrize(
    ("retention_days", "tag"),
    [(1, "30d"), (7, "30d"), (30, "30d"), (31, "90d"), (90, "90d"), (91, "365d"), (365, "365d"), (1825, "365d")],
)
def test_retention_tag_is_the_smallest_rule_that_keeps_the_object(retention_days: int, tag: str) -> None:
    assert retention_tag(retention_days) == tag


@pytest.mark.parametrize(("retention_days", "tag"), [(30, "30d"), (31, "90d"), (1825, "365d")])
def test_stored_object_carries_the_retention_tag(media: MediaStore, s3: Any, bucket: str, retention_days: int, tag: str) -> None:
    stored = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=retention_days)

    assert s3.get_object_tagging(Bucket=bucket, Key=stored.key)["TagSet"] == [{"Key": "retention", "Value": tag}]


@pytest.mark.parametrize("retention_days", [0, -30])
def test_no_retention_is_refused_before_writing(media: MediaStore, retention_days: int) -> None:
    with pytest.raises(ValueError, match="retention"):
        media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=retention_days)

    assert media.list_contact(TENANT, MARIANA) == []


def test_every_tag_written_has_a_lifecycle_rule_in_the_bucket(s3: Any, bucket: str) -> None:
    # The bucket as provisioned from template.yaml: each tier's tag must expire after that many days
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    by_tag = {
        r["Filter"]["Tag"]["Value"]: r["Expiration"]["Days"] for r in rules if "Tag" in r.get("Filter", {}) and r["Status"] == "Enabled"
    }

    assert {retention_tag(days): days for days in RETENTION_TIERS} == by_tag


def test_same_blob_for_the_same_message_lands_on_the_same_key(media: MediaStore) -> None:
    first = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=VOICE_WAMID, blob=VOICE, retention_days=90)
    again = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=VOICE_WAMID, blob=VOICE, retention_days=90)

    assert again == first
    assert media.list_contact(TENANT, MARIANA) == [first.key]


def test_message_ids_become_distinct_key_safe_segments(media: MediaStore) -> None:
    # Given the same photo sent in two messages, one id with "/" and "+"
    plain = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=90)
    slashed = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=SLASHED_WAMID, blob=PHOTO, retention_days=90)

    assert plain.key != slashed.key
    assert slashed.key == f"{contact_prefix(TENANT, MARIANA)}{message_segment(SLASHED_WAMID)}/{PHOTO.sha256[:16]}.png"
    assert slashed.key.count("/") == 4
    assert not set("+=") & set(slashed.key)


def test_listing_is_confined_to_one_contact(media: MediaStore) -> None:
    # Given media of two customers of the same bakery, and of one whose id extends Mariana's
    mine = media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=VOICE_WAMID, blob=VOICE, retention_days=90)
    media.put(tenant_id=TENANT, contact_id=JOAO, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=90)
    media.put(tenant_id=TENANT, contact_id=MARIANA + "x", message_id=IMAGE_WAMID, blob=PHOTO, retention_days=90)
    media.put(tenant_id="outra-padaria", contact_id=MARIANA, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=90)

    assert media.list_contact(TENANT, MARIANA) == [mine.key]


def test_delete_contact_erases_only_that_contact(media: MediaStore) -> None:
    # Given three objects of Mariana's and one of João's
    for message_id, blob in ((VOICE_WAMID, VOICE), (IMAGE_WAMID, PHOTO), (SLASHED_WAMID, PHOTO)):
        media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=message_id, blob=blob, retention_days=365)
    joao = media.put(tenant_id=TENANT, contact_id=JOAO, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=365)

    # When
    deleted = media.delete_contact(TENANT, MARIANA)

    # Then
    assert deleted == 3
    assert media.list_contact(TENANT, MARIANA) == []
    assert media.list_contact(TENANT, JOAO) == [joao.key]
    assert media.delete_contact(TENANT, MARIANA) == 0  # erasing again is harmless


def test_delete_contact_pages_past_a_thousand_objects(media: MediaStore, s3: Any, bucket: str) -> None:
    # Given 1001 objects under Mariana's prefix (one listing page and one DeleteObjects call hold 1000)
    prefix = contact_prefix(TENANT, MARIANA)
    for n in range(1001):
        s3.put_object(Bucket=bucket, Key=f"{prefix}{n:032x}/{n:016x}.png", Body=b"x")

    assert len(media.list_contact(TENANT, MARIANA)) == 1001
    assert media.delete_contact(TENANT, MARIANA) == 1001
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] == 0


@pytest.mark.parametrize(
    ("tenant_id", "contact_id"),
    [(TENANT, ""), (TENANT, "c_abc/../c_other"), ("", MARIANA), (TENANT, ".."), ("padaria/pao", MARIANA), (TENANT, "c_abc\n")],
)
def test_ids_that_would_blur_a_prefix_are_refused(media: MediaStore, tenant_id: str, contact_id: str) -> None:
    with pytest.raises(ValueError, match="object key"):
        media.put(tenant_id=tenant_id, contact_id=contact_id, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=90)
    with pytest.raises(ValueError, match="object key"):
        media.delete_contact(tenant_id, contact_id)


# --- S3 failures become StoreError -----------------------------------------------------------


def test_missing_bucket_is_a_store_error(stack) -> None:
    media = MediaStore("atende-dev-no-such-bucket")

    with pytest.raises(StoreError) as put_error:
        media.put(tenant_id=TENANT, contact_id=MARIANA, message_id=IMAGE_WAMID, blob=PHOTO, retention_days=90)
    with pytest.raises(StoreError) as list_error:
        media.list_contact(TENANT, MARIANA)

    assert str(put_error.value) == "S3 PutObject failed: NoSuchBucket"
    assert str(list_error.value) == "S3 ListObjectsV2 failed: NoSuchBucket"
    assert put_error.value.is_transient is True


def test_objects_s3_refuses_to_delete_fail_the_erasure(s3: Any, bucket: str) -> None:
    # Given S3 listing two objects and refusing to delete one of them
    prefix = contact_prefix(TENANT, MARIANA)
    keys = [f"{prefix}{message_segment(VOICE_WAMID)}/a.wav", f"{prefix}{message_segment(IMAGE_WAMID)}/b.png"]
    stubber = Stubber(s3)
    stubber.add_response(
        "list_objects_v2", {"Contents": [{"Key": k} for k in keys], "IsTruncated": False}, {"Bucket": bucket, "Prefix": prefix}
    )
    stubber.add_response(
        "delete_objects",
        {"Deleted": [{"Key": keys[0]}], "Errors": [{"Key": keys[1], "Code": "AccessDenied", "Message": "Access Denied"}]},
        {"Bucket": bucket, "Delete": {"Objects": [{"Key": k} for k in keys], "Quiet": True}},
    )

    with stubber, pytest.raises(StoreError) as caught:
        MediaStore(bucket, client=s3).delete_contact(TENANT, MARIANA)

    assert str(caught.value) == "S3 DeleteObjects left 1 objects: AccessDenied"
    stubber.assert_no_pending_responses()
