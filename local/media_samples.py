"""Media made in code (tests, the demo, the bench): no binary fixtures, every byte explained here.

WAV through the stdlib ``wave`` module, PNG and Ogg Opus written chunk by chunk (zlib/struct, with
their real checksums), PDFs through fpdf2 (a dev-only dependency). Pillow is not used.
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave
import zlib

from atende.media import MediaBlob
from atende.media.local_media import BILL_MARKER_KEYWORD

# --- audio -----------------------------------------------------------------------------------


def wav_tone(*, seconds: float = 1.0, frequency: float = 440.0, rate: int = 16_000) -> bytes:
    """Mono 16-bit PCM sine tone."""
    frames = int(seconds * rate)
    samples = (int(12_000 * math.sin(2 * math.pi * frequency * n / rate)) for n in range(frames))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


def _ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0 (RFC 3533)."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], *, granule: int, serial: int, sequence: int, flags: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = header + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


OPUS_PRE_SKIP = 312  # what libopus writes at 48 kHz
OPUS_SILENT_FRAME = b"\xf8\xff\xfe"  # TOC 0xF8: CELT fullband, 20 ms, mono, one frame


def ogg_opus_voice_note(*, seconds: int, serial: int = 0x5A1E_0C0D, frame: bytes = OPUS_SILENT_FRAME) -> bytes:
    """A WhatsApp-style voice note (audio/ogg; codecs=opus): OpusHead, OpusTags, then 20 ms silent
    frames, one page per second, the last page flagged end-of-stream."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, 16_000, 0, 0)
    vendor = b"WhatsApp"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [
        _ogg_page([head], granule=0, serial=serial, sequence=0, flags=0x02),
        _ogg_page([tags], granule=0, serial=serial, sequence=1, flags=0x00),
    ]
    for second in range(1, seconds + 1):
        pages.append(
            _ogg_page(
                [frame] * 50,
                granule=OPUS_PRE_SKIP + second * 48_000,
                serial=serial,
                sequence=1 + second,
                flags=0x04 if second == seconds else 0x00,
            )
        )
    return b"".join(pages)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_audio(*, seconds: float, timescale: int = 44_100, version: int = 0) -> bytes:
    """An M4A's boxes: ftyp, moov with a movie header (``mvhd``) of this duration, an empty mdat."""
    ticks = round(seconds * timescale)
    if version == 0:
        mvhd = bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, timescale, ticks) + bytes(80)
    else:
        mvhd = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, ticks) + bytes(80)
    return _box(b"ftyp", b"M4A \x00\x00\x02\x00M4A mp42isom") + _box(b"moov", _box(b"mvhd", mvhd)) + _box(b"mdat", b"")


def amr_nb(*, seconds: int) -> bytes:
    """AMR-NB at 12.2 kbit/s: the magic, then 50 frames per second (type 7: 1 + 31 bytes)."""
    return b"#!AMR\n" + (bytes([7 << 3 | 0x04]) + bytes(31)) * (50 * seconds)


def mp3_with_xing(*, frames: int) -> bytes:
    """An MPEG-1 Layer III stereo stream's first frame carrying a Xing header with a frame count."""
    header = b"\xff\xfb\x90\x44"  # MPEG-1, Layer III, 128 kbit/s, 44.1 kHz, stereo
    xing = b"Xing" + struct.pack(">II", 0x01, frames)
    return header + bytes(32) + xing + bytes(417 - 4 - 32 - len(xing))


# --- images ----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, *, texts: dict[str, str] | None = None) -> bytes:
    """An 8-bit RGB PNG: a white page with a dark band every 8 rows (like lines of print), plus
    ``tEXt`` chunks (Latin-1 keyword → text)."""
    rows = b"".join(b"\x00" + (b"\x20\x20\x20" if (y // 8) % 2 else b"\xff\xff\xff") * width for y in range(height))
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    chunks += [_png_chunk(b"tEXt", k.encode("latin-1") + b"\x00" + v.encode("latin-1")) for k, v in (texts or {}).items()]
    chunks += [_png_chunk(b"IDAT", zlib.compress(rows, 9)), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def jpeg_headers(width: int, height: int) -> bytes:
    """A JPEG's header segments only (SOI, APP0/JFIF, SOF0, EOI): enough to probe, not to decode."""
    app0 = b"\xff\xe0" + struct.pack(">H5sBBBHHBB", 16, b"JFIF\x00", 1, 1, 0, 72, 72, 0, 0)
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


MENU_TEXT = "Cardápio do dia: pão de queijo R$ 6,50; bolo de cenoura R$ 32,00"
MENU_PNG = png(120, 40, texts={"Title": "Cardápio Padaria Pão Quente", "Description": MENU_TEXT})

# The bill fields the local stand-in "reads": what a model would return for a real photo.
BILL_FIELDS = {
    "is_electricity_bill": True,
    "total_amount_brl": 187.43,
    "due_date": "2025-12-10",
    "consumption_kwh": 245,
    "distributor": "Enel SP",
    "confidence": "high",
}
BILL_PNG = png(360, 640, texts={"Title": "Conta de luz novembro/2025", BILL_MARKER_KEYWORD: json.dumps(BILL_FIELDS)})

VOICE_NOTE = MediaBlob(ogg_opus_voice_note(seconds=7), "audio/ogg; codecs=opus")
TONE_WAV = MediaBlob(wav_tone(), "audio/wav", "tom-440hz.wav")
MENU_IMAGE = MediaBlob(MENU_PNG, "image/png")
BILL_IMAGE = MediaBlob(BILL_PNG, "image/png")
PHOTO_JPEG = MediaBlob(jpeg_headers(1200, 1600), "image/jpeg")


# --- documents ---------------------------------------------------------------------------------


def pdf(pages: list[str], *, user_password: str | None = None) -> bytes:
    """A PDF with one page per text (Helvetica covers Portuguese: it is Latin-1)."""
    from fpdf import FPDF
    from fpdf.enums import EncryptionMethod

    doc = FPDF()
    doc.set_font("helvetica", size=12)
    for text in pages:
        doc.add_page()
        doc.multi_cell(0, 8, text)
    if user_password is not None:
        doc.set_encryption(owner_password="dono-do-arquivo", user_password=user_password, encryption_method=EncryptionMethod.AES_128)
    return bytes(doc.output())


CATALOGUE_PAGES = [
    "Padaria Pão Quente - Catálogo de Natal 2025\nPanetone trufado 750 g: R$ 59,90",
    "Chocotone 500 g: R$ 39,90\nRabanada (6 unidades): R$ 24,00",
    "Encomendas até 20/12 pelo WhatsApp (11) 3456-7890.",
]
