"""Understanding media: transcribe voice notes, describe images, read electricity bills.

Protocols, typed results and provider selection live here; the adapters (``openai_media``,
``gemini_media``, ``local_media``) import their SDKs lazily, like ``atende.llm``. Prompts and the
bill schema are defined once here so both providers are asked exactly the same thing.

Model output is data, not truth: a bill's fields are validated here (types, ranges, real calendar
dates) and anything implausible becomes None with the confidence lowered; nothing is ever guessed.
Results keep customer content out of their ``repr``; logs carry field names, never values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from atende.errors import LlmUnavailable
from atende.llm import DEFAULT_GEMINI_MODEL, DEFAULT_OPENAI_MODEL, LlmKeys, LlmOptions
from atende.observability import logger

if TYPE_CHECKING:
    from atende.media import MediaBlob

DEFAULT_OPENAI_TRANSCRIBE_MODEL = "gpt-4o-mini-transcribe"
DEFAULT_GEMINI_TRANSCRIBE_MODEL = DEFAULT_GEMINI_MODEL
DEFAULT_OPENAI_VISION_MODEL = DEFAULT_OPENAI_MODEL
DEFAULT_GEMINI_VISION_MODEL = DEFAULT_GEMINI_MODEL

Confidence = Literal["high", "medium", "low"]
CONFIDENCES: tuple[Confidence, ...] = ("high", "medium", "low")


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was said in an audio. ``text`` is empty when there was no intelligible speech."""

    text: str = field(repr=False)
    provider: str
    model: str
    seconds: float | None = None  # the audio's duration when the provider reports it or its header tells


@dataclass(frozen=True, slots=True)
class ImageDescription:
    text: str = field(repr=False)
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class BillExtraction:
    """A Brazilian electricity bill ("conta de luz") as read from an image.

    Every field is None unless the model read it and it passed validation. ``missing`` names the
    fields of a bill that could not be read (empty when the image is not a bill at all).
    """

    is_electricity_bill: bool
    total_amount_brl: Decimal | None = field(repr=False)
    due_date: date | None = field(repr=False)
    consumption_kwh: int | None = field(repr=False)
    distributor: str | None
    confidence: Confidence
    missing: tuple[str, ...]
    provider: str
    model: str


BILL_VALUE_FIELDS = ("total_amount_brl", "due_date", "consumption_kwh", "distributor")


def bill_to_item(bill: BillExtraction) -> dict[str, Any]:
    """The extraction as a DynamoDB-safe map (amount as a decimal string, date ISO, absent = omitted)."""
    item: dict[str, Any] = {
        "is_electricity_bill": bill.is_electricity_bill,
        "confidence": bill.confidence,
        "provider": bill.provider,
        "model": bill.model,
    }
    if bill.total_amount_brl is not None:
        item["total_amount_brl"] = str(bill.total_amount_brl)
    if bill.due_date is not None:
        item["due_date"] = bill.due_date.isoformat()
    if bill.consumption_kwh is not None:
        item["consumption_kwh"] = bill.consumption_kwh
    if bill.distributor is not None:
        item["distributor"] = bill.distributor
    if bill.missing:
        item["missing"] = list(bill.missing)
    return item


def bill_from_item(item: dict[str, Any]) -> BillExtraction:
    """``bill_to_item``'s inverse: what a tool reads back from a message or the contact profile."""
    confidence = item.get("confidence")
    amount = item.get("total_amount_brl")
    due = item.get("due_date")
    kwh = item.get("consumption_kwh")
    return BillExtraction(
        is_electricity_bill=bool(item.get("is_electricity_bill", True)),
        total_amount_brl=Decimal(str(amount)) if amount is not None else None,
        due_date=date.fromisoformat(str(due)) if due else None,
        consumption_kwh=int(kwh) if kwh is not None else None,
        distributor=item.get("distributor"),
        confidence=confidence if confidence in CONFIDENCES else "low",
        missing=tuple(item.get("missing") or ()),
        provider=str(item.get("provider", "")),
        model=str(item.get("model", "")),
    )


# --- protocols ------------------------------------------------------------------------------


class Transcriber(Protocol):
    provider: str
    model: str

    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        """Raises LlmUnavailable (transient), LlmRejected, or MediaUnavailable(unsupported_type/too_large)."""
        ...


