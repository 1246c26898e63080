"""Shops whose assistant uses tools, in the local stack: `make run` registers them, `make demo`
plays their scenes.

- **Pet Shop Amigo Fiel** keeps its catalogue, orders and tickets in Atende (built-in tools).
- **Ótica Boa Vista** answers order questions from its own ERP: the demo ERP of
  ``local.tenant_endpoint`` on 127.0.0.1, called signed (``atende.tools.remote``).
- **Solar do Sertão** quotes from the electricity bill a customer photographed (``last_bill``).

Each has its own Meta number on the Graph sandbox, like the closed shops of ``local.seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atende.domain.tenants import MediaSettings, Tenant, ToolSettings
from atende.service.registration import register_meta_channel
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.business_seed import PET_SHOP, SOLAR_SELLER
from local.provision import Stack
from local.seed import DEMO, Demo
from local.tenant_endpoint import DEMO_OPTICIAN, demo_remote_tools, demo_secret_value


@dataclass(frozen=True)
class ToolShop:
    tenant_id: str
    business_name: str
    phone_number_id: str
    display_phone_number: str
    tools: tuple[str, ...]
    system_prompt: str = ""
    media: MediaSettings = field(default_factory=MediaSettings)


PET_SHOP_SHOP = ToolShop(
    PET_SHOP,
    "Pet Shop Amigo Fiel",
    "100000000000004",
    "551130304040",
    ("search_products", "check_stock", "order_status", "recent_orders", "create_order", "open_ticket", "customer_history", "request_human"),
    system_prompt=(
        "Você é o assistente do {business_name} no WhatsApp. Ajude com produtos, estoque, pedidos e chamados, "
        "em português do Brasil, com frases curtas. Hoje: {now_local}."
    ),
)
OPTICIAN_SHOP = ToolShop(
    DEMO_OPTICIAN.tenant_id,
    DEMO_OPTICIAN.business_name,
    "100000000000005",
    "551132325050",
    ("order_status", "schedule_pickup", "request_human"),
)
SOLAR_SHOP = ToolShop(
    SOLAR_SELLER,
    "Solar do Sertão",
    "100000000000006",
    "557130306060",
    ("last_bill", "customer_history", "request_human"),
    media=MediaSettings(bill_extraction="always"),
)
TOOL_SHOPS = (PET_SHOP_SHOP, OPTICIAN_SHOP, SOLAR_SHOP)


def seed_tool_shops(
    stack: Stack, *, endpoint_url: str, meta_secret_id: str | None = None, stage: str = "dev", demo: Demo = DEMO
) -> tuple[Tenant, ...]:
    """Register the shops (idempotent); the optician's tools point at ``endpoint_url``."""
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0)
    secrets = SecretStore(max_age=0)
    secrets.put_json(DEMO_OPTICIAN.secret_id, demo_secret_value())
    tenants = []
    for shop in TOOL_SHOPS:
        remote = demo_remote_tools(endpoint_url) if shop is OPTICIAN_SHOP else {}
        tenant = Tenant(
            tenant_id=shop.tenant_id,
            name=shop.business_name,
            tools=ToolSettings(enabled=shop.tools, remote=remote),
            media=shop.media,
            **({"system_prompt": shop.system_prompt} if shop.system_prompt else {}),
        )
        register_meta_channel(
            directory,
            secrets,
            stage=stage,
            tenant=tenant,
            phone_number_id=shop.phone_number_id,
            meta_secret_id=meta_secret_id or stack.resources["MetaSecret"].ref,
            display_phone_number=shop.display_phone_number,
            access_token=demo.access_token,
        )
        directory.put_tenant(tenant)
        tenants.append(tenant)
    return tuple(tenants)
