"""Build Meta webhook bodies for the demo and the curl example: a text, a voice note, an image.

Media messages cite a media id the Graph sandbox knows (``GraphSandbox.add_media`` or its
``POST /sandbox/media``) and the file's ``sha256`` as Meta reports it (base64 of the digest);
shapes as in providers.md §1.5 and tests/fixtures/meta/audio_voice.json / image.json.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from local.sandbox import meta_envelope
from local.seed import DEMO

VOICE_NOTE_MIME = "audio/ogg; codecs=opus"


def text_webhook(text: str, *, message_id: str | None = None, timestamp: int | None = None) -> tuple[bytes, str]:
    return _message_webhook("text", {"body": text}, message_id=message_id, timestamp=timestamp)


def audio_webhook(
    media_id: str,
    sha256: str,
    *,
    mime_type: str = VOICE_NOTE_MIME,
    voice: bool = True,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, str]:
    """A voice note (``voice: true``: recorded in WhatsApp) or an audio file sent as such."""
    audio = {"mime_type": mime_type, "sha256": sha256, "id": media_id, "voice": voice}
    return _message_webhook("audio", audio, message_id=message_id, timestamp=timestamp)


def image_webhook(
    media_id: str,
    sha256: str,
    *,
    mime_type: str,
    caption: str | None = None,
    message_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, str]:
    image = {"caption": caption, "mime_type": mime_type, "sha256": sha256, "id": media_id}
    return _message_webhook("image", {k: v for k, v in image.items() if v is not None}, message_id=message_id, timestamp=timestamp)


def _message_webhook(kind: str, content: dict[str, Any], *, message_id: str | None, timestamp: int | None) -> tuple[bytes, str]:
    message_id = message_id or f"wamid.LOCAL{uuid.uuid4().hex.upper()}"
    value = {
        "contacts": [{"profile": {"name": DEMO.customer_name}, "wa_id": DEMO.customer_wa_id, "user_id": DEMO.customer_user_id}],
        "messages": [
            {
                "from": DEMO.customer_wa_id,
                "id": message_id,
                "timestamp": str(timestamp or int(time.time())),
                "type": kind,
                kind: content,
            }
        ],
    }
    return meta_envelope(DEMO.phone_number_id, value), message_id
