"""The Graph sandbox's media API, as the real MetaMediaDownloader sees it, and its registration endpoint.

Everything goes through ``transport()`` (host graph.facebook.com, like production) and once
through ``serve()`` on 127.0.0.1 (plain http, as the local stack serves it). The files are real
media made by ``local.media_samples``. Reference: ../shared/docs/providers.md §1.8, §1.10.
"""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

import local.sandbox
from atende.errors import MediaUnavailable, ProviderAuthError
from atende.media import MediaBlob
from atende.media.meta_download import MetaMediaDownloader
from local.media_samples import BILL_PNG, ogg_opus_voice_note
from local.sandbox import GraphSandbox

ACCESS_TOKEN = "EAAGm0PX4ZCpsBAPadariaToken"
GRAPH = "https://graph.facebook.com"
VERSION = "v21.0"
VOICE_MIME = "audio/ogg; codecs=opus"
VOICE = ogg_opus_voice_note(seconds=7)
CAP = 16 * 1024 * 1024  # Meta's audio limit (providers.md §1.9)


def b64_sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def sandbox_and_http() -> tuple[GraphSandbox, httpx.Client]:
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})
    return sandbox, httpx.Client(transport=sandbox.transport(), base_url=GRAPH)


def downloader(http: httpx.Client, *, base_url: str = GRAPH, token: str = ACCESS_TOKEN) -> MetaMediaDownloader:
    return MetaMediaDownloader(http, base_url=base_url, api_version=VERSION, access_token=token)


def audio(mime: str) -> bool:
    return mime.startswith("audio/")


BEARER = {"Authorization": f"Bearer {ACCESS_TOKEN}"}


# --- add_media and the media API ------------------------------------------------------------


def test_registered_voice_note_is_downloaded_by_the_real_downloader() -> None:
    # Given a voice note registered as an inbound media id
    sandbox, http = sandbox_and_http()
    media_id = sandbox.add_media(VOICE, VOICE_MIME)

    # When the processor's downloader fetches it, checking the webhook's sha256
    blob = downloader(http).download(media_id, kind="audio", max_bytes=CAP, expected_sha256=b64_sha(VOICE), accepted_mime=audio)

    # Then the bytes arrive whole, with the codec parameter kept, after exactly one download
    assert media_id == "1090000000000001"
    assert blob == MediaBlob(data=VOICE, mime_type=VOICE_MIME)
    assert sandbox.media[media_id].downloads == 1


def test_media_info_answers_like_graph_with_a_signed_url_on_the_same_host() -> None:
    sandbox, http = sandbox_and_http()
    media_id = sandbox.add_media(BILL_PNG, "image/png")

    response = http.get(f"/{VERSION}/{media_id}", headers=BEARER)

    signature = sandbox.media[media_id].signature
    assert (response.status_code, response.json()) == (
        200,
        {
            "messaging_product": "whatsapp",
            "url": f"{GRAPH}/sandbox/media/{media_id}?sig={signature}",
            "mime_type": "image/png",
            "sha256": b64_sha(BILL_PNG),
            "file_size": len(BILL_PNG),
            "id": media_id,
        },
    )
    assert sandbox.media[media_id].downloads == 0


def test_the_signed_url_still_wants_the_bearer_token_and_the_right_signature() -> None:
    sandbox, http = sandbox_and_http()
    media_id = sandbox.add_media(BILL_PNG, "image/png")
    url = f"/sandbox/media/{media_id}?sig={sandbox.media[media_id].signature}"

    bare = http.get(url)
    wrong_token = http.get(url, headers={"Authorization": "Bearer EAAGsomeoneElse"})
    wrong_signature = http.get(f"/sandbox/media/{media_id}?sig=00000000deadbeef", headers=BEARER)
    good = http.get(url, headers=BEARER)

    assert [r.status_code for r in (bare, wrong_token, wrong_signature)] == [401, 401, 404]
    assert (good.status_code, good.headers["content-type"], good.content) == (200, "image/png", BILL_PNG)
    assert sandbox.media[media_id].downloads == 1  # refused requests are not downloads


