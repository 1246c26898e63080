"""Business hours: weekly intervals, Brazilian holidays (national, state, city), closed days,
special hours, the next opening and closing, and the pt-BR phrases."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest

from atende.domain.hours import BusinessHours, Interval, datetime_from_unix

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
WEEKDAY = ["08:00-12:00", "13:30-18:00"]
# A bakery in the city of São Paulo with a lunch break: Mon–Fri 08:00–12:00 and 13:30–18:00,
# Saturday mornings, closed on Sundays and holidays (national, the state's and the city's).
BAKERY_ITEM: dict[str, Any] = {
    "timezone": "America/Sao_Paulo",
    "weekly": {"mon": WEEKDAY, "tue": WEEKDAY, "wed": WEEKDAY, "thu": WEEKDAY, "fri": WEEKDAY, "sat": ["08:00-12:00"]},
    "holiday_subdiv": "São Paulo Capital",
    "holidays_closed": True,
    "closed_days": ["2026-12-31"],
    "special_hours": {"2026-12-24": ["08:00-12:00"]},
}


def sp(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SAO_PAULO)


def hours(**changes: Any) -> BusinessHours:
    return BusinessHours.from_item({**BAKERY_ITEM, **changes})


BAKERY = hours()


# --- the pinned holidays package: what it says about Brazil ---------------------------------------


def test_pinned_holidays_has_black_awareness_day_national_since_2024() -> None:
    # Given the national calendar (Lei 14.759/2023) / When / Then
    assert holidays.country_holidays("BR", years=2023).get(date(2023, 11, 20)) is None
    assert holidays.country_holidays("BR", years=2024).get(date(2024, 11, 20)) == "Dia Nacional de Zumbi e da Consciência Negra"


def test_pinned_holidays_lists_carnival_as_optional_not_public() -> None:
    # Given Carnival 2026 (Mon 16 and Tue 17 February) / When asked by category / Then only "optional" has it
    public = holidays.country_holidays("BR", subdiv="SP", years=2026)
    optional = holidays.country_holidays("BR", subdiv="SP", years=2026, categories="optional")
    assert (public.get(date(2026, 2, 16)), public.get(date(2026, 2, 17))) == (None, None)
    assert (optional.get(date(2026, 2, 16)), optional.get(date(2026, 2, 17))) == ("Carnaval", "Carnaval")


def test_pinned_holidays_knows_the_27_states_and_the_city_of_sao_paulo() -> None:
    # Given / When / Then
    subdivisions = holidays.country_holidays("BR").subdivisions
    assert len([code for code in subdivisions if len(code) == 2]) == 27
    assert [code for code in subdivisions if len(code) != 2] == ["São Paulo Capital"]


# --- is_open -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sp(2026, 12, 1, 7, 59, 59), False),  # Tuesday, before opening
        (sp(2026, 12, 1, 8, 0), True),  # opening minute
        (sp(2026, 12, 1, 11, 59, 59), True),
        (sp(2026, 12, 1, 12, 0), False),  # lunch break: the end is exclusive
        (sp(2026, 12, 1, 13, 29), False),
        (sp(2026, 12, 1, 13, 30), True),
        (sp(2026, 12, 1, 18, 0), False),
        (sp(2026, 12, 5, 10, 0), True),  # Saturday morning
        (sp(2026, 12, 5, 14, 0), False),  # Saturday afternoon
        (sp(2026, 12, 6, 10, 0), False),  # Sunday
        (datetime(2026, 12, 1, 11, 0, tzinfo=UTC), True),  # 08:00 in São Paulo
        (datetime(2026, 12, 1, 10, 59, tzinfo=UTC), False),  # 07:59 in São Paulo
    ],
    ids=[
        "before",
        "opens",
        "last-second",
        "lunch",
        "lunch-end",
        "afternoon",
        "closes",
        "sat-am",
        "sat-pm",
        "sunday",
        "utc-open",
        "utc-closed",
    ],
)
def test_bakery_is_open_within_its_intervals(at: datetime, expected: bool) -> None:
    # Given the bakery / When / Then
    assert BAKERY.is_open(at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sp(2026, 11, 20, 10, 0), False),  # Friday, Dia Nacional de Zumbi e da Consciência Negra
        (sp(2026, 12, 25, 10, 0), False),  # Friday, Natal
        (sp(2026, 7, 9, 10, 0), False),  # Thursday, Revolução Constitucionalista (state of SP)
        (sp(2027, 1, 25, 10, 0), False),  # Monday, Aniversário da Cidade de São Paulo (city)
        (sp(2026, 6, 4, 10, 0), False),  # Thursday, Corpus Christi (a holiday in the city of SP)
        (sp(2026, 2, 16, 10, 0), True),  # Carnival Monday: not a public holiday
        (sp(2026, 2, 17, 10, 0), True),  # Carnival Tuesday: not a public holiday
    ],
    ids=["consciencia-negra", "natal", "9-de-julho", "aniversario-sp", "corpus-christi", "carnaval-segunda", "carnaval-terca"],
)
def test_bakery_in_the_city_of_sao_paulo_closes_on_its_holidays(at: datetime, expected: bool) -> None:
    # Given the bakery, holidays of the city of São Paulo / When / Then
    assert BAKERY.is_open(at) is expected


def test_holiday_names_are_in_portuguese() -> None:
    # Given / When / Then
    assert [BAKERY.holiday_name(day) for day in (date(2026, 11, 20), date(2027, 1, 25), date(2026, 7, 9), date(2026, 11, 19))] == [
        "Dia Nacional de Zumbi e da Consciência Negra",
        "Aniversário da Cidade de São Paulo",
        "Revolução Constitucionalista",
        None,
    ]


@pytest.mark.parametrize(
    ("subdiv", "expected"),
    [
        (None, (True, True, True)),  # national only: 9 July, 25 January and Corpus Christi are working days
        ("SP", (False, True, True)),  # the state: 9 July
        ("São Paulo Capital", (False, False, False)),  # the city adds its anniversary and Corpus Christi
    ],
    ids=["national", "state", "city"],
)
def test_holidays_follow_the_tenants_region(subdiv: str | None, expected: tuple[bool, bool, bool]) -> None:
    # Given the bakery in a region / When open on 9 July 2026, 25 January 2027, 4 June 2026 (Corpus Christi)
    bakery = hours(holiday_subdiv=subdiv)
    # Then
    assert (bakery.is_open(sp(2026, 7, 9, 10)), bakery.is_open(sp(2027, 1, 25, 10)), bakery.is_open(sp(2026, 6, 4, 10))) == expected


def test_black_awareness_day_closes_a_national_only_tenant_from_2024() -> None:
    # Given a tenant with national holidays only / When on 20 November 2023 (Monday) and 2024 (Wednesday) / Then
    bakery = hours(holiday_subdiv=None)
    assert (bakery.is_open(sp(2023, 11, 20, 10)), bakery.is_open(sp(2024, 11, 20, 10))) == (True, False)


def test_holidays_can_be_working_days() -> None:
    # Given a bakery that opens on holidays / When on Natal, a Friday / Then the Friday hours apply
    bakery = hours(holidays_closed=False)
    assert (bakery.is_open(sp(2026, 12, 25, 10)), bakery.is_open(sp(2026, 12, 25, 12, 30))) == (True, False)


def test_special_hours_replace_the_weekday() -> None:
    # Given 24/12/2026 (Thursday) with 08:00–12:00 only / When / Then
    assert (BAKERY.is_open(sp(2026, 12, 24, 11, 0)), BAKERY.is_open(sp(2026, 12, 24, 14, 0))) == (True, False)
    assert BAKERY.next_closing(sp(2026, 12, 24, 11, 0)) == sp(2026, 12, 24, 12, 0)


def test_special_hours_open_a_holiday() -> None:
    # Given a Christmas morning shift / When / Then
    bakery = hours(special_hours={"2026-12-25": ["07:00-11:00"]})
    assert (bakery.is_open(sp(2026, 12, 25, 7, 0)), bakery.is_open(sp(2026, 12, 25, 11, 0))) == (True, False)


def test_a_closed_day_is_closed_all_day() -> None:
    # Given 31/12/2026 (Thursday) closed / When / Then
    assert [BAKERY.is_open(sp(2026, 12, 31, hour)) for hour in (8, 10, 14, 17)] == [False, False, False, False]
    assert BAKERY.intervals_on(date(2026, 12, 31)) == ()
    assert BAKERY.intervals_on(date(2026, 12, 30)) == (Interval(480, 720), Interval(810, 1080))


# --- next_opening / next_closing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sp(2026, 12, 1, 12, 30), sp(2026, 12, 1, 13, 30)),  # lunch → same afternoon
        (sp(2026, 12, 1, 19, 0), sp(2026, 12, 2, 8, 0)),  # evening → next morning
        (sp(2026, 12, 5, 12, 0), sp(2026, 12, 7, 8, 0)),  # Saturday noon → Monday, over the weekend
        (sp(2026, 12, 4, 18, 5), sp(2026, 12, 5, 8, 0)),  # Friday evening → Saturday
        (sp(2026, 11, 19, 18, 30), sp(2026, 11, 21, 8, 0)),  # Thursday evening → Saturday, over 20 November
        (sp(2026, 12, 30, 18, 0), sp(2027, 1, 2, 8, 0)),  # closed 31/12, 01/01 holiday → Saturday 02/01
        (sp(2026, 12, 1, 10, 0), sp(2026, 12, 1, 10, 0)),  # already open: now
    ],
    ids=["lunch", "evening", "weekend", "friday", "holiday", "new-year", "open-now"],
)
def test_next_opening(at: datetime, expected: datetime) -> None:
    # Given the bakery / When / Then
    assert BAKERY.next_opening(at) == expected


def test_next_opening_is_in_the_tenants_zone() -> None:
    # Given a UTC instant (Tuesday 22:00 UTC = 19:00 in São Paulo) / When / Then
    opening = BAKERY.next_opening(datetime(2026, 12, 1, 22, 0, tzinfo=UTC))
    assert (opening, str(opening.tzinfo) if opening else None) == (sp(2026, 12, 2, 8, 0), "America/Sao_Paulo")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sp(2026, 12, 1, 10, 0), sp(2026, 12, 1, 12, 0)),
        (sp(2026, 12, 1, 14, 0), sp(2026, 12, 1, 18, 0)),
        (sp(2026, 12, 5, 9, 0), sp(2026, 12, 5, 12, 0)),
        (sp(2026, 12, 1, 12, 30), sp(2026, 12, 1, 12, 30)),  # already closed: now
    ],
    ids=["morning", "afternoon", "saturday", "closed-now"],
)
def test_next_closing(at: datetime, expected: datetime) -> None:
    # Given the bakery / When / Then
    assert BAKERY.next_closing(at) == expected


def test_a_night_across_midnight_is_one_stretch() -> None:
    # Given a bar open Friday 18:00–24:00 and Saturday 00:00–02:00 and 18:00–24:00
    bar = BusinessHours.from_item({"weekly": {"fri": ["18:00-24:00"], "sat": ["00:00-02:00", "18:00-24:00"]}})
    # When / Then
    assert (bar.is_open(sp(2026, 12, 4, 23, 59, 59)), bar.is_open(sp(2026, 12, 5, 0, 30)), bar.is_open(sp(2026, 12, 5, 2, 0))) == (
        True,
        True,
        False,
    )
    assert bar.next_closing(sp(2026, 12, 4, 23, 0)) == sp(2026, 12, 5, 2, 0)
    assert bar.next_closing(sp(2026, 12, 5, 23, 0)) == sp(2026, 12, 6, 0, 0)


def test_never_open_has_no_next_opening() -> None:
    # Given hours with no weekday open / When / Then
    closed = BusinessHours.from_item({"weekly": {}})
    assert (
        closed.is_open(sp(2026, 12, 1, 10)),
        closed.next_opening(sp(2026, 12, 1, 10)),
        closed.next_opening_phrase(sp(2026, 12, 1, 10)),
    ) == (
        False,
        None,
        None,
    )


def test_open_around_the_clock_never_closes() -> None:
    # Given every day 00:00–24:00 and holidays open / When / Then
    always = BusinessHours.from_item(
        {"weekly": {key: ["00:00-24:00"] for key in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, "holidays_closed": False}
    )
    assert (always.is_open(sp(2026, 12, 25, 3)), always.next_closing(sp(2026, 12, 25, 3))) == (True, None)
    assert always.describe() == "segunda a domingo, 24 horas; feriados: horário normal"


def test_a_wall_time_skipped_by_dst_is_the_instant_of_the_jump() -> None:
    # Given Sunday 4 November 2018, when São Paulo's clocks jumped from 00:00 to 01:00 (UTC-2)
    sunday = BusinessHours.from_item({"weekly": {"sun": ["00:00-24:00"]}, "holidays_closed": False})
    # When the "00:00" opening is looked for on Saturday evening
    opening = sunday.next_opening(sp(2018, 11, 3, 23, 30))
    # Then it is 03:00 UTC, 01:00 on the local clock
    assert (opening, opening.isoformat() if opening else None) == (datetime(2018, 11, 4, 3, 0, tzinfo=UTC), "2018-11-04T01:00:00-02:00")
    assert BAKERY.next_opening(sp(2018, 11, 4, 12)) == datetime(2018, 11, 5, 10, 0, tzinfo=UTC)  # 08:00 at UTC-2


# --- not configured ---------------------------------------------------------------------------------


@pytest.mark.parametrize("item", [None, {}], ids=["none", "empty"])
def test_a_tenant_without_hours_is_always_open(item: dict[str, Any] | None) -> None:
    # Given / When
    unset = BusinessHours.from_item(item)
    # Then
    at = sp(2026, 12, 25, 3)
    assert (unset.configured, unset.is_open(at), unset.next_opening(at), unset.next_closing(at), unset.describe()) == (
        False,
        True,
        at,
        None,
        "",
    )
    assert (unset == BusinessHours.always_open(), unset.to_item()) == (True, {})


def test_a_tenant_without_hours_keeps_its_time_zone() -> None:
    # Given / When
    unset = BusinessHours.from_item({"timezone": "America/Manaus"})
    # Then
    assert (unset.configured, unset.to_item(), unset.local_now_text(datetime(2026, 12, 3, 18, 31, tzinfo=UTC))) == (
        False,
        {"timezone": "America/Manaus"},
        "quinta-feira, 03/12/2026 14:31",
    )


# --- phrases -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (sp(2026, 12, 1, 12, 30), "hoje às 13:30"),  # Tuesday lunch
        (sp(2026, 12, 1, 19, 0), "amanhã às 08:00"),  # Tuesday evening
        (sp(2026, 12, 5, 12, 0), "segunda-feira às 08:00"),  # Saturday noon
        (sp(2026, 12, 5, 23, 30), "segunda-feira às 08:00"),  # Saturday night: Monday is 2 days away
        (sp(2026, 11, 19, 18, 30), "sábado às 08:00"),  # Thursday, Friday is 20 November
        (sp(2026, 12, 6, 10, 0), "amanhã às 08:00"),  # Sunday
        (sp(2026, 12, 1, 10, 0), "agora"),  # open
    ],
    ids=["lunch", "evening", "weekend", "saturday-night", "holiday", "sunday", "open"],
)
def test_next_opening_phrase(now: datetime, expected: str) -> None:
    # Given the bakery / When / Then
    assert BAKERY.next_opening_phrase(now) == expected


def test_opening_phrase_after_a_week_says_the_date() -> None:
    # Given the bakery on vacation from 19/12/2026 to 03/01/2027 (01/01 is a holiday anyway)
    vacation = [f"2026-12-{day}" for day in range(19, 32)] + ["2027-01-02", "2027-01-03"]
    bakery = hours(closed_days=vacation, special_hours={})
    # When closed on Friday 18/12 at 18:00 / Then it is back on Monday 04/01
    assert bakery.next_opening_phrase(sp(2026, 12, 18, 18, 0)) == "em 04/01 às 08:00"


@pytest.mark.parametrize(
    ("at", "now", "expected"),
    [
        (sp(2026, 12, 25, 8, 0), sp(2026, 12, 1, 10, 0), "em 25/12 às 08:00"),
        (sp(2026, 12, 2, 1, 0), sp(2026, 12, 1, 23, 0), "amanhã à 01:00"),
        (sp(2026, 12, 2, 0, 30), sp(2026, 12, 1, 23, 0), "amanhã à 00:30"),
        (sp(2027, 12, 1, 8, 0), sp(2026, 12, 1, 10, 0), "em 01/12/2027 às 08:00"),
        (datetime(2026, 12, 2, 2, 30, tzinfo=UTC), sp(2026, 12, 1, 22, 0), "hoje às 23:30"),  # local day, not UTC's
    ],
    ids=["date", "one-oclock", "half-past-midnight", "next-year", "local-day"],
)
def test_opening_phrase(at: datetime, now: datetime, expected: str) -> None:
    # Given / When / Then
    assert BAKERY.opening_phrase(at, now) == expected


def test_local_now_text() -> None:
    # Given 18:31 UTC on Thursday 03/12/2026 / When / Then
    assert BAKERY.local_now_text(datetime(2026, 12, 3, 18, 31, tzinfo=UTC)) == "quinta-feira, 03/12/2026 15:31"
    assert BAKERY.local_now_text(datetime_from_unix(1_796_322_660)) == "quinta-feira, 03/12/2026 15:31"


def test_datetime_from_unix_is_aware_utc() -> None:
    # Given / When / Then
    assert datetime_from_unix(1_796_322_660) == datetime(2026, 12, 3, 18, 31, tzinfo=UTC)


# --- describe ------------------------------------------------------------------------------------------


def test_describe_the_bakery() -> None:
    # Given / When / Then
    assert BAKERY.describe() == "segunda a sexta, 08:00–12:00 e 13:30–18:00; sábado, 08:00–12:00; domingo e feriados: fechado"


def test_describe_lists_the_upcoming_special_dates() -> None:
    # Given the bakery on 20/12/2026 / When / Then: 24/12 special, 25/12 Natal, 31/12 closed, 01/01 (a Friday) holiday
    assert BAKERY.describe(upcoming_from=sp(2026, 12, 20, 9), upcoming_days=14) == (
        "segunda a sexta, 08:00–12:00 e 13:30–18:00; sábado, 08:00–12:00; domingo e feriados: fechado. "
        "Próximas datas especiais: 24/12 (quinta-feira): 08:00–12:00; 25/12 (sexta-feira, Natal): fechado; "
        "31/12 (quinta-feira): fechado; 01/01 (sexta-feira, Confraternização Universal): fechado"
    )


@pytest.mark.parametrize(
    ("weekly", "holidays_closed", "expected"),
    [
        ({"mon": ["09:00-18:00"], "tue": ["09:00-18:00"]}, True, "segunda e terça, 09:00–18:00; quarta a domingo e feriados: fechado"),
        (
            {
                "tue": ["09:00-18:00"],
                "wed": ["09:00-18:00"],
                "thu": ["09:00-18:00"],
                "fri": ["09:00-18:00"],
                "sat": ["09:00-14:00"],
                "sun": ["09:00-14:00"],
            },
            False,
            "terça a sexta, 09:00–18:00; sábado e domingo, 09:00–14:00; segunda: fechado; feriados: horário normal",
        ),
        (
            {"mon": ["08:00-12:00"], "wed": ["08:00-12:00"]},
            True,
            "segunda, 08:00–12:00; quarta, 08:00–12:00; terça, quinta a domingo e feriados: fechado",
        ),
    ],
    ids=["two-days", "closed-monday", "gaps"],
)
def test_describe_groups_weekdays(weekly: dict[str, list[str]], holidays_closed: bool, expected: str) -> None:
    # Given / When / Then
    assert BusinessHours.from_item({"weekly": weekly, "holidays_closed": holidays_closed}).describe() == expected


# --- the stored item ----------------------------------------------------------------------------------------


def test_to_item_round_trips_in_strings_and_a_bool() -> None:
    # Given / When
    item = BAKERY.to_item()
    # Then
    assert item == {
        "timezone": "America/Sao_Paulo",
        "weekly": {"mon": WEEKDAY, "tue": WEEKDAY, "wed": WEEKDAY, "thu": WEEKDAY, "fri": WEEKDAY, "sat": ["08:00-12:00"]},
        "holiday_subdiv": "São Paulo Capital",
        "holidays_closed": True,
        "closed_days": ["2026-12-31"],
        "special_hours": {"2026-12-24": ["08:00-12:00"]},
    }
    assert BusinessHours.from_item(item) == BAKERY


def test_from_item_sorts_intervals_and_takes_subdivision_aliases() -> None:
    # Given intervals out of order, an en dash, and "São Paulo" spelt loosely
    parsed = BusinessHours.from_item({"weekly": {"mon": ["13:30 – 18:00", "08:00-12:00"]}, "holiday_subdiv": "sao paulo"})
    # When / Then
    assert (parsed.weekly[0], parsed.holiday_subdiv, parsed.to_item()["weekly"]) == (
        (Interval(480, 720), Interval(810, 1080)),
        "SP",
        {"mon": ["08:00-12:00", "13:30-18:00"]},
    )
    assert BusinessHours.from_item({"weekly": {}, "holiday_subdiv": "SÃO PAULO CAPITAL"}).holiday_subdiv == "São Paulo Capital"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"timezone": "America/Sao_Pablo"}, "timezone 'America/Sao_Pablo' is not an IANA time zone name"),
        ({"timezone": "../etc/passwd"}, "timezone '../etc/passwd' is not an IANA time zone name"),
        ({"timezone": ""}, "timezone must be an IANA time zone name"),
        ({"weekly": {"mon": ["8h-12h"]}}, "weekly.mon: time '8h' must be HH:MM"),
        ({"weekly": {"mon": ["08:00"]}}, "weekly.mon: interval '08:00' must look like 08:00-12:00"),
        ({"weekly": {"mon": ["08:00-25:00"]}}, "weekly.mon: time '25:00' is not a time of day"),
        ({"weekly": {"mon": ["24:00-24:00"]}}, "weekly.mon: time '24:00' is not a time of day"),
        ({"weekly": {"mon": ["12:00-08:00"]}}, "weekly.mon: interval '12:00-08:00' must end after it starts"),
        ({"weekly": {"fri": ["22:00-02:00"]}}, "split a night across midnight"),
        ({"weekly": {"mon": ["08:00-12:00", "11:00-14:00"]}}, "weekly.mon: intervals 08:00-12:00 and 11:00-14:00 overlap or touch"),
        ({"weekly": {"mon": ["08:00-12:00", "12:00-14:00"]}}, "overlap or touch; merge them"),
        ({"weekly": {"mon": "08:00-12:00"}}, "weekly.mon must be a list of intervals"),
        ({"weekly": {"seg": ["08:00-12:00"]}}, "weekly: unknown weekday(s) seg; use mon, tue, wed, thu, fri, sat, sun"),
        ({"weekly": ["08:00-12:00"]}, "weekly must be a map of weekday"),
        ({"weekly": {}, "holiday_subdiv": "XX"}, "holiday_subdiv 'XX' is not a Brazilian subdivision"),
        ({"weekly": {}, "holiday_subdiv": "Campinas"}, "or a city: São Paulo Capital"),
        ({"weekly": {}, "closed_days": ["2026-02-30"]}, "closed_days: '2026-02-30' is not a calendar date"),
        ({"weekly": {}, "closed_days": ["24/12/2026"]}, "closed_days: date '24/12/2026' must be YYYY-MM-DD"),
        ({"weekly": {}, "closed_days": "2026-12-24"}, "closed_days must be a list"),
        ({"weekly": {}, "special_hours": {"2026-12-24": []}}, "special_hours.2026-12-24: give at least one interval"),
        ({"weekly": {}, "special_hours": {"2026-12-24": ["14:00-12:00"]}}, "special_hours.2026-12-24: interval '14:00-12:00'"),
        (
            {"weekly": {}, "closed_days": ["2026-12-24"], "special_hours": {"2026-12-24": ["08:00-12:00"]}},
            "dates both closed and with special hours: 2026-12-24",
        ),
        ({"weekly": {}, "holidays_closed": "yes"}, "holidays_closed must be true or false"),
        ({"closed_days": ["2026-12-24"]}, "weekly is required with closed_days"),
        ({"weekly": {}, "hollidays_closed": False}, "unknown business-hours field(s): hollidays_closed"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_invalid_items_are_rejected_with_a_clear_message(item: dict[str, Any], message: str) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match=re.escape(message)):
        BusinessHours.from_item(item)


def test_naive_datetimes_are_rejected() -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="an aware datetime is required"):
        BAKERY.is_open(datetime(2026, 12, 1, 10, 0))
    with pytest.raises(ValueError, match="an aware datetime is required"):
        BusinessHours.always_open().is_open(datetime(2026, 12, 1, 10, 0))


def test_the_dataclass_keeps_its_invariants() -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="weekly must have 7 days"):
        BusinessHours(weekly=((),) * 6)
    with pytest.raises(ValueError, match="holiday_subdiv must be the canonical code 'SP'"):
        BusinessHours(holiday_subdiv="sp")
    with pytest.raises(ValueError, match=r"weekly\.mon: intervals must be in order"):
        BusinessHours(weekly=((Interval(810, 1080), Interval(480, 720)), *((),) * 6))
    with pytest.raises(ValueError, match="interval start 1440"):
        Interval(1440, 1440)
