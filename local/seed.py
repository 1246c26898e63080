"""The demo tenant and Meta channel of the local stack (registered the documented way)."""

from __future__ import annotations

from dataclasses import dataclass

from atende.domain.tenants import Tenant
from atende.service.registration import MetaRegistration, register_meta_channel
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory
from local.provision import Stack


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


DEMO = Demo()


def seed_demo(stack: Stack, demo: Demo = DEMO) -> MetaRegistration:
    meta_secret_id = stack.resources["MetaSecret"].ref
    return register_meta_channel(
        TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=0),
        SecretStore(max_age=0),
        stage=stack.stage,
        tenant=Tenant(tenant_id=demo.tenant_id, name=demo.business_name),
        phone_number_id=demo.phone_number_id,
        meta_secret_id=meta_secret_id,
        display_phone_number=demo.display_phone_number,
        access_token=demo.access_token,
        app_secret=demo.app_secret,
        verify_token=demo.verify_token,
    )
