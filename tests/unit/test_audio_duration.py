"""Audio durations, the probe behind the tenant's voice-note length cap: mutagen for the formats it
reads, a frame count for AMR; None whenever the file does not say (the caller then transcribes).

All media is made by local/media_samples.py; each sample is one mutagen reads on its own.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atende.media import MediaBlob
from atende.media.local_media import audio_duration_seconds
from local.media_samples import (
    ID3V2_EMPTY,
    TONE_WAV,
    VOICE_NOTE,
    amr_nb,
    flac_headers,
    mp3_cbr,
    mp3_with_xing,
    mp4_audio,
    ogg_crc,
    ogg_opus_voice_note,
    ogg_vorbis,
    wav_tone,
)


@pytest.mark.parametrize(
    ("blob", "seconds"),
    [
        (VOICE_NOTE, 7.0),
        (MediaBlob(ogg_opus_voice_note(seconds=3, frame=b"OggS\x00 fake capture pattern in the audio"), "audio/ogg"), 3.0),
        (MediaBlob(VOICE_NOTE.data[:-40], "audio/ogg"), 6.0),  # the last page cut off: the one before counts
        (MediaBlob(ogg_vorbis(seconds=4), "audio/ogg"), 4.0),
        (TONE_WAV, 1.0),
        (MediaBlob(wav_tone(seconds=2.5, rate=8_000), "audio/x-wav"), 2.5),
        (MediaBlob(mp4_audio(seconds=12.5), "audio/mp4"), 12.5),
        (MediaBlob(mp4_audio(seconds=400, timescale=1_000, version=1), "audio/mp4"), 400.0),
        (MediaBlob(mp3_cbr(seconds=3), "audio/mpeg"), 3.0),  # constant bitrate: the size says it
        (MediaBlob(mp3_cbr(seconds=0.96, id3=False), "audio/mpeg"), 0.96),
        (MediaBlob(mp3_with_xing(frames=3_828), "audio/mpeg"), 3_828 * 1152 / 44_100),  # VBR: the Xing frame count
        (MediaBlob(flac_headers(seconds=5), "audio/flac"), 5.0),
        (MediaBlob(amr_nb(seconds=9), "audio/amr"), 9.0),
    ],
    ids=[
        "voice-note-7s",
        "capture-pattern-in-audio",
        "truncated-ogg",
        "ogg-vorbis",
        "wav-1s",
        "wav-8khz-2.5s",
        "m4a",
        "m4a-64bit",
        "mp3-cbr",
        "mp3-cbr-no-id3",
        "mp3-xing",
        "flac",
        "amr",
    ],
)
def test_audio_duration_from_the_file_structure(blob: MediaBlob, seconds: float) -> None:
    assert audio_duration_seconds(blob) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "blob",
    [
        MediaBlob(b"\xff\xf1\x50\x80" + bytes(64), "audio/aac"),  # ADTS AAC: no duration header
        MediaBlob(b"RIFF\x24\x00\x00\x00WAVEfmt garbage", "audio/wav"),
        MediaBlob(TONE_WAV.data[:36], "audio/wav"),  # a format chunk and no data chunk
        MediaBlob(b"OggS\x00\x02", "audio/ogg"),
        MediaBlob(ogg_opus_voice_note(seconds=2)[:200], "audio/ogg"),  # headers only, no audio page
        MediaBlob(mp4_audio(seconds=0), "audio/mp4"),
        MediaBlob(ID3V2_EMPTY + b"\xff\xfb\x90\x64" * 200, "audio/mpeg"),  # headers that never form a frame
        MediaBlob(b"#!AMR\n" + bytes([9 << 3]) + bytes(31), "audio/amr"),  # frame type 9 is invalid
        MediaBlob(b"\x1aE\xdf\xa3" + bytes(60), "audio/webm"),  # Matroska: mutagen does not read it
        MediaBlob(b"", "audio/ogg"),
    ],
    ids=[
        "aac-adts",
        "broken-wav",
        "wav-without-data",
        "broken-ogg",
        "ogg-headers-only",
        "m4a-zero",
        "mp3-no-sync",
        "amr-bad-frame",
        "webm",
        "empty",
    ],
)
def test_audio_duration_is_unknown_when_the_file_does_not_say(blob: MediaBlob) -> None:
    assert audio_duration_seconds(blob) is None


def test_deeply_nested_mp4_boxes_read_as_unknown() -> None:
    # Given an M4A whose moov nests 100 000 levels deep (mutagen parses boxes recursively)
    depth = 100_000
    nested = b"".join((8 * (depth - level)).to_bytes(4, "big") + b"moov" for level in range(depth))
    blob = MediaBlob(mp4_audio(seconds=1)[:24] + nested, "audio/mp4")
    # Then the probe answers "unknown" instead of failing the message
    assert audio_duration_seconds(blob) is None


def _mutated(data: bytes, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(out) + 1)
        choice = rng.random()
        if choice < 0.6 and at < len(out):
            out[at] = rng.randrange(256)
        elif choice < 0.8:
            del out[at : at + rng.randint(1, 64)]
        else:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
    return bytes(out)


SEEDS = [
    VOICE_NOTE.data,
    ogg_vorbis(seconds=2),
    TONE_WAV.data[:2_000],
    mp4_audio(seconds=3),
    mp4_audio(seconds=3, version=1),
    mp3_cbr(seconds=0.24),
    mp3_with_xing(frames=100),
    flac_headers(seconds=1),
    amr_nb(seconds=1),
]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(SEEDS), seed=st.integers(min_value=0, max_value=2**32))
def test_a_damaged_file_gives_a_duration_or_none_never_an_error(sample: bytes, seed: int) -> None:
    seconds = audio_duration_seconds(MediaBlob(_mutated(sample, seed), "audio/ogg"))
    assert seconds is None or seconds > 0


def test_probing_a_16_mib_voice_note_allocates_no_copy_of_it() -> None:
    # Given a voice note near WhatsApp's 16 MiB audio limit, with its last page cut short so that
    # mutagen walks every page from the start, and mutagen's modules already imported
    note = ogg_opus_voice_note(seconds=270, frame=b"\xf8" + random.Random(7).randbytes(1273))[:-100]
    assert audio_duration_seconds(MediaBlob(VOICE_NOTE.data, "audio/ogg")) == 7.0
    # When its duration is probed
    tracemalloc.start()
    try:
        seconds = audio_duration_seconds(MediaBlob(note, "audio/ogg"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then it is read page by page: far less than the file is ever allocated at once
    assert (len(note) > 16_000_000, seconds, peak < 1024 * 1024) == (True, 269.0, True)


def test_mutagen_is_imported_only_when_an_audio_is_probed() -> None:
    probe = (
        "import sys\n"
        "from atende.media import MediaBlob\n"
        "from atende.media.local_media import LocalTranscriber, audio_duration_seconds\n"
        "before = 'mutagen' in sys.modules\n"
        "audio_duration_seconds(MediaBlob(b'#!AMR\\n', 'audio/amr'))\n"
        "amr = 'mutagen' in sys.modules\n"
        "audio_duration_seconds(MediaBlob(b'RIFF\\x00\\x00\\x00\\x00WAVE', 'audio/wav'))\n"
        "print(before, amr, 'mutagen' in sys.modules, 'mutagen.mp4' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.split() == ["False", "False", "True", "False"]


def test_ogg_samples_carry_the_checksum_rfc_3533_defines() -> None:
    # Polynomial 0x04C11DB7, not reflected, initial value 0: the CRC catalogue's CRC-32/CKSUM, whose
    # check value for "123456789" is 0x765E7680 after a final XOR with 0xFFFFFFFF that Ogg does not do
    assert ogg_crc(b"123456789") == 0x765E7680 ^ 0xFFFFFFFF
