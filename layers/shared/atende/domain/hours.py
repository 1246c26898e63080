"""Business hours: when a tenant is open, when it opens next, and how to say so in pt-BR.

A tenant's hours are a time zone, a weekly schedule (several intervals per weekday), Brazilian
holidays (national, and a state's or a city's through the `holidays` package), the tenant's own
closed days and dates with special hours. For one date, the first that applies wins:
closed day → special hours → holiday (when `holidays_closed`) → the weekday's intervals.

A tenant without hours (`BusinessHours.always_open()`, `configured=False`) is always open, so
tenants that never set hours keep answering as before.

Times are wall-clock minutes in the tenant's zone; instants in and out are aware datetimes.
Wall times are turned into instants through zoneinfo, so the historical Brazilian DST days (clocks
jumping at midnight) give real instants.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "America/Sao_Paulo"
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
MINUTES_PER_DAY = 24 * 60
# Long enough to step over a year of closed days (a seasonal business) and a leap day; short
# enough that "never opens" costs at most a few hundred dictionary look-ups.
SEARCH_DAYS = 370
ITEM_FIELDS = frozenset({"timezone", "weekly", "holiday_subdiv", "holidays_closed", "closed_days", "special_hours"})
# Fields that only make sense with a weekly schedule: an item with them but no "weekly" is a mistake.
SCHEDULE_FIELDS = frozenset({"holiday_subdiv", "closed_days", "special_hours"})

WEEKDAY_NAMES = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")
WEEKDAY_FULL_NAMES = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")

_CLOCK = re.compile(r"(\d{2}):(\d{2})")
# "08:00-12:00"; the en dash describe() prints and spaces around the dash are accepted too.
_INTERVAL = re.compile(r"\s*(\S+?)\s*[-–]\s*(\S+?)\s*")


def _clock_minutes(text: str, *, is_end: bool) -> int:
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f"time {text!r} must be HH:MM, e.g. 08:00")
    hours, minutes = int(match[1]), int(match[2])
    if hours == 24 and minutes == 0 and is_end:
        return MINUTES_PER_DAY
    if hours > 23 or minutes > 59:
        raise ValueError(f"time {text!r} is not a time of day (00:00–23:59; 24:00 only as an end)")
    return hours * 60 + minutes


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """Open from `start` (inclusive) to `end` (exclusive), in minutes since local midnight."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < MINUTES_PER_DAY:
            raise ValueError(f"interval start {self.start} must be within 0–{MINUTES_PER_DAY - 1} minutes")
        if not self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(
                f"interval {self.text()!r} must end after it starts, by 24:00 at the latest "
                "(split a night across midnight: 22:00-24:00 and 00:00-02:00 the next day)"
            )

    @classmethod
    def parse(cls, text: str) -> Interval:
        """'08:00-12:00' → Interval(480, 720)."""
        match = _INTERVAL.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"interval {text!r} must look like 08:00-12:00")
        start, end = _clock_minutes(match[1], is_end=False), _clock_minutes(match[2], is_end=True)
        if not start < end:
            raise ValueError(
                f"interval {text!r} must end after it starts (split a night across midnight: 22:00-24:00 and 00:00-02:00 the next day)"
            )
        return cls(start, end)

    def text(self) -> str:
        """The stored form, '08:00-12:00'."""
        return f"{_clock_text(self.start)}-{_clock_text(self.end)}"

    def label(self) -> str:
        """The pt-BR display form, '08:00–12:00' (en dash), or '24 horas' for the whole day."""
        if self.start == 0 and self.end == MINUTES_PER_DAY:
            return "24 horas"
        return f"{_clock_text(self.start)}–{_clock_text(self.end)}"


Intervals = tuple[Interval, ...]


def _check_intervals(intervals: Intervals, where: str) -> None:
    for earlier, later in itertools.pairwise(intervals):
        if later.start < earlier.start:
            raise ValueError(f"{where}: intervals must be in order ({earlier.text()} comes after {later.text()})")
        if later.start <= earlier.end:
            # Touching intervals are rejected too: every boundary must be a real opening or closing.
            raise ValueError(f"{where}: intervals {earlier.text()} and {later.text()} overlap or touch; merge them")


