"""Change a registered tenant's settings: the one use case behind ``python -m admin update-tenant``
(and the operator API later).

``changes`` maps setting names to JSON values (what a CLI flag or an API body carries). Each value
is checked on its own, then the new ``Tenant`` is built so its own validation applies; every
problem is reported at once (``SettingsInvalid.problems``). The write is conditional on the
version that was read, so a concurrent change is refused (``TenantChanged``) instead of undone.

Value rules, the same for every caller:
- ``null`` resets a setting to its default (``name`` has none and cannot be reset);
- ``texts`` is merged key by key onto the current overrides: a text sets an override, ``null``
  removes it (the default text applies again); only the keys of ``atende.domain.texts`` exist;
- ``media`` is merged field by field, and its ``limits`` limit by limit (``null`` = the default);
- ``hours`` is replaced whole, in the stored item format of ``BusinessHours`` (``{}`` = always open).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from atende.domain.hours import BusinessHours
from atende.domain.tenants import MediaSettings, Tenant, ToolSettings
from atende.domain.texts import bot_text
from atende.errors import AtendeError
from atende.media import HARD_LIMITS, MediaLimits
from atende.observability import logger
from atende.store.tenants import TenantChanged, TenantRecord

# The prompt goes with every message to the model (cost) and lives in the tenant item (400 KB).
MAX_PROMPT_CHARS = 20_000
MAX_NAME_CHARS = 200
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # pt-BR, en, es-419
MODEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,99}")
MEDIA_FIELDS = ("transcript_echo", "fallback", "bill_extraction", "limits")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")  # as atende.domain.texts fills them


class SettingsInvalid(AtendeError, ValueError):
    """The requested changes are not valid settings; ``problems`` lists every one (nothing was written)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid tenant settings: " + "; ".join(problems))
        self.problems = tuple(problems)


class TenantNotFound(AtendeError, LookupError):
    """No tenant is registered under this id."""


class SettingsDirectory(Protocol):
    """What the use case needs from ``store.tenants.TenantDirectory``."""

    def tenant_record(self, tenant_id: str) -> TenantRecord | None: ...

    def put_tenant(self, tenant: Tenant, *, only_if_absent: bool = False, expected_version: int | None = None) -> bool: ...


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """What an update did: each changed setting with its stored form before and after."""

    tenant_id: str
    before: Tenant
    after: Tenant
    changes: Mapping[str, tuple[Any, Any]]  # setting → (old, new), in settings order
    version: int  # the tenant's version after the call
    written: bool  # False: nothing changed, or a dry run

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.changes)

    @property
    def text_keys(self) -> tuple[str, ...]:
        """The text overrides set, changed or removed (key names only)."""
        old, new = self.before.texts, self.after.texts
        return tuple(sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key)))


def update_tenant_settings(
    directory: SettingsDirectory,
    tenant_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    expected_version: int | None = None,
    dry_run: bool = False,
) -> SettingsChange:
    """Validate ``changes`` and write them to the tenant (see the module docstring for the rules).

    ``actor`` names who asked (audit log). ``expected_version``: the version the caller's view
    of the tenant was read at (an API's If-Match); a different stored version is a
    ``TenantChanged``. ``dry_run`` validates and reports the changes without writing.
    Raises ``TenantNotFound``, ``SettingsInvalid`` or ``TenantChanged``.
    """
    record = directory.tenant_record(tenant_id)
    if record is None:
        raise TenantNotFound(f"no tenant {tenant_id!r}")
    if expected_version is not None and expected_version != record.version:
        raise TenantChanged(f"tenant {tenant_id} is at version {record.version}, not {expected_version}")
    after = apply_settings(record.tenant, changes)
    change = SettingsChange(
        tenant_id=tenant_id,
        before=record.tenant,
        after=after,
        changes=settings_diff(record.tenant, after),
        version=record.version,
        written=False,
    )
    if dry_run or not change.changes:
        return change
    directory.put_tenant(after, expected_version=record.version)  # also drops the directory's cached copy
    written = replace(change, version=record.version + 1, written=True)
    # Names only: texts and prompts are the business's words, not for the logs.
    logger.info(
        "tenant settings changed",
        extra={
            "tenant_id": tenant_id,
            "actor": actor,
            "fields": list(written.fields),
            "text_keys": list(written.text_keys),
            "version": written.version,
        },
    )
    return written


