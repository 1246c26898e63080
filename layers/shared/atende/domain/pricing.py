"""What an LLM call cost, in USD and BRL, from a dated price table that is data, not code.

The table ships with the layer as ``atende/data/llm_prices.json``::

    {"version": 1,
     "prices": [{"provider": "openai", "model": "gpt-4.1-mini", "effective_from": "2025-04-14",
                 "usd_per_1m_input": 0.40, "usd_per_1m_cached_input": 0.10, "usd_per_1m_output": 1.60,
                 "source": "https://platform.openai.com/docs/pricing", "note": "..."}],
     "usd_brl": [{"effective_from": "2026-02-01", "rate": 5.25, "source": "https://...", "note": "..."}]}

Optional price keys: ``usd_per_1m_audio_input`` (audio input tokens, when a provider bills them apart;
absent = the input rate), ``usd_per_minute`` (the provider's per-minute figure, informational) and ``note``.
``usd_per_1m_cached_input`` may be null: no caching discount, cached tokens cost the input rate.

An entry is in force from its ``effective_from`` (inclusive) until the next entry of the same model, so a
price change is a new entry and costs already stored keep the price they were computed with. A model name
is matched exactly first, then by the longest known name it extends at a ``-`` (``gpt-4.1-mini-2025-04-14``
→ ``gpt-4.1-mini``; ``gpt-4.10`` is not ``gpt-4.1``). An unknown model or a date before any entry costs 0
with ``known=False``: pricing never raises in the reply path; the caller counts a metric.

Amounts are ``Decimal`` (exact, and what DynamoDB stores): USD unrounded, BRL rounded half-even to 6 places.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from importlib import resources
from typing import Any

from atende.errors import ConfigError

PRICES_PACKAGE = "atende.data"
PRICES_FILE = "llm_prices.json"
FORMAT_VERSION = 1
BRL_QUANTUM = Decimal("0.000001")  # 6 places: a single cheap call is a fraction of a centavo

_PRICE_REQUIRED = frozenset(
    {"provider", "model", "effective_from", "usd_per_1m_input", "usd_per_1m_cached_input", "usd_per_1m_output", "source"}
)
_OPTIONAL_AMOUNTS = ("usd_per_1m_cached_input", "usd_per_1m_audio_input", "usd_per_minute")
_PRICE_KEYS = _PRICE_REQUIRED | set(_OPTIONAL_AMOUNTS) | {"note"}
_RATE_REQUIRED = frozenset({"effective_from", "rate", "source"})
_RATE_KEYS = _RATE_REQUIRED | {"note"}
_DOC_KEYS = frozenset({"version", "comment", "prices", "usd_brl"})
_GEMINI_RESOURCE_PREFIX = "models/"  # the Gemini API also names models "models/gemini-2.5-flash"


class PriceTableInvalid(ConfigError):
    """The price file (or an override) breaks a rule; ``problems`` lists every one found, not just the first."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid price table: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the provider reports them.

    ``input_tokens`` is the whole prompt *including* the cached and audio tokens (OpenAI ``prompt_tokens``,
    Gemini ``prompt_token_count``); ``cached_input_tokens`` and ``audio_input_tokens`` are the parts of it
    billed at their own rates. Reasoning/thinking tokens are output: Gemini reports them apart
    (``thoughts_token_count``), so add them to ``output_tokens``.
    """

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    audio_input_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("input_tokens", "cached_input_tokens", "output_tokens", "audio_input_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, not {value!r}")
        if self.cached_input_tokens + self.audio_input_tokens > self.input_tokens:
            raise ValueError("cached_input_tokens + audio_input_tokens are part of input_tokens and cannot exceed it")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per 1M tokens of one model from one date on."""

    provider: str
    model: str
    effective_from: date
    usd_per_1m_input: Decimal
    usd_per_1m_cached_input: Decimal | None
    usd_per_1m_output: Decimal
    source: str
    usd_per_1m_audio_input: Decimal | None = None
    usd_per_minute: Decimal | None = None
    note: str = ""

    def __post_init__(self) -> None:
        problems = _price_problems(self)
        if problems:
            raise PriceTableInvalid(problems)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ModelPrice:
        """One ``prices`` entry of the file (or an override); numbers may be JSON numbers, strings or Decimal."""
        problems: list[str] = []
        if not isinstance(item, Mapping):
            raise PriceTableInvalid([f"an entry must be an object, not {type(item).__name__}"])
        problems += [f"missing {key}" for key in sorted(_PRICE_REQUIRED - item.keys())]
        problems += [f"unknown key {key}" for key in sorted(item.keys() - _PRICE_KEYS)]
        if problems:
            raise PriceTableInvalid(problems)
        provider = _text(item, "provider", problems)
        model = _text(item, "model", problems)
        effective_from = _date(item, "effective_from", problems)
        usd_input = _amount(item, "usd_per_1m_input", problems)
        usd_output = _amount(item, "usd_per_1m_output", problems)
        source = _text(item, "source", problems)
        optional = {name: _optional_amount(item, name, problems) for name in _OPTIONAL_AMOUNTS}
        if (
            problems
            or provider is None
            or model is None
            or effective_from is None
            or usd_input is None
            or usd_output is None
            or source is None
        ):
            raise PriceTableInvalid(problems)
        return cls(
            provider=provider.lower(),
            model=normalize_model_name(model),
            effective_from=effective_from,
            usd_per_1m_input=usd_input,
            usd_per_1m_cached_input=optional["usd_per_1m_cached_input"],
            usd_per_1m_output=usd_output,
            source=source,
            usd_per_1m_audio_input=optional["usd_per_1m_audio_input"],
            usd_per_minute=optional["usd_per_minute"],
            note=str(item.get("note") or ""),
        )

    def cost_usd(self, usage: Usage) -> Decimal:
        cached_rate = self.usd_per_1m_input if self.usd_per_1m_cached_input is None else self.usd_per_1m_cached_input
        audio_rate = self.usd_per_1m_input if self.usd_per_1m_audio_input is None else self.usd_per_1m_audio_input
        plain_input = usage.input_tokens - usage.cached_input_tokens - usage.audio_input_tokens
        per_million = (
            plain_input * self.usd_per_1m_input
            + usage.cached_input_tokens * cached_rate
            + usage.audio_input_tokens * audio_rate
            + usage.output_tokens * self.usd_per_1m_output
        )
        return per_million.scaleb(-6)  # exact: a power-of-ten shift, no division