def _parse_intervals(value: object, where: str) -> Intervals:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where} must be a list of intervals like ['08:00-12:00', '13:30-18:00']")
    try:
        intervals = tuple(sorted(Interval.parse(text) for text in value))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    _check_intervals(intervals, where)
    return intervals


def _parse_date(value: object, where: str) -> date:
    # Strict YYYY-MM-DD: date.fromisoformat alone would also take "20261224".
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"{where}: date {value!r} must be YYYY-MM-DD, e.g. 2026-12-24")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {value!r} is not a calendar date") from exc


def _zone(key: str) -> ZoneInfo:
    if not isinstance(key, str) or not key:
        raise ValueError("timezone must be an IANA time zone name, e.g. America/Sao_Paulo")
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone {key!r} is not an IANA time zone name (e.g. America/Sao_Paulo, America/Manaus)") from exc


# --- holidays (the `holidays` package is imported lazily: ~0.5 s on a cold start) -----------------


def _fold(text: str) -> str:
    """Case- and accent-insensitive key: 'São Paulo' and 'sao paulo' match."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


@functools.cache
def holiday_subdivisions() -> Mapping[str, str]:
    """Every Brazilian subdivision the pinned `holidays` knows (states' UF codes and cities such as
    'São Paulo Capital'), keyed by a folded code or alias, valued by the canonical code."""
    import holidays

    brazil = holidays.country_holidays("BR")
    known: dict[str, str] = {}
    for code, aliases in brazil.get_subdivision_aliases().items():
        for name in (code, *aliases):
            known[_fold(name)] = code
    return MappingProxyType(known)


def canonical_subdiv(text: str) -> str:
    """'sp', 'São Paulo' → 'SP'; 'sao paulo capital' → 'São Paulo Capital'."""
    code = holiday_subdivisions().get(_fold(text)) if isinstance(text, str) else None
    if code is None:
        raise ValueError(
            f"holiday_subdiv {text!r} is not a Brazilian subdivision known to the holidays package "
            f"(a state's UF such as SP or RJ, or a city: {_cities()})"
        )
    return code


def _cities() -> str:
    cities = sorted({code for code in holiday_subdivisions().values() if len(code) != 2})
    return ", ".join(cities) or "none in this version"


@functools.cache
def _holidays_in(subdiv: str | None, year: int) -> Mapping[date, str]:
    """Public holidays (pt-BR names) of one year, national plus those of `subdiv`."""
    import holidays

    found = holidays.country_holidays("BR", subdiv=subdiv, years=year, language="pt_BR")
    return MappingProxyType(dict(found.items()))


# --- the schedule ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """One tenant's opening hours. Build from a stored item with `from_item`."""

    configured: bool = True
    timezone: str = DEFAULT_TIMEZONE
    weekly: tuple[Intervals, ...] = ((),) * 7  # index = date.weekday(): Monday 0 … Sunday 6
    holiday_subdiv: str | None = None  # None = national holidays only
    holidays_closed: bool = True
    closed_days: frozenset[date] = frozenset()
    special_hours: Mapping[date, Intervals] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if len(self.weekly) != 7:
            raise ValueError(f"weekly must have 7 days (Monday first), got {len(self.weekly)}")
        for key, intervals in zip(WEEKDAY_KEYS, self.weekly, strict=True):
            _check_intervals(intervals, f"weekly.{key}")
        for day, intervals in self.special_hours.items():
            if not intervals:
                raise ValueError(f"special_hours.{day.isoformat()}: give at least one interval, or list the date in closed_days")
            _check_intervals(intervals, f"special_hours.{day.isoformat()}")
        both = sorted(self.closed_days & self.special_hours.keys())
        if both:
            raise ValueError(f"dates both closed and with special hours: {', '.join(d.isoformat() for d in both)}")
        if self.holiday_subdiv is not None and canonical_subdiv(self.holiday_subdiv) != self.holiday_subdiv:
            raise ValueError(f"holiday_subdiv must be the canonical code {canonical_subdiv(self.holiday_subdiv)!r}")
        if not self.configured and (any(self.weekly) or self.closed_days or self.special_hours or self.holiday_subdiv):
            raise ValueError("hours that are not configured cannot have a schedule")

    @classmethod
    def always_open(cls, timezone: str = DEFAULT_TIMEZONE) -> BusinessHours:
        return cls(configured=False, timezone=timezone)

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> BusinessHours:
        """Parse the stored form (see `to_item`); None or {} = not configured, always open."""
        item = item or {}
        if not isinstance(item, Mapping):
            raise ValueError("business hours must be a map")
        unknown = sorted(set(item) - ITEM_FIELDS)
        if unknown:
            raise ValueError(f"unknown business-hours field(s): {', '.join(unknown)} (known: {', '.join(sorted(ITEM_FIELDS))})")
        timezone = item.get("timezone", DEFAULT_TIMEZONE)
        if "weekly" not in item:
            stray = sorted(SCHEDULE_FIELDS & set(item))
            if stray:
                raise ValueError(f"weekly is required with {', '.join(stray)} (use weekly: {{}} for a business closed every weekday)")
            return cls.always_open(timezone)
        return cls(
            timezone=timezone,
            weekly=_parse_weekly(item["weekly"]),
            holiday_subdiv=None if item.get("holiday_subdiv") in (None, "") else canonical_subdiv(item["holiday_subdiv"]),
            holidays_closed=_parse_bool(item.get("holidays_closed", True), "holidays_closed"),
            closed_days=frozenset(_parse_date(value, "closed_days") for value in _parse_list(item.get("closed_days", []), "closed_days")),
            special_hours=_parse_special_hours(item.get("special_hours", {})),
        )

    def to_item(self) -> dict[str, Any]:
        """DynamoDB-friendly: strings, lists, maps and a bool; days without hours are left out.

        {"timezone": "America/Sao_Paulo", "weekly": {"mon": ["08:00-12:00", "13:30-18:00"], …},
         "holiday_subdiv": "SP", "holidays_closed": True, "closed_days": ["2026-12-31"],
         "special_hours": {"2026-12-24": ["08:00-12:00"]}}
        """
        if not self.configured:
            return {} if self.timezone == DEFAULT_TIMEZONE else {"timezone": self.timezone}
        item: dict[str, Any] = {
            "timezone": self.timezone,
            "weekly": {key: [i.text() for i in intervals] for key, intervals in zip(WEEKDAY_KEYS, self.weekly, strict=True) if intervals},
            "holidays_closed": self.holidays_closed,
        }
        if self.holiday_subdiv is not None:
            item["holiday_subdiv"] = self.holiday_subdiv
        if self.closed_days:
            item["closed_days"] = [day.isoformat() for day in sorted(self.closed_days)]
        if self.special_hours:
            item["special_hours"] = {day.isoformat(): [i.text() for i in self.special_hours[day]] for day in sorted(self.special_hours)}
        return item

    # --- one date --------------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    def holiday_name(self, day: date) -> str | None:
        """The pt-BR name of the public holiday on `day` for this tenant's region, if any."""
        return _holidays_in(self.holiday_subdiv, day.year).get(day)

    def intervals_on(self, day: date) -> Intervals:
        """The opening intervals of one local date (empty = closed all day)."""
        if not self.configured:
            return (Interval(0, MINUTES_PER_DAY),)
        if day in self.closed_days:
            return ()
        special = self.special_hours.get(day)
        if special is not None:
            return special
        if self.holidays_closed and self.holiday_name(day) is not None:
            return ()
        return self.weekly[day.weekday()]

    # --- instants --------------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        if not self.configured:
            _require_aware(at)
            return True
        local = self._local(at)
        second = _second_of_day(local)
        return any(i.start * 60 <= second < i.end * 60 for i in self.intervals_on(local.date()))

    def next_opening(self, at: datetime) -> datetime | None:
        """The first instant at or after `at` when the business is open: `at` itself when open now;
        None when it does not open within SEARCH_DAYS days."""
        local = self._local(at)
        second = _second_of_day(local)
        for offset in range(SEARCH_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            for interval in self.intervals_on(day):
                if offset == 0 and second >= interval.end * 60:
                    continue
                if offset == 0 and second >= interval.start * 60:
                    return at
                return self._instant(day, interval.start)
        return None

    def next_closing(self, at: datetime) -> datetime | None:
        """The first instant at or after `at` when the business is closed: `at` itself when closed
        now; None when it stays open for SEARCH_DAYS days (always open). An interval ending at
        24:00 followed by one starting at 00:00 the next day is one stretch."""
        local = self._local(at)
        second = _second_of_day(local)
        day = local.date()
        current = next((i for i in self.intervals_on(day) if i.start * 60 <= second < i.end * 60), None)
        if current is None:
            return at
        for _ in range(SEARCH_DAYS):
            if current.end < MINUTES_PER_DAY:
                return self._instant(day, current.end)
            day += timedelta(days=1)
            following = self.intervals_on(day)
            if not following or following[0].start != 0:
                return self._instant(day, 0)
            current = following[0]
        return None

    # --- pt-BR text ------------------------------------------------------------------------------

    def describe(self, upcoming_from: datetime | None = None, upcoming_days: int = 30) -> str:
        """A pt-BR summary for the system prompt, e.g. 'segunda a sexta, 08:00–12:00 e 13:30–18:00;
        sábado, 08:00–12:00; domingo e feriados: fechado'. '' when hours are not configured (the
        prompt then says nothing about hours). With `upcoming_from`, the dates of the next
        `upcoming_days` days that differ from the weekly schedule follow: '… Próximas datas
        especiais: 24/12 (quinta-feira): 08:00–12:00; 25/12 (sexta-feira, Natal): fechado'."""
        if not self.configured:
            return ""
        parts: list[str] = []
        closed: list[str] = []
        for first, last in _runs(self.weekly):
            days = _day_range(first, last)
            if self.weekly[first]:
                parts.append(f"{days}, {_join(i.label() for i in self.weekly[first])}")
            else:
                closed.append(days)
        if self.holidays_closed:
            closed.append("feriados")
        if closed:
            parts.append(f"{_join(closed)}: fechado")
        if not self.holidays_closed:
            parts.append("feriados: horário normal")
        summary = "; ".join(parts)
        exceptions = [] if upcoming_from is None else self._upcoming_exceptions(upcoming_from, upcoming_days)
        return f"{summary}. Próximas datas especiais: {'; '.join(exceptions)}" if exceptions else summary

    def _upcoming_exceptions(self, at: datetime, days: int) -> list[str]:
        today = self._local(at).date()
        found: list[str] = []
        for offset in range(days + 1):
            day = today + timedelta(days=offset)
            intervals = self.intervals_on(day)
            if intervals == self.weekly[day.weekday()] and day not in self.special_hours:
                continue
            holiday = self.holiday_name(day)
            weekday = WEEKDAY_FULL_NAMES[day.weekday()]
            name = f"{day:%d/%m} ({weekday}, {holiday})" if holiday else f"{day:%d/%m} ({weekday})"
            found.append(f"{name}: {_join(i.label() for i in intervals) if intervals else 'fechado'}")
        return found

    def opening_phrase(self, at: datetime, now: datetime) -> str:
        """When `at` is, said from `now` in the tenant's zone: 'hoje às 13:30', 'amanhã às 08:00',
        'segunda-feira às 08:00' (within a week), 'em 25/12 às 08:00'; 'agora' if not later."""
        local, today = self._local(at), self._local(now).date()
        if at <= now:
            return "agora"
        clock = _at_clock(local)
        days = (local.date() - today).days
        if days == 0:
            return f"hoje {clock}"
        if days == 1:
            return f"amanhã {clock}"
        if days < 7:
            return f"{WEEKDAY_FULL_NAMES[local.weekday()]} {clock}"
        if days <= 180:
            return f"em {local:%d/%m} {clock}"
        return f"em {local:%d/%m/%Y} {clock}"

    def next_opening_phrase(self, now: datetime) -> str | None:
        """`opening_phrase` of the next opening; None when it never opens within SEARCH_DAYS."""
        opening = self.next_opening(now)
        return None if opening is None else self.opening_phrase(opening, now)

    def local_now_text(self, at: datetime) -> str:
        """For the prompt's {now_local}: 'quinta-feira, 03/12/2026 15:31'."""
        local = self._local(at)
        return f"{WEEKDAY_FULL_NAMES[local.weekday()]}, {local:%d/%m/%Y %H:%M}"

    # --- helpers ---------------------------------------------------------------------------------

    def _local(self, at: datetime) -> datetime:
        _require_aware(at)
        return at.astimezone(self.zone)

    def _instant(self, day: date, minute: int) -> datetime:
        """The instant the local wall clock shows `minute` on `day` (24:00 = next midnight). A wall
        time skipped by a DST jump maps to the instant of the jump, shown as local time after it."""
        if minute == MINUTES_PER_DAY:
            day, minute = day + timedelta(days=1), 0
        wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
        return wall.astimezone(UTC).astimezone(self.zone)


def datetime_from_unix(seconds: int | float) -> datetime:
    """An aware UTC datetime from unix seconds (the timestamps WhatsApp providers send)."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def _require_aware(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an aware datetime is required (with a time zone), got {at!r}")


def _second_of_day(local: datetime) -> int:
    return local.hour * 3600 + local.minute * 60 + local.second


def _at_clock(local: datetime) -> str:
    # "à 01:00" / "à 00:30" (one o'clock and midnight hours are singular in Portuguese), else "às".
    return f"{'à' if local.hour <= 1 else 'às'} {local:%H:%M}"


def _parse_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value


def _parse_list(value: object, where: str) -> list[object]:
    if not isinstance(value, list | tuple | set | frozenset):
        raise ValueError(f"{where} must be a list")
    return list(value)


def _parse_weekly(value: object) -> tuple[Intervals, ...]:
    if not isinstance(value, Mapping):
        raise ValueError("weekly must be a map of weekday (mon … sun) to intervals, e.g. {'mon': ['08:00-12:00']}")
    unknown = sorted(set(value) - set(WEEKDAY_KEYS))
    if unknown:
        raise ValueError(f"weekly: unknown weekday(s) {', '.join(map(str, unknown))}; use {', '.join(WEEKDAY_KEYS)}")
    return tuple(_parse_intervals(value.get(key, []), f"weekly.{key}") for key in WEEKDAY_KEYS)


def _parse_special_hours(value: object) -> dict[date, Intervals]:
    if not isinstance(value, Mapping):
        raise ValueError("special_hours must be a map of date (YYYY-MM-DD) to intervals")
    return {_parse_date(key, "special_hours"): _parse_intervals(intervals, f"special_hours.{key}") for key, intervals in value.items()}


def _runs(weekly: tuple[Intervals, ...]) -> list[tuple[int, int]]:
    """Consecutive weekdays (Monday → Sunday) with the same intervals, as (first, last) indexes."""
    runs: list[tuple[int, int]] = []
    for index, intervals in enumerate(weekly):
        if runs and weekly[runs[-1][1]] == intervals:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def _day_range(first: int, last: int) -> str:
    if first == last:
        return WEEKDAY_NAMES[first]
    if last == first + 1:
        return f"{WEEKDAY_NAMES[first]} e {WEEKDAY_NAMES[last]}"
    return f"{WEEKDAY_NAMES[first]} a {WEEKDAY_NAMES[last]}"


def _join(items: Iterable[str]) -> str:
    """'a', 'a e b', 'a, b e c'."""
    words = list(items)
    return "".join(words) if len(words) <= 1 else f"{', '.join(words[:-1])} e {words[-1]}"
