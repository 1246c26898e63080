"""Register a tenant and connect a Meta WhatsApp number: the one documented way to do it.

Used by the admin CLI (``python -m admin register-meta``) against real AWS and by the local
demo seed against the embedded stack. Secrets go to Secrets Manager only; DynamoDB items hold
their ids, never their values.
"""

from __future__ import annotations

from dataclasses import dataclass

from atende.domain.messages import Provider
from atende.domain.tenants import Channel, Tenant
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
