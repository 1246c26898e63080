"""MetaMediaDownloader: the two Bearer requests, the byte cap while streaming, checksums, error tree.

Reference: ../shared/docs/providers.md §1.8 (media download), §1.9 (sizes), §1.10 (Graph errors).
The Graph API and the lookaside CDN are played by one httpx.MockTransport handler; the media
bytes are real files built here (PNG, Ogg Opus header pages, PDF).
"""

from __future__ import annotations

import base64
import hashlib
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from atende.errors import MediaUnavailable, ProviderAuthError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from atende.media import MediaBlob, MediaLimits
from atende.media.meta_download import MetaMediaDownloader, sha256_digest
from local.media_samples import ogg_opus_voice_note, png

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAPadariaToken"
GRAPH = "https://graph.facebook.com"
IMAGE_ID = "1479537139650973"  # tests/fixtures/meta/image.json
VOICE_ID = "1098765432109876"  # tests/fixtures/meta/audio_voice.json
DOCUMENT_ID = "3344556677889900"  # tests/fixtures/meta/document.json
URL_SIGNATURE = "ATv9Qm3kZpL0sX7yT2wR4uE1"


def lookaside_url(media_id: str) -> str:
    return f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}&ext=1763723040&hash={URL_SIGNATURE}"


# --- real media, made here ------------------------------------------------------------------


def pdf_bytes() -> bytes:
    """A one-page PDF receipt (text only)."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R>>endobj\n"
        b"4 0 obj<</Length 58>>stream\nBT /F1 12 Tf 20 100 Td (Comprovante Pix R$ 30,00) Tj ET\nendstream endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


PNG = png(16, 12)  # a photo of a squashed croissant, in spirit
VOICE = ogg_opus_voice_note(seconds=1)  # what every WhatsApp voice note starts with: OpusHead, OpusTags, audio
PDF = pdf_bytes()


def hex_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64_sha(data: bytes) -> str:
    """The form Meta's webhooks carry (tests/fixtures/meta/*.json)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def media_info(media_id: str, data: bytes, mime_type: str | None, **overrides: Any) -> dict[str, Any]:
    """The media API's answer (providers.md §1.8)."""
    doc: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "url": lookaside_url(media_id),
        "sha256": hex_sha(data),
        "file_size": len(data),
        "id": media_id,
    }
    if mime_type is not None:
        doc["mime_type"] = mime_type
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def graph_error(http_status: int, code: int, message: str, *, subcode: int | None = None) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AZ0_fbtrace9xY"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return httpx.Response(http_status, json={"error": error})


class MetaMedia:
    """The Graph media endpoint and the lookaside CDN behind one MockTransport, recording requests."""

    def __init__(self, info: httpx.Response, download: Callable[[httpx.Request], httpx.Response]) -> None:
        self.info = info
        self.download = download
        self.requests: list[httpx.Request] = []

    @classmethod
    def serving(cls, media_id: str, data: bytes, mime_type: str | None, *, content_type: str | None = None, **info: Any) -> MetaMedia:
        headers = {"content-type": content_type or mime_type or "application/octet-stream", "content-length": str(len(data))}
        return cls(
            httpx.Response(200, json=media_info(media_id, data, mime_type, **info)),
            lambda request: httpx.Response(200, headers=headers, content=data),
        )

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if request.url.host == "graph.facebook.com":
                return self.info
            return self.download(request)

        return httpx.MockTransport(handler)

    def downloader(self) -> MetaMediaDownloader:
        return MetaMediaDownloader(
            httpx.Client(transport=self.transport()), base_url=f"{GRAPH}/", api_version="v24.0", access_token=ACCESS_TOKEN
        )

    @property
    def seen(self) -> list[tuple[str, str, str | None]]:
        return [(r.method, str(r.url), r.headers.get("authorization")) for r in self.requests]


BEARER = f"Bearer {ACCESS_TOKEN}"
IMAGE_CAP = MediaLimits().max_bytes("image")


