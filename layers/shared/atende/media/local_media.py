"""Offline, deterministic stand-ins for media understanding, and header probes (stdlib only).

The stand-ins never call a network and never pretend: every text they return is labelled offline
and says only what the file's headers tell (an audio's duration, an image's size in pixels).
The probes are also useful with real providers: ``audio_duration_seconds`` lets the caller refuse
a voice note over the tenant's length cap before paying for its transcription.

To exercise the bill path offline (``make demo``, tests), ``LocalVision.extract_bill`` reads bill
fields that a PNG carries in a ``tEXt`` chunk named ``BILL_MARKER_KEYWORD`` — through the same
validation as a model's answer. Any other image is "not a bill", with low confidence.
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Callable
from datetime import date

from atende.errors import LlmUnavailable, MediaUnavailable
from atende.media import MediaBlob
from atende.media.understanding import BillExtraction, ImageDescription, Transcript, not_a_bill, parse_bill_json

OFFLINE_MODEL = "atende-offline-1"
BILL_MARKER_KEYWORD = "atende-conta-de-luz"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OGG_CAPTURE = b"OggS"
_OGG_MAX_PAGE = 65_307  # 27-byte header + 255 lacing values + 255 × 255 bytes of body
_OPUS_GRANULE_RATE = 48_000  # Opus granule positions always count 48 kHz samples (RFC 7845 §4)
_MAX_PNG_CHUNKS = 1_000


# --- probes ---------------------------------------------------------------------------------


def audio_duration_seconds(blob: MediaBlob) -> float | None:
    """Duration from the container's headers: WAV (PCM) and Ogg Opus/Vorbis; None when unknown."""
    data = blob.data
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav_seconds(data)
    if data[:4] == _OGG_CAPTURE:
        return _ogg_seconds(data)
    return None


def _wav_seconds(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data)) as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
    except (wave.Error, EOFError, struct.error, ValueError):
        return None
    return frames / rate if rate > 0 else None


def _ogg_page(data: bytes, offset: int) -> tuple[int, int, bytes] | None:
    """(granule position, serial number, first packet bytes) of the page at ``offset``."""
    if data[offset : offset + 4] != _OGG_CAPTURE or len(data) < offset + 27 or data[offset + 4] != 0:
        return None
    granule, serial = struct.unpack_from("<qI", data, offset + 6)
    segments = data[offset + 26]
    lacing = data[offset + 27 : offset + 27 + segments]
    if len(lacing) != segments:
        return None
    start = offset + 27 + segments
    body = data[start : start + sum(lacing)]
    if len(body) != sum(lacing):  # a page cut short: its granule position overstates what is there
        return None
    return granule, serial, body


def _ogg_seconds(data: bytes) -> float | None:
    first = _ogg_page(data, 0)
    if first is None:
        return None
    _, serial, head = first
    if head[:8] == b"OpusHead" and len(head) >= 19:
        rate, pre_skip = _OPUS_GRANULE_RATE, struct.unpack_from("<H", head, 10)[0]
    elif head[:7] == b"\x01vorbis" and len(head) >= 16:
        rate, pre_skip = struct.unpack_from("<I", head, 12)[0], 0
    else:
        return None
    # The last page of the stream holds the total sample count; "OggS" may also occur inside audio
    # data, so a candidate counts only if its header parses and belongs to the same stream.
    end = len(data)
    floor = max(0, len(data) - _OGG_MAX_PAGE)
    while (offset := data.rfind(_OGG_CAPTURE, floor, end)) > 0:
        page = _ogg_page(data, offset)
        if page is not None and page[1] == serial and page[0] >= 0:
            samples = page[0] - pre_skip
            return samples / rate if samples >= 0 and rate > 0 else None
        end = offset
    return None


def image_dimensions(blob: MediaBlob) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's SOF marker; None for anything else."""
    data = blob.data
    if data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack_from(">II", data, 16)
        return width, height
    if data[:2] == b"\xff\xd8":
        return _jpeg_dimensions(data)
    return None


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4 = DHT, C8 = JPG, CC = DAC
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan before any frame header
            return None
        (length,) = struct.unpack_from(">H", data, offset + 2)
        if marker in _JPEG_SOF and offset + 9 <= len(data):
            height, width = struct.unpack_from(">HH", data, offset + 5)
            return width, height
        if length < 2:
            return None
        offset += 2 + length
    return None


def png_text_chunks(data: bytes) -> dict[str, str]:
    """The PNG's ``tEXt`` chunks (keyword → Latin-1 text); empty for anything that is not a PNG."""
    if data[:8] != PNG_SIGNATURE:
        return {}
    texts: dict[str, str] = {}
    offset = 8
    for _ in range(_MAX_PNG_CHUNKS):
        if offset + 8 > len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        if len(body) != length or kind == b"IEND":
            break
        if kind == b"tEXt" and b"\x00" in body:
            keyword, _, text = body.partition(b"\x00")
            texts[keyword.decode("latin-1")] = text.decode("latin-1")
        offset += 12 + length  # length, type, data, CRC
    return texts


def _size_label(size: int) -> str:
    return f"{max(1, (size + 1023) // 1024)} KB"


# --- stand-ins ---------------------------------------------------------------------------------


class LocalTranscriber:
    provider = "local"
    model = OFFLINE_MODEL

    def transcribe(self, blob: MediaBlob, *, language: str = "pt") -> Transcript:
        if not blob.base_mime.startswith("audio/"):
            raise MediaUnavailable(f"not audio: {blob.base_mime}", reason="unsupported_type")
        seconds = audio_duration_seconds(blob)
        length = f"{max(1, int(seconds + 0.5))} s" if seconds is not None else _size_label(blob.size)
        return Transcript(text=f"[transcrição offline] áudio de {length}", provider=self.provider, model=self.model, seconds=seconds)


class LocalVision:
    provider = "local"
    model = OFFLINE_MODEL

    def __init__(self, *, today: Callable[[], date] = date.today) -> None:
        self._today = today

    def describe(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        _require_image(blob)
        kind = blob.base_mime.removeprefix("image/").upper()
        dimensions = image_dimensions(blob)
        size = f"{dimensions[0]}×{dimensions[1]} pixels" if dimensions else _size_label(blob.size)
        return ImageDescription(text=f"[descrição offline] imagem {kind} de {size}", provider=self.provider, model=self.model)

    accepts_video = False  # the stand-in plays a model without video input

    def describe_video(self, blob: MediaBlob, *, caption: str | None = None, language: str = "pt-BR") -> ImageDescription:
        raise MediaUnavailable("the offline stand-in does not read video", reason="unsupported_type")

    def extract_bill(self, blob: MediaBlob) -> BillExtraction:
        _require_image(blob)
        marked = png_text_chunks(blob.data).get(BILL_MARKER_KEYWORD)
        if marked is None:
            return not_a_bill(provider=self.provider, model=self.model)
        try:
            return parse_bill_json(marked, provider=self.provider, model=self.model, today=self._today())
        except LlmUnavailable:
            return not_a_bill(provider=self.provider, model=self.model)


def _require_image(blob: MediaBlob) -> None:
    if not blob.base_mime.startswith("image/"):
        raise MediaUnavailable(f"not an image: {blob.base_mime}", reason="unsupported_type")