class Vision(Protocol):
    provider: str
    model: str

    def describe(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        """A short, factual description; same errors as ``Transcriber.transcribe``."""
        ...

    def extract_bill(self, blob: MediaBlob) -> BillExtraction:
        """The bill's key fields, validated; same errors as ``describe``."""
        ...

    # Whether ``describe_video`` works: Gemini reads video, OpenAI's chat models do not.
    accepts_video: bool

    def describe_video(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        """Like ``describe``; MediaUnavailable(unsupported_type) when ``accepts_video`` is False."""
        ...


# --- prompts (one wording for every provider) -------------------------------------------------

NO_SPEECH_MARKER = "[inaudível]"  # what the model answers for silence/noise; becomes an empty transcript

_LANGUAGE_NAMES = {"pt": "português do Brasil", "pt-br": "português do Brasil", "en": "inglês", "es": "espanhol"}


def language_name(language: str) -> str:
    return _LANGUAGE_NAMES.get(language.lower(), _LANGUAGE_NAMES.get(language.split("-", 1)[0].lower(), language))


def transcription_instruction(language: str) -> str:
    return (
        f"Transcreva literalmente a fala deste áudio, em {language_name(language)}. "
        "Não resuma, não traduza, não corrija e não comente: responda apenas com a transcrição. "
        f"Se não houver fala compreensível, responda exatamente {NO_SPEECH_MARKER}"
    )


def description_instruction(caption: str | None, language: str) -> str:
    text = (
        "Um cliente enviou esta imagem a uma empresa pelo WhatsApp. Descreva-a de forma objetiva, em até 3 frases curtas, "
        f"em {language_name(language)}. Transcreva textos e números legíveis que importem para o atendimento "
        "(preços, códigos, nomes de produtos, mensagens de erro). Não invente detalhes; o que estiver ilegível, diga que está ilegível."
    )
    if caption and caption.strip():
        text += f"\nLegenda enviada com a imagem: {caption.strip()}"
    return text


def video_instruction(caption: str | None, language: str) -> str:
    text = (
        "Um cliente enviou este vídeo a uma empresa pelo WhatsApp. Descreva objetivamente o que acontece nele, em até 3 frases "
        f"curtas, em {language_name(language)}, incluindo o que for dito ou escrito que importe para o atendimento. "
        "Não invente detalhes."
    )
    if caption and caption.strip():
        text += f"\nLegenda enviada com o vídeo: {caption.strip()}"
    return text


BILL_INSTRUCTION = (
    "Esta imagem pode ser uma conta de luz (fatura de energia elétrica) brasileira. Extraia: o valor total a pagar em reais, "
    "a data de vencimento (AAAA-MM-DD), o consumo do mês em kWh e o nome da distribuidora. "
    "Use null em qualquer campo ausente, ilegível ou duvidoso: nunca estime, calcule nem complete valores. "
    "Se a imagem não for uma conta de luz, responda is_electricity_bill=false e todos os campos null. "
    'confidence="high" apenas se todos os valores preenchidos estiverem nítidos.'
)

# JSON Schema for structured output (OpenAI strict mode: every property required, no extras, null
# spelled as a type). gemini_media derives its response_schema from this same dict.
BILL_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "is_electricity_bill": {"type": "boolean", "description": "true only for a Brazilian electricity bill"},
        "total_amount_brl": {"type": ["number", "null"], "description": "Total to pay in BRL, e.g. 187.43; null if unreadable"},
        "due_date": {"type": ["string", "null"], "description": "Due date as YYYY-MM-DD; null if unreadable"},
        "consumption_kwh": {"type": ["integer", "null"], "description": "Energy consumed in the billed month, kWh; null if unreadable"},
        "distributor": {"type": ["string", "null"], "description": "Distribution company, e.g. Enel SP, CEMIG, Light; null if unknown"},
        "confidence": {"type": "string", "enum": list(CONFIDENCES), "description": "How legible the filled values are"},
    },
    "required": ["is_electricity_bill", *BILL_VALUE_FIELDS, "confidence"],
    "additionalProperties": False,
}
BILL_SCHEMA_NAME = "electricity_bill"


# --- validating the model's bill JSON ----------------------------------------------------------

MAX_BILL_AMOUNT_BRL = Decimal("1000000")  # far above any bill a customer photographs; beyond is a misread
MAX_CONSUMPTION_KWH = 1_000_000
MAX_DISTRIBUTOR_CHARS = 80
# A due date outside [this year - 5, next year] is likelier a misread year than a bill worth serving.
BILL_YEARS_BACK = 5
BILL_YEARS_AHEAD = 1
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CENT = Decimal("0.01")