def test_media_info_without_a_valid_token_is_an_auth_error() -> None:
    sandbox, http = sandbox_and_http()
    media_id = sandbox.add_media(VOICE, VOICE_MIME)

    with pytest.raises(ProviderAuthError):
        downloader(http, token="EAAGexpiredToken").download(media_id, kind="audio", max_bytes=CAP)
    assert sandbox.media[media_id].downloads == 0


def test_an_expired_media_id_answers_like_graph_and_is_unavailable() -> None:
    # Given a voice note past its 7 days
    sandbox, http = sandbox_and_http()
    media_id = sandbox.add_media(VOICE, VOICE_MIME)
    url = f"/sandbox/media/{media_id}?sig={sandbox.media[media_id].signature}"
    sandbox.expire_media(media_id)

    # When
    info = http.get(f"/{VERSION}/{media_id}", headers=BEARER)
    file = http.get(url, headers=BEARER)
    with pytest.raises(MediaUnavailable) as raised:
        downloader(http).download(media_id, kind="audio", max_bytes=CAP)

    # Then Graph's "object does not exist" (code 100, subcode 33), and the old URL is gone too
    assert (info.status_code, info.json()) == (
        400,
        {
            "error": {
                "message": f"Unsupported get request. Object with ID '{media_id}' does not exist",
                "type": "GraphMethodException",
                "code": 100,
                "error_subcode": 33,
                "fbtrace_id": "ASandboxTrace",
            }
        },
    )
    assert file.status_code == 404
    assert raised.value.reason == "not_found"
    assert sandbox.media[media_id].downloads == 0


def test_an_unknown_media_id_is_not_found() -> None:
    _, http = sandbox_and_http()

    with pytest.raises(MediaUnavailable) as raised:
        downloader(http).download("1479537139650973", kind="image", max_bytes=CAP)

    assert raised.value.reason == "not_found"


def test_a_reported_sha256_that_does_not_match_fails_the_download() -> None:
    # Given media whose reported digest is another file's
    sandbox, http = sandbox_and_http()
    media_id = sandbox.add_media(VOICE, VOICE_MIME, sha256=b64_sha(b"outra nota de voz"))

    with pytest.raises(MediaUnavailable) as raised:
        downloader(http).download(media_id, kind="audio", max_bytes=CAP, expected_sha256=b64_sha(VOICE))

    assert raised.value.reason == "checksum_mismatch"
    assert sandbox.media[media_id].downloads == 1


def test_media_ids_can_be_chosen_and_are_otherwise_sequential() -> None:
    sandbox, _ = sandbox_and_http()

    ids = [sandbox.add_media(VOICE, VOICE_MIME), sandbox.add_media(BILL_PNG, "image/png", media_id="1098765432109876")]
    ids.append(sandbox.add_media(BILL_PNG, "image/png"))

    assert ids == ["1090000000000001", "1098765432109876", "1090000000000002"]


# --- POST /sandbox/media: registration from another process --------------------------------------