def assert_secret_free(exc: BaseException) -> None:
    """Neither the message nor the printed traceback may carry the signed URL or the token."""
    printed = "".join(traceback.format_exception(exc))
    assert URL_SIGNATURE not in printed
    assert "lookaside" not in printed
    assert ACCESS_TOKEN not in printed


# --- success -------------------------------------------------------------------------------


def test_image_is_fetched_with_bearer_on_both_requests() -> None:
    # Given the media API and CDN serving Mariana's photo
    meta = MetaMedia.serving(IMAGE_ID, PNG, "image/png")

    # When
    blob = meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP, expected_sha256=b64_sha(PNG))

    # Then the exact bytes, and exactly the two documented requests, both with the token
    assert blob == MediaBlob(data=PNG, mime_type="image/png")
    assert blob.data == PNG
    assert meta.seen == [
        ("GET", f"{GRAPH}/v24.0/{IMAGE_ID}", BEARER),
        ("GET", lookaside_url(IMAGE_ID), BEARER),
    ]
    assert meta.requests[1].headers["accept-encoding"] == "identity"


def test_voice_note_keeps_its_codec_and_the_filter_sees_the_base_type() -> None:
    # Given a voice note; the tenant accepts Ogg and MPEG audio
    meta = MetaMedia.serving(VOICE_ID, VOICE, "audio/ogg; codecs=opus")
    asked: list[str] = []

    def accepted(mime: str) -> bool:
        asked.append(mime)
        return mime in {"audio/ogg", "audio/mpeg"}

    # When
    blob = meta.downloader().download(VOICE_ID, kind="audio", max_bytes=MediaLimits().max_bytes("audio"), accepted_mime=accepted)

    # Then
    assert blob == MediaBlob(data=VOICE, mime_type="audio/ogg; codecs=opus")
    assert blob.data == VOICE
    assert asked == ["audio/ogg"]


def test_document_keeps_the_webhook_filename() -> None:
    meta = MetaMedia.serving(DOCUMENT_ID, PDF, "application/pdf")

    blob = meta.downloader().download(DOCUMENT_ID, kind="document", max_bytes=10_000, filename="comprovante-pix-21-11-2025.pdf")

    assert blob == MediaBlob(data=PDF, mime_type="application/pdf", filename="comprovante-pix-21-11-2025.pdf")
    assert blob.data == PDF


def test_missing_mime_type_falls_back_to_the_served_content_type() -> None:
    # Given a media API answer without mime_type
    meta = MetaMedia.serving(IMAGE_ID, PNG, None, content_type="image/png")

    blob = meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP, accepted_mime=lambda mime: mime == "image/png")

    assert blob == MediaBlob(data=PNG, mime_type="image/png")


def test_file_size_as_a_string_is_understood() -> None:
    meta = MetaMedia.serving(IMAGE_ID, PNG, "image/png", file_size=str(len(PNG)))

    blob = meta.downloader().download(IMAGE_ID, kind="image", max_bytes=len(PNG))

    assert blob.data == PNG


# --- checksums -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(hex_sha(PNG), id="hex"),
        pytest.param(hex_sha(PNG).upper(), id="hex-upper"),
        pytest.param(b64_sha(PNG), id="base64"),
        pytest.param(b64_sha(PNG).rstrip("="), id="base64-unpadded"),
        pytest.param(b64_sha(PNG).replace("+", "-").replace("/", "_"), id="base64-urlsafe"),
    ],
)
@pytest.mark.parametrize("source", ["media_api", "webhook"])
def test_checksum_is_accepted_in_every_written_form(written: str, source: str) -> None:
    # Given the checksum written one way, by the media API or by the webhook
    meta = MetaMedia.serving(IMAGE_ID, PNG, "image/png", sha256=written if source == "media_api" else None)
    expected = written if source == "webhook" else None

    blob = meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP, expected_sha256=expected)

    assert blob.data == PNG


