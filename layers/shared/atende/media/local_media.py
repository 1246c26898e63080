"""Offline, deterministic stand-ins for media understanding, and header probes.

The stand-ins never call a network and never pretend: every text they return is labelled offline
and says only what the file's headers tell (an audio's duration, an image's size in pixels).
The probes are also useful with real providers: ``audio_duration_seconds`` lets the caller refuse
a voice note over the tenant's length cap before paying for its transcription. Image probes are
stdlib only; audio durations are read by mutagen (pure Python, imported when an audio is probed).

To exercise the bill path offline (``make demo``, tests), ``LocalVision.extract_bill`` reads bill
fields that a PNG carries in a ``tEXt`` chunk named ``BILL_MARKER_KEYWORD`` — through the same
validation as a model's answer. Any other image is "not a bill", with low confidence.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from datetime import date
from typing import Any, BinaryIO

from atende.errors import LlmUnavailable, MediaUnavailable
from atende.media import MediaBlob
from atende.media.understanding import BillExtraction, ImageDescription, Transcript, not_a_bill, parse_bill_json

OFFLINE_MODEL = "atende-offline-1"
BILL_MARKER_KEYWORD = "atende-conta-de-luz"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_OGG_CAPTURE = b"OggS"
_MAX_PNG_CHUNKS = 1_000


# --- probes ---------------------------------------------------------------------------------


def audio_duration_seconds(blob: MediaBlob) -> float | None:
    """Duration from the file's own structure, read by mutagen: Ogg Opus/Vorbis (WhatsApp voice
    notes), WAV, MP4/M4A, MP3 (Xing/VBRI frame count, else the constant bitrate) and FLAC; AMR-NB,
    which mutagen does not read, by its frame count. None when unknown or unreadable."""
    data = blob.data
    if data[:6] == _AMR_MAGIC:
        return _amr_seconds(data)
    reader = _mutagen_reader(data[:_PROBE_HEAD])
    return _mutagen_seconds(reader, data) if reader is not None else None


_PROBE_HEAD = 128  # what mutagen itself looks at to guess a format
_MutagenReader = Callable[[BinaryIO], Any]
# What mutagen's parsers let escape besides MutagenError on a malformed file (found by mutating the
# samples): a customer's broken file must read as "duration unknown", not fail the message. Deeply
# nested MP4 boxes exhaust the recursion limit.
_MALFORMED = (EOFError, IndexError, KeyError, OverflowError, RecursionError, ValueError, ZeroDivisionError, struct.error)


def _mutagen_reader(head: bytes) -> _MutagenReader | None:
    """The mutagen file type for the container these first bytes announce, None for anything else.

    Chosen by magic rather than ``mutagen.File`` so that only that one format's module is imported,
    and no file name is needed (ADTS AAC, which mutagen recognises only by name, stays unknown)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        from mutagen.wave import WAVE

        return WAVE
    if head[:4] == _OGG_CAPTURE and b"OpusHead" in head:
        from mutagen.oggopus import OggOpus

        return OggOpus
    if head[:4] == _OGG_CAPTURE and b"\x01vorbis" in head:
        from mutagen.oggvorbis import OggVorbis

        return OggVorbis
    if head[4:8] == b"ftyp":
        from mutagen.mp4 import MP4

        return MP4
    if head[:4] == b"fLaC":
        from mutagen.flac import FLAC

        return FLAC
    # An ID3v2 tag, or an MPEG audio frame sync with a layer (layer 00 is ADTS AAC's sync word).
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        from mutagen.mp3 import MP3

        return MP3
    return None


def _mutagen_seconds(reader: _MutagenReader, data: bytes) -> float | None:
    from mutagen import MutagenError

    try:
        # BytesIO over bytes shares the buffer until written to: no copy of the file is made.
        length = reader(io.BytesIO(data)).info.length
    except (MutagenError, *_MALFORMED):
        return None
    # mutagen reports 0 when a header it needs is missing (no data chunk, a zero timescale).
    return float(length) if isinstance(length, int | float) and 0 < length < math.inf else None


_AMR_MAGIC = b"#!AMR\n"
# AMR-NB speech bytes per 20 ms frame by frame type (3GPP TS 26.101); 15 = no data; others invalid.
_AMR_FRAME_BYTES = {0: 12, 1: 13, 2: 15, 3: 17, 4: 19, 5: 20, 6: 26, 7: 31, 8: 5, 15: 0}


def _amr_seconds(data: bytes) -> float | None:
    offset, frames = len(_AMR_MAGIC), 0
    while offset < len(data):
        size = _AMR_FRAME_BYTES.get((data[offset] >> 3) & 0x0F)
        if size is None:
            return None
        offset += 1 + size
        frames += 1
    return frames * 0.02


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
