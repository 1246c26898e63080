"""Where an inbound message's file comes from, per provider, behind one small interface.

- Meta: the Graph media API (``MetaMediaDownloader``), checked against the webhook's sha256.
- Evolution: the bytes the webhook carried (``MediaRef.inline_base64``) when they fitted in the
  queue message, else ``getBase64FromMediaMessage``. WhatsApp's ``fileSha256`` is not checked:
  providers.md says Evolution's byte fields change shape between versions, and Evolution may
  hand back a transcoded file.
- Whaticket: relays carry no downloadable media (encrypted Baileys metadata only), so there is
  no source; the reader tells the customer instead.

Every source enforces the caller's byte cap before holding the bytes, and answers the caller's
accepted MIME types with ``MediaUnavailable(unsupported_type)``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from atende.errors import MediaUnavailable
from atende.media import MediaBlob

if TYPE_CHECKING:
    from atende.channels.evolution_client import EvolutionClient
    from atende.domain.messages import InboundMessage, MediaRef
    from atende.media.meta_download import MetaMediaDownloader

_FALLBACK_MIME = "application/octet-stream"


class MediaSource(Protocol):
    def fetch(self, message: InboundMessage, *, kind: str, max_bytes: int, accepted: Callable[[str], bool]) -> MediaBlob:
        """The message's file. Raises MediaUnavailable (permanent) or a transient ProviderError."""
        ...


def _media(message: InboundMessage, kind: str) -> MediaRef:
    if message.media is None or not (message.media.media_id or message.media.inline_base64):
        raise MediaUnavailable(f"{kind} message carries no media reference", reason="not_found")
    return message.media


def _checked(blob: MediaBlob, kind: str, accepted: Callable[[str], bool]) -> MediaBlob:
    if not accepted(blob.base_mime):
        raise MediaUnavailable(f"{kind} media has type {blob.base_mime!r}, which is not accepted", reason="unsupported_type")
    return blob


class MetaMediaSource:
    def __init__(self, downloader: MetaMediaDownloader) -> None:
        self._downloader = downloader

    def fetch(self, message: InboundMessage, *, kind: str, max_bytes: int, accepted: Callable[[str], bool]) -> MediaBlob:
        media = _media(message, kind)
        if not media.media_id:
            raise MediaUnavailable(f"{kind} message has no Graph media id", reason="not_found")
        return self._downloader.download(
            media.media_id,
            kind=kind,
            max_bytes=max_bytes,
            expected_sha256=media.sha256,
            accepted_mime=accepted,
            filename=media.filename,
        )


class EvolutionMediaSource:
    def __init__(self, client: EvolutionClient) -> None:
        self._client = client

    def fetch(self, message: InboundMessage, *, kind: str, max_bytes: int, accepted: Callable[[str], bool]) -> MediaBlob:
        media = _media(message, kind)
        declared = media.mime_type
        if declared and not accepted(declared.split(";", 1)[0].strip().lower()):
            # Refused before any download: the webhook already told us the type.
            raise MediaUnavailable(f"{kind} media has type {declared!r}, which is not accepted", reason="unsupported_type")
        if media.inline_base64:
            data = _decode_inline(media.inline_base64, max_bytes, kind)
            if data is not None:
                return _checked(MediaBlob(data=data, mime_type=declared or _FALLBACK_MIME, filename=media.filename), kind, accepted)
        if not media.media_id:
            raise MediaUnavailable(f"{kind} message has no Evolution message id", reason="not_found")
        downloaded = self._client.download_media(media.media_id, max_bytes=max_bytes)
        blob = MediaBlob(
            data=downloaded.data,
            mime_type=downloaded.mime_type or declared or _FALLBACK_MIME,
            filename=media.filename or downloaded.file_name,
        )
        return _checked(blob, kind, accepted)


def _decode_inline(encoded: str, max_bytes: int, kind: str) -> bytes | None:
    """The inline bytes; None when they do not decode (the caller fetches them from Evolution)."""
    if len(encoded) // 4 * 3 > max_bytes + 2:  # the decoded size, give or take the padding
        raise MediaUnavailable(f"inline {kind} media is over the {max_bytes}-byte cap", reason="too_large")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(data) > max_bytes:
        raise MediaUnavailable(f"inline {kind} media is over the {max_bytes}-byte cap", reason="too_large")
    return data