@pytest.mark.parametrize(
    ("api_sha", "webhook_sha"),
    [
        pytest.param(hex_sha(PDF), None, id="media-api-hex-differs"),
        pytest.param(None, b64_sha(PDF), id="webhook-base64-differs"),
        pytest.param(hex_sha(PNG), b64_sha(PDF), id="api-right-webhook-wrong"),
        pytest.param("not-a-sha256", None, id="unreadable"),
        pytest.param(hex_sha(PNG)[:-2] + "zz", None, id="hex-with-non-hex-digits"),
        pytest.param(base64.b64encode(hashlib.sha1(PNG).digest()).decode(), None, id="base64-of-20-bytes"),
    ],
)
def test_checksum_mismatch_is_unavailable(api_sha: str | None, webhook_sha: str | None) -> None:
    # Given bytes that do not hash to (one of) the advertised checksums
    meta = MetaMedia.serving(IMAGE_ID, PNG, "image/png", sha256=api_sha)

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP, expected_sha256=webhook_sha)

    assert caught.value.reason == "checksum_mismatch"
    assert caught.value.is_transient is False


def test_a_body_truncated_by_a_proxy_fails_the_checksum() -> None:
    # Given a CDN answer cut short (and a Content-Length that agrees with the cut)
    cut = PNG[:-12]
    meta = MetaMedia(
        httpx.Response(200, json=media_info(IMAGE_ID, PNG, "image/png")),
        lambda request: httpx.Response(200, headers={"content-type": "image/png"}, content=cut),
    )

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert caught.value.reason == "checksum_mismatch"


@pytest.mark.parametrize(
    ("value", "digest"),
    [
        ("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", hashlib.sha256(b"hello").digest()),
        ("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", hashlib.sha256(b"hello").digest()),
        ("LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ", hashlib.sha256(b"hello").digest()),
        ("  LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\n", hashlib.sha256(b"hello").digest()),
        ("", None),
        ("sha256", None),
        ("çççç", None),
        ("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=LPJN", None),
    ],
)
def test_sha256_digest_reads_hex_and_base64_only(value: str, digest: bytes | None) -> None:
    assert sha256_digest(value) == digest


# --- refused before the download -----------------------------------------------------------


@pytest.mark.parametrize("file_size", [IMAGE_CAP + 1, str(IMAGE_CAP + 1), 60 * 1024 * 1024])
def test_declared_size_over_the_cap_is_refused_before_downloading(file_size: int | str) -> None:
    meta = MetaMedia.serving(IMAGE_ID, PNG, "image/png", file_size=file_size)

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert caught.value.reason == "too_large"
    assert meta.seen == [("GET", f"{GRAPH}/v24.0/{IMAGE_ID}", BEARER)]


def test_type_not_accepted_is_refused_before_downloading() -> None:
    # Given a video where the tenant only reads images
    meta = MetaMedia.serving(IMAGE_ID, PNG, "video/mp4")

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="video", max_bytes=IMAGE_CAP, accepted_mime=lambda mime: mime.startswith("image/"))

    assert caught.value.reason == "unsupported_type"
    assert len(meta.requests) == 1


def test_served_type_not_accepted_when_the_media_api_gave_none() -> None:
    meta = MetaMedia.serving(IMAGE_ID, PNG, None, content_type="application/x-msdownload")

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="document", max_bytes=IMAGE_CAP, accepted_mime=lambda mime: mime == "application/pdf")

    assert caught.value.reason == "unsupported_type"


@pytest.mark.parametrize("media_id", ["../me", f"{IMAGE_ID}?fields=access_token", f"{IMAGE_ID}/owner", "", "1479 5371"])
def test_a_media_id_that_is_not_a_graph_id_sends_nothing(media_id: str) -> None:
    # Given an id that would steer the authenticated GET elsewhere
    meta = MetaMedia.serving(IMAGE_ID, PNG, "image/png")

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(media_id, kind="image", max_bytes=IMAGE_CAP)

    assert caught.value.reason == "not_found"
    assert meta.requests == []


# --- the media API's errors ----------------------------------------------------------------