@dataclass(frozen=True, slots=True)
class UsdBrlRate:
    """BRL per USD from one date on (a configured planning rate, not a live quote)."""

    effective_from: date
    rate: Decimal
    source: str
    note: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.rate.is_finite() or self.rate <= 0:
            problems.append(f"rate must be positive, not {self.rate}")
        if not self.source.strip():
            problems.append("source must not be empty")
        if problems:
            raise PriceTableInvalid(problems)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> UsdBrlRate:
        problems: list[str] = []
        if not isinstance(item, Mapping):
            raise PriceTableInvalid([f"an entry must be an object, not {type(item).__name__}"])
        problems += [f"missing {key}" for key in sorted(_RATE_REQUIRED - item.keys())]
        problems += [f"unknown key {key}" for key in sorted(item.keys() - _RATE_KEYS)]
        if problems:
            raise PriceTableInvalid(problems)
        effective_from = _date(item, "effective_from", problems)
        rate = _amount(item, "rate", problems)
        source = _text(item, "source", problems)
        if problems or effective_from is None or rate is None or source is None:
            raise PriceTableInvalid(problems)
        return cls(effective_from=effective_from, rate=rate, source=source, note=str(item.get("note") or ""))


@dataclass(frozen=True, slots=True)
class CallCost:
    """The cost of one call; ``known`` is False when the model (or the date's rate) is not in the table."""

    provider: str
    model: str
    at: date
    usage: Usage
    usd: Decimal
    brl: Decimal
    price: ModelPrice | None  # the entry applied; its .model is the matched name
    usd_brl: Decimal | None

    @property
    def known(self) -> bool:
        return self.price is not None and self.usd_brl is not None

    @property
    def matched_model(self) -> str | None:
        return self.price.model if self.price else None


