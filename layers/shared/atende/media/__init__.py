"""Media: download from the provider, store in S3, understand (transcribe, describe, extract).

Processor only (never the webhook: Meta media URLs live 5 minutes and downloads are slow).
Shared types live here; adapters in the submodules import their SDKs lazily.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


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


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Caps that keep one message from exhausting the Lambda's memory or the tenant's budget.

    Defaults follow WhatsApp's own limits where they are lower (image 5 MB, audio/video 16 MB,
    sticker 500 KB); documents are capped well below WhatsApp's 100 MB because we read them.
    Configurable per tenant.
    """

    image_bytes: int = 5 * 1024 * 1024
    audio_bytes: int = 16 * 1024 * 1024
    video_bytes: int = 16 * 1024 * 1024
    document_bytes: int = 10 * 1024 * 1024
    sticker_bytes: int = 500 * 1024
    audio_seconds: int = 300  # longer voice notes are not transcribed (cost), the customer is told
    pdf_pages: int = 20
    document_chars: int = 20_000

    def max_bytes(self, kind: str) -> int:
        return {
            "image": self.image_bytes,
            "audio": self.audio_bytes,
            "video": self.video_bytes,
            "document": self.document_bytes,
            "sticker": self.sticker_bytes,
        }.get(kind, self.document_bytes)