def apply_settings(current: Tenant, changes: Mapping[str, Any]) -> Tenant:
    """The tenant with ``changes`` applied; ``SettingsInvalid`` lists every problem."""
    if not isinstance(changes, Mapping):
        raise SettingsInvalid(["settings must be a map of setting name to value"])
    problems: list[str] = []
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "tenant_id":
            if value != current.tenant_id:
                problems.append("tenant_id cannot be changed (register a new tenant instead)")
            continue
        parse = _PARSERS.get(key) if isinstance(key, str) else None
        if parse is None:
            problems.append(f"unknown setting {key!r} (known: {', '.join(SETTINGS)})")
            continue
        try:
            candidate = parse(current, value)
            replace(current, **{key: candidate})  # the Tenant's own rule for this setting
            parsed[key] = candidate
        except SettingsInvalid as exc:
            problems.extend(exc.problems)
        except (ValueError, TypeError) as exc:
            problems.append(_problem(key, exc))
    if problems:
        raise SettingsInvalid(problems)
    try:
        return replace(current, **parsed)
    except (ValueError, TypeError) as exc:  # a rule across settings (none today)
        raise SettingsInvalid([str(exc)]) from exc


def settings_diff(before: Tenant, after: Tenant) -> dict[str, tuple[Any, Any]]:
    """Setting → (old, new) stored forms, for the settings whose stored form differs."""
    old, new = before.to_item(), after.to_item()
    return {key: (old[key], new[key]) for key in SETTINGS if old[key] != new[key]}


def settings_item(tenant: Tenant) -> dict[str, Any]:
    """Every setting in its stored form, keyed like ``changes`` (a ``show`` that round-trips)."""
    item = tenant.to_item()
    return {"tenant_id": tenant.tenant_id, **{key: item[key] for key in SETTINGS}, "texts": item["texts"] or {}}


# --- one parser per setting: the JSON value → the Tenant field's value ----------------------------


