"""Media made in code (tests, the demo, the bench): no binary fixtures, every byte explained here.

WAV through the stdlib ``wave`` module, PNG and Ogg (Opus, Vorbis) written chunk by chunk (zlib/struct,
with their real checksums), MP3 frames, M4A boxes, FLAC and AMR headers by struct, PDFs through fpdf2
(a dev-only dependency). Pillow is not used. Every audio sample is one mutagen reads.
"""

from __future__ import annotations

import io
import json
import math
import struct
import wave
import zlib
from collections.abc import Callable

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


# Each byte with its bits in reverse order (bit 0 ↔ bit 7).
_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0, no final XOR (RFC 3533).

    zlib computes the reflected CRC of the same polynomial, so it runs over the bit-reversed bytes and
    its result is reversed back: C speed, where a bit-by-bit loop takes seconds per megabyte. A start
    value of 0xFFFFFFFF cancels zlib's initial inversion; the final XOR undoes its closing one."""
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def _ogg_page(packets: list[bytes], *, granule: int, serial: int, sequence: int, flags: int) -> bytes:
    lacing = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, serial, sequence, 0, len(lacing))
    page = header + lacing + b"".join(packets)
    return page[:22] + struct.pack("<I", ogg_crc(page)) + page[26:]


OPUS_PRE_SKIP = 312  # what libopus writes at 48 kHz
OPUS_SILENT_FRAME = b"\xf8\xff\xfe"  # TOC 0xF8: CELT fullband, 20 ms, mono, one frame


def _ogg_stream(headers: list[bytes], second: list[bytes], *, seconds: int, granule: Callable[[int], int], serial: int) -> bytes:
    """The first header alone on a beginning-of-stream page, the other headers on the next page,
    then one page of audio packets per second, the last page flagged end-of-stream."""
    pages = [
        _ogg_page(headers[:1], granule=0, serial=serial, sequence=0, flags=0x02),
        _ogg_page(headers[1:], granule=0, serial=serial, sequence=1, flags=0x00),
    ]
    for n in range(1, seconds + 1):
        flags = 0x04 if n == seconds else 0x00
        pages.append(_ogg_page(second, granule=granule(n), serial=serial, sequence=1 + n, flags=flags))
    return b"".join(pages)