class PriceTable:
    """Prices and rates in layers: the shipped file first, each ``with_overrides`` on top.

    At a date, the entry in force is the latest-dated one of the highest layer that has one in force: an
    override (a negotiated price) beats the public price from its own date on, and before it the file applies.
    """

    __slots__ = ("_index", "_price_layers", "_rate_layers", "_rates")

    def __init__(self, price_layers: Iterable[Iterable[ModelPrice]], rate_layers: Iterable[Iterable[UsdBrlRate]]) -> None:
        self._price_layers = tuple(tuple(layer) for layer in price_layers)
        self._rate_layers = tuple(tuple(layer) for layer in rate_layers)
        problems = [p for layer in self._price_layers for p in _duplicates(layer, _price_key)]
        problems += [p for layer in self._rate_layers for p in _duplicates(layer, lambda rate: ("usd_brl", rate.effective_from))]
        if not any(self._rate_layers):
            problems.append("usd_brl needs at least one rate")
        if problems:
            raise PriceTableInvalid(problems)
        # provider → model → [(layer, entry)]: a handful of models, so a lookup scans a short list
        self._index: dict[str, dict[str, list[tuple[int, ModelPrice]]]] = {}
        for rank, layer in enumerate(self._price_layers):
            for entry in layer:
                provider, model, _ = _price_key(entry)
                self._index.setdefault(provider, {}).setdefault(model, []).append((rank, entry))
        self._rates = [(rank, rate) for rank, layer in enumerate(self._rate_layers) for rate in layer]

    # --- building ------------------------------------------------------------------------------------

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> PriceTable:
        """A table from the file's document (already parsed); every problem is reported at once."""
        if not isinstance(doc, Mapping):
            raise PriceTableInvalid(["the document must be an object"])
        problems = [f"unknown key {key}" for key in sorted(doc.keys() - _DOC_KEYS)]
        if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            problems.append(f"version {doc.get('version')!r} is not {FORMAT_VERSION}")
        prices, price_problems = _parse_all(doc.get("prices"), "prices", ModelPrice, ModelPrice.from_item)
        rates, rate_problems = _parse_all(doc.get("usd_brl"), "usd_brl", UsdBrlRate, UsdBrlRate.from_item)
        problems += price_problems + rate_problems
        if problems:
            raise PriceTableInvalid(problems)
        return cls([prices], [rates])

    @classmethod
    def from_json(cls, text: str) -> PriceTable:
        try:
            doc = json.loads(text, parse_float=Decimal)  # Decimal: 0.10 stays 0.10, not 0.1000000000000000055
        except json.JSONDecodeError as exc:
            raise PriceTableInvalid([f"not JSON: {exc}"]) from exc
        return cls.from_doc(doc)

    @classmethod
    def shipped(cls) -> PriceTable:
        """The table in the layer's package data, read on first use and kept for the life of the process."""
        return _shipped_table()

    def with_overrides(
        self, entries: Iterable[Mapping[str, Any] | ModelPrice] = (), *, usd_brl: Iterable[Mapping[str, Any] | UsdBrlRate] = ()
    ) -> PriceTable:
        """A new table with ``entries`` (a tenant's negotiated price, a custom OpenAI-compatible model such as
        a Groq one) and ``usd_brl`` rates layered over this one's; this table is unchanged."""
        prices, price_problems = _parse_all(list(entries), "overrides", ModelPrice, ModelPrice.from_item)
        rates, rate_problems = _parse_all(list(usd_brl), "usd_brl overrides", UsdBrlRate, UsdBrlRate.from_item)
        if price_problems or rate_problems:
            raise PriceTableInvalid(price_problems + rate_problems)
        return PriceTable([*self._price_layers, prices], [*self._rate_layers, rates])

    # --- reading -------------------------------------------------------------------------------------

    @property
    def prices(self) -> tuple[ModelPrice, ...]:
        return tuple(entry for layer in self._price_layers for entry in layer)

    @property
    def rates(self) -> tuple[UsdBrlRate, ...]:
        return tuple(rate for layer in self._rate_layers for rate in layer)

    def price_for(self, provider: str, model: str, at: date) -> ModelPrice | None:
        models = self._index.get(provider.strip().lower())
        if not models:
            return None
        name = _match_model(normalize_model_name(model), models.keys())
        if name is None:
            return None
        return _in_force(models[name], _day(at))

    def rate_brl(self, at: date) -> Decimal | None:
        rate = _in_force(self._rates, _day(at))
        return rate.rate if rate else None

    def cost(self, provider: str, model: str, usage: Usage, at: date) -> CallCost:
        day = _day(at)
        price = self.price_for(provider, model, day)
        rate = self.rate_brl(day)
        usd = price.cost_usd(usage) if price else Decimal(0)
        brl = to_brl(usd, rate) if price and rate is not None else Decimal(0).quantize(BRL_QUANTUM)
        return CallCost(provider=provider, model=model, at=day, usage=usage, usd=usd, brl=brl, price=price, usd_brl=rate)

    def cost_usd(self, provider: str, model: str, usage: Usage, at: date) -> Decimal:
        return self.cost(provider, model, usage, at).usd

    def cost_brl(self, provider: str, model: str, usage: Usage, at: date) -> Decimal:
        return self.cost(provider, model, usage, at).brl


