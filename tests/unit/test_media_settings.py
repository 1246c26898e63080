"""Per-tenant media settings, the notice texts' parameters, and the processor's media time margin."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from atende.domain.messages import ContactRef, InboundMessage, MediaRef, MessageType, Provider
from atende.domain.tenants import MediaSettings, Tenant
from atende.domain.texts import bot_text
from atende.media import HARD_LIMITS, MediaLimits
from atende.store.dynamo import from_attrs, to_attrs

# --- limits -------------------------------------------------------------------------------------


def test_default_limits_follow_whatsapp_and_bound_what_we_read() -> None:
    limits = MediaLimits()

    assert [limits.max_bytes(kind) for kind in ("image", "audio", "video", "document", "sticker")] == [
        5 * 1024 * 1024,
        16 * 1024 * 1024,
        16 * 1024 * 1024,
        10 * 1024 * 1024,
        500 * 1024,
    ]
    assert (limits.audio_seconds, limits.pdf_pages, limits.document_chars) == (300, 20, 20_000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("audio_bytes", 16 * 1024 * 1024 + 1),  # over WhatsApp's own cap: the Lambda was not sized for it
        ("audio_seconds", 901),
        ("document_bytes", 0),
        ("pdf_pages", -1),
        ("image_bytes", True),  # bool is not a size
    ],
)
def test_limits_outside_the_hard_bounds_are_refused(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        MediaLimits(**{name: value})


def test_limits_from_a_tenant_item_keep_defaults_for_absent_keys() -> None:
    # DynamoDB numbers come back as Decimal
    from decimal import Decimal

    limits = MediaLimits.from_item({"audio_seconds": Decimal(120), "image_bytes": Decimal(1_000_000)})

    assert limits == MediaLimits(audio_seconds=120, image_bytes=1_000_000)


def test_unknown_limit_names_are_refused_rather_than_ignored() -> None:
    with pytest.raises(ValueError, match="audio_minutes"):
        MediaLimits.from_item({"audio_minutes": 5})


# --- settings -----------------------------------------------------------------------------------


def test_media_settings_default_to_no_echo_fallback_on_and_bills_on_demand() -> None:
    assert MediaSettings.from_item(None) == MediaSettings(
        transcript_echo=False, fallback=True, bill_extraction="auto", limits=MediaLimits()
    )


def test_media_settings_round_trip_through_a_dynamodb_item() -> None:
    settings = MediaSettings(transcript_echo=True, fallback=False, bill_extraction="always", limits=MediaLimits(audio_seconds=120))

    item = settings.to_item()
    stored = from_attrs(to_attrs({"media": item}))["media"]

    assert item == {"transcript_echo": True, "fallback": False, "bill_extraction": "always", "limits": {"audio_seconds": 120}}
    assert MediaSettings.from_item(stored) == settings


def test_bill_extraction_mode_is_validated() -> None:
    with pytest.raises(ValueError, match="bill_extraction"):
        MediaSettings(bill_extraction="sometimes")


def test_tenant_reads_its_media_settings_from_its_item() -> None:
    tenant = Tenant.from_item(
        {"tenant_id": "solar-do-sertao", "name": "Solar do Sertão", "media": {"bill_extraction": "always", "limits": {"pdf_pages": 5}}}
    )

    assert tenant.media == MediaSettings(bill_extraction="always", limits=MediaLimits(pdf_pages=5))


def test_tenant_directory_stores_and_reads_media_settings(stack: Any) -> None:
    from atende.store.tenants import TenantDirectory

    directory = TenantDirectory(stack.resources["AtendeTable"].ref)
    tenant = Tenant(
        tenant_id="solar-do-sertao",
        name="Solar do Sertão",
        media=MediaSettings(transcript_echo=True, limits=MediaLimits(audio_seconds=60, document_bytes=2 * 1024 * 1024)),
    )

    directory.put_tenant(tenant)

    assert directory.tenant("solar-do-sertao") == tenant


def test_hard_limits_name_every_limit_field() -> None:
    assert set(HARD_LIMITS) == set(MediaLimits.__slots__)


# --- texts ------------------------------------------------------------------------------------


def test_notice_parameters_are_filled() -> None:
    assert bot_text("media_too_large", limit="5 MB") == (
        "Esse arquivo é grande demais para eu abrir por aqui (o limite é 5 MB). "
        "Pode enviar uma versão menor ou me contar em texto do que se trata?"
    )
    assert bot_text("transcript_echo", transcript="Vocês entregam no Butantã?") == "🔊 Entendi: “Vocês entregam no Butantã?”"


def test_a_tenant_override_may_drop_or_keep_unknown_braces() -> None:
    overrides = {"audio_too_long": "Áudio longo demais (máx. {minutes} min) {sorriso}", "media_too_large": "Arquivo grande demais."}

    assert bot_text("audio_too_long", overrides=overrides, minutes="2") == "Áudio longo demais (máx. 2 min) {sorriso}"
    assert bot_text("media_too_large", overrides=overrides, limit="5 MB") == "Arquivo grande demais."


def test_braces_in_a_parameter_value_are_not_expanded() -> None:
    # A transcript is customer content: "{limit}" in it stays literal.
    assert bot_text("transcript_echo", transcript="o {limit} é quanto?", limit="5 MB") == "🔊 Entendi: “o {limit} é quanto?”"


# --- the processor's time margin ------------------------------------------------------------------


def _body(message_type: MessageType, text: str | None, media: MediaRef | None) -> str:
    return InboundMessage(
        tenant_id=None,
        channel_id="meta:106540352242922",
        provider=Provider.META,
        provider_message_id="wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBDNzY1RTM4RjA4QkE3ODg5MDYA",
        contact=ContactRef(contact_id="c_4z7q2m9x3k5v8n1b6c0d2f4g7h", wa_id="5511987654321"),
        timestamp=1763723000,
        type=message_type,
        text=text,
        media=media,
    ).to_json()


def test_media_records_need_the_media_margin_and_texts_quoting_the_key_do_not() -> None:
    from local.functions import load_function_module

    app = load_function_module("ProcessorFunction")
    voice = _body(MessageType.AUDIO, None, MediaRef(media_id="1090000000000001", mime_type="audio/ogg; codecs=opus", voice=True))
    sneaky = _body(MessageType.TEXT, 'meu json: {"media":{"id":1}}', None)

    assert app._MEDIA_MARK in voice
    assert app._MEDIA_MARK not in sneaky


def test_httpx_request_urls_never_reach_the_logs_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    import atende.observability  # noqa: F401  (configures the library loggers)

    signed = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1090000000000001&hash=ATsecretsig"
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"OggS")))

    with caplog.at_level(logging.DEBUG):
        client.get(signed, headers={"Authorization": "Bearer EAAGm0PX4ZCpsBA"})

    assert "ATsecretsig" not in caplog.text
    assert "EAAGm0PX4ZCpsBA" not in caplog.text