def _problem(key: str, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(key) else f"{key}: {message}"


def _default(current: Tenant, key: str) -> Any:
    return getattr(Tenant(tenant_id=current.tenant_id, name=current.name), key)


def _text(value: Any, key: str, *, max_chars: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty text, got {value!r}")
    if max_chars is not None and len(value) > max_chars:
        raise ValueError(f"{key} must be at most {max_chars} characters, got {len(value)}")
    return value


def _integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number, got {value!r}")
    return value


def _boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")
    return value


def _scalar(key: str, check: Callable[[Any, str], Any]) -> Callable[[Tenant, Any], Any]:
    def parse(current: Tenant, value: Any) -> Any:
        return _default(current, key) if value is None else check(value, key)

    return parse


def _name(current: Tenant, value: Any) -> str:
    if value is None:
        raise ValueError("name cannot be removed (it is what customers see)")
    return _text(value, "name", max_chars=MAX_NAME_CHARS).strip()


def _pattern(pattern: re.Pattern[str], example: str) -> Callable[[Any, str], str]:
    def check(value: Any, key: str) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(f"{key} {value!r} is not valid (e.g. {example})")
        return value

    return check


def _texts(current: Tenant, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("texts must be a map of text key to text (null removes an override)")
    problems: list[str] = []
    texts = dict(current.texts)
    for key, text in value.items():
        try:
            default = bot_text(key)
        except (KeyError, TypeError):
            problems.append(f"texts: unknown text key {key!r}")
            continue
        if text is None:
            texts.pop(key, None)
            continue
        if not isinstance(text, str) or not text.strip():
            problems.append(f"texts.{key} must be a non-empty text (null removes the override), got {text!r}")
            continue
        # A misspelt placeholder would reach the customer as is ("Voltamos {openning}").
        known = set(_PLACEHOLDER.findall(default))
        unknown = sorted(set(_PLACEHOLDER.findall(text)) - known)
        if unknown:
            allowed = ", ".join("{" + name + "}" for name in sorted(known)) or "none"
            problems.append(f"texts.{key}: unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)} (this text knows: {allowed})")
            continue
        texts[key] = text
    if problems:
        raise SettingsInvalid(problems)
    return texts


def _media(current: Tenant, value: Any) -> MediaSettings:
    if value is None:
        return MediaSettings()
    if not isinstance(value, Mapping):
        raise ValueError(f"media must be a map with {', '.join(MEDIA_FIELDS)}")
    problems = [f"media: unknown field {key!r} (known: {', '.join(MEDIA_FIELDS)})" for key in value if key not in MEDIA_FIELDS]
    media = current.media
    merged: dict[str, Any] = {}
    for key in ("transcript_echo", "fallback"):
        if key in value:
            try:
                merged[key] = getattr(MediaSettings(), key) if value[key] is None else _boolean(value[key], f"media.{key}")
            except ValueError as exc:
                problems.append(str(exc))
    if "bill_extraction" in value:
        merged["bill_extraction"] = MediaSettings().bill_extraction if value["bill_extraction"] is None else value["bill_extraction"]
    limits = {name: getattr(media.limits, name) for name in HARD_LIMITS}
    if "limits" in value:
        if value["limits"] is None:
            limits = {name: getattr(MediaLimits(), name) for name in HARD_LIMITS}
        elif not isinstance(value["limits"], Mapping):
            problems.append(f"media.limits must be a map of limit to whole number ({', '.join(HARD_LIMITS)})")
        else:
            for name, limit in value["limits"].items():
                if name not in HARD_LIMITS:
                    problems.append(f"media.limits: unknown limit {name!r} (known: {', '.join(HARD_LIMITS)})")
                elif limit is None:
                    limits[name] = getattr(MediaLimits(), name)
                elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= HARD_LIMITS[name]:
                    problems.append(f"media.limits.{name} must be a whole number between 1 and {HARD_LIMITS[name]}, got {limit!r}")
                else:
                    limits[name] = limit
    if problems:
        raise SettingsInvalid(problems)
    try:
        return replace(media, **merged, limits=MediaLimits(**limits))
    except ValueError as exc:
        raise ValueError(f"media.{exc}") from exc


def _tools(current: Tenant, value: Any) -> ToolSettings:
    """``{"enabled": [...], "max_steps": 4, "remote": {name: endpoint}}``; keys left out keep their value."""
    if not isinstance(value, Mapping):
        raise ValueError('tools must be a map, e.g. {"enabled": ["search_products", "order_status"], "max_steps": 4}')
    unknown = sorted(set(value) - {"enabled", "max_steps", "remote"})
    if unknown:
        raise ValueError(f"tools: unknown keys {unknown} (known: enabled, max_steps, remote)")
    merged = {**current.tools.to_item(), **value}
    enabled, steps, remote = merged.get("enabled") or [], merged.get("max_steps", 4), merged.get("remote") or {}
    if not isinstance(enabled, list | tuple) or not all(isinstance(name, str) for name in enabled):
        raise ValueError("tools.enabled must be a list of tool names")
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ValueError(f"tools.max_steps must be a whole number, got {steps!r}")
    if not isinstance(remote, Mapping) or not all(isinstance(v, Mapping) for v in remote.values()):
        raise ValueError("tools.remote must map a tool name to its endpoint settings")
    settings = ToolSettings(enabled=tuple(enabled), max_steps=steps, remote={str(k): dict(v) for k, v in remote.items()})
    from atende.tools.registry import validate_remote_tools

    validate_remote_tools(settings)
    return settings


def _hours(current: Tenant, value: Any) -> BusinessHours:
    if value is not None and not isinstance(value, Mapping):  # from_item would read [] or "" as {}
        raise ValueError('hours must be a map, e.g. {"weekly": {"mon": ["08:00-18:00"]}} ({} = always open)')
    return BusinessHours.from_item(value)


_PARSERS: dict[str, Callable[[Tenant, Any], Any]] = {
    "name": _name,
    "system_prompt": _scalar("system_prompt", lambda value, key: _text(value, key, max_chars=MAX_PROMPT_CHARS)),
    "language": _scalar("language", _pattern(LANGUAGE_PATTERN, "pt-BR")),
    "llm_provider": _scalar("llm_provider", _text),
    "llm_model": _scalar("llm_model", _pattern(MODEL_PATTERN, "gpt-4o-mini")),
    "memory_turns": _scalar("memory_turns", _integer),
    "retention_days": _scalar("retention_days", _integer),
    "texts": _texts,
    "media": _media,
    "hours": _hours,
    "out_of_hours": _scalar("out_of_hours", _text),
    "session_idle_minutes": _scalar("session_idle_minutes", _integer),
    "burst_pause_seconds": _scalar("burst_pause_seconds", _integer),
    "flood_limit_per_minute": _scalar("flood_limit_per_minute", _integer),
    "tools": _tools,
}
SETTINGS: tuple[str, ...] = tuple(_PARSERS)  # every Tenant field but tenant_id (a unit test holds them equal)
