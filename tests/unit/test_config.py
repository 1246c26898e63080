"""Settings from the environment: required variables fail loudly, optional knobs have safe defaults."""

from __future__ import annotations

import pytest

from atende.config import ProcessorSettings, WebhookSettings
from atende.errors import ConfigError

QUEUE_URL = "https://sqs.sa-east-1.amazonaws.com/123456789012/atende-dev-inbound.fifo"
DLQ_URL = "https://sqs.sa-east-1.amazonaws.com/123456789012/atende-dev-dead-letters.fifo"
WEBHOOK_ENV = {
    "INBOUND_QUEUE_URL": QUEUE_URL,
    "META_SECRET_ID": "atende/dev/meta",
    "PSEUDONYM_SECRET_ID": "atende/dev/pseudonym",
}
PROCESSOR_ENV = {
    "TABLE_NAME": "atende-dev",
    "IDEMPOTENCY_TABLE_NAME": "atende-dev-idempotency",
    "INBOUND_QUEUE_URL": QUEUE_URL,
    "DEAD_LETTER_QUEUE_URL": DLQ_URL,
    "META_TOKEN_SECRET_ID": "atende/dev/meta-token",
    "LLM_SECRET_ID": "atende/dev/llm",
    "MEDIA_BUCKET": "atende-dev-media-123456789012",
}


def test_webhook_settings_defaults() -> None:
    # Given only the required variables / When / Then
    assert WebhookSettings.from_env(WEBHOOK_ENV) == WebhookSettings(
        inbound_queue_url=QUEUE_URL,
        meta_secret_id="atende/dev/meta",
        pseudonym_secret_id="atende/dev/pseudonym",
        max_body_bytes=3 * 1024 * 1024,
        cache_seconds=300,
    )


def test_processor_settings_defaults() -> None:
    # Given only the required variables / When / Then
    assert ProcessorSettings.from_env(PROCESSOR_ENV) == ProcessorSettings(
        table_name="atende-dev",
        idempotency_table_name="atende-dev-idempotency",
        inbound_queue_url=QUEUE_URL,
        dead_letter_queue_url=DLQ_URL,
        meta_token_secret_id="atende/dev/meta-token",
        llm_secret_id="atende/dev/llm",
        media_bucket="atende-dev-media-123456789012",
        graph_api_base_url="https://graph.facebook.com",
        graph_api_version="v24.0",
        openai_base_url=None,
        gemini_base_url=None,
        max_receive_count=10,
        max_attempts=5,
        claim_lease_seconds=300,
        dedup_ttl_days=8,
        llm_timeout_seconds=20,
        llm_max_retries=2,
        provider_timeout_seconds=10,
        cache_seconds=300,
    )


def test_processor_settings_overrides() -> None:
    # Given every optional knob set, as template.yaml and the local stack do
    env = {
        **PROCESSOR_ENV,
        "GRAPH_API_BASE_URL": "http://127.0.0.1:8081",
        "GRAPH_API_VERSION": "v23.0",
        "OPENAI_BASE_URL": "https://api.groq.com/openai/v1",
        "GEMINI_BASE_URL": " ",
        "MAX_RECEIVE_COUNT": "3",
        "CLAIM_LEASE_SECONDS": "90",
        "DEDUP_TTL_DAYS": "7",
        "LLM_TIMEOUT_SECONDS": "15",
        "LLM_MAX_RETRIES": "0",
        "PROVIDER_TIMEOUT_SECONDS": "5",
        "CONFIG_CACHE_SECONDS": "",
    }

    # When
    settings = ProcessorSettings.from_env(env)

    # Then (blank optional values fall back to their defaults)
    assert (
        settings.graph_api_base_url,
        settings.graph_api_version,
        settings.openai_base_url,
        settings.gemini_base_url,
        settings.max_receive_count,
        settings.claim_lease_seconds,
        settings.dedup_ttl_days,
        settings.llm_timeout_seconds,
        settings.llm_max_retries,
        settings.provider_timeout_seconds,
        settings.cache_seconds,
    ) == ("http://127.0.0.1:8081", "v23.0", "https://api.groq.com/openai/v1", None, 3, 90, 7, 15, 0, 5, 300)


@pytest.mark.parametrize("missing", sorted(WEBHOOK_ENV))
@pytest.mark.parametrize("how", ["absent", "blank"])
def test_webhook_settings_require_each_variable(missing: str, how: str) -> None:
    # Given one required variable absent or blank
    env = {k: v for k, v in WEBHOOK_ENV.items() if k != missing} | ({missing: "   "} if how == "blank" else {})

    # When / Then the error names it
    with pytest.raises(ConfigError) as caught:
        WebhookSettings.from_env(env)
    assert str(caught.value) == f"environment variable {missing} is required"


@pytest.mark.parametrize("missing", sorted(PROCESSOR_ENV))
def test_processor_settings_require_each_variable(missing: str) -> None:
    env = {k: v for k, v in PROCESSOR_ENV.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        ProcessorSettings.from_env(env)
    assert str(caught.value) == f"environment variable {missing} is required"


@pytest.mark.parametrize(
    ("settings", "env", "message"),
    [
        (WebhookSettings, {**WEBHOOK_ENV, "MAX_BODY_BYTES": "3MB"}, "MAX_BODY_BYTES must be an integer, got '3MB'"),
        (WebhookSettings, {**WEBHOOK_ENV, "MAX_BODY_BYTES": "512"}, "MAX_BODY_BYTES must be >= 1024, got 512"),
        (ProcessorSettings, {**PROCESSOR_ENV, "LLM_TIMEOUT_SECONDS": "2.5"}, "LLM_TIMEOUT_SECONDS must be an integer, got '2.5'"),
        (ProcessorSettings, {**PROCESSOR_ENV, "MAX_RECEIVE_COUNT": "five"}, "MAX_RECEIVE_COUNT must be an integer, got 'five'"),
        (ProcessorSettings, {**PROCESSOR_ENV, "DEDUP_TTL_DAYS": "6"}, "DEDUP_TTL_DAYS must be >= 7, got 6"),
        (ProcessorSettings, {**PROCESSOR_ENV, "MAX_RECEIVE_COUNT": "0"}, "MAX_RECEIVE_COUNT must be >= 2, got 0"),
        (ProcessorSettings, {**PROCESSOR_ENV, "LLM_MAX_RETRIES": "-1"}, "LLM_MAX_RETRIES must be >= 0, got -1"),
    ],
    ids=["not-int", "body-too-small", "float", "word", "dedup-under-7-days", "receive-count-0", "negative-retries"],
)
def test_invalid_number_is_a_config_error(settings: type, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings.from_env(env)
    assert str(caught.value) == message


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the variables in os.environ (as Lambda provides them)
    for key, value in WEBHOOK_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")

    # When / Then
    assert WebhookSettings.from_env().max_body_bytes == 2048