def ogg_opus_voice_note(*, seconds: int, serial: int = 0x5A1E_0C0D, frame: bytes = OPUS_SILENT_FRAME) -> bytes:
    """A WhatsApp-style voice note (audio/ogg; codecs=opus): OpusHead, OpusTags, then 20 ms silent
    frames, one page per second, the last page flagged end-of-stream."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, 16_000, 0, 0)
    vendor = b"WhatsApp"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    # Opus granule positions count 48 kHz samples whatever the input rate, pre-skip included.
    return _ogg_stream([head, tags], [frame] * 50, seconds=seconds, granule=lambda n: OPUS_PRE_SKIP + n * 48_000, serial=serial)


def ogg_vorbis(*, seconds: int, rate: int = 44_100, serial: int = 0x0B15_0001) -> bytes:
    """An Ogg Vorbis stream's identification and comment headers (Vorbis I §4.2), then one page per
    second whose granule position counts the samples so far. Enough to probe, not to decode: the
    setup header (codebooks) is left out and each second carries a one-byte placeholder packet."""
    # version 0, mono, rate, bitrate max/nominal/min (0 = unset; 96 kbit/s nominal), blocksizes 2^8 and 2^11, framing bit
    identification = b"\x01vorbis" + struct.pack("<IBIiiiBB", 0, 1, rate, 0, 96_000, 0, 0xB8, 1)
    vendor = b"Xiph.Org libVorbis I 20200704"
    comment = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0) + b"\x01"
    return _ogg_stream([identification, comment], [b"\x00"], seconds=seconds, granule=lambda n: n * rate, serial=serial)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return _box(kind, bytes([version, 0, 0, 0]) + payload)  # version, then 24 bits of flags


_MP4_MATRIX = struct.pack(">9I", 0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000)  # identity


def mp4_audio(*, seconds: float, timescale: int = 44_100, version: int = 0) -> bytes:
    """An M4A as iTunes/ffmpeg lay it out (ISO/IEC 14496-12, -14): ftyp; moov with the movie header
    (``mvhd``) and one AAC-LC sound track whose media header (``mdhd``) has this duration, its sample
    table empty; an empty mdat. ``version`` 1 writes the 64-bit headers long files need."""
    ticks = round(seconds * timescale)

    def times(track_id: int | None) -> bytes:  # creation, modification, [track id, reserved,] timescale/duration
        if version == 0:
            return struct.pack(">II", 0, 0) + (struct.pack(">II", track_id, 0) if track_id else b"")
        return struct.pack(">QQ", 0, 0) + (struct.pack(">II", track_id, 0) if track_id else b"")

    duration = struct.pack(">I", ticks) if version == 0 else struct.pack(">Q", ticks)
    # rate 1.0, volume 1.0, reserved, matrix, pre-defined, next track id
    mvhd = _full_box(
        b"mvhd",
        version,
        times(None)
        + struct.pack(">I", timescale)
        + duration
        + struct.pack(">IH10x", 0x0001_0000, 0x0100)
        + _MP4_MATRIX
        + bytes(24)
        + struct.pack(">I", 2),
    )
    # flags 7 = enabled, in movie, in preview; then layer, group, volume 1.0, reserved, matrix, width, height
    tkhd = _box(
        b"tkhd",
        bytes([version, 0, 0, 7]) + times(1) + duration + struct.pack(">8xhhH2x", 0, 0, 0x0100) + _MP4_MATRIX + struct.pack(">II", 0, 0),
    )
    mdhd = _full_box(b"mdhd", version, times(None) + struct.pack(">I", timescale) + duration + struct.pack(">HH", 0x55C4, 0))  # "und"
    hdlr = _full_box(b"hdlr", 0, struct.pack(">I4s12x", 0, b"soun") + b"SoundHandler\x00")
    # ES descriptor → decoder config (MPEG-4 audio 0x40, audio stream 0x15, 128 kbit/s) → AudioSpecificConfig
    # 0x1210 = AAC-LC, 44.1 kHz, stereo; then the SL config (predefined 2, for MP4 files).
    decoder = bytes([0x04, 17, 0x40, 0x15]) + struct.pack(">I", 0)[1:] + struct.pack(">II", 128_000, 128_000)
    decoder += bytes([0x05, 2, 0x12, 0x10])
    es = bytes([0x03, 3 + len(decoder) + 3]) + struct.pack(">HB", 1, 0) + decoder + bytes([0x06, 1, 0x02])
    esds = _full_box(b"esds", 0, es)
    # Audio sample entry: reserved, data reference 1, reserved, 2 channels, 16 bits, 44.1 kHz in 16.16
    mp4a = _box(b"mp4a", struct.pack(">6xH8xHH4xI", 1, 2, 16, 44_100 << 16) + esds)
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, struct.pack(">I", 1) + mp4a)
        + _full_box(b"stts", 0, struct.pack(">I", 0))
        + _full_box(b"stsc", 0, struct.pack(">I", 0))
        + _full_box(b"stsz", 0, struct.pack(">II", 0, 0))
        + _full_box(b"stco", 0, struct.pack(">I", 0)),
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, struct.pack(">I", 1) + _box(b"url ", bytes([0, 0, 0, 1]))))  # data in this file
    minf = _box(b"minf", _full_box(b"smhd", 0, bytes(4)) + dinf + stbl)
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))
    return _box(b"ftyp", b"M4A \x00\x00\x02\x00M4A mp42isom") + _box(b"moov", mvhd + trak) + _box(b"mdat", b"")


def amr_nb(*, seconds: int) -> bytes:
    """AMR-NB at 12.2 kbit/s: the magic, then 50 frames per second (type 7: 1 + 31 bytes)."""
    return b"#!AMR\n" + (bytes([7 << 3 | 0x04]) + bytes(31)) * (50 * seconds)


ID3V2_EMPTY = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an ID3v2.4 tag header announcing no frames


def mp3_cbr(*, seconds: float, id3: bool = True) -> bytes:
    """Constant-bitrate MPEG-1 Layer III, 128 kbit/s, 48 kHz, joint stereo: 384-byte frames of
    1152 samples (24 ms) without padding, each silent (side information all zero), after an empty
    ID3v2 tag as most encoders write one."""
    header = b"\xff\xfb\x94\x44"  # sync, MPEG-1, Layer III, no CRC; 128 kbit/s, 48 kHz; joint stereo
    frame = header + bytes(384 - len(header))
    return (ID3V2_EMPTY if id3 else b"") + frame * round(seconds / 0.024)


def mp3_with_xing(*, frames: int) -> bytes:
    """An MPEG-1 Layer III stereo stream's first frame carrying a Xing header with a frame count."""
    header = b"\xff\xfb\x90\x44"  # MPEG-1, Layer III, 128 kbit/s, 44.1 kHz, stereo
    xing = b"Xing" + struct.pack(">II", 0x01, frames)
    return header + bytes(32) + xing + bytes(417 - 4 - 32 - len(xing))


def flac_headers(*, seconds: int, rate: int = 16_000) -> bytes:
    """A FLAC stream's marker and its STREAMINFO block (the only one, so flagged last) for 16-bit
    mono: enough to probe, not to decode (no audio frames follow)."""
    samples = seconds * rate
    # min/max block size 4096; min/max frame size unknown (0); then 20 bits rate, 3 bits channels - 1,
    # 5 bits bits-per-sample - 1, 36 bits total samples; then the MD5 of the audio (zero = unknown).
    packed = rate << 44 | 0 << 41 | 15 << 36 | samples
    streaminfo = struct.pack(">HH", 4096, 4096) + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo


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
