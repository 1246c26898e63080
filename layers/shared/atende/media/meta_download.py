"""Meta WhatsApp Cloud API — media download (Graph API). Processor only: imports httpx.

Two requests with the same ``Authorization: Bearer`` header (providers.md §1.8):

1. ``GET {base}/{version}/{media_id}`` → ``{url, mime_type, sha256, file_size, id, messaging_product}``;
2. ``GET url`` — a signed lookaside URL valid for 5 minutes; a bare GET fails.

The body is streamed under a hard byte cap, so a lying or absent ``Content-Length`` cannot make
the Lambda read more than ``max_bytes`` (plus one chunk). The signed URL and the token never
appear in an exception message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Callable
from typing import Any

import httpx

from atende.channels.meta_client import meta_error
from atende.channels.payload import integer, text
from atende.errors import MediaUnavailable, ProviderError, ProviderUnavailable
from atende.media import MediaBlob

__all__ = ["MetaMediaDownloader", "sha256_digest"]

# Graph media ids are numeric; anything else could steer the authenticated GET to another Graph
# path (``../me``, ``?fields=``), so it is refused before any request.
_MEDIA_ID = re.compile(r"[0-9A-Za-z_-]{1,128}")
_INVALID_PARAMETER = 100
_OBJECT_DOES_NOT_EXIST = 33  # error_subcode with code 100: "Object with ID ... does not exist"
_MEDIA_DOWNLOAD_ERRORS = frozenset({131052, 131053})  # media download / upload error
_GONE = frozenset({404, 410})
_FALLBACK_MIME = "application/octet-stream"


class MetaMediaDownloader:
    """Downloads one WhatsApp Business number's inbound media into memory, capped and verified."""

    def __init__(self, http: httpx.Client, *, base_url: str, api_version: str, access_token: str) -> None:
        self._http = http
        self._graph_url = f"{base_url.rstrip('/')}/{api_version}"
        # Bearer goes to the lookaside host too; only over TLS unless the Graph API itself is a
        # plain-http local sandbox.
        self._schemes = ("https://", "http://") if self._graph_url.startswith("http://") else ("https://",)
        self._headers = {"Authorization": f"Bearer {access_token}"}

    def download(
        self,
        media_id: str,
        *,
        kind: str,
        max_bytes: int,
        expected_sha256: str | None = None,
        accepted_mime: Callable[[str], bool] | None = None,
        filename: str | None = None,
    ) -> MediaBlob:
        """The media's bytes, or a typed error.

        ``kind`` (image, audio, ...) only labels errors. ``accepted_mime`` gets the base MIME type
        (``audio/ogg``, lower case, parameters dropped). ``expected_sha256`` is the webhook's value;
        it and the media API's ``sha256`` may each be hex or base64, and every one given must match.

        Raises ``MediaUnavailable`` (reason not_found, expired, too_large, unsupported_type,
        checksum_mismatch; permanent), ``ProviderUnavailable``/``ProviderRateLimited`` (transient),
        ``ProviderAuthError`` (token), ``ProviderRejected`` (any other Graph refusal).
        """
        if not isinstance(media_id, str) or not _MEDIA_ID.fullmatch(media_id):
            raise MediaUnavailable(f"{kind} media id is not a Graph object id", reason="not_found")
        info = self._media_info(media_id, kind)

        url = text(info.get("url"))
        if url is None or not url.startswith(self._schemes):
            raise ProviderUnavailable("Graph API answered 2xx without a usable media url")
        declared_size = integer(info.get("file_size"))
        if declared_size is not None and declared_size > max_bytes:
            raise _too_large(kind, media_id, max_bytes, size=declared_size)
        mime_type = text(info.get("mime_type"))
        if mime_type is not None:
            _check_mime(kind, media_id, mime_type, accepted_mime)

        data, served_mime = self._fetch(url, kind, media_id, max_bytes)
        if mime_type is None:  # the media API omitted it: judge by what the CDN served
            mime_type = served_mime or _FALLBACK_MIME
            _check_mime(kind, media_id, mime_type, accepted_mime)

        digest = hashlib.sha256(data).digest()
        for claimed in (text(info.get("sha256")), expected_sha256):
            if claimed is not None and sha256_digest(claimed) != digest:
                raise MediaUnavailable(f"{kind} media {media_id} does not match its sha256", reason="checksum_mismatch")
        return MediaBlob(data=data, mime_type=mime_type, filename=filename)

    # --- step 1: the media API --------------------------------------------------------------

    def _media_info(self, media_id: str, kind: str) -> dict[str, Any]:
        try:
            response = self._http.get(f"{self._graph_url}/{media_id}", headers=self._headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable("Graph API timed out") from exc
        except httpx.RequestError as exc:  # transport failures and undecodable responses alike
            raise ProviderUnavailable(f"Graph API unreachable: {type(exc).__name__}") from exc
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if response.status_code < 400:
            if not isinstance(doc, dict):
                raise ProviderUnavailable(f"Graph API answered {response.status_code} with a non-JSON body")
            return doc
        error = doc.get("error") if isinstance(doc, dict) else None
        code = integer(error.get("code")) if isinstance(error, dict) else None
        subcode = integer(error.get("error_subcode")) if isinstance(error, dict) else None
        if code in _MEDIA_DOWNLOAD_ERRORS:
            raise MediaUnavailable(f"{kind} media {media_id}: Graph API error {code}", reason="expired")
        if response.status_code == 404 or (code == _INVALID_PARAMETER and subcode == _OBJECT_DOES_NOT_EXIST):
            raise MediaUnavailable(f"{kind} media {media_id} does not exist", reason="not_found")
        raise meta_error(response.status_code, doc, response.headers.get("retry-after"))

    # --- step 2: the signed URL, streamed under the cap -------------------------------------

    def _fetch(self, url: str, kind: str, media_id: str, max_bytes: int) -> tuple[bytes, str | None]:
        """The body (at most ``max_bytes``) and the served base Content-Type.

        httpx exceptions carry the request (the signed URL): they are reduced to their type name
        and not chained, so no traceback can print the URL.
        """
        # identity: the cap counts the bytes we hold, and no decompression can multiply them.
        headers = {**self._headers, "Accept-Encoding": "identity"}
        try:
            with self._http.stream("GET", url, headers=headers) as response:
                if response.status_code >= 300:
                    raise _download_error(response, kind, media_id)
                length = integer(response.headers.get("content-length"))
                if length is not None and length > max_bytes:
                    raise _too_large(kind, media_id, max_bytes, size=length)
                # BytesIO, not bytearray + bytes(): getvalue() hands its buffer over without a copy,
                # so a 16 MB voice note is held once, not twice (measured by `make bench`).
                body = io.BytesIO()
                for chunk in response.iter_bytes():
                    if body.tell() + len(chunk) > max_bytes:  # Content-Length lied or was absent
                        raise _too_large(kind, media_id, max_bytes)
                    body.write(chunk)
                served = response.headers.get("content-type")
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"media download timed out: {type(exc).__name__}") from None
        except httpx.RequestError as exc:  # transport failures, a body cut short
            raise ProviderUnavailable(f"media download failed: {type(exc).__name__}") from None
        return body.getvalue(), served.split(";", 1)[0].strip().lower() if served else None


