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


# --- update-tenant / show-tenant --------------------------------------------------------------

PADARIA = "padaria-pao-quente"  # the demo tenant, seeded by the fixture (version 1)


def test_update_tenant_then_show_tenant_prints_the_new_settings(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    # Given the demo tenant / When two settings are changed with --set (JSON values, plain text for the name)
    code = main(
        ["update-tenant", "--table-name", table, "--tenant", PADARIA, "--set", "burst_pause_seconds=5",
         "--set", 'hours={"weekly":{"mon":["08:00-18:00"]}}', "--set", "name=Padaria Pão Quente Centro"]
    )  # fmt: skip

    # Then the changes are printed with their old and new stored forms, at version 2
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "tenant_id": PADARIA,
        "dry_run": False,
        "written": True,
        "version": 2,
        "changes": {
            "name": {"old": "Padaria Pão Quente", "new": "Padaria Pão Quente Centro"},
            "hours": {"old": {}, "new": {"timezone": "America/Sao_Paulo", "weekly": {"mon": ["08:00-18:00"]}, "holidays_closed": True}},
            "burst_pause_seconds": {"old": 3, "new": 5},
        },
    }

    # When the tenant is shown / Then it has the new settings, every other one as it was
    assert main(["show-tenant", "--table-name", table, "--tenant", PADARIA]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {key: shown[key] for key in ("tenant_id", "version", "name", "burst_pause_seconds", "hours", "texts", "media")} == {
        "tenant_id": PADARIA,
        "version": 2,
        "name": "Padaria Pão Quente Centro",
        "burst_pause_seconds": 5,
        "hours": {"timezone": "America/Sao_Paulo", "weekly": {"mon": ["08:00-18:00"]}, "holidays_closed": True},
        "texts": {},
        "media": {"transcript_echo": True, "fallback": True, "bill_extraction": "auto"},
    }
    assert TenantDirectory(table, cache_seconds=0).tenant(PADARIA).burst_pause_seconds == 5


def test_update_tenant_logs_the_audit_line_on_stderr_by_field_name(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    # Given / When a prompt is changed by a named actor
    code = main(["update-tenant", "--table-name", table, "--tenant", PADARIA, "--actor", "cli:ana", "--set", "system_prompt=Seja breve."])

    # Then stdout stays one JSON document and stderr carries the audit line, without the prompt
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out)["changes"]["system_prompt"]["new"] == "Seja breve."
    audit = json.loads(captured.err)
    assert (audit["message"], audit["actor"], audit["fields"], audit["version"]) == (
        "tenant settings changed",
        "cli:ana",
        ["system_prompt"],
        2,
    )
    assert "Seja breve" not in captured.err


def test_update_tenant_dry_run_writes_nothing(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    before = TenantDirectory(table, cache_seconds=0).tenant_record(PADARIA)
    code = main(["update-tenant", "--table-name", table, "--tenant", PADARIA, "--set", "out_of_hours=notice", "--dry-run"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "tenant_id": PADARIA,
        "dry_run": True,
        "written": False,
        "version": 1,
        "changes": {"out_of_hours": {"old": "answer", "new": "notice"}},
    }
    assert TenantDirectory(table, cache_seconds=0).tenant_record(PADARIA) == before


def test_invalid_settings_exit_2_listing_every_problem(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    before = TenantDirectory(table, cache_seconds=0).tenant_record(PADARIA)
    # Given / When an unknown setting and an out-of-range pause are sent
    code = main(["update-tenant", "--table-name", table, "--tenant", PADARIA, "--set", "burst_pause_seconds=60", "--set", "colour=blue"])

    # Then exit code 2, both problems on stderr, nothing written
    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err.splitlines() == [
        "error: invalid settings, nothing was changed:",
        "  - burst_pause_seconds must be between 0 and 15",
        "  - unknown setting 'colour' (known: name, system_prompt, language, llm_provider, llm_model, memory_turns, retention_days, "
        "texts, media, hours, out_of_hours, session_idle_minutes, burst_pause_seconds, flood_limit_per_minute, tools)",
    ]
    assert TenantDirectory(table, cache_seconds=0).tenant_record(PADARIA) == before


def test_update_of_an_unknown_tenant_exits_2(stack, capsys):
    table = stack.resources["AtendeTable"].ref
    code = main(["update-tenant", "--table-name", table, "--tenant", "padaria-inexistente", "--set", "burst_pause_seconds=5"])
    assert (code, capsys.readouterr().err) == (2, "error: no tenant 'padaria-inexistente'\n")


def test_show_tenant_output_edited_goes_back_with_file_and_a_stale_one_is_refused(stack, capsys, tmp_path):
    table = stack.resources["AtendeTable"].ref
    # Given the shown settings, edited and saved
    assert main(["show-tenant", "--table-name", table, "--tenant", PADARIA]) == 0
    shown = json.loads(capsys.readouterr().out)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({**shown, "texts": {"out_of_hours": "Fechado! Voltamos {opening}."}}), encoding="utf-8")

    # When the file is sent / Then only the texts changed, to version 2
    assert main(["update-tenant", "--table-name", table, "--tenant", PADARIA, "--file", str(settings)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["version"], printed["changes"]) == (
        2,
        {"texts": {"old": None, "new": {"out_of_hours": "Fechado! Voltamos {opening}."}}},
    )

    # When the same file (read at version 1) is sent again / Then it is refused with exit code 1
    code = main(["update-tenant", "--table-name", table, "--tenant", PADARIA, "--file", str(settings)])
    assert (code, capsys.readouterr().err) == (
        1,
        "error: tenant 'padaria-pao-quente' was changed by someone else meanwhile; nothing was written: run show-tenant and retry\n",
    )


# --- set-conversation / sessions --------------------------------------------------------------

CONTACT = "c_7q3xk2m9v4b8n1p5r6t0w3y2za"


def _put(table, item):
    import boto3

    from atende.store.dynamo import to_attrs

    boto3.client("dynamodb").put_item(TableName=table, Item=to_attrs(item))


def _conversation_flags(stack):
    return ["--table-name", stack.resources["AtendeTable"].ref, "--idempotency-table-name", stack.resources["IdempotencyTable"].ref]


def test_set_conversation_stores_the_state_on_the_profile(stack, capsys, monkeypatch):
    from atende.store.keys import PROFILE_SK, contact_pk

    table = stack.resources["AtendeTable"].ref
    # Given a contact who wrote once (profile version 1)
    _put(table, {"PK": contact_pk(PADARIA, CONTACT), "SK": PROFILE_SK, "entity": "profile", "version": 1, "last_inbound_at": 1_780_000_000})
    monkeypatch.setattr("admin.__main__._now", lambda: 1_780_000_600)

    # When a human takes it, snoozed for 30 minutes
    code = main(
        ["set-conversation", *_conversation_flags(stack), "--tenant", PADARIA, "--contact", CONTACT,
         "--state", "assigned", "--assignee", "Ana", "--priority", "2", "--snooze-minutes", "30"]
    )  # fmt: skip

    # Then the profile item holds that conversation, and its version moved on
    assert code == 0
    stored = {"state": "assigned", "priority": 2, "assignee": "Ana", "snoozed_until": 1_780_002_400, "changed_at": 1_780_000_600}
    assert json.loads(capsys.readouterr().out) == {"tenant_id": PADARIA, "contact_id": CONTACT, "conversation": stored}
    import boto3

    from atende.store.dynamo import from_attrs

    item = from_attrs(
        boto3.client("dynamodb").get_item(TableName=table, Key={"PK": {"S": contact_pk(PADARIA, CONTACT)}, "SK": {"S": PROFILE_SK}})["Item"]
    )
    assert (item["conversation"], item["version"]) == (stored, 2)


def test_set_conversation_of_an_unknown_contact_exits_2_and_creates_nothing(stack, capsys):
    from atende.store.conversations import ConversationStore

    flags = _conversation_flags(stack)
    code = main(["set-conversation", *flags, "--tenant", PADARIA, "--contact", CONTACT, "--state", "queued"])
    assert (code, capsys.readouterr().err) == (2, f"error: no contact '{CONTACT}' for tenant '{PADARIA}'\n")
    assert ConversationStore(flags[1], flags[3]).contact_items(PADARIA, CONTACT) == []


def test_sessions_lists_what_the_store_holds(stack, capsys):
    from decimal import Decimal

    from atende.domain.conversation import ModelUsage, Session, SessionOutcome
    from atende.store.keys import contact_pk, session_sk

    table = stack.resources["AtendeTable"].ref
    # Given two sessions of one contact: one closed by inactivity with a human, one open
    sessions = [
        Session(
            started_at=1_780_000_000,
            last_at=1_780_000_900,
            messages_in=4,
            messages_out=3,
            usage={
                "openai/gpt-4o-mini": ModelUsage(input_tokens=1200, output_tokens=300, cost_brl=Decimal("0.0123"), calls=3),
                "openai/whisper-1": ModelUsage(input_tokens=0, output_tokens=50, cost_brl=Decimal("0.0027"), calls=1),
            },
            human=True,
            outcome=SessionOutcome.IDLE,
            ended_at=1_780_002_700,
        ),
        Session(started_at=1_780_090_000, last_at=1_780_090_060, messages_in=1, messages_out=1),
    ]
    for session in sessions:
        pk = contact_pk(PADARIA, CONTACT)
        _put(table, {"PK": pk, "SK": session_sk(session.session_id), "entity": "session", "contact_id": CONTACT, **session.to_item()})

    # When they are listed
    assert main(["sessions", *_conversation_flags(stack), "--tenant", PADARIA, "--contact", CONTACT]) == 0

    # Then oldest first, times in the tenant's zone (São Paulo), tokens summed, cost exact in BRL
    assert json.loads(capsys.readouterr().out) == {
        "tenant_id": PADARIA,
        "contact_id": CONTACT,
        "sessions": [
            {
                "session_id": "1780000000",
                "start": "2026-05-28T17:26:40-03:00",
                "end": "2026-05-28T18:11:40-03:00",
                "last_message": "2026-05-28T17:41:40-03:00",
                "messages_in": 4,
                "messages_out": 3,
                "tokens_in": 1200,
                "tokens_out": 350,
                "cost_brl": "0.0150",
                "human": True,
                "outcome": "idle",
            },
            {
                "session_id": "1780090000",
                "start": "2026-05-29T18:26:40-03:00",
                "end": None,
                "last_message": "2026-05-29T18:27:40-03:00",
                "messages_in": 1,
                "messages_out": 1,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost_brl": "0",
                "human": False,
                "outcome": "open",
            },
        ],
    }
