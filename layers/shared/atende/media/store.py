"""Inbound media in S3 (MediaBucket): one prefix per contact, SSE-KMS, expired by a ``retention`` tag.

Key layout: ``media/{tenant_id}/{contact_id}/{message}/{sha256[:16]}{ext}``. Everything of one
contact sits under one prefix, so an LGPD export or erasure is a listing of that prefix.

``{message}`` is a hash of the provider message id, never the id itself: a Meta wamid is base64
of a protobuf that carries the customer's phone number, and object keys end up in access logs,
CloudTrail data events and inventory reports. The hash is deterministic (re-storing a message's
media lands on the same key) and key-safe whatever the id contains (``=``, ``/``, ``+``).

The bucket's lifecycle rules expire objects by their ``retention`` tag (30d, 90d, 365d); every
object written here carries one. Only metadata that identifies no one is stored with the object
(the sha256): never the customer's phone, name, or a document's filename.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from atende.errors import StoreError
from atende.media import MediaBlob
from atende.store import aws
from atende.store.dynamo import error_code

__all__ = ["RETENTION_TIERS", "MediaStore", "StoredMedia", "contact_prefix", "media_key", "retention_tag"]

# The template's lifecycle rules (MediaBucket): keep in step with template.yaml.
RETENTION_TIERS = (30, 90, 365)
_PREFIX = "media"

# A fixed table rather than ``mimetypes`` (which reads the host's /etc/mime.types): the same
# blob must get the same key on every machine.
_EXTENSIONS = {
    "audio/aac": ".aac",
    "audio/amr": ".amr",
    "audio/mp4": ".m4a",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/wav": ".wav",
    "audio/wave": ".wav",
    "audio/x-wav": ".wav",
    "audio/webm": ".weba",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/3gpp": ".3gp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "text/csv": ".csv",
    "text/plain": ".txt",
}
_UNKNOWN_EXTENSION = ".bin"
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys


@dataclass(frozen=True, slots=True)
class StoredMedia:
    key: str
    size: int
    sha256: str  # hex
    mime_type: str


def retention_tag(retention_days: int) -> str:
    """The smallest lifecycle tier that keeps the object ``retention_days``, capped at the longest."""
    if retention_days < 1:
        raise ValueError(f"retention must be at least one day, not {retention_days}")
    days = next((tier for tier in RETENTION_TIERS if tier >= retention_days), RETENTION_TIERS[-1])
    return f"{days}d"


def contact_prefix(tenant_id: str, contact_id: str) -> str:
    """Every object of one contact, and nothing of another (the trailing slash matters)."""
    return f"{_PREFIX}/{_segment('tenant id', tenant_id)}/{_segment('contact id', contact_id)}/"


def media_key(tenant_id: str, contact_id: str, message_id: str, blob: MediaBlob) -> str:
    if not message_id:
        raise ValueError("message id is empty")
    message = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    extension = _EXTENSIONS.get(blob.base_mime, _UNKNOWN_EXTENSION)
    return f"{contact_prefix(tenant_id, contact_id)}{message}/{blob.sha256[:16]}{extension}"


def _segment(what: str, value: str) -> str:
    """A value used as one path segment: it must not escape or blur its prefix."""
    if not value or "/" in value or value in (".", "..") or not value.isprintable():
        raise ValueError(f"{what} cannot be used in an object key")
    return value


class MediaStore:
    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        self._bucket = bucket
        self._client = client

    @property
    def _s3(self) -> Any:
        return self._client or aws.client("s3")

    def put(self, *, tenant_id: str, contact_id: str, message_id: str, blob: MediaBlob, retention_days: int) -> StoredMedia:
        """Store the blob; the same blob for the same message always lands on the same key."""
        key = media_key(tenant_id, contact_id, message_id, blob)
        tag = retention_tag(retention_days)
        digest = hashlib.sha256(blob.data).digest()
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=blob.data,
                ContentType=blob.mime_type,
                ServerSideEncryption="aws:kms",
                BucketKeyEnabled=True,  # as the bucket's default: one KMS data key per bucket, not per object
                Tagging=f"retention={tag}",
                Metadata={"sha256": digest.hex()},
                ChecksumSHA256=base64.b64encode(digest).decode("ascii"),  # S3 rejects a corrupted upload
            )
        except (ClientError, BotoCoreError) as exc:
            raise _store_error(exc, "PutObject") from exc
        return StoredMedia(key=key, size=blob.size, sha256=digest.hex(), mime_type=blob.mime_type)

    def list_contact(self, tenant_id: str, contact_id: str) -> list[str]:
        """Every key under the contact's prefix (LGPD access and export), sorted."""
        return sorted(self._keys(contact_prefix(tenant_id, contact_id)))

    def delete_contact(self, tenant_id: str, contact_id: str) -> int:
        """Erase every object under the contact's prefix; the number deleted.

        Raises ``StoreError`` if S3 refuses any key, so an erasure is never reported done while
        something is left (running it again is safe).
        """
        keys = self._keys(contact_prefix(tenant_id, contact_id))
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                response = self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise _store_error(exc, "DeleteObjects") from exc
            if response.get("Errors"):
                codes = sorted({str(error.get("Code")) for error in response["Errors"]})
                raise StoreError(f"S3 DeleteObjects left {len(response['Errors'])} objects: {', '.join(codes)}")
        return len(keys)

    def _keys(self, prefix: str) -> list[str]:
        try:
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
            return [item["Key"] for page in pages for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise _store_error(exc, "ListObjectsV2") from exc


def _store_error(exc: ClientError | BotoCoreError, operation: str) -> StoreError:
    detail = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return StoreError(f"S3 {operation} failed: {detail}")
