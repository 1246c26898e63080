"""Changing a tenant's settings: service.settings.update_tenant_settings against an in-memory
directory, and the versioned write of store.tenants.TenantDirectory under moto."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import Any

import pytest

from atende.domain.hours import BusinessHours
from atende.domain.tenants import DEFAULT_SYSTEM_PROMPT, MediaSettings, Tenant, ToolSettings
from atende.media import MediaLimits
from atende.service.settings import (
    SETTINGS,
    SettingsInvalid,
    TenantNotFound,
    settings_item,
    update_tenant_settings,
)
from atende.store.tenants import TenantChanged, TenantDirectory, TenantRecord

PADARIA = Tenant(
    tenant_id="padaria-pao-quente",
    name="Padaria Pão Quente",
    texts={"apology": "Ops! Tivemos um probleminha, tente de novo daqui a pouco."},
)


class FakeDirectory:
    """The directory port in memory: versions and the conditional write like the DynamoDB one."""

    def __init__(self, *records: TenantRecord) -> None:
        self.records = {record.tenant.tenant_id: record for record in records}
        self.writes: list[tuple[Tenant, int | None]] = []
        self.forgotten: list[str] = []
        self.race: Tenant | None = None  # written by "another operator" right after the next read

    def tenant_record(self, tenant_id: str) -> TenantRecord | None:
        record = self.records.get(tenant_id)
        if self.race is not None:
            self.records[self.race.tenant_id] = TenantRecord(self.race, self.records[self.race.tenant_id].version + 1)
            self.race = None
        return record

    def put_tenant(self, tenant: Tenant, *, only_if_absent: bool = False, expected_version: int | None = None) -> bool:
        current = self.records.get(tenant.tenant_id)
        self.forgotten.append(tenant.tenant_id)
        if expected_version is not None and (current is None or current.version != expected_version):
            raise TenantChanged(f"tenant {tenant.tenant_id} changed since version {expected_version} was read")
        self.writes.append((tenant, expected_version))
        self.records[tenant.tenant_id] = TenantRecord(tenant, (current.version if current else 0) + 1)
        return True


def directory_with(tenant: Tenant = PADARIA, version: int = 3) -> FakeDirectory:
    return FakeDirectory(TenantRecord(tenant, version))


def problems_of(changes: dict[str, Any], tenant: Tenant = PADARIA) -> tuple[str, ...]:
    directory = directory_with(tenant)
    with pytest.raises(SettingsInvalid) as raised:
        update_tenant_settings(directory, tenant.tenant_id, changes, actor="cli:ana")
    assert directory.writes == []
    return raised.value.problems


# --- every setting -----------------------------------------------------------------------------

EVERY_SETTING: list[tuple[str, Any, Any]] = [
    ("name", "Padaria Pão Quente Centro", "Padaria Pão Quente Centro"),
    ("system_prompt", "Você é a atendente da {business_name}.", "Você é a atendente da {business_name}."),
    ("language", "en", "en"),
    ("llm_provider", "gemini", "gemini"),
    ("llm_model", "gemini-2.5-flash", "gemini-2.5-flash"),
    ("memory_turns", 20, 20),
    ("retention_days", 30, 30),
    (
        "texts",
        {"out_of_hours": "Estamos fechados agora; voltamos {opening}."},
        {**PADARIA.texts, "out_of_hours": "Estamos fechados agora; voltamos {opening}."},
    ),
    (
        "media",
        {"transcript_echo": True, "limits": {"audio_seconds": 120}},
        MediaSettings(transcript_echo=True, limits=MediaLimits(audio_seconds=120)),
    ),
    ("hours", {"weekly": {"mon": ["08:00-18:00"]}}, BusinessHours.from_item({"weekly": {"mon": ["08:00-18:00"]}})),
    ("out_of_hours", "notice", "notice"),
    ("session_idle_minutes", 60, 60),
    ("burst_pause_seconds", 5, 5),
    ("flood_limit_per_minute", 40, 40),
    (
        "tools",
        {"enabled": ["search_products", "create_order", "request_human"], "max_steps": 3},
        ToolSettings(enabled=("search_products", "create_order", "request_human"), max_steps=3),
    ),
]


def test_the_settings_are_every_tenant_field_but_its_id() -> None:
    # Given the Tenant's fields / When compared with what the use case can change / Then they match
    assert set(SETTINGS) == {f.name for f in fields(Tenant)} - {"tenant_id"}
    assert {key for key, _, _ in EVERY_SETTING} == set(SETTINGS)


@pytest.mark.parametrize(("key", "value", "expected"), EVERY_SETTING, ids=[case[0] for case in EVERY_SETTING])
def test_every_setting_can_be_changed(key: str, value: Any, expected: Any) -> None:
    # Given a registered tenant at version 3
    directory = directory_with()

    # When one setting is changed
    change = update_tenant_settings(directory, PADARIA.tenant_id, {key: value}, actor="cli:ana")

    # Then the new tenant is written against version 3, and the change names only that setting
    after = replace(PADARIA, **{key: expected})
    assert directory.writes == [(after, 3)]
    assert change.changes == {key: (PADARIA.to_item()[key], after.to_item()[key])}
    assert (change.after, change.version, change.written) == (after, 4, True)


def test_several_settings_change_in_one_write() -> None:
    # Given a registered tenant
    directory = directory_with()

    # When three settings are changed together
    change = update_tenant_settings(
        directory, PADARIA.tenant_id, {"burst_pause_seconds": 5, "out_of_hours": "notice", "memory_turns": 12}, actor="cli:ana"
    )

    # Then one write holds both real changes; memory_turns was already 12 and is not reported
    assert directory.writes == [(replace(PADARIA, burst_pause_seconds=5, out_of_hours="notice"), 3)]
    assert change.changes == {"out_of_hours": ("answer", "notice"), "burst_pause_seconds": (3, 5)}


def test_null_resets_a_setting_to_its_default() -> None:
    # Given a tenant with its own prompt, model and hours
    tenant = replace(
        PADARIA, system_prompt="Seja breve.", llm_model="gpt-4o-mini", hours=BusinessHours.from_item({"weekly": {"mon": ["08:00-12:00"]}})
    )
    directory = directory_with(tenant)

    # When they are set to null
    update_tenant_settings(directory, tenant.tenant_id, {"system_prompt": None, "llm_model": None, "hours": None}, actor="cli:ana")

    # Then the defaults apply again
    defaults = replace(tenant, system_prompt=DEFAULT_SYSTEM_PROMPT, llm_model=None, hours=BusinessHours.always_open())
    assert directory.writes == [(defaults, 3)]


def test_a_text_override_is_removed_with_null_and_the_others_stay() -> None:
    # Given a tenant overriding two texts
    tenant = replace(PADARIA, texts={"apology": "Ops!", "flood_notice": "Calma, por favor! 🙏"})
    directory = directory_with(tenant)

    # When one override is removed and another set
    change = update_tenant_settings(
        directory, tenant.tenant_id, {"texts": {"apology": None, "out_of_hours": "Fechado. Voltamos {opening}."}}, actor="cli:ana"
    )

    # Then the removed key falls back to the default text, the untouched one stays
    assert change.after.texts == {"flood_notice": "Calma, por favor! 🙏", "out_of_hours": "Fechado. Voltamos {opening}."}
    assert change.text_keys == ("apology", "out_of_hours")


def test_media_is_merged_field_by_field_and_a_limit_resets_with_null() -> None:
    # Given a tenant echoing transcripts with two lowered limits
    tenant = replace(
        PADARIA,
        media=MediaSettings(transcript_echo=True, bill_extraction="always", limits=MediaLimits(audio_seconds=60, pdf_pages=5)),
    )
    directory = directory_with(tenant)

    # When only the fallback and one limit change
    change = update_tenant_settings(
        directory, tenant.tenant_id, {"media": {"fallback": False, "limits": {"audio_seconds": None}}}, actor="cli:ana"
    )

    # Then the other media settings stay, and audio_seconds is back to its default
    assert change.after.media == MediaSettings(
        transcript_echo=True, fallback=False, bill_extraction="always", limits=MediaLimits(pdf_pages=5)
    )


# --- what is refused ---------------------------------------------------------------------------


def test_an_unknown_setting_is_refused() -> None:
    # Given / When a misspelt setting is sent / Then it is named with the known ones
    assert problems_of({"burst_pause_secs": 5}) == (f"unknown setting 'burst_pause_secs' (known: {', '.join(SETTINGS)})",)


def test_the_tenant_id_cannot_be_changed_but_may_be_repeated() -> None:
    # Given a tenant / When its id is sent changed / Then it is refused
    assert problems_of({"tenant_id": "padaria-nova"}) == ("tenant_id cannot be changed (register a new tenant instead)",)

    # When its own id comes along (show-tenant's output sent back) / Then it is no change at all
    directory = directory_with()
    change = update_tenant_settings(directory, PADARIA.tenant_id, {"tenant_id": PADARIA.tenant_id}, actor="cli:ana")
    assert (change.changes, change.written, directory.writes) == ({}, False, [])


def test_invalid_hours_are_refused_with_the_reason() -> None:
    # Given / When an interval ends before it starts / Then the hours parser's reason is given
    assert problems_of({"hours": {"weekly": {"mon": ["18:00-08:00"]}}}) == (
        "hours: weekly.mon: interval '18:00-08:00' must end after it starts "
        "(split a night across midnight: 22:00-24:00 and 00:00-02:00 the next day)",
    )


def test_hours_must_be_a_map() -> None:
    # Given / When hours is a list (which the stored-item parser would read as "always open") / Then it is refused
    assert problems_of({"hours": []}) == ('hours must be a map, e.g. {"weekly": {"mon": ["08:00-18:00"]}} ({} = always open)',)


def test_every_invalid_value_is_reported_at_once() -> None:
    # Given / When many settings are wrong together
    problems = problems_of(
        {
            "name": " ",
            "language": "português",
            "llm_provider": "claude",
            "memory_turns": 1,
            "retention_days": "90",
            "out_of_hours": "silence",
            "session_idle_minutes": 2,
            "burst_pause_seconds": 60,
            "flood_limit_per_minute": True,
            "media": {"transcript_echo": "yes", "bill_extraction": "never", "limits": {"pdf_pages": 0, "gif_bytes": 1}},
        }
    )

    # Then each problem is listed, in the order sent
    assert problems == (
        "name must be a non-empty text, got ' '",
        "language 'português' is not valid (e.g. pt-BR)",
        "llm_provider must be one of ['auto', 'gemini', 'local', 'openai']",
        "memory_turns must be between 2 and 50",
        "retention_days must be a whole number, got '90'",
        "out_of_hours must be one of ['answer', 'notice']",
        "session_idle_minutes must be between 5 and 1440",
        "burst_pause_seconds must be between 0 and 15",
        "flood_limit_per_minute must be a whole number, got True",
        "media.transcript_echo must be true or false, got 'yes'",
        "media.limits.pdf_pages must be a whole number between 1 and 100, got 0",
        "media.limits: unknown limit 'gif_bytes' (known: image_bytes, audio_bytes, video_bytes, document_bytes, sticker_bytes, "
        "audio_seconds, pdf_pages, document_chars)",
    )


def test_an_invalid_bill_extraction_mode_is_refused() -> None:
    # Given / When the media mode is unknown / Then MediaSettings' own rule is reported
    assert problems_of({"media": {"bill_extraction": "never"}}) == ("media.bill_extraction must be one of ['always', 'auto', 'off']",)


def test_unknown_text_keys_and_placeholders_are_refused() -> None:
    # Given / When a text key does not exist, a placeholder is misspelt and a text is empty
    problems = problems_of({"texts": {"goodbye": "Tchau!", "out_of_hours": "Voltamos {openning}.", "apology": ""}})

    # Then all three are named
    assert problems == (
        "texts: unknown text key 'goodbye'",
        "texts.out_of_hours: unknown placeholder(s) {openning} (this text knows: {opening})",
        "texts.apology must be a non-empty text (null removes the override), got ''",
    )


def test_the_name_cannot_be_removed() -> None:
    assert problems_of({"name": None}) == ("name cannot be removed (it is what customers see)",)


def test_an_unknown_tenant_is_not_found() -> None:
    # Given an empty directory / When a tenant is updated / Then TenantNotFound
    with pytest.raises(TenantNotFound):
        update_tenant_settings(FakeDirectory(), "padaria-pao-quente", {"burst_pause_seconds": 5}, actor="cli:ana")


# --- concurrency, no-ops, dry runs ----------------------------------------------------------------


def test_a_concurrent_change_is_refused_and_kept() -> None:
    # Given another operator changes the tenant between our read and our write
    directory = directory_with()
    theirs = replace(PADARIA, out_of_hours="notice")
    directory.race = theirs

    # When we write our change
    with pytest.raises(TenantChanged):
        update_tenant_settings(directory, PADARIA.tenant_id, {"burst_pause_seconds": 5}, actor="cli:ana")

    # Then their change stands and ours was not written over it
    assert directory.records[PADARIA.tenant_id] == TenantRecord(theirs, 4)
    assert directory.writes == []


def test_an_expected_version_that_is_not_the_stored_one_is_refused() -> None:
    # Given a tenant at version 3 / When the caller read it at version 2 / Then nothing is written
    directory = directory_with()
    with pytest.raises(TenantChanged):
        update_tenant_settings(directory, PADARIA.tenant_id, {"burst_pause_seconds": 5}, actor="cli:ana", expected_version=2)
    assert directory.writes == []


def test_a_change_to_the_current_values_writes_nothing() -> None:
    # Given a tenant / When its current values (in another spelling of the same hours) are sent
    tenant = replace(PADARIA, hours=BusinessHours.from_item({"weekly": {"mon": ["08:00-18:00"]}}))
    directory = directory_with(tenant)
    change = update_tenant_settings(
        directory,
        tenant.tenant_id,
        {"burst_pause_seconds": 3, "hours": {"weekly": {"mon": ["08:00 – 18:00"]}, "timezone": "America/Sao_Paulo"}},
        actor="cli:ana",
    )

    # Then nothing changed and nothing is written: the version stays
    assert (change.changes, change.written, change.version, directory.writes) == ({}, False, 3, [])


def test_a_dry_run_reports_the_changes_without_writing() -> None:
    directory = directory_with()
    change = update_tenant_settings(directory, PADARIA.tenant_id, {"burst_pause_seconds": 5}, actor="cli:ana", dry_run=True)
    assert (change.changes, change.written, change.version, directory.writes) == ({"burst_pause_seconds": (3, 5)}, False, 3, [])


def test_the_audit_log_names_fields_and_text_keys_never_their_values(log_output: Any) -> None:
    # Given a tenant / When its prompt and a text change
    directory = directory_with()
    update_tenant_settings(
        directory,
        PADARIA.tenant_id,
        {"system_prompt": "Segredo da casa: {business_name}", "texts": {"flood_notice": "Devagar, por favor"}},
        actor="cli:ana",
    )

    # Then one line names who, which fields and which text keys, and no value
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert [(line["message"], line["tenant_id"], line["actor"], line["fields"], line["text_keys"], line["version"]) for line in lines] == [
        ("tenant settings changed", "padaria-pao-quente", "cli:ana", ["system_prompt", "texts"], ["flood_notice"], 4)
    ]
    assert "Segredo" not in log_output.getvalue() and "Devagar" not in log_output.getvalue()


def test_settings_item_round_trips_as_a_no_op() -> None:
    # Given a tenant with every kind of setting / When its shown settings are sent back / Then nothing changes
    tenant = replace(
        PADARIA,
        media=MediaSettings(limits=MediaLimits(pdf_pages=5)),
        hours=BusinessHours.from_item({"weekly": {"mon": ["08:00-18:00"]}, "holiday_subdiv": "SP", "closed_days": ["2026-12-31"]}),
    )
    directory = directory_with(tenant)
    change = update_tenant_settings(directory, tenant.tenant_id, settings_item(tenant), actor="cli:ana")
    assert (change.changes, directory.writes) == ({}, [])


# --- the versioned write, under moto ----------------------------------------------------------


def test_the_directory_writes_versions_and_refuses_a_stale_one(stack: Any) -> None:
    # Given the demo tenant, registered once (version 1), read through a caching directory
    directory = TenantDirectory(stack.resources["AtendeTable"].ref, cache_seconds=300)
    record = directory.tenant_record("padaria-pao-quente")
    assert record is not None and record.version == 1
    assert directory.tenant("padaria-pao-quente") == record.tenant  # now cached

    # When the settings are updated through it
    change = update_tenant_settings(directory, "padaria-pao-quente", {"burst_pause_seconds": 5, "llm_model": "gpt-4o-mini"}, actor="t")

    # Then version 2 is stored, and the cached copy is gone
    assert change.version == 2
    assert directory.tenant_record("padaria-pao-quente") == TenantRecord(change.after, 2)
    assert directory.tenant("padaria-pao-quente") == change.after

    # When a write still expects version 1 / Then it is refused and version 2 stays
    with pytest.raises(TenantChanged):
        directory.put_tenant(replace(record.tenant, name="Outra"), expected_version=1)
    assert directory.tenant_record("padaria-pao-quente") == TenantRecord(change.after, 2)


def test_a_reset_setting_is_removed_from_the_item_and_an_unversioned_item_is_version_0(stack: Any) -> None:
    import boto3

    table = stack.resources["AtendeTable"].ref
    ddb = boto3.client("dynamodb")
    key = {"PK": {"S": "TENANT#padaria-pao-quente"}, "SK": {"S": "TENANT"}}
    # Given a tenant item written before versions existed, with a model
    ddb.update_item(
        TableName=table, Key=key, UpdateExpression="SET llm_model = :m REMOVE version", ExpressionAttributeValues={":m": {"S": "gpt-4o"}}
    )
    directory = TenantDirectory(table, cache_seconds=0)
    assert directory.tenant_record("padaria-pao-quente").version == 0

    # When the model is reset
    change = update_tenant_settings(directory, "padaria-pao-quente", {"llm_model": None}, actor="t")

    # Then the attribute is gone and the item is at version 1
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    assert ("llm_model" in item, item["version"], change.version) == (False, {"N": "1"}, 1)


@pytest.mark.parametrize(
    ("tools", "problem"),
    [
        ({"enabled": ["transfer_money"]}, "unknown tools ['transfer_money']"),
        ({"enabled": ["search_products", "search_products"]}, "lists a tool twice"),
        ({"max_steps": 9}, "tools.max_steps must be between 1 and 8"),
        ({"max_steps": True}, "tools.max_steps must be a whole number"),
        ({"enabled": "search_products"}, "tools.enabled must be a list"),
        ({"colour": "blue"}, "tools: unknown keys ['colour']"),
        (
            {"enabled": ["order_status"], "remote": {"order_status": {"description": "x", "url": "http://erp.example.com/tools"}}},
            "remote tool 'order_status'",
        ),
    ],
    ids=["unknown-tool", "twice", "too-many-steps", "steps-not-a-number", "not-a-list", "unknown-key", "remote-over-http"],
)
def test_invalid_tool_settings_are_refused_and_nothing_is_written(tools: dict[str, Any], problem: str) -> None:
    directory = directory_with()
    with pytest.raises(SettingsInvalid) as refused:
        update_tenant_settings(directory, PADARIA.tenant_id, {"tools": tools}, actor="cli:ana")
    assert any(problem in p for p in refused.value.problems), refused.value.problems
    assert directory.writes == []


def test_a_tool_pointed_at_the_tenants_endpoint_can_be_enabled() -> None:
    from local.tenant_endpoint import demo_remote_tools

    remote = demo_remote_tools("https://erp.otica.example.com.br/atende/tools")
    change = update_tenant_settings(
        directory_with(), PADARIA.tenant_id, {"tools": {"enabled": ["order_status", "schedule_pickup"], "remote": remote}}, actor="cli:ana"
    )
    assert (change.after.tools.enabled, sorted(change.after.tools.remote)) == (("order_status", "schedule_pickup"), sorted(remote))
