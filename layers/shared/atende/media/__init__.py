"""Media: download from the provider, store in S3, understand (transcribe, describe, extract).

Processor only (never the webhook: Meta media URLs live 5 minutes and downloads are slow).
Shared types live here; adapters in the submodules import their SDKs lazily.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class MediaBlob:
    """Downloaded bytes. ``repr`` never shows the content."""

    data: bytes = field(repr=False)
    mime_type: str
    filename: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def base_mime(self) -> str:
        """``audio/ogg; codecs=opus`` → ``audio/ogg``."""
        return self.mime_type.split(";", 1)[0].strip().lower()


# The most a tenant may raise each limit to: what the processor's memory (1 GiB) and the
# 15-minute Lambda were sized for, and WhatsApp's own limits where those are lower.
HARD_LIMITS: dict[str, int] = {
    "image_bytes": 5 * 1024 * 1024,
    "audio_bytes": 16 * 1024 * 1024,
    "video_bytes": 16 * 1024 * 1024,
    "document_bytes": 25 * 1024 * 1024,
    "sticker_bytes": 500 * 1024,
    "audio_seconds": 900,
    "pdf_pages": 100,
    "document_chars": 50_000,
}


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Caps that keep one message from exhausting the Lambda's memory or the tenant's budget.

    Defaults follow WhatsApp's own limits where they are lower (image 5 MB, audio/video 16 MB,
    sticker 500 KB); documents are capped well below WhatsApp's 100 MB because we read them.
    Configurable per tenant (``tenant.media.limits``), each between 1 and ``HARD_LIMITS``.
    """

    image_bytes: int = 5 * 1024 * 1024
    audio_bytes: int = 16 * 1024 * 1024
    video_bytes: int = 16 * 1024 * 1024
    document_bytes: int = 10 * 1024 * 1024
    sticker_bytes: int = 500 * 1024
    audio_seconds: int = 300  # longer voice notes are not transcribed (cost), the customer is told
    pdf_pages: int = 20
    document_chars: int = 20_000

    def __post_init__(self) -> None:
        for name, ceiling in HARD_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
                raise ValueError(f"media limit {name} must be an integer between 1 and {ceiling}")

    def max_bytes(self, kind: str) -> int:
        return {
            "image": self.image_bytes,
            "audio": self.audio_bytes,
            "video": self.video_bytes,
            "document": self.document_bytes,
            "sticker": self.sticker_bytes,
        }.get(kind, self.document_bytes)

    @classmethod
    def from_item(cls, item: dict[str, Any] | None) -> MediaLimits:
        """Limits from a tenant item's ``media.limits`` map; absent keys keep their defaults."""
        unknown = set(item or {}) - set(HARD_LIMITS)
        if unknown:
            raise ValueError(f"unknown media limits: {sorted(unknown)}")
        return cls(**{name: int(value) for name, value in (item or {}).items()})