def parse_bill_json(raw: str, *, provider: str, model: str, today: date) -> BillExtraction:
    """Turn the model's JSON text into a validated BillExtraction.

    Unparsable JSON raises LlmUnavailable (a glitch worth one more try); a wrong or implausible
    field becomes None and drops the confidence to "low". A non-bill keeps no values at all.
    """
    try:
        data = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as exc:
        raise LlmUnavailable(f"{provider} returned unparsable bill JSON") from exc
    if not isinstance(data, dict):
        raise LlmUnavailable(f"{provider} returned bill JSON that is not an object")
    return validate_bill(data, provider=provider, model=model, today=today)


def validate_bill(data: dict[str, Any], *, provider: str, model: str, today: date) -> BillExtraction:
    is_bill = data.get("is_electricity_bill")
    stated = data.get("confidence")
    confidence: Confidence = stated if stated in CONFIDENCES else "low"
    if not isinstance(is_bill, bool):
        # If the model cannot even say whether this is a bill, none of its values can be trusted.
        _log_rejected(provider, ["is_electricity_bill"])
        return not_a_bill(provider=provider, model=model, confidence="low")
    if not is_bill:
        return not_a_bill(provider=provider, model=model, confidence=confidence)

    rejected: list[str] = []
    amount = _amount(data.get("total_amount_brl"), "total_amount_brl", rejected)
    due = _due_date(data.get("due_date"), today, rejected)
    kwh = _kwh(data.get("consumption_kwh"), rejected)
    distributor = _distributor(data.get("distributor"), rejected)
    if stated not in CONFIDENCES:
        rejected.append("confidence")
    if rejected:
        _log_rejected(provider, rejected)
        confidence = "low"
    values = {"total_amount_brl": amount, "due_date": due, "consumption_kwh": kwh, "distributor": distributor}
    return BillExtraction(
        is_electricity_bill=True,
        total_amount_brl=amount,
        due_date=due,
        consumption_kwh=kwh,
        distributor=distributor,
        confidence=confidence,
        missing=tuple(name for name in BILL_VALUE_FIELDS if values[name] is None),
        provider=provider,
        model=model,
    )


def not_a_bill(*, provider: str, model: str, confidence: Confidence = "low") -> BillExtraction:
    return BillExtraction(
        is_electricity_bill=False,
        total_amount_brl=None,
        due_date=None,
        consumption_kwh=None,
        distributor=None,
        confidence=confidence,
        missing=(),
        provider=provider,
        model=model,
    )


def _number(value: Any) -> Decimal | None:
    """A JSON number as Decimal (bools, strings and non-finite values are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        return None
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return number if number.is_finite() else None


def _amount(value: Any, name: str, rejected: list[str]) -> Decimal | None:
    if value is None:
        return None
    number = _number(value)
    # Reais have centavos, no finer: a third decimal place means the model misread the amount.
    if number is None or not Decimal(0) <= number <= MAX_BILL_AMOUNT_BRL or number != number.quantize(_CENT):
        rejected.append(name)
        return None
    return number.quantize(_CENT)


def _due_date(value: Any, today: date, rejected: list[str]) -> date | None:
    if value is None:
        return None
    parsed: date | None = None
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:  # 2025-02-30 and friends
            parsed = None
    if parsed is None or not today.year - BILL_YEARS_BACK <= parsed.year <= today.year + BILL_YEARS_AHEAD:
        rejected.append("due_date")
        return None
    return parsed


def _kwh(value: Any, rejected: list[str]) -> int | None:
    if value is None:
        return None
    number = _number(value)
    if number is None or number != number.to_integral_value() or not 0 <= number <= MAX_CONSUMPTION_KWH:
        rejected.append("consumption_kwh")
        return None
    return int(number)


def _distributor(value: Any, rejected: list[str]) -> str | None:
    if value is None:
        return None
    name = " ".join(value.split()) if isinstance(value, str) else ""
    if not name or len(name) > MAX_DISTRIBUTOR_CHARS:
        rejected.append("distributor")
        return None
    return name


def _log_rejected(provider: str, fields: list[str]) -> None:
    logger.warning("bill fields rejected", extra={"provider": provider, "fields": fields})  # names only, never values


# --- selection ----------------------------------------------------------------------------------


def resolve_provider(choice: str, keys: LlmKeys) -> str:
    """The tenant's choice, the same rule as ``select_chat_model``: ``auto`` = OpenAI if keyed, else
    Gemini if keyed, else offline; an explicit provider without its key also lands offline."""
    if choice == "auto":
        choice = "openai" if keys.openai_api_key else "gemini" if keys.gemini_api_key else "local"
    if choice == "openai" and keys.openai_api_key:
        return "openai"
    if choice == "gemini" and keys.gemini_api_key:
        return "gemini"
    return "local"


def _other_provider(provider: str, keys: LlmKeys) -> str | None:
    if provider == "openai" and keys.gemini_api_key:
        return "gemini"
    if provider == "gemini" and keys.openai_api_key:
        return "openai"
    return None  # the offline stand-ins are never a fallback: a fake transcript is worse than a retry


def _transcriber(provider: str, keys: LlmKeys, options: LlmOptions) -> Transcriber:
    if provider == "openai" and keys.openai_api_key:
        from atende.media.openai_media import OpenAITranscriber

        return OpenAITranscriber(keys.openai_api_key, DEFAULT_OPENAI_TRANSCRIBE_MODEL, options)
    if provider == "gemini" and keys.gemini_api_key:
        from atende.media.gemini_media import GeminiTranscriber

        return GeminiTranscriber(keys.gemini_api_key, DEFAULT_GEMINI_TRANSCRIBE_MODEL, options)
    from atende.media.local_media import LocalTranscriber

    return LocalTranscriber()


def _vision(provider: str, keys: LlmKeys, options: LlmOptions) -> Vision:
    if provider == "openai" and keys.openai_api_key:
        from atende.media.openai_media import OpenAIVision

        return OpenAIVision(keys.openai_api_key, DEFAULT_OPENAI_VISION_MODEL, options)
    if provider == "gemini" and keys.gemini_api_key:
        from atende.media.gemini_media import GeminiVision

        return GeminiVision(keys.gemini_api_key, DEFAULT_GEMINI_VISION_MODEL, options)
    from atende.media.local_media import LocalVision

    return LocalVision()


def select_transcriber(tenant_provider_choice: str, keys: LlmKeys, options: LlmOptions, *, fallback: bool) -> Transcriber:
    """The tenant's provider; with ``fallback``, the other keyed provider takes over when it is unavailable."""
    provider = resolve_provider(tenant_provider_choice, keys)
    primary = _transcriber(provider, keys, options)
    other = _other_provider(provider, keys) if fallback else None
    if other is None:
        return primary
    return FallbackTranscriber(primary, lambda: _transcriber(other, keys, options))


