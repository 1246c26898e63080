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
    """Duration from the file's own structure: WAV (PCM), Ogg Opus/Vorbis (WhatsApp voice notes),
    MP4/M4A (``mvhd``), AMR-NB (frame count) and MP3 (Xing/Info frame count, else the constant
    bitrate); None when unknown."""
    data = blob.data
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav_seconds(data)
    if data[:4] == _OGG_CAPTURE:
        return _ogg_seconds(data)
    if data[4:8] == b"ftyp":
        return _mp4_seconds(data)
    if data[:6] == _AMR_MAGIC:
        return _amr_seconds(data)
    return _mp3_seconds(data)


def _mp4_seconds(data: bytes) -> float | None:
    """The movie header's duration / timescale (ISO/IEC 14496-12 §8.2.2), found through ``moov``."""
    moov = _mp4_box(data, 0, len(data), b"moov")
    mvhd = _mp4_box(data, moov[0], moov[1], b"mvhd") if moov else None
    if mvhd is None:
        return None
    start, end = mvhd
    version = data[start] if start < end else None
    if version == 0 and end - start >= 20:
        timescale, duration = struct.unpack_from(">II", data, start + 12)
    elif version == 1 and end - start >= 32:
        timescale, duration = struct.unpack_from(">IQ", data, start + 20)
    else:
        return None
    return duration / timescale if timescale else None


def _mp4_box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, payload end) of the first ``kind`` box among the boxes in [start, end)."""
    offset = start
    while offset + 8 <= end:
        size, box = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1 and offset + 16 <= end:  # 64-bit size follows the type
            size, header = struct.unpack_from(">Q", data, offset + 8)[0], 16
        elif size == 0:  # runs to the end of its parent
            size = end - offset
        if size < header or offset + size > end:
            return None
        if box == kind:
            return offset + header, offset + size
        offset += size
    return None


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


# MPEG audio Layer III (ISO/IEC 11172-3, 13818-3): kbit/s by index for MPEG-1 and for MPEG-2/2.5.
_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}


def _mp3_seconds(data: bytes) -> float | None:
    offset = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # ID3v2 tag: a syncsafe 28-bit size
        offset = 10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F))
    if len(data) < offset + 4 or data[offset] != 0xFF or data[offset + 1] & 0xE0 != 0xE0:
        return None
    version, layer = (data[offset + 1] >> 3) & 0x03, (data[offset + 1] >> 1) & 0x03
    bitrate_index, rate_index = data[offset + 2] >> 4, (data[offset + 2] >> 2) & 0x03
    if version == 1 or layer != 1 or not 0 < bitrate_index < 15 or rate_index == 3:  # Layer III only
        return None
    rate = _MP3_RATES[version][rate_index]
    mono = data[offset + 3] >> 6 == 3
    side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    tag = offset + 4 + side_info
    if data[tag : tag + 4] in (b"Xing", b"Info") and len(data) >= tag + 12 and data[tag + 7] & 0x01:
        frames = struct.unpack_from(">I", data, tag + 8)[0]
        return frames * (1152 if version == 3 else 576) / rate
    bitrate = _MP3_BITRATES[3 if version == 3 else 2][bitrate_index] * 1000
    return (len(data) - offset) * 8 / bitrate


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
