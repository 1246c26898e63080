"""A media message → what the assistant reads, or the one polite notice the customer gets instead.

Download (per provider: ``media.sources``) → S3 (``media.store``) → understanding (transcribe,
describe, read a bill, extract a document's text) → a user turn in the same bracketed,
Portuguese style as ``domain.content``. Everything learned is a ``MediaReading``, which the
reply service checkpoints on the message's claim: a retry never downloads, stores or transcribes
the same message again, and never echoes a transcript twice.

Failure split (issue 4): a file that cannot be had or read (expired, 404, too large, a type we
do not take, an audio over the tenant's duration cap, a document without text) is permanent —
one notice and a metric. Transient errors (provider or S3 unavailable, model timeouts) propagate
so SQS retries the record and finally dead-letters it.

Logs name the kind, MIME type, size and outcome; never a file name, a transcript or a URL.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from atende.domain.conversation import Turn
from atende.domain.messages import MessageType, RoutedMessage
from atende.domain.tenants import Tenant
from atende.errors import LlmRejected, MediaUnavailable, ProviderRejected
from atende.llm import ChatModel
from atende.media import MediaBlob
from atende.media.sources import MediaSource
from atende.media.store import MediaStore, StoredMedia
from atende.media.understanding import BillExtraction, Transcriber, Vision, bill_to_item
from atende.observability import count, logger, milliseconds

MEDIA_TYPES: dict[MessageType, str] = {
    MessageType.AUDIO: "audio",
    MessageType.IMAGE: "image",
    MessageType.DOCUMENT: "document",
    MessageType.VIDEO: "video",
}

ECHO_MAX_CHARS = 1_000  # a longer transcript is echoed cut, with "…"
UNDERSTOOD_MAX_CHARS = 4_000  # what the inbound item keeps of the user turn
# A document's text up to this size goes to the assistant whole; beyond, a summary does.
DOCUMENT_VERBATIM_CHARS = 1_500
SUMMARY_MAX_CHARS = 1_500

SUMMARY_PROMPT = (
    "Você resume documentos que clientes enviam a uma empresa pelo WhatsApp. Resuma o documento do usuário em português do Brasil, "
    "em até 8 frases objetivas. Mantenha exatamente os números, datas, valores, códigos e nomes importantes; não invente nada; "
    "não responda ao cliente, apenas resuma."
)

# reason → (bot text key, metric)
_NOTICES: dict[str, tuple[str, str]] = {
    "expired": ("media_expired", "MediaExpired"),
    "not_found": ("media_expired", "MediaNotFound"),
    "checksum_mismatch": ("media_expired", "MediaChecksumMismatch"),
    "too_large": ("media_too_large", "MediaTooLarge"),
    "unsupported_type": ("media_unsupported", "MediaUnsupportedType"),
    "not_downloadable": ("media_not_downloadable", "MediaNotDownloadable"),
    "too_long": ("audio_too_long", "MediaTooLong"),
    "inaudible": ("audio_inaudible", "MediaInaudible"),
    "no_text": ("document_without_text", "MediaWithoutText"),
}

_ACCEPTED: dict[str, Callable[[str], bool]] = {
    "audio": lambda mime: mime.startswith("audio/") or mime == "application/ogg",
    "image": lambda mime: mime.startswith("image/"),
    "video": lambda mime: mime.startswith("video/"),
    "document": lambda mime: True,  # any file is stored; reading it is decided after the download
}

_BILL_HINT = re.compile(
    r"conta de (luz|energia)|fatura|energia eletrica|\bkwh\b|distribuidora|"
    r"\b(enel|cemig|copel|light|celesc|coelba|cpfl|equatorial|neoenergia|energisa|elektro|edp|rge|cosern|celpe)\b"
)
_UNOPENED = {
    "audio": "áudio que não consegui abrir",
    "image": "imagem que não consegui abrir",
    "document": "documento que não consegui abrir",
    "video": "vídeo que não consegui abrir",
}
_CONFIDENCE_PT = {"high": "alta", "medium": "média", "low": "baixa"}
_FIELD_PT = {
    "total_amount_brl": "valor total",
    "due_date": "vencimento",
    "consumption_kwh": "consumo",
    "distributor": "distribuidora",
}


@dataclass(frozen=True, slots=True)
class MediaReading:
    """What one media message amounted to (customer content: keep out of logs and reprs)."""

    # The user turn. None with a ``notice``: the notice is the whole answer. Both set: the file
    # could not be read but its caption can, so the notice leads and the assistant answers.
    turn: str | None = field(repr=False)
    result: str  # transcribed | described | read | acknowledged, or the refusal reason
    notice: str | None = None  # bot text key
    notice_params: dict[str, str] = field(default_factory=dict)
    echo: str | None = field(default=None, repr=False)  # transcript to echo, when the tenant wants it
    stored: StoredMedia | None = None
    seconds: int | None = None
    pages: int | None = None
    bill: dict[str, Any] | None = field(default=None, repr=False)  # BillExtraction as an item

    def to_item(self) -> dict[str, Any]:
        """The claim checkpoint (DynamoDB-safe: no floats, no empty strings)."""
        item: dict[str, Any] = {"result": self.result}
        optional: dict[str, Any] = {
            "turn": self.turn,
            "notice": self.notice,
            "notice_params": self.notice_params or None,
            "echo": self.echo,
            "seconds": self.seconds,
            "pages": self.pages,
            "bill": self.bill,
        }
        if self.stored is not None:
            optional["stored"] = {
                "key": self.stored.key,
                "size": self.stored.size,
                "sha256": self.stored.sha256,
                "mime_type": self.stored.mime_type,
            }
        item.update({k: v for k, v in optional.items() if v is not None and v != ""})
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MediaReading:
        stored = item.get("stored")
        return cls(
            turn=item.get("turn"),
            result=str(item["result"]),
            notice=item.get("notice"),
            notice_params={str(k): str(v) for k, v in (item.get("notice_params") or {}).items()},
            echo=item.get("echo"),
            stored=StoredMedia(
                key=str(stored["key"]), size=int(stored["size"]), sha256=str(stored["sha256"]), mime_type=str(stored["mime_type"])
            )
            if stored
            else None,
            seconds=int(item["seconds"]) if item.get("seconds") is not None else None,
            pages=int(item["pages"]) if item.get("pages") is not None else None,
            bill=dict(item["bill"]) if item.get("bill") else None,
        )

    def facts(self) -> dict[str, Any]:
        """Attributes for the inbound message item: where the file is and what it said."""
        out: dict[str, Any] = {"media_result": self.result}
        if self.stored is not None:
            out.update(
                media_key=self.stored.key,
                media_size=self.stored.size,
                media_sha256=self.stored.sha256,
                media_mime_type=self.stored.mime_type,
            )
        if self.seconds is not None:
            out["media_seconds"] = self.seconds
        if self.pages is not None:
            out["media_pages"] = self.pages
        if self.turn:
            out["understood"] = self.turn[:UNDERSTOOD_MAX_CHARS]
        if self.bill is not None:
            out["bill"] = self.bill
        return out


class MediaReader:
    def __init__(
        self,
        *,
        store: MediaStore,
        transcriber_for: Callable[[Tenant], Transcriber],
        vision_for: Callable[[Tenant], Vision],
    ) -> None:
        self._store = store
        self._transcriber_for = transcriber_for
        self._vision_for = vision_for

    def read(self, message: RoutedMessage, tenant: Tenant, source: MediaSource | None, chat: Callable[[], ChatModel]) -> MediaReading:
        """Raises only transient errors (and LlmError): every permanent outcome is a reading.

        ``chat`` gives the tenant's chat model (built on demand: only long documents need it).
        """
        kind = MEDIA_TYPES[message.type]
        started = time.perf_counter()
        stored: StoredMedia | None = None
        try:
            if source is None or message.extra.get("media_unavailable"):
                raise MediaUnavailable(f"{message.provider.value} relays no downloadable media", reason="not_downloadable")
            try:
                blob = source.fetch(message, kind=kind, max_bytes=tenant.media.limits.max_bytes(kind), accepted=_ACCEPTED[kind])
            except ProviderRejected as exc:
                # A refusal that is neither about our credentials nor transient (e.g. a Graph 400
                # for this one media id): retrying cannot fetch it either.
                raise MediaUnavailable(f"the provider refused the {kind} download (code {exc.code})", reason="not_found") from exc
            stored = self._store.put(
                tenant_id=message.tenant_id,
                contact_id=message.contact.contact_id,
                message_id=message.provider_message_id,
                blob=blob,
                retention_days=tenant.retention_days,
            )
            count("MediaStored")
            count("MediaBytes", blob.size)
            reading = self._understand(kind, message, tenant, blob, stored, chat)
        except MediaUnavailable as exc:
            reading = self._refused(exc.reason, kind, tenant, stored, caption=_caption(message))
        except LlmRejected:
            # The model refused this file (format, content policy): asking again will not help.
            count("MediaModelRejected")
            reading = self._refused("unsupported_type", kind, tenant, stored, caption=_caption(message))
        milliseconds("MediaLatencyMs", (time.perf_counter() - started) * 1000)
        logger.info(
            "media read",
            extra={
                "kind": kind,
                "result": reading.result,
                "mime_type": stored.mime_type if stored else (message.media.mime_type if message.media else None),
                "bytes": stored.size if stored else None,
            },
        )
        return reading

    # --- per kind ----------------------------------------------------------------------------

    def _understand(
        self, kind: str, message: RoutedMessage, tenant: Tenant, blob: MediaBlob, stored: StoredMedia, chat: Callable[[], ChatModel]
    ) -> MediaReading:
        caption = _caption(message)
        if kind == "audio":
            return self._audio(message, tenant, blob, stored)
        if kind == "image":
            return self._image(tenant, blob, stored, caption)
        if kind == "document":
            return self._document(message, tenant, blob, stored, caption, chat)
        return self._video(tenant, blob, stored, caption)

    def _audio(self, message: RoutedMessage, tenant: Tenant, blob: MediaBlob, stored: StoredMedia) -> MediaReading:
        from atende.media.local_media import audio_duration_seconds  # mutagen, imported on first probe

        limit = tenant.media.limits.audio_seconds
        seconds = audio_duration_seconds(blob)
        if seconds is not None and seconds > limit:
            # Refused before any model call: the cap exists to bound the tenant's transcription bill.
            return self._refused("too_long", "audio", tenant, stored, seconds=round(seconds))
        transcript = self._transcriber_for(tenant).transcribe(blob, language=tenant.language.split("-", 1)[0].lower())
        heard = " ".join(transcript.text.split())
        duration = transcript.seconds if transcript.seconds is not None else seconds
        if not heard:
            return self._refused("inaudible", "audio", tenant, stored, seconds=round(duration) if duration is not None else None)
        count("MediaTranscribed")
        if duration is not None:
            count("MediaAudioSeconds", round(duration))
        voice = bool(message.media and message.media.voice)
        label = "[mensagem de voz transcrita]" if voice else "[áudio transcrito]"
        echo = _clip(heard, ECHO_MAX_CHARS) if tenant.media.transcript_echo else None
        return MediaReading(
            turn=f"{label} {heard}",
            result="transcribed",
            echo=echo,
            stored=stored,
            seconds=round(duration) if duration is not None else None,
        )

    def _image(self, tenant: Tenant, blob: MediaBlob, stored: StoredMedia, caption: str | None) -> MediaReading:
        vision = self._vision_for(tenant)
        description = vision.describe(blob, caption=caption, language=tenant.language)
        count("MediaDescribed")
        lines = [f"[imagem] {' '.join(description.text.split())}"]
        if caption and caption.strip():
            lines.append(f"Legenda do cliente: {caption.strip()}")
        bill_item = None
        mode = tenant.media.bill_extraction
        if mode == "always" or (mode == "auto" and _mentions_bill(caption, description.text)):
            bill = vision.extract_bill(blob)
            count("MediaBillRead" if bill.is_electricity_bill else "MediaBillNotABill")
            if bill.is_electricity_bill:
                bill_item = bill_to_item(bill)
                lines.append(bill_line(bill))
        return MediaReading(turn="\n".join(lines), result="described", stored=stored, bill=bill_item)

    def _document(
        self,
        message: RoutedMessage,
        tenant: Tenant,
        blob: MediaBlob,
        stored: StoredMedia,
        caption: str | None,
        chat: Callable[[], ChatModel],
    ) -> MediaReading:
        from atende.media.documents import extract_text

        limits = tenant.media.limits
        document = extract_text(blob, max_pages=limits.pdf_pages, max_chars=limits.document_chars)  # MediaUnavailable: unreadable
        content = document.text.strip()
        if not content:
            return self._refused("no_text", "document", tenant, stored, pages=document.total_pages, caption=caption)
        count("MediaDocumentRead")
        name = (message.media.filename if message.media else None) or "sem nome"
        pages = f"{document.total_pages} página" + ("s" if document.total_pages != 1 else "")
        if document.truncated:
            pages += f", lidas {document.pages_read}" if document.pages_read < document.total_pages else ", texto cortado"
        body = f"Conteúdo: {content}" if len(content) <= DOCUMENT_VERBATIM_CHARS else f"Resumo: {self._summarise(content, chat())}"
        lines = [f"[documento “{name}”, {pages}] {body}"]
        if caption and caption.strip() and caption != name:
            lines.append(f"Legenda do cliente: {caption.strip()}")
        return MediaReading(turn="\n".join(lines), result="read", stored=stored, pages=document.total_pages)

    def _video(self, tenant: Tenant, blob: MediaBlob, stored: StoredMedia, caption: str | None) -> MediaReading:
        vision = self._vision_for(tenant)
        lines: list[str] = []
        if vision.accepts_video:
            try:
                description = vision.describe_video(blob, caption=caption, language=tenant.language)
                lines.append(f"[vídeo] {' '.join(description.text.split())}")
                count("MediaDescribed")
            except MediaUnavailable:
                lines = []  # a format or size the model does not take: acknowledged like any video
        result = "described" if lines else "acknowledged"
        if not lines:
            count("MediaVideoAcknowledged")
            lines.append("[vídeo recebido; o conteúdo não foi analisado]")
        if caption and caption.strip():
            lines.append(f"Legenda do cliente: {caption.strip()}")
        return MediaReading(turn="\n".join(lines), result=result, stored=stored)

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _summarise(content: str, model: ChatModel) -> str:
        if model.provider == "local":
            # The offline model echoes rather than summarises: keep the document's opening instead.
            return _clip(content, SUMMARY_MAX_CHARS)
        completion = model.complete(SUMMARY_PROMPT, [Turn("user", content, int(time.time()))])
        count("LlmInputTokens", completion.input_tokens)
        count("LlmOutputTokens", completion.output_tokens)
        return _clip(" ".join(completion.text.split()), SUMMARY_MAX_CHARS)

    @staticmethod
    def _refused(
        reason: str,
        kind: str,
        tenant: Tenant,
        stored: StoredMedia | None,
        *,
        seconds: int | None = None,
        pages: int | None = None,
        caption: str | None = None,
    ) -> MediaReading:
        """The notice for a file we could not have or read. A caption is still the customer's
        question: then the assistant answers it too, after the notice (``turn`` is set)."""
        key, metric = _NOTICES.get(reason, ("media_expired", "MediaUnavailable"))
        count("MediaUnavailable")
        count(metric)
        limits = tenant.media.limits
        params: dict[str, str] = {}
        if reason == "too_large":
            params["limit"] = _megabytes(limits.max_bytes(kind))
        elif reason == "too_long":
            params["minutes"] = _minutes(limits.audio_seconds)
        turn = f"[{_UNOPENED[kind]}] Legenda do cliente: {caption.strip()}" if caption and caption.strip() else None
        return MediaReading(turn=turn, result=reason, notice=key, notice_params=params, stored=stored, seconds=seconds, pages=pages)


def _caption(message: RoutedMessage) -> str | None:
    return (message.media.caption if message.media else None) or message.text


def _mentions_bill(*texts: str | None) -> bool:
    folded = " ".join(_fold(t) for t in texts if t)
    return bool(_BILL_HINT.search(folded))


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, size // 1024)} KB"
    return f"{size / (1024 * 1024):.0f} MB"


def _minutes(seconds: int) -> str:
    return f"{seconds / 60:.0f}" if seconds % 60 == 0 else f"{seconds / 60:.1f}".replace(".", ",")


# --- electricity bills ------------------------------------------------------------------------


def bill_line(bill: BillExtraction) -> str:
    """The bill as the assistant reads it: only what was read, how sure, and what was not."""
    parts = []
    if bill.distributor:
        parts.append(f"distribuidora: {bill.distributor}")
    if bill.total_amount_brl is not None:
        parts.append(f"valor total: {_brl(bill.total_amount_brl)}")
    if bill.due_date is not None:
        parts.append(f"vencimento: {bill.due_date.strftime('%d/%m/%Y')}")
    if bill.consumption_kwh is not None:
        parts.append(f"consumo: {bill.consumption_kwh} kWh")
    if bill.missing:
        parts.append("não legível: " + ", ".join(_FIELD_PT[name] for name in bill.missing))
    line = f"[conta de luz lida automaticamente; confiança {_CONFIDENCE_PT[bill.confidence]}] " + "; ".join(parts)
    if bill.confidence != "high":
        line += ". Confirme os valores com o cliente antes de usá-los."
    return line


def _brl(amount: Decimal) -> str:
    whole, cents = f"{amount:,.2f}".split(".")
    return f"R$ {whole.replace(',', '.')},{cents}"