def sha256_digest(value: str) -> bytes | None:
    """The 32-byte digest written as 64 hex digits or as base64 (standard or URL-safe, padded or not).

    None when it is neither: such a value matches no download.
    """
    value = value.strip()
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    standard = value.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        return None
    return raw if len(raw) == 32 else None


def _check_mime(kind: str, media_id: str, mime_type: str, accepted: Callable[[str], bool] | None) -> None:
    base = mime_type.split(";", 1)[0].strip().lower()
    if accepted is not None and not accepted(base):
        raise MediaUnavailable(f"{kind} media {media_id} has type {base!r}, which is not accepted", reason="unsupported_type")


def _too_large(kind: str, media_id: str, max_bytes: int, *, size: int | None = None) -> MediaUnavailable:
    amount = f"{size} bytes" if size is not None else f"over {max_bytes} bytes"
    return MediaUnavailable(f"{kind} media {media_id} is {amount}; the cap is {max_bytes}", reason="too_large")


def _download_error(response: httpx.Response, kind: str, media_id: str) -> MediaUnavailable | ProviderError:
    """The lookaside host answers with bare statuses, not Graph error bodies (the body is never read)."""
    if response.status_code in _GONE:
        return MediaUnavailable(f"{kind} media {media_id}: download answered HTTP {response.status_code}", reason="expired")
    # 429 → rate limited, 401/403 → auth, 5xx → unavailable, anything else (a 3xx we were not told
    # to follow, another 4xx) → rejected.
    return meta_error(response.status_code, None, response.headers.get("retry-after"))
