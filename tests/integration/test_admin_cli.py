"""The documented registration command: `python -m admin register-meta`, against moto."""

from __future__ import annotations

import json

from admin.__main__ import main
from atende.domain.messages import Provider
from atende.store.secrets import SecretStore
from atende.store.tenants import TenantDirectory


def test_register_meta_stores_secrets_and_items_and_prints_the_verify_token(stack, capsys):
    table, meta_secret = stack.resources["AtendeTable"].ref, stack.resources["MetaSecret"].ref
    code = main(
        [
            "register-meta",
            "--table-name", table,
            "--meta-secret-id", meta_secret,
            "--tenant", "oficina-do-tonho",
            "--name", "Oficina do Tonho",
            "--phone-number-id", "200000000000002",
            "--access-token", "EAAG-tonho-token",
            "--app-secret", "tonho-app-secret",
        ]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    secrets = SecretStore(max_age=0)
    assert printed["verify_token"] == secrets.get_field(meta_secret, "verify_token")
    assert printed["channel_id"] == "meta:200000000000002"
    assert secrets.get_field(meta_secret, "app_secret") == "tonho-app-secret"
    assert secrets.get_json("atende/dev/channels/meta-200000000000002") == {"access_token": "EAAG-tonho-token"}
    directory = TenantDirectory(table, cache_seconds=0)
    channel = directory.channel(Provider.META, "200000000000002")
    assert (channel.tenant_id, channel.access_token_secret_id) == ("oficina-do-tonho", "atende/dev/channels/meta-200000000000002")
    assert directory.tenant("oficina-do-tonho").name == "Oficina do Tonho"
    # No secret value is stored in DynamoDB
    import boto3

    dump = json.dumps(boto3.client("dynamodb").scan(TableName=table)["Items"])
    assert "EAAG-tonho-token" not in dump and "tonho-app-secret" not in dump


def test_connecting_a_second_number_keeps_the_tenant_settings(stack, capsys):
    table, meta_secret = stack.resources["AtendeTable"].ref, stack.resources["MetaSecret"].ref
    directory = TenantDirectory(table, cache_seconds=0)
    before = directory.tenant("padaria-pao-quente")  # the demo tenant, seeded by the fixture
    code = main(
        ["register-meta", "--table-name", table, "--meta-secret-id", meta_secret, "--tenant", "padaria-pao-quente",
         "--name", "Outro Nome", "--phone-number-id", "300000000000003", "--access-token", "-", "--llm-provider", "gemini"]
    )  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out)["tenant"] == "existed (settings unchanged)"
    assert directory.tenant("padaria-pao-quente") == before
    assert directory.channel(Provider.META, "300000000000003").tenant_id == "padaria-pao-quente"


def test_register_meta_sets_the_tenant_media_settings(stack, capsys):
    from atende.domain.tenants import MediaSettings

    table, meta_secret = stack.resources["AtendeTable"].ref, stack.resources["MetaSecret"].ref
    code = main(
        [
            "register-meta",
            "--table-name", table,
            "--meta-secret-id", meta_secret,
            "--tenant", "solar-do-sertao",
            "--name", "Solar do Sertão",
            "--phone-number-id", "200000000000003",
            "--access-token", "EAAG-solar-token",
            "--app-secret", "solar-app-secret",
            "--transcript-echo",
            "--bill-extraction", "always",
        ]
    )  # fmt: skip
    assert code == 0
    tenant = TenantDirectory(table, cache_seconds=0).tenant("solar-do-sertao")
    assert tenant is not None
    assert tenant.media == MediaSettings(transcript_echo=True, bill_extraction="always")
