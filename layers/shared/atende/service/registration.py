"""Register a tenant and connect a WhatsApp number (Meta, Evolution or Whaticket): the one documented way.

Used by the admin CLI (``python -m admin register-meta``) against real AWS and by the local
demo seed against the embedded stack. Secrets go to Secrets Manager only; DynamoDB items hold
their ids, never their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from secrets import token_urlsafe

from atende.channels.relay_auth import MIN_URL_TOKEN_LENGTH, EvolutionAuth, WhaticketAuth, sha256_hex
from atende.domain.messages import Provider
from atende.domain.tenants import EXTERNAL_ID_PATTERN, Channel, Tenant
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory


@dataclass(frozen=True, slots=True)
class MetaRegistration:
    tenant_id: str
    channel_id: str
    verify_token: str
    access_token_secret_id: str | None
    tenant_created: bool  # False: the tenant existed and its settings were left as they were


def channel_secret_name(stage: str, phone_number_id: str) -> str:
    # Matches the processor's IAM grant: atende/<stage>/channels/*
    return f"atende/{stage}/channels/meta-{phone_number_id}"


def register_meta_channel(
    directory: TenantDirectory,
    secrets: SecretStore,
    *,
    stage: str,
    tenant: Tenant,
    phone_number_id: str,
    meta_secret_id: str,
    display_phone_number: str | None = None,
    access_token: str | None = None,
    app_secret: str | None = None,
    verify_token: str | None = None,
) -> MetaRegistration:
    """Create the tenant if new, and connect (or re-connect) its Meta channel; idempotent.

    ``app_secret``/``verify_token`` belong to the deployment's Meta app (one app receives the
    webhooks of every connected number). ``access_token`` is per number when given (a business's
    own system-user token); otherwise the deployment's token is used.
    """
    if not phone_number_id.isdigit():
        raise ValueError("phone_number_id is the numeric id from Meta's WhatsApp Manager, not the phone number")
    directory.ensure_channel_available(Channel(tenant_id=tenant.tenant_id, provider=Provider.META, external_id=phone_number_id))
    if app_secret or verify_token:
        current = secrets.get_json(meta_secret_id)
        updated = {
            **current,
            **({"app_secret": app_secret} if app_secret else {}),
            **({"verify_token": verify_token} if verify_token else {}),
        }
        secrets.put_json(meta_secret_id, updated)
    token_secret_id = None
    if access_token:
        token_secret_id = channel_secret_name(stage, phone_number_id)
        secrets.put_json(token_secret_id, {"access_token": access_token})
    # Connecting another number to an existing tenant must not reset its prompt, texts or
    # retention to defaults: the tenant is created here, never overwritten.
    created = directory.put_tenant(tenant, only_if_absent=True)
    channel = Channel(
        tenant_id=tenant.tenant_id,
        provider=Provider.META,
        external_id=phone_number_id,
        display_phone_number=display_phone_number,
        access_token_secret_id=token_secret_id,
    )
    directory.put_channel(channel)
    return MetaRegistration(
        tenant_id=tenant.tenant_id,
        channel_id=channel.channel_id,
        verify_token=secrets.get_field(meta_secret_id, "verify_token"),
        access_token_secret_id=token_secret_id,
        tenant_created=created,
    )


# --- Evolution API and Whaticket ----------------------------------------------------------

EVOLUTION_SCHEMES = ("hmac", "header", "jwt", "apikey")
DEFAULT_EVOLUTION_SCHEMES = ("header", "apikey")  # providers.md §2.1's recommendation
EVOLUTION_SECRET_HEADER = "x-atende-secret"


@dataclass(frozen=True, slots=True)
class RelayRegistration:
    tenant_id: str
    channel_id: str
    webhook_path: str  # append to the API's base URL; contains the URL token in url_token mode
    # Credentials generated here, to configure on the provider side. Shown once: the webhook
    # stores some of them only as digests.
    generated: dict[str, str]
    # What to configure on the provider (Evolution's /webhook/set body; relay headers).
    provider_setup: dict[str, object]
    tenant_created: bool


def webhook_auth_secret_name(stage: str, provider: Provider, external_id: str) -> str:
    # Matches the webhook's IAM grant and CHANNEL_AUTH_SECRET_PREFIX: atende/<stage>/webhook-auth/*
    return f"atende/{stage}/webhook-auth/{provider.value}-{external_id}"


def send_credentials_secret_name(stage: str, provider: Provider, external_id: str) -> str:
    # Matches the processor's IAM grant: atende/<stage>/channels/*
    return f"atende/{stage}/channels/{provider.value}-{external_id}"


def _check_external_id(kind: str, value: str) -> None:
    if not EXTERNAL_ID_PATTERN.fullmatch(value):
        raise ValueError(f"{kind} must be 1-100 chars of A-Z, a-z, 0-9, '_', '.', '-' and start with a letter or digit")


def _check_base_url(base_url: str) -> str:
    if not base_url.startswith(("https://", "http://")):
        raise ValueError("base_url must be an http(s) URL")
    return base_url.rstrip("/")


def _current_webhook_secrets(secrets: SecretStore, stage: str, provider: Provider, external_id: str, rotate: bool) -> dict[str, str]:
    if rotate:
        return {}
    return dict(secrets.find_json(webhook_auth_secret_name(stage, provider, external_id), absent_for=0) or {})


def register_evolution_channel(
    directory: TenantDirectory,
    secrets: SecretStore,
    *,
    stage: str,
    tenant: Tenant,
    instance: str,
    base_url: str,
    api_key: str,
    schemes: tuple[str, ...] = DEFAULT_EVOLUTION_SCHEMES,
    webhook_url: str = "<EvolutionWebhookUrl>",
    presence_ms: int = 0,
    generated: dict[str, str] | None = None,
    rotate: bool = False,
) -> RelayRegistration:
    """Connect (or re-connect) an Evolution instance; idempotent.

    ``schemes``: which proofs every delivery must carry (providers.md §2.1) — any non-empty
    subset of ``EVOLUTION_SCHEMES``. Webhook secrets already stored are kept unless ``rotate``:
    Evolution ≥ 2.3 never retries a 401/403, so a silent rotation would lose every delivery until
    the instance is reconfigured. ``generated`` fixes the secrets (local demo).
    """
    _check_external_id("instance", instance)
    chosen = tuple(dict.fromkeys(schemes))
    if not chosen or any(s not in EVOLUTION_SCHEMES for s in chosen):
        raise ValueError(f"schemes must be a non-empty subset of {EVOLUTION_SCHEMES}")
    if not api_key:
        raise ValueError("api_key (the instance token, or the global key) is required to send")
    if not 0 <= presence_ms <= 3000:
        raise ValueError("presence_ms must be between 0 and 3000 (sendPresence blocks for that long)")
    # Before reading or writing any secret: never reuse, print or overwrite another tenant's.
    directory.ensure_channel_available(Channel(tenant_id=tenant.tenant_id, provider=Provider.EVOLUTION, external_id=instance))
    fixed = {**_current_webhook_secrets(secrets, stage, Provider.EVOLUTION, instance, rotate), **(generated or {})}
    made: dict[str, str] = {}
    for scheme, name in (("hmac", "hmac_secret"), ("header", "header_value"), ("jwt", "jwt_key")):
        if scheme in chosen:
            made[name] = fixed.get(name) or token_urlsafe(32)
    auth = EvolutionAuth(
        hmac_secret=made.get("hmac_secret"),
        header_name=EVOLUTION_SECRET_HEADER if "header" in chosen else None,
        header_value=made.get("header_value"),
        jwt_key=made.get("jwt_key"),
        apikey_sha256=sha256_hex(api_key) if "apikey" in chosen else None,
    )
    base = _check_base_url(base_url)
    send_secret = send_credentials_secret_name(stage, Provider.EVOLUTION, instance)
    secrets.put_json(send_secret, {"api_key": api_key})
    secrets.put_json(webhook_auth_secret_name(stage, Provider.EVOLUTION, instance), auth.to_secret())
    created = directory.put_tenant(tenant, only_if_absent=True)
    channel = Channel(
        tenant_id=tenant.tenant_id,
        provider=Provider.EVOLUTION,
        external_id=instance,
        access_token_secret_id=send_secret,
        base_url=base,
        options={"presence_ms": presence_ms} if presence_ms else {},
    )
    directory.put_channel(channel)
    headers: dict[str, str] = {}
    if auth.header_name and auth.header_value:
        headers[auth.header_name] = auth.header_value
    if auth.jwt_key:
        headers["jwt_key"] = auth.jwt_key  # Evolution ≥ 2.3 turns this into Authorization: Bearer <JWT>
    setup: dict[str, object] = {
        "endpoint": f"POST {base}/webhook/set/{instance}",
        "body": {
            "webhook": {
                "enabled": True,
                "url": webhook_url,
                "headers": headers,
                "byEvents": False,
                "base64": False,
                "events": ["MESSAGES_UPSERT", "MESSAGES_UPDATE", "CONNECTION_UPDATE"],
            }
        },
    }
    if "hmac" in chosen:
        setup["relay"] = "sign each raw body: X-Webhook-Signature: sha256=<hex HMAC-SHA256(hmac_secret, body)>"
    if "apikey" in chosen:
        setup["evolution_env"] = "AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES=true (puts the instance token in each body's apikey)"
    return RelayRegistration(
        tenant_id=tenant.tenant_id,
        channel_id=channel.channel_id,
        webhook_path="/webhooks/evolution",
        generated=made,
        provider_setup=setup,
        tenant_created=created,
    )


def register_whaticket_channel(
    directory: TenantDirectory,
    secrets: SecretStore,
    *,
    stage: str,
    tenant: Tenant,
    connection: str,
    base_url: str,
    api_token: str | None = None,
    login_email: str | None = None,
    login_password: str | None = None,
    auth_mode: str = "signed",
    require_webhook_token: bool = False,
    whatsapp_id: str | None = None,
    generated: dict[str, str] | None = None,
    rotate: bool = False,
) -> RelayRegistration:
    """Connect a Whaticket connection (sending through ``{base_url}/api/messages/send``).

    ``auth_mode``: ``signed`` (the relay contract: X-Timestamp + X-Signature, replay-protected)
    or ``url_token`` (the weaker opt-in: a random token in the URL path, for forks that cannot
    sign). Sending uses a static API token, or a login whose JWT is cached and refreshed.
    Webhook secrets already stored are kept unless ``rotate`` (see ``register_evolution_channel``).
    """
    _check_external_id("connection", connection)
    if auth_mode not in ("signed", "url_token"):
        raise ValueError("auth_mode must be 'signed' or 'url_token'")
    if bool(api_token) == bool(login_email and login_password):
        raise ValueError("give either api_token or login_email + login_password")
    # Before reading or writing any secret: never reuse, print or overwrite another tenant's.
    directory.ensure_channel_available(Channel(tenant_id=tenant.tenant_id, provider=Provider.WHATICKET, external_id=connection))
    current = _current_webhook_secrets(secrets, stage, Provider.WHATICKET, connection, rotate)
    fixed = {**current, **(generated or {})}
    made: dict[str, str] = {}
    if auth_mode == "signed":
        made["signing_secret"] = fixed.get("signing_secret") or token_urlsafe(32)
        if require_webhook_token:
            made["webhook_token"] = fixed.get("webhook_token") or token_urlsafe(24)
        auth = WhaticketAuth(signing_secret=made["signing_secret"], webhook_token=made.get("webhook_token"))
        path = f"/webhooks/whaticket/{connection}"
        setup: dict[str, object] = {
            "relay": "POST the message JSON to the URL with X-Timestamp: <epoch seconds> and "
            'X-Signature: <hex HMAC-SHA256(signing_secret, f"{timestamp}.{raw_body}")>'
            + (" and X-Webhook-Token: <webhook_token>" if require_webhook_token else ""),
        }
    elif current.get("url_token_sha256") and not generated:
        # Only the digest is stored: the token in the relay's URL stays valid, and unknown here.
        auth = WhaticketAuth(url_token_sha256=current["url_token_sha256"])
        path = f"/webhooks/whaticket/{connection}/<the token issued at the first registration>"
        setup = {"whaticket": "unchanged; pass rotate to issue a new URL token"}
    else:
        made["url_token"] = fixed.get("url_token") or token_urlsafe(32)
        if len(made["url_token"]) < MIN_URL_TOKEN_LENGTH:
            raise ValueError(f"url_token must be at least {MIN_URL_TOKEN_LENGTH} characters")
        auth = WhaticketAuth(url_token_sha256=sha256_hex(made["url_token"]))
        path = f"/webhooks/whaticket/{connection}/{made['url_token']}"
        setup = {
            "whaticket": "Queue/connection integration of type 'webhook' (or n8n) with this full URL",
            "warning": "weaker option: whoever sees the URL can post to it, and there is no replay protection",
        }
    send_secret = send_credentials_secret_name(stage, Provider.WHATICKET, connection)
    credentials = {"token": api_token} if api_token else {"email": str(login_email), "password": str(login_password)}
    secrets.put_json(send_secret, credentials)
    secrets.put_json(webhook_auth_secret_name(stage, Provider.WHATICKET, connection), auth.to_secret())
    created = directory.put_tenant(tenant, only_if_absent=True)
    channel = Channel(
        tenant_id=tenant.tenant_id,
        provider=Provider.WHATICKET,
        external_id=connection,
        access_token_secret_id=send_secret,
        base_url=_check_base_url(base_url),
        options={"whatsapp_id": whatsapp_id} if whatsapp_id else {},
    )
    directory.put_channel(channel)
    return RelayRegistration(
        tenant_id=tenant.tenant_id,
        channel_id=channel.channel_id,
        webhook_path=path,
        generated=made,
        provider_setup=setup,
        tenant_created=created,
    )