def select_vision(tenant_provider_choice: str, keys: LlmKeys, options: LlmOptions, *, fallback: bool) -> Vision:
    """Same rule as ``select_transcriber``."""
    provider = resolve_provider(tenant_provider_choice, keys)
    primary = _vision(provider, keys, options)
    other = _other_provider(provider, keys) if fallback else None
    if other is None:
        return primary
    return FallbackVision(primary, lambda: _vision(other, keys, options))


def _log_fallback(task: str, primary: str, exc: LlmUnavailable) -> None:
    logger.warning("media provider unavailable; trying the other", extra={"task": task, "provider": primary, "error": str(exc)})


class FallbackTranscriber:
    """Tries the primary; on LlmUnavailable (transient) only, the secondary. LlmRejected and
    MediaUnavailable propagate: the other provider would not change their outcome."""

    def __init__(self, primary: Transcriber, secondary: Callable[[], Transcriber]) -> None:
        self.provider = primary.provider
        self.model = primary.model
        self._primary = primary
        self._secondary = cache(secondary)  # built on first use: its SDK import is paid only when the primary fails

    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        try:
            return self._primary.transcribe(blob, language=language)
        except LlmUnavailable as exc:
            _log_fallback("transcribe", self.provider, exc)
            return self._secondary().transcribe(blob, language=language)


class FallbackVision:
    """``FallbackTranscriber`` for the vision tasks (video falls back only to a model that reads video)."""

    def __init__(self, primary: Vision, secondary: Callable[[], Vision]) -> None:
        self.provider = primary.provider
        self.model = primary.model
        self.accepts_video = primary.accepts_video
        self._primary = primary
        self._secondary = cache(secondary)  # built on first use: its SDK import is paid only when the primary fails

    def describe(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        try:
            return self._primary.describe(blob, caption=caption, language=language)
        except LlmUnavailable as exc:
            _log_fallback("describe", self.provider, exc)
            return self._secondary().describe(blob, caption=caption, language=language)

    def extract_bill(self, blob: MediaBlob) -> BillExtraction:
        try:
            return self._primary.extract_bill(blob)
        except LlmUnavailable as exc:
            _log_fallback("extract_bill", self.provider, exc)
            return self._secondary().extract_bill(blob)

    def describe_video(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        try:
            return self._primary.describe_video(blob, caption=caption, language=language)
        except LlmUnavailable as exc:
            secondary = self._secondary()
            if not secondary.accepts_video:
                raise
            _log_fallback("describe_video", self.provider, exc)
            return secondary.describe_video(blob, caption=caption, language=language)
