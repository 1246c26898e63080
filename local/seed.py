"""The demo tenant and its three channels in the local stack, registered the documented way.

One bakery, reachable through Meta's Cloud API, an Evolution API instance and a Whaticket
connection; the provider servers are the local sandboxes (``local.sandbox*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from atende.domain.tenants import MediaSettings, Tenant
from atende.service.registration import (
    MetaRegistration,
    RelayRegistration,
    register_evolution_channel,
    register_meta_channel,
    register_whaticket_channel,
)
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.provision import Stack

# Where the provider sandboxes answer when the stack runs; tests inject transports instead.
DEFAULT_SANDBOX_URL = "http://127.0.0.1:3001"


@dataclass(frozen=True)
class Demo:
    """Well-known local-only credentials: the stack listens on 127.0.0.1 and holds no real data."""

    tenant_id: str = "padaria-pao-quente"
    business_name: str = "Padaria Pão Quente"
    phone_number_id: str = "100000000000001"
    display_phone_number: str = "551140028922"
    app_secret: str = "local-demo-app-secret"
    verify_token: str = "local-demo-verify-token"
    access_token: str = "local-demo-access-token"
    customer_wa_id: str = "5511987654321"
    customer_user_id: str = "BR.1029384756102938"
    customer_name: str = "Mariana Souza"
    # Evolution API: instance token doubles as the body apikey proof; plus a secret header.
    evolution_instance: str = "padaria-evolution"
    evolution_api_key: str = "B6D711FCDE4D4FD5936544120E713976"
    evolution_header_secret: str = "local-demo-evolution-header-secret"
    # Whaticket: a signing relay, sending with a static API token.
    whaticket_connection: str = "padaria-whaticket"
    whaticket_signing_secret: str = "local-demo-whaticket-signing-secret"
    whaticket_api_token: str = "local-demo-whaticket-api-token"


DEMO = Demo()


@dataclass(frozen=True)
class Seeded:
    meta: MetaRegistration
    evolution: RelayRegistration
    whaticket: RelayRegistration


# The transcript echo ("🔊 Entendi: …") is on so the demo shows what a voice note was heard as;
# every other media setting keeps its default.
DEMO_MEDIA = MediaSettings(transcript_echo=True)


def seed_demo(stack: Stack, demo: Demo = DEMO, *, sandbox_url: str = DEFAULT_SANDBOX_URL, media: MediaSettings = DEMO_MEDIA) -> Seeded:
    """``media``: the tenant's media settings (``MediaSettings()`` for the product defaults)."""
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    secrets = SecretStore(max_age=0)
    tenant = Tenant(tenant_id=demo.tenant_id, name=demo.business_name, media=media)
    meta = register_meta_channel(
        directory,
        secrets,
        stage=stack.stage,
        tenant=tenant,
        phone_number_id=demo.phone_number_id,
        meta_secret_id=stack.resources["MetaSecret"].ref,
        display_phone_number=demo.display_phone_number,
        access_token=demo.access_token,
        app_secret=demo.app_secret,
        verify_token=demo.verify_token,
    )
    evolution = register_evolution_channel(
        directory,
        secrets,
        stage=stack.stage,
        tenant=tenant,
        instance=demo.evolution_instance,
        base_url=f"{sandbox_url}/evolution",
        api_key=demo.evolution_api_key,
        schemes=("header", "apikey"),
        generated={"header_value": demo.evolution_header_secret},
    )
    whaticket = register_whaticket_channel(
        directory,
        secrets,
        stage=stack.stage,
        tenant=tenant,
        connection=demo.whaticket_connection,
        base_url=f"{sandbox_url}/whaticket",
        api_token=demo.whaticket_api_token,
        generated={"signing_secret": demo.whaticket_signing_secret},
    )
    return Seeded(meta, evolution, whaticket)
