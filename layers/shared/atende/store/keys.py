"""Single-table key design (see docs/data-model.md).

Everything about one contact sits in one partition, so access, export and erasure are a
Query on ``PK``, never a Scan. Tenants and channels are small configuration items.
"""

from __future__ import annotations


def tenant_key(tenant_id: str) -> dict[str, str]:
    return {"PK": f"TENANT#{tenant_id}", "SK": "TENANT"}


def channel_key(provider: str, external_id: str) -> dict[str, str]:
    return {"PK": f"CHANNEL#{provider}#{external_id}", "SK": "CHANNEL"}


def contact_pk(tenant_id: str, contact_id: str) -> str:
    return f"TENANT#{tenant_id}#CONTACT#{contact_id}"


PROFILE_SK = "PROFILE"


def inbound_sk(provider_message_id: str) -> str:
    return f"MSG#IN#{provider_message_id}"


def outbound_sk(provider_message_id: str) -> str:
    return f"MSG#OUT#{provider_message_id}"


SESSION_PREFIX = "SESSION#"


def session_sk(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id}"