GRAPH_ERRORS = [
    pytest.param(
        graph_error(
            400,
            100,
            f"Unsupported get request. Object with ID '{IMAGE_ID}' does not exist, cannot be loaded due to missing permissions, "
            "or does not support this operation.",
            subcode=33,
        ),
        MediaUnavailable,
        "not_found",
        id="100-subcode-33",
    ),
    pytest.param(httpx.Response(404, text="Not Found"), MediaUnavailable, "not_found", id="bare-404"),
    pytest.param(
        graph_error(404, 803, "(#803) Some of the aliases you requested do not exist"), MediaUnavailable, "not_found", id="404-803"
    ),
    pytest.param(graph_error(400, 131052, "Media download error"), MediaUnavailable, "expired", id="131052"),
    pytest.param(graph_error(400, 131053, "Media upload error"), MediaUnavailable, "expired", id="131053"),
    pytest.param(graph_error(401, 190, "Error validating access token: Session has expired"), ProviderAuthError, None, id="190"),
    pytest.param(graph_error(403, 200, "(#200) Permissions error"), ProviderAuthError, None, id="200"),
    pytest.param(graph_error(400, 4, "(#4) Application request limit reached"), ProviderRateLimited, None, id="4"),
    pytest.param(httpx.Response(429, headers={"retry-after": "30"}), ProviderRateLimited, None, id="429"),
    pytest.param(graph_error(500, 1, "An unknown error occurred"), ProviderUnavailable, None, id="500-code-1"),
    pytest.param(httpx.Response(503, text="<html>Service Unavailable</html>"), ProviderUnavailable, None, id="503-html"),
    pytest.param(graph_error(400, 100, "(#100) Invalid parameter"), ProviderRejected, None, id="100-without-subcode"),
    pytest.param(httpx.Response(200, text="<html>captive portal</html>"), ProviderUnavailable, None, id="200-not-json"),
    pytest.param(
        httpx.Response(200, json={"messaging_product": "whatsapp", "id": IMAGE_ID, "mime_type": "image/png"}),
        ProviderUnavailable,
        None,
        id="200-without-url",
    ),
    pytest.param(
        httpx.Response(
            200, json=media_info(IMAGE_ID, PNG, "image/png", url="http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1")
        ),
        ProviderUnavailable,
        None,
        id="200-plain-http-url",
    ),
]


@pytest.mark.parametrize(("answer", "error", "reason"), GRAPH_ERRORS)
def test_media_api_errors_map_to_the_error_tree(answer: httpx.Response, error: type[Exception], reason: str | None) -> None:
    # Given the media API failing this way
    meta = MetaMedia(answer, lambda request: httpx.Response(200, content=PNG))

    # When
    with pytest.raises(error) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    # Then the exact class, the reason for permanent media failures, and no download attempted
    assert type(caught.value) is error
    assert getattr(caught.value, "reason", None) == reason
    assert [r.url.host for r in meta.requests] == ["graph.facebook.com"]
    assert_secret_free(caught.value)


def test_rate_limit_carries_retry_after() -> None:
    meta = MetaMedia(httpx.Response(429, headers={"retry-after": "30"}), lambda request: httpx.Response(200, content=PNG))

    with pytest.raises(ProviderRateLimited) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert (caught.value.retry_after, caught.value.http_status, caught.value.is_transient) == (30.0, 429, True)


def test_media_api_timeout_is_transient() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    downloader = MetaMediaDownloader(
        httpx.Client(transport=httpx.MockTransport(timeout)), base_url=GRAPH, api_version="v24.0", access_token=ACCESS_TOKEN
    )

    with pytest.raises(ProviderUnavailable) as caught:
        downloader.download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert caught.value.is_transient is True


