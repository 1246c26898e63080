"""The demo tenant and its three channels in the local stack, registered the documented way.

One bakery, reachable through Meta's Cloud API, an Evolution API instance and a Whaticket
connection; the provider servers are the local sandboxes (``local.sandbox*``).

Two more shops of the bakery (``CLOSED_SHOPS``), each a tenant with its own Meta number, are
closed today whatever the clock says: `make demo` registers them (``seed_closed_shops``) when it
plays its out-of-hours scenes, with hours computed from the moment it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from atende.domain.hours import DEFAULT_TIMEZONE, WEEKDAY_KEYS, BusinessHours
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


# --- the closed shops (out-of-hours scenes of `make demo`) ------------------------------------


@dataclass(frozen=True)
class Shop:
    """Another shop of the demo bakery: its own tenant (hours are a tenant's) and Meta number."""

    tenant_id: str
    business_name: str
    phone_number_id: str
    display_phone_number: str
    out_of_hours: str  # the tenant's policy when closed: "notice" or "answer"


CLOSED_SHOPS = (
    Shop("padaria-pao-quente-centro", "Padaria Pão Quente — Centro", "100000000000002", "551140028923", "notice"),
    Shop("padaria-pao-quente-moema", "Padaria Pão Quente — Moema", "100000000000003", "551140028924", "answer"),
)
SHOP_OPENING_HOURS = "07:00-19:00"  # every day, holidays included


def closed_today(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> BusinessHours:
    """A shop's hours with today (in its zone) a closed day: closed now at any hour, open again
    tomorrow at 07:00. In the last hour of the day tomorrow is closed too, so neither a demo
    scene nor a processor still holding the hours it read a few minutes ago (the tenant cache)
    crosses midnight into an open day."""
    local = now.astimezone(ZoneInfo(timezone))
    closed = [local.date(), local.date() + timedelta(days=1)] if local.hour == 23 else [local.date()]
    return BusinessHours.from_item(
        {
            "timezone": timezone,
            "weekly": {key: [SHOP_OPENING_HOURS] for key in WEEKDAY_KEYS},
            "holidays_closed": False,
            "closed_days": [day.isoformat() for day in closed],
        }
    )


def seed_closed_shops(
    directory: TenantDirectory,
    secrets: SecretStore,
    *,
    now: datetime,
    meta_secret_id: str,
    stage: str = "dev",
    demo: Demo = DEMO,
    shops: tuple[Shop, ...] = CLOSED_SHOPS,
) -> tuple[Tenant, ...]:
    """Register the closed shops (idempotent) and write their hours as of ``now``.

    The tenants are overwritten on purpose: they exist for the demo, and their hours must be
    closed at the moment it plays. A processor that read a shop in the last few minutes keeps
    those (equally closed) hours until its tenant cache expires.
    """
    tenants = []
    for shop in shops:
        tenant = Tenant(
            tenant_id=shop.tenant_id,
            name=shop.business_name,
            hours=closed_today(now),
            out_of_hours=shop.out_of_hours,
        )
        register_meta_channel(
            directory,
            secrets,
            stage=stage,
            tenant=tenant,
            phone_number_id=shop.phone_number_id,
            meta_secret_id=meta_secret_id,
            display_phone_number=shop.display_phone_number,
            access_token=demo.access_token,
        )
        directory.put_tenant(tenant)
        tenants.append(tenant)
    return tuple(tenants)
