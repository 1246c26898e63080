"""Cost of LLM calls in USD and BRL from the dated price table (atende/data/llm_prices.json)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest

from atende.domain.pricing import CallCost, ModelPrice, PriceTable, PriceTableInvalid, Usage, UsdBrlRate
from atende.errors import ConfigError

DAY = date(2026, 11, 20)


def price(model: str, effective_from: str, inp: Any, cached: Any, out: Any, provider: str = "openai", **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "effective_from": effective_from,
        "usd_per_1m_input": inp,
        "usd_per_1m_cached_input": cached,
        "usd_per_1m_output": out,
        "source": "https://platform.openai.com/docs/pricing",
        **extra,
    }


def rate(effective_from: str, value: Any) -> dict[str, Any]:
    return {"effective_from": effective_from, "rate": value, "source": "https://www.bcb.gov.br/"}


DOC: dict[str, Any] = {
    "version": 1,
    "prices": [
        price("gpt-4.1-mini", "2025-04-14", "0.40", "0.10", "1.60"),
        price("gpt-4.1", "2025-04-14", "2.00", "0.50", "8.00"),
        price("gpt-4o", "2024-08-06", "2.50", "1.25", "10.00"),
        price("gpt-4o-2024-05-13", "2024-05-13", "5.00", None, "15.00"),
        price("gemini-2.5-flash", "2025-06-17", "0.30", "0.03", "2.50", provider="gemini", usd_per_1m_audio_input="1.00"),
        price("atende-offline", "2024-01-01", 0, 0, 0, provider="local", source="layers/shared/atende/llm/local.py"),
    ],
    "usd_brl": [rate("2025-01-01", "5.40")],
}


@pytest.fixture
def table() -> PriceTable:
    return PriceTable.from_doc(DOC)


# --- cost ------------------------------------------------------------------------------------------


def test_cost_is_tokens_times_the_price_per_million_times_the_rate(table: PriceTable) -> None:
    # Given 1,000 input and 200 output tokens of gpt-4.1-mini ($0.40 / $1.60 per 1M, R$ 5.40)
    usage = Usage(input_tokens=1_000, output_tokens=200)

    # When
    cost = table.cost("openai", "gpt-4.1-mini", usage, DAY)

    # Then 1000 × 0.40/1M + 200 × 1.60/1M = 0.00072 USD; × 5.40 = 0.003888 BRL
    assert (cost.usd, cost.brl, cost.usd_brl, cost.known) == (Decimal("0.00072"), Decimal("0.003888"), Decimal("5.40"), True)
    assert table.cost_usd("openai", "gpt-4.1-mini", usage, DAY) == Decimal("0.00072")
    assert table.cost_brl("openai", "gpt-4.1-mini", usage, DAY) == Decimal("0.003888")


def test_brl_has_six_places_rounded_half_even() -> None:
    # Given $2.50 per 1M input tokens and a rate of 1: one token is 0.0000025 BRL, three are 0.0000075
    doc = {"prices": [price("m", "2025-01-01", "2.50", None, "0")], "usd_brl": [rate("2025-01-01", "1")]}
    table = PriceTable.from_doc(doc)

    # Then the half goes to the even digit (half-up would give 0.000003 and 0.000008)
    assert table.cost_brl("openai", "m", Usage(input_tokens=1), DAY) == Decimal("0.000002")
    assert table.cost_brl("openai", "m", Usage(input_tokens=3), DAY) == Decimal("0.000008")
    assert str(table.cost_brl("openai", "m", Usage(input_tokens=1), DAY)) == "0.000002"  # exponent fixed: stores as typed


def test_cached_tokens_are_part_of_the_input_and_cost_the_cached_rate(table: PriceTable) -> None:
    # Given 1,000 prompt tokens of which 800 were a cache hit
    usage = Usage(input_tokens=1_000, cached_input_tokens=800, output_tokens=0)

    # Then 200 × 0.40/1M + 800 × 0.10/1M = 0.00016 USD
    assert table.cost_usd("openai", "gpt-4.1-mini", usage, DAY) == Decimal("0.00016")


def test_a_model_without_a_cache_discount_bills_cached_tokens_as_input(table: PriceTable) -> None:
    usage = Usage(input_tokens=1_000, cached_input_tokens=800)

    assert table.cost_usd("openai", "gpt-4o-2024-05-13", usage, DAY) == Decimal("0.005")  # 1000 × 5.00/1M


def test_audio_input_tokens_cost_the_audio_rate(table: PriceTable) -> None:
    # Given a Gemini call with a voice note: 1,000 prompt tokens, 800 of them audio
    usage = Usage(input_tokens=1_000, audio_input_tokens=800, output_tokens=100)

    # Then 200 × 0.30/1M + 800 × 1.00/1M + 100 × 2.50/1M = 0.00111 USD
    assert table.cost_usd("gemini", "gemini-2.5-flash", usage, DAY) == Decimal("0.00111")


def test_the_local_model_costs_nothing_and_is_known(table: PriceTable) -> None:
    cost = table.cost("local", "atende-offline-1", Usage(input_tokens=50, output_tokens=20), DAY)

    assert (cost.usd, cost.brl, cost.known, cost.matched_model) == (Decimal(0), Decimal("0.000000"), True, "atende-offline")


# --- model names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "returned_name", "matched"),
    [
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),  # longest prefix, not gpt-4.1
        ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),
        ("openai", "gpt-4o-2024-11-20", "gpt-4o"),
        ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact name beats a prefix
        ("openai", "GPT-4.1-Mini", "gpt-4.1-mini"),
        ("gemini", "models/gemini-2.5-flash", "gemini-2.5-flash"),  # Gemini's resource name
        ("gemini", "gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
    ],
)
def test_provider_model_names_match_exactly_then_by_longest_known_prefix(
    table: PriceTable, provider: str, returned_name: str, matched: str
) -> None:
    cost = table.cost(provider, returned_name, Usage(input_tokens=1), DAY)

    assert (cost.known, cost.matched_model, cost.model) == (True, matched, returned_name)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4.10"),  # extends "gpt-4.1" but not at a "-": another model
        ("openai", "gpt-4"),  # shorter than every known name
        ("openai", "gemini-2.5-flash"),  # a known model under another provider
        ("groq", "llama-3.3-70b-versatile"),
        ("openai", ""),
    ],
)
def test_an_unknown_model_costs_zero_and_says_so_instead_of_raising(table: PriceTable, provider: str, model: str) -> None:
    cost = table.cost(provider, model, Usage(input_tokens=1_000, output_tokens=200), DAY)

    assert cost == CallCost(
        provider=provider,
        model=model,
        at=DAY,
        usage=Usage(input_tokens=1_000, output_tokens=200),
        usd=Decimal(0),
        brl=Decimal("0.000000"),
        price=None,
        usd_brl=Decimal("5.40"),
    )
    assert cost.known is False


# --- dates -----------------------------------------------------------------------------------------


def test_the_price_in_force_on_the_calls_date_applies() -> None:
    # Given a price cut on 2026-06-01
    doc = {
        "prices": [
            price("gpt-4.1-mini", "2025-04-14", "0.40", "0.10", "1.60"),
            price("gpt-4.1-mini", "2026-06-01", "0.20", "0.05", "0.80"),
        ],
        "usd_brl": [rate("2025-01-01", "5")],
    }
    table = PriceTable.from_doc(doc)
    usage = Usage(input_tokens=1_000, output_tokens=200)

    # Then the day before pays the old price, the day itself the new one, and before the model existed nothing is known
    assert table.cost_usd("openai", "gpt-4.1-mini", usage, date(2026, 5, 31)) == Decimal("0.00072")
    assert table.cost_usd("openai", "gpt-4.1-mini", usage, date(2026, 6, 1)) == Decimal("0.00036")
    assert table.cost("openai", "gpt-4.1-mini", usage, date(2025, 4, 13)).known is False


def test_the_order_of_entries_in_the_file_does_not_matter() -> None:
    later_first = {
        "prices": [price("m", "2026-06-01", "1", None, "0"), price("m", "2025-01-01", "2", None, "0")],
        "usd_brl": [rate("2026-01-01", "6"), rate("2025-01-01", "5")],
    }
    table = PriceTable.from_doc(later_first)

    assert table.cost_usd("openai", "m", Usage(input_tokens=1_000_000), date(2026, 1, 1)) == Decimal(2)
    assert (table.rate_brl(date(2025, 12, 31)), table.rate_brl(date(2026, 1, 1))) == (Decimal(5), Decimal(6))


def test_the_rate_in_force_on_the_calls_date_converts_and_none_before_the_first() -> None:
    doc = {**DOC, "usd_brl": [rate("2025-06-01", "5.40"), rate("2026-02-01", "5.25")]}
    table = PriceTable.from_doc(doc)
    usage = Usage(input_tokens=1_000, output_tokens=200)

    assert table.cost_brl("openai", "gpt-4.1-mini", usage, date(2026, 1, 31)) == Decimal("0.003888")
    assert table.cost_brl("openai", "gpt-4.1-mini", usage, date(2026, 2, 1)) == Decimal("0.003780")
    # a priced call on a day before the first rate: the USD is known, the BRL is not
    before = table.cost("openai", "gpt-4.1-mini", usage, date(2025, 5, 31))
    assert (before.usd, before.brl, before.usd_brl, before.known) == (Decimal("0.00072"), Decimal("0.000000"), None, False)


def test_a_datetime_counts_as_its_calendar_day(table: PriceTable) -> None:
    cost = table.cost("openai", "gpt-4.1-mini", Usage(input_tokens=1), datetime(2026, 11, 20, 23, 59, tzinfo=UTC))

    assert (cost.at, cost.known) == (DAY, True)


# --- overrides -------------------------------------------------------------------------------------


def test_an_override_layers_a_negotiated_price_over_the_file_from_its_date(table: PriceTable) -> None:
    # Given a deployment with a negotiated gpt-4.1-mini price from 2026-09-01 and a Groq model via OpenAI compatibility
    overridden = table.with_overrides(
        [
            price("gpt-4.1-mini", "2026-09-01", Decimal("0.30"), Decimal("0.075"), Decimal("1.20"), source="contract 2026-08"),
            price("llama-3.3-70b-versatile", "2025-01-01", "0.59", None, "0.79", source="https://groq.com/pricing"),
        ],
        usd_brl=[rate("2026-10-01", "5.00")],
    )
    usage = Usage(input_tokens=1_000, output_tokens=200)

    # Then the override applies from its date, the file's price before it, and the new model is known
    assert overridden.cost_usd("openai", "gpt-4.1-mini-2025-04-14", usage, date(2026, 9, 1)) == Decimal("0.00054")
    assert overridden.cost_usd("openai", "gpt-4.1-mini", usage, date(2026, 8, 31)) == Decimal("0.00072")
    assert overridden.cost_usd("openai", "llama-3.3-70b-versatile", usage, DAY) == Decimal("0.000748")
    assert overridden.cost_brl("openai", "gpt-4.1-mini", usage, DAY) == Decimal("0.002700")  # 0.00054 × 5.00
    # and models the override does not name keep the file's prices; the original table is unchanged
    assert overridden.cost_usd("openai", "gpt-4.1", usage, DAY) == Decimal("0.0036")
    assert table.cost_usd("openai", "gpt-4.1-mini", usage, DAY) == Decimal("0.00072")
    assert table.cost("openai", "llama-3.3-70b-versatile", usage, DAY).known is False


def test_an_override_prefix_does_not_steal_a_longer_file_name(table: PriceTable) -> None:
    overridden = table.with_overrides([price("gpt-4.1", "2025-01-01", "1", "1", "1", source="contract")])

    assert overridden.cost("openai", "gpt-4.1-mini-2025-04-14", Usage(input_tokens=1), DAY).matched_model == "gpt-4.1-mini"
    assert overridden.price_for("openai", "gpt-4.1-mini", DAY) == table.price_for("openai", "gpt-4.1-mini", DAY)


def test_overrides_accept_built_model_prices() -> None:
    entry = ModelPrice(
        provider="openai",
        model="custom-model",
        effective_from=date(2026, 1, 1),
        usd_per_1m_input=Decimal(1),
        usd_per_1m_cached_input=None,
        usd_per_1m_output=Decimal(2),
        source="contract",
    )
    table = PriceTable.from_doc(DOC).with_overrides([entry])

    assert table.cost_usd("openai", "custom-model", Usage(input_tokens=1_000_000, output_tokens=1_000_000), DAY) == Decimal(3)


def test_an_invalid_override_is_refused_with_its_position() -> None:
    with pytest.raises(PriceTableInvalid, match=r"overrides\[0\] openai/m 2026-01-01: usd_per_1m_output must be a non-negative"):
        PriceTable.from_doc(DOC).with_overrides([price("m", "2026-01-01", "1", None, "-1")])


# --- validation ------------------------------------------------------------------------------------


def broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        (
            broken(lambda d: d["prices"][0].update(usd_per_1m_input="-0.40")),
            r"prices\[0\] openai/gpt-4.1-mini .*: usd_per_1m_input must be a non-negative",
        ),
        (broken(lambda d: d["prices"][0].update(usd_per_1m_cached_input=-1)), "usd_per_1m_cached_input must be a non-negative"),
        (broken(lambda d: d["prices"][0].update(usd_per_1m_output="NaN")), "usd_per_1m_output must be a non-negative"),
        (broken(lambda d: d["prices"][0].update(usd_per_1m_output="cheap")), "usd_per_1m_output must be a number"),
        (broken(lambda d: d["prices"][0].update(usd_per_1m_output=True)), "usd_per_1m_output must be a number"),
        (broken(lambda d: d["prices"][0].update(usd_per_1m_input=None)), "usd_per_1m_input must be a number"),
        (broken(lambda d: d["prices"][0].update(effective_from="14/04/2025")), "effective_from must be an ISO date"),
        (broken(lambda d: d["prices"][0].update(effective_from="2025-02-30")), "effective_from must be an ISO date"),
        (broken(lambda d: d["prices"][0].pop("source")), "missing source"),
        (broken(lambda d: d["prices"][0].update(source=" ")), "source must be a non-empty string"),
        (broken(lambda d: d["prices"][0].update(usd_per_1m_ouput="1.60")), "unknown key usd_per_1m_ouput"),
        (
            broken(lambda d: d["prices"].append(dict(d["prices"][0], usd_per_1m_input="0.50"))),
            "duplicate entry openai gpt-4.1-mini 2025-04-14",
        ),
        (
            broken(lambda d: d["prices"].append(dict(d["prices"][0], model="GPT-4.1-mini"))),
            "duplicate entry openai gpt-4.1-mini 2025-04-14",
        ),
        (broken(lambda d: d["prices"].append("gpt-5")), "an entry must be an object"),
        (broken(lambda d: d["usd_brl"].append(rate("2025-01-01", "5.50"))), "duplicate entry usd_brl 2025-01-01"),
        (broken(lambda d: d["usd_brl"][0].update(rate=0)), "rate must be positive"),
        (broken(lambda d: d.update(usd_brl=[])), "usd_brl needs at least one rate"),
        (broken(lambda d: d.pop("prices")), "prices must be a list"),
        (broken(lambda d: d.update(version=2)), "version 2 is not 1"),
    ],
)
def test_the_file_is_validated(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(PriceTableInvalid, match=problem):
        PriceTable.from_doc(doc)


def test_every_problem_is_reported_at_once_as_a_config_error() -> None:
    doc = broken(lambda d: (d["prices"][0].update(usd_per_1m_input=-1), d["prices"][1].update(effective_from="soon")))

    with pytest.raises(ConfigError) as raised:
        PriceTable.from_doc(doc)

    assert isinstance(raised.value, PriceTableInvalid)
    assert raised.value.problems == (
        "prices[0] openai/gpt-4.1-mini 2025-04-14: usd_per_1m_input must be a non-negative number, not -1",
        "prices[1] openai/gpt-4.1 soon: effective_from must be an ISO date (YYYY-MM-DD), not 'soon'",
    )


def test_prices_built_in_code_are_validated_too() -> None:
    with pytest.raises(PriceTableInvalid, match="usd_per_1m_output must be a non-negative"):
        ModelPrice("openai", "m", date(2026, 1, 1), Decimal(1), None, Decimal(-1), source="x")
    with pytest.raises(PriceTableInvalid, match="rate must be positive"):
        UsdBrlRate(date(2026, 1, 1), Decimal(0), source="x")


@pytest.mark.parametrize(
    "counts",
    [
        {"input_tokens": -1},
        {"output_tokens": 1.5},
        {"input_tokens": 10, "cached_input_tokens": 8, "audio_input_tokens": 3},  # the parts exceed the whole
    ],
)
def test_usage_counts_are_non_negative_ints_whose_parts_fit_the_input(counts: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="tokens"):
        Usage(**counts)


def test_json_numbers_are_read_as_exact_decimals() -> None:
    text = '{"prices": [], "usd_brl": [{"effective_from": "2025-01-01", "rate": 5.1, "source": "x"}]}'

    assert PriceTable.from_json(text).rate_brl(DAY) == Decimal("5.1")  # not 5.0999999999999996447…


def test_a_file_that_is_not_json_is_a_config_error() -> None:
    with pytest.raises(PriceTableInvalid, match="not JSON"):
        PriceTable.from_json("{prices: ")


# --- the shipped file ------------------------------------------------------------------------------

REQUIRED_MODELS = [
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-4.1-nano"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-5-mini"),
    ("openai", "gpt-5-nano"),
    ("openai", "gpt-4o-mini-transcribe"),
    ("gemini", "gemini-2.5-flash"),
    ("gemini", "gemini-2.5-flash-lite"),
    ("gemini", "gemini-2.5-pro"),
    ("local", "atende-offline"),
]


def test_the_shipped_file_is_package_data_and_loads_once() -> None:
    assert resources.files("atende.data").joinpath("llm_prices.json").is_file()
    assert PriceTable.shipped() is PriceTable.shipped()


@pytest.mark.parametrize(("provider", "model"), REQUIRED_MODELS)
def test_the_shipped_file_prices_every_model_atende_uses(provider: str, model: str) -> None:
    entry = PriceTable.shipped().price_for(provider, model, DAY)

    assert entry is not None and entry.model == model


def test_every_shipped_entry_names_its_source() -> None:
    table = PriceTable.shipped()
    public = [entry for entry in table.prices if entry.provider != "local"]

    assert public and all(entry.source.startswith("https://") for entry in public)
    assert all(entry.source for entry in table.prices)
    assert table.rates and all(entry.source.startswith("https://") for entry in table.rates)


def test_the_shipped_defaults_cost_what_the_table_says() -> None:
    # Given the default OpenAI model (atende.llm.DEFAULT_OPENAI_MODEL) as the provider names it
    table = PriceTable.shipped()
    entry = table.price_for("openai", "gpt-4.1-mini", DAY)
    brl_per_usd = table.rate_brl(DAY)
    assert entry is not None and brl_per_usd is not None

    # When
    cost = table.cost("openai", "gpt-4.1-mini-2025-04-14", Usage(input_tokens=1_000, output_tokens=200), DAY)

    # Then it is the table's price × the table's rate
    usd = (1_000 * entry.usd_per_1m_input + 200 * entry.usd_per_1m_output) / 1_000_000
    assert (cost.usd, cost.brl) == (usd, (usd * brl_per_usd).quantize(Decimal("0.000001")))
    assert cost.usd == Decimal("0.00072")  # $0.40 / $1.60 per 1M, the 2025-04-14 list price
    assert table.cost("local", "atende-offline-1", Usage(input_tokens=10, output_tokens=10), DAY).usd == 0


def test_the_shipped_transcription_price_bills_audio_apart_and_keeps_the_per_minute_figure() -> None:
    entry = PriceTable.shipped().price_for("openai", "gpt-4o-mini-transcribe-2025-12-15", DAY)

    assert entry is not None and entry.model == "gpt-4o-mini-transcribe"
    assert entry.usd_per_1m_audio_input is not None and entry.usd_per_minute is not None