# --- the CDN's errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (404, MediaUnavailable, "expired"),
        (410, MediaUnavailable, "expired"),
        (401, ProviderAuthError, None),
        (403, ProviderAuthError, None),
        (429, ProviderRateLimited, None),
        (500, ProviderUnavailable, None),
        (502, ProviderUnavailable, None),
        (302, ProviderRejected, None),
    ],
)
def test_download_statuses_map_to_the_error_tree(status: int, error: type[Exception], reason: str | None) -> None:
    # Given the lookaside URL failing (its error bodies are HTML, never read)
    meta = MetaMedia(
        httpx.Response(200, json=media_info(IMAGE_ID, PNG, "image/png")),
        lambda request: httpx.Response(status, headers={"location": lookaside_url("9")}, text=f"<html>{request.url}</html>"),
    )

    with pytest.raises(error) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert type(caught.value) is error
    assert getattr(caught.value, "reason", None) == reason
    assert len(meta.requests) == 2  # no redirect followed, no retry of our own
    assert_secret_free(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda request: httpx.ReadTimeout(f"timed out reading {request.url}", request=request), id="timeout"),
        pytest.param(lambda request: httpx.ConnectError(f"cannot connect to {request.url}", request=request), id="connect"),
    ],
)
def test_transport_failures_on_the_signed_url_never_print_it(failure: Callable[[httpx.Request], Exception]) -> None:
    # Given a transport error whose own message names the signed URL
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure(request)

    meta = MetaMedia(httpx.Response(200, json=media_info(IMAGE_ID, PNG, "image/png")), fail)

    with pytest.raises(ProviderUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert caught.value.is_transient is True
    assert_secret_free(caught.value)


def test_connection_dropped_mid_body_is_transient() -> None:
    def body(request: httpx.Request) -> Iterator[bytes]:
        yield PNG[:64]
        raise httpx.ReadError("connection reset by peer", request=request)

    meta = MetaMedia(
        httpx.Response(200, json=media_info(IMAGE_ID, PNG, "image/png")), lambda request: httpx.Response(200, content=body(request))
    )

    with pytest.raises(ProviderUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert str(caught.value) == "media download failed: ReadError"
    assert_secret_free(caught.value)


# --- the streaming cap ---------------------------------------------------------------------

CHUNK = 64 * 1024


class EndlessBody:
    """A CDN body of 64 KiB chunks (of a real PNG, repeated) that counts how many were pulled."""

    def __init__(self, chunks: int = 160) -> None:  # 10 MiB if read to the end
        self.chunks = chunks
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        block = (PNG * (CHUNK // len(PNG) + 1))[:CHUNK]
        for _ in range(self.chunks):
            self.pulled += 1
            yield block


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"content-length": "1024"}, id="content-length-lies"),
        pytest.param({}, id="no-content-length"),
    ],
)
def test_streaming_stops_as_soon_as_the_cap_is_passed(headers: dict[str, str]) -> None:
    # Given a media API that under-reports and a CDN that keeps sending
    body = EndlessBody()
    meta = MetaMedia(
        httpx.Response(200, json=media_info(IMAGE_ID, PNG, "image/png", file_size=1024)),
        lambda request: httpx.Response(200, headers={"content-type": "image/png", **headers}, content=body),
    )
    cap = 256 * 1024

    # When
    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=cap)

    # Then it stopped on the chunk that crossed the cap: 5 of 160 pulled
    assert caught.value.reason == "too_large"
    assert body.pulled == cap // CHUNK + 1


def test_honest_content_length_over_the_cap_reads_no_body() -> None:
    # Given a media API without file_size, and a CDN announcing 10 MiB
    body = EndlessBody()
    meta = MetaMedia(
        httpx.Response(200, json=media_info(IMAGE_ID, PNG, "image/png", file_size=None)),
        lambda request: httpx.Response(200, headers={"content-length": str(160 * CHUNK)}, content=body),
    )

    with pytest.raises(MediaUnavailable) as caught:
        meta.downloader().download(IMAGE_ID, kind="image", max_bytes=IMAGE_CAP)

    assert caught.value.reason == "too_large"
    assert body.pulled == 0


def test_a_body_of_exactly_the_cap_is_accepted() -> None:
    body = EndlessBody(chunks=4)
    data = b"".join(EndlessBody(chunks=4))
    meta = MetaMedia(
        httpx.Response(200, json=media_info(IMAGE_ID, data, "image/png")),
        lambda request: httpx.Response(200, content=body),
    )

    blob = meta.downloader().download(IMAGE_ID, kind="image", max_bytes=4 * CHUNK)

    assert blob.size == 4 * CHUNK
    assert blob.data == data
    assert body.pulled == 4