def test_registration_endpoint_registers_the_raw_bytes_for_the_downloader() -> None:
    # Given the demo posting a voice note's bytes with its Content-Type
    sandbox, http = sandbox_and_http()

    # When
    response = http.post("/sandbox/media", content=VOICE, headers={"Content-Type": VOICE_MIME})
    registered = response.json()
    blob = downloader(http).download(
        registered["id"], kind="audio", max_bytes=CAP, expected_sha256=registered["sha256"], accepted_mime=audio
    )

    # Then it answers what a webhook cites, and the downloader gets the same file
    assert (response.status_code, registered) == (
        200,
        {"id": "1090000000000001", "mime_type": VOICE_MIME, "sha256": b64_sha(VOICE), "file_size": len(VOICE)},
    )
    assert blob == MediaBlob(data=VOICE, mime_type=VOICE_MIME)
    assert sandbox.media["1090000000000001"].downloads == 1
    assert sandbox.calls == []  # not a message send


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        ({}, BILL_PNG, 400, "(#100) The file's Content-Type is required (e.g. audio/ogg; codecs=opus)."),
        ({"Content-Type": "png"}, BILL_PNG, 400, "(#100) The file's Content-Type is required (e.g. audio/ogg; codecs=opus)."),
        ({"Content-Type": "image/png"}, b"", 400, "(#100) The request body must be the file's bytes."),
        ({"Content-Type": "image/png"}, b"\x89PNG" * 4, 413, "(#100) The file is larger than 12 bytes."),
    ],
    ids=["no-content-type", "not-a-mime-type", "empty", "too-large"],
)
def test_registration_refuses_what_is_not_a_file(
    monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    monkeypatch.setattr(local.sandbox, "MAX_MEDIA_BYTES", 12)
    sandbox, http = sandbox_and_http()

    response = http.post("/sandbox/media", content=body, headers=headers)

    assert (response.status_code, response.json()) == (
        status,
        {"error": {"message": message, "type": "OAuthException", "code": 100, "fbtrace_id": "ASandboxTrace"}},
    )
    assert sandbox.media == {}


def test_registration_is_post_only() -> None:
    sandbox, http = sandbox_and_http()

    response = http.get("/sandbox/media", headers=BEARER)

    assert response.status_code == 404
    assert sandbox.media == {}


# --- over a real socket ----------------------------------------------------------------------------


@pytest.mark.enable_socket
@pytest.mark.slow
def test_served_sandbox_registers_and_serves_media_over_plain_http_on_127_0_0_1() -> None:
    # Given the sandbox served as in the local stack (GRAPH_API_BASE_URL=http://127.0.0.1:<port>)
    sandbox = GraphSandbox(access_tokens={ACCESS_TOKEN})
    server = sandbox.serve()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client() as http:
            # When another process registers a file and the processor downloads it
            registered = http.post(f"{base_url}/sandbox/media", content=BILL_PNG, headers={"Content-Type": "image/png"}).json()
            blob = downloader(http, base_url=base_url).download(
                registered["id"], kind="image", max_bytes=5 * 1024 * 1024, expected_sha256=registered["sha256"]
            )
    finally:
        server.shutdown()
        server.server_close()

    # Then the signed URL pointed back at the served host, and the file came through intact
    assert blob == MediaBlob(data=BILL_PNG, mime_type="image/png")
    assert sandbox.media[registered["id"]].downloads == 1


# --- request validation (JSON Schema) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"type": "text", "to": "5511987654321", "text": {"body": "Oi"}}, None),
        ({"status": "read", "message_id": "wamid.X", "typing_indicator": {"type": "text"}}, None),
        ({"type": "text", "recipient": "BR.5566778899001122", "text": {"body": "Oi"}, "biz_opaque_callback_data": "wamid.X|0"}, None),
        ({"type": "text", "to": "5511987654321"}, "Invalid parameter: 'text' is a required property"),
        ({"type": "text", "to": "5511987654321", "text": {"body": ""}}, "Invalid parameter ['text']['body']: '' should be non-empty"),
        ({"type": "text", "to": "5511987654321", "text": {"body": "x" * 4097}}, "Param text['body'] must be at most 4096 characters long."),
        ({"type": "text", "text": {"body": "Oi"}}, "Invalid parameter: one of to, recipient is required"),
        (
            {"type": "image", "to": "5511987654321", "image": {"caption": "sem arquivo"}},
            "Invalid parameter ['image']: exactly one of id, link is required",
        ),
        (
            {"type": "text", "to": "5511987654321", "text": {"body": "Oi"}, "biz_opaque_callback_data": "x" * 513},
            "Invalid parameter ['biz_opaque_callback_data']: '" + "x" * 513 + "' is too long",
        ),
        ({"status": "read"}, "Invalid parameter: 'message_id' is a required property"),
    ],
    ids=[
        "text",
        "read-receipt",
        "bsuid-with-callback",
        "no-text-object",
        "empty-body",
        "body-too-long",
        "no-recipient",
        "media-without-id-or-link",
        "callback-too-long",
        "read-without-id",
    ],
)
def test_messages_requests_are_validated_like_the_cloud_api(payload: dict[str, object], problem: str | None) -> None:
    from local.sandbox import messages_request_problem

    # Given a /messages request body (messaging_product checked before) / Then Meta's verdict
    assert messages_request_problem({"messaging_product": "whatsapp", **payload}) == problem