def normalize_model_name(model: str) -> str:
    name = model.strip().lower()
    return name.removeprefix(_GEMINI_RESOURCE_PREFIX)


def to_brl(usd: Decimal, rate: Decimal) -> Decimal:
    return (usd * rate).quantize(BRL_QUANTUM, rounding=ROUND_HALF_EVEN)


@functools.cache
def _shipped_table() -> PriceTable:
    text = resources.files(PRICES_PACKAGE).joinpath(PRICES_FILE).read_text(encoding="utf-8")
    return PriceTable.from_json(text)


# --- helpers ---------------------------------------------------------------------------------------


def _match_model(name: str, known: Iterable[str]) -> str | None:
    names = set(known)
    if name in names:
        return name
    extended = [candidate for candidate in names if name.startswith(candidate + "-")]
    return max(extended, key=len, default=None)


def _in_force[T: (ModelPrice, UsdBrlRate)](entries: Iterable[tuple[int, T]], day: date) -> T | None:
    in_force = [(rank, entry.effective_from, entry) for rank, entry in entries if entry.effective_from <= day]
    if not in_force:
        return None
    return max(in_force, key=lambda item: (item[0], item[1]))[2]


def _day(at: date) -> date:
    # a datetime is a date, but comparing one with a date raises: keep the calendar day of its own zone
    return at.date() if isinstance(at, datetime) else at


def _parse_all[T](items: object, where: str, kind: type[T], parse: Callable[[Any], T]) -> tuple[list[T], list[str]]:
    if not isinstance(items, list):
        return [], [f"{where} must be a list"]
    parsed: list[T] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, kind):
            parsed.append(item)  # built in code, validated on construction
            continue
        try:
            parsed.append(parse(item))
        except PriceTableInvalid as exc:
            problems += [f"{where}[{index}]{_label(item)}: {problem}" for problem in exc.problems]
    return parsed, problems


def _label(item: object) -> str:
    if isinstance(item, Mapping) and "model" in item:
        return f" {item.get('provider')}/{item.get('model')} {item.get('effective_from')}"
    return ""


def _price_key(price: ModelPrice) -> tuple[str, str, date]:
    return price.provider.strip().lower(), normalize_model_name(price.model), price.effective_from


def _duplicates[E](entries: Iterable[E], key: Callable[[E], tuple[object, ...]]) -> list[str]:
    seen: set[tuple[object, ...]] = set()
    problems = []
    for entry in entries:
        k = key(entry)
        if k in seen:
            problems.append("duplicate entry " + " ".join(str(part) for part in k))
        seen.add(k)
    return problems


def _price_problems(price: ModelPrice) -> list[str]:
    problems = [f"{name} must not be empty" for name in ("provider", "model", "source") if not str(getattr(price, name)).strip()]
    for name in ("usd_per_1m_input", "usd_per_1m_cached_input", "usd_per_1m_output", "usd_per_1m_audio_input", "usd_per_minute"):
        value: Decimal | None = getattr(price, name)
        if value is not None and (not value.is_finite() or value < 0):
            problems.append(f"{name} must be a non-negative number, not {value}")
    return problems


def _text(item: Mapping[str, Any], key: str, problems: list[str]) -> str | None:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{key} must be a non-empty string")
        return None
    return value.strip()


def _date(item: Mapping[str, Any], key: str, problems: list[str]) -> date | None:
    value = item.get(key)
    try:
        if not isinstance(value, str):
            raise TypeError(value)
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        problems.append(f"{key} must be an ISO date (YYYY-MM-DD), not {value!r}")
        return None


def _amount(item: Mapping[str, Any], key: str, problems: list[str]) -> Decimal | None:
    value = item.get(key)
    if value is None:
        problems.append(f"{key} must be a number")
        return None
    return _optional_amount(item, key, problems)


def _optional_amount(item: Mapping[str, Any], key: str, problems: list[str]) -> Decimal | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        problems.append(f"{key} must be a number, not {value!r}")
        return None
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        problems.append(f"{key} must be a number, not {value!r}")
        return None
    if not amount.is_finite() or amount < 0:
        problems.append(f"{key} must be a non-negative number, not {value!r}")
        return None
    return amount
