"""Section (d): peak memory of the processor handling the largest voice note and PDF a tenant accepts.

Each case is one media message end to end through the real code, in a fresh interpreter: template
resources provisioned under ``moto.mock_aws``, demo tenant seeded, a signed Meta webhook through the
real webhook handler into the FIFO queue, local.runner.QueueRunner feeding the real processor
handler, which asks the Graph media API and downloads the file from local.sandbox.GraphSandbox
(httpx.MockTransport), stores it in the media bucket (moto), transcribes or reads it, and answers.
Cases: {voice note, PDF} x {OpenAI through the real ``openai`` SDK against bench.openai_standin,
the offline ``local`` stand-ins}.

Two passes per case, each in its own process: RSS (``ru_maxrss``, no tracing: tracemalloc's own
bookkeeping would inflate RSS) and tracemalloc (Python allocations during the handler call only).

    PYTHONPATH=layers/shared:. .venv/bin/python -m bench.media_memory voice_note openai rss spec.json out.json
runs one case's pass (``measure`` does that for every case and pass).
"""

from __future__ import annotations

import base64
import gc
import hashlib
import io
import json
import math
import os
import random
import re
import resource
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from bench.netguard import forbid_remote_connections
from bench.profiles import Profile
from local.template import ROOT, load_template

FUNCTION = "ProcessorFunction"
GOAL_FRACTION_OF_MEMORY = 0.5  # peak RSS must stay under half the function's MemorySize
KINDS = ("voice_note", "pdf")
PROVIDERS = ("openai", "local")
PASSES = ("rss", "tracemalloc")
CHILD_TIMEOUT_SECONDS = 240
TRACE_FRAMES = 16  # deep enough to see moto, the MockTransport or the stand-in under a stdlib frame
SNAPSHOT_STEP_BYTES = 256 * 1024  # a new split is taken only when traced memory grew at least this much
MIB = 1024 * 1024
PHASES_SHOWN = 6

VOICE_MIME = "audio/ogg; codecs=opus"
# TOC 0xF8 = CELT fullband, 20 ms, mono, one frame; 1273 bytes of frame data make a 1274-byte packet:
# 509.6 kb/s, Opus's ceiling (510 kb/s, frames up to 1275 bytes). Only at that rate does a voice note
# reach 16 MB within the 300 s cap. 1274 is also the largest packet of which 50 (one second, one Ogg
# page in local.media_samples) fit a page's 255 lacing values: 5 each. Random bytes: incompressible.
OPUS_PACKET = b"\xf8" + random.Random(0x0B05).randbytes(1273)
WARM_UP_VOICE_SECONDS = 3
PDF_EXTRA_PAGES = 10  # text-only pages after the image pages: the document is longer than the page cap

# The measured message comes from the demo customer; the warm-up from another, so the measured one
# is a new contact's first message (a lead sending a bill or a catalogue), profile created and all.
WARM_UP_CUSTOMER = ("5521998765432", "BR.2093847561029384", "Rafael Oliveira")
TRANSCRIPT = "Bom dia! Queria encomendar dois panetones trufados e um bolo de cenoura para o dia 23. Vocês entregam no Tatuapé?"
REPLY = "Bom dia! Anotei: 2 panetones trufados e 1 bolo de cenoura para o dia 23. Entregamos no Tatuapé, sim; a taxa é R$ 8,00."

NOTE = (
    "One message per case, each case and pass in a fresh interpreter: signed Meta webhook -> webhook handler -> FIFO (moto) -> "
    "QueueRunner -> the real processor handler (given the function's Timeout and MemorySize from template.yaml as its context) -> "
    "Graph media API + download from GraphSandbox over httpx.MockTransport -> S3 PutObject into moto -> transcription (voice note) "
    "or pypdf text extraction + summary (PDF) -> reply through the Graph sandbox; the outcome is checked (downloaded once, stored "
    "whole, transcribed/read, answered), else the section fails. openai = the real openai SDK against bench.openai_standin, which "
    "checks the multipart upload in place (no copy of its own); local = the offline stand-ins, no model HTTP. Samples: the voice "
    "note is Ogg Opus at Opus's top bitrate (the only way 16 MB fits in the 300 s cap), the PDF has text on every page and a "
    "photo of incompressible pixels on each of the first pdf_pages (those read), then text-only pages past the page cap. A small "
    "message of the same kind is handled first, so lazy imports (openai, pypdf) are already in rss_kib_before. "
    "RSS pass (no tracing): ru_maxrss (KiB) before, then the kernel's high-water mark reset to the current RSS "
    "(/proc/self/clear_refs = 5), so peak_rss_kib_after is the process's peak while this message went webhook -> queue -> processor "
    "-> reply; peak_rss_mb (the goal's figure) is that peak, absolute. It is pessimistic: this process also holds moto and its "
    "in-process AWS state, the Graph sandbox's copy of the file (in rss_kib_before), the webhook, the runner and the model "
    "stand-in, none of which are in the Lambda. peak_rss_kib_before is the high-water mark of the setup and the warm-up message "
    "(a first import compiled from source shows there). message_delta_kib = peak_rss_kib_after - rss_kib_before: RSS is pages "
    "touched, and freed memory is reused, so it can be below the bytes allocated. tracemalloc pass (its own process; no RSS "
    f"reported): Python allocations during the processor handler call only, {TRACE_FRAMES} frames each. handler_peak_mib = the "
    "largest traced total; a phase is the span between two checkpoints (each request through the MockTransport, each botocore "
    "before-send and after-call), and largest_phases_mib gives the traced peak of the largest phases in the order they ran: the "
    "s3.PutObject sent -> answered phase is moto's work alone (in AWS: the network). Splits by origin are taken at checkpoints "
    "(at_largest_checkpoint; at_model_requests, as each request reaches the model stand-in; retained_after_gc): moto, the httpx "
    "MockTransport (which joins a request body into one bytes object, a copy a real socket does not make), GraphSandbox and the "
    "OpenAI stand-in are stand-ins; any other allocation is grouped by its innermost non-stdlib frame's top-level package "
    "(atende, httpx, openai, botocore, pypdf...), except the bench harness (runner, this module, its snapshots); "
    "processor_share_mib = total - stand-ins - harness. Snapshot-taking is not in the phase peaks (the peak is reset after each), "
    "though the garbage it leaves until the next collection (~0.2 MiB) is in later totals, as bench harness. C-level memory "
    "(OpenSSL, zlib state) is not traced. Measured on Linux; Lambda runs arm64."
)


# --- samples (built once by ``measure``, read by every child) ------------------------------------------


def _voice_note(target_bytes: int, max_seconds: int) -> tuple[bytes, int]:
    """The longest Ogg Opus voice note at Opus's top bitrate that fits ``target_bytes`` and the duration cap."""
    from local.media_samples import ogg_opus_voice_note

    one, two = (len(ogg_opus_voice_note(seconds=s, frame=OPUS_PACKET)) for s in (1, 2))
    per_second, headers = two - one, 2 * one - two
    seconds = min(max_seconds, (target_bytes - headers) // per_second)
    return ogg_opus_voice_note(seconds=seconds, frame=OPUS_PACKET), seconds


def _noise_png(side: int, rng: random.Random) -> bytes:
    """An 8-bit RGB PNG of random pixels: incompressible, like a photo's worth of data."""
    rows = b"".join(b"\x00" + rng.randbytes(side * 3) for _ in range(side))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b"")


_PRODUCTS = (
    ("Panetone trufado 750 g", "59,90"),
    ("Chocotone 500 g", "39,90"),
    ("Rabanada (6 unidades)", "24,00"),
    ("Bolo de cenoura com cobertura", "32,00"),
    ("Pão de queijo congelado (1 kg)", "54,00"),
    ("Torta de limão (inteira)", "68,00"),
    ("Broa de milho", "12,50"),
    ("Sonho de creme", "7,50"),
)


def _catalogue_text(page: int, lines: int) -> str:
    heading = f"Padaria Pão Quente - Catálogo de Natal 2025 - página {page + 1}"
    items = [f"Cód. PQ-{page:02d}{i:02d}  {name}: R$ {price}" for i, (name, price) in enumerate(_PRODUCTS * 3)]
    return "\n".join([heading, *items[:lines]])


def _catalogue_pdf(image_pages: int, side: int, extra_pages: int) -> bytes:
    """``image_pages`` pages, each a noise photo plus ~900 characters of text, then short text-only pages."""
    from fpdf import FPDF

    rng = random.Random(0xCA7A)
    doc = FPDF()
    doc.set_font("helvetica", size=10)
    for page in range(image_pages + extra_pages):
        doc.add_page()
        if page < image_pages and side > 0:
            doc.image(io.BytesIO(_noise_png(side, rng)), x=10, y=10, w=80)
            doc.set_y(95)
        doc.multi_cell(0, 5, _catalogue_text(page, 20 if page < image_pages else 6))
    return bytes(doc.output())


def _largest_pdf(target_bytes: int, image_pages: int) -> bytes:
    """The catalogue PDF closest to ``target_bytes`` from below: text on every page, the bulk in photos."""
    text_only = len(_catalogue_pdf(image_pages, 0, PDF_EXTRA_PAGES))
    per_image = (target_bytes - text_only - 1024 * image_pages) // image_pages  # 1 KiB per image object
    side = math.isqrt(max(1, per_image // 3))
    while True:
        data = _catalogue_pdf(image_pages, side, PDF_EXTRA_PAGES)
        if len(data) <= target_bytes or side <= 1:
            return data
        side -= max(1, side // 100)


def _write_samples(directory: Path, fraction: float) -> dict[str, Any]:
    from atende.media import MediaBlob, MediaLimits
    from atende.media.local_media import audio_duration_seconds

    limits = MediaLimits()  # a tenant's defaults
    voice, seconds = _voice_note(int(limits.audio_bytes * fraction), limits.audio_seconds)
    if len(voice) > limits.audio_bytes or audio_duration_seconds(MediaBlob(voice, VOICE_MIME)) != seconds:
        raise RuntimeError("the voice note does not fit the tenant's limits as intended")
    document = _largest_pdf(int(limits.document_bytes * fraction), limits.pdf_pages)
    from local.media_samples import ogg_opus_voice_note

    files = {
        "voice_note": voice,
        "voice_note_warm_up": ogg_opus_voice_note(seconds=WARM_UP_VOICE_SECONDS, frame=OPUS_PACKET),
        "pdf": document,
        "pdf_warm_up": _catalogue_pdf(1, 32, 0),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return {
        "directory": str(directory),
        "voice_note": {
            "bytes": len(voice),
            "limit_bytes": limits.audio_bytes,
            "fraction_of_limit": round(len(voice) / limits.audio_bytes, 4),
            "seconds": seconds,
            "limit_seconds": limits.audio_seconds,
            "opus_packet_bytes": len(OPUS_PACKET),
            "bitrate_kbps": round(len(OPUS_PACKET) * 8 * 50 / 1000, 1),
            "warm_up_bytes": len(files["voice_note_warm_up"]),
        },
        "pdf": {
            "bytes": len(document),
            "limit_bytes": limits.document_bytes,
            "fraction_of_limit": round(len(document) / limits.document_bytes, 4),
            "pages": limits.pdf_pages + PDF_EXTRA_PAGES,
            "photo_pages": limits.pdf_pages,
            "limit_pages_read": limits.pdf_pages,
            "limit_chars": limits.document_chars,
            "warm_up_bytes": len(files["pdf_warm_up"]),
        },
    }


# --- the section -------------------------------------------------------------------------------------


def measure(profile: Profile) -> dict[str, Any]:
    memory_mb = processor_memory_mb()
    goal_mb = memory_mb * GOAL_FRACTION_OF_MEMORY
    with tempfile.TemporaryDirectory(prefix="atende-bench-media-") as scratch:
        started = time.perf_counter()
        samples = _write_samples(Path(scratch), profile.media_fraction_of_limits)
        samples_s = time.perf_counter() - started
        spec = Path(scratch) / "spec.json"
        spec.write_text(json.dumps(samples))
        runs = [(kind, provider, mode) for kind in KINDS for provider in profile.media_providers for mode in PASSES]
        # Children in parallel: each reports its own process's memory, which other processes do not change.
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            results = dict(zip(runs, pool.map(lambda run: _run_child(run[0], run[1], run[2], spec), runs), strict=True))
    cases: dict[str, Any] = {}
    for kind in KINDS:
        for provider in profile.media_providers:
            rss, traced = results[kind, provider, "rss"], results[kind, provider, "tracemalloc"]
            peak_mb = round(rss["peak_rss_kib_after"] / 1024, 1)
            cases[f"{kind}_{provider}"] = {
                "peak_rss_mb": peak_mb,
                "pass": peak_mb <= goal_mb,
                "rss": {k: v for k, v in rss.items() if k != "counts"},
                "tracemalloc": {k: v for k, v in traced.items() if k != "counts"},
                "counts": rss["counts"],
            }
    return {
        "samples": {kind: samples[kind] for kind in KINDS},
        "samples_built_s": round(samples_s, 1),
        "processor_memory_size_mb": memory_mb,
        "goal_peak_rss_max_mb": goal_mb,
        "cases": cases,
        "peak_rss_mb": max(case["peak_rss_mb"] for case in cases.values()),
        "pass": all(case["pass"] for case in cases.values()),
        "note": NOTE,
    }


@cache
def processor_memory_mb() -> int:
    """ProcessorFunction's MemorySize in template.yaml (or the Globals' default)."""
    template = load_template()
    own = template["Resources"][FUNCTION]["Properties"].get("MemorySize")
    return int(own if own is not None else template["Globals"]["Function"]["MemorySize"])


@cache
def processor_timeout_seconds() -> int:
    template = load_template()
    own = template["Resources"][FUNCTION]["Properties"].get("Timeout")
    return int(own if own is not None else template["Globals"]["Function"].get("Timeout", 3))


def _run_child(kind: str, provider: str, mode: str, spec: Path) -> dict[str, Any]:
    out = spec.with_name(f"{kind}-{provider}-{mode}.json")
    command = [sys.executable, "-m", "bench.media_memory", kind, provider, mode, str(spec), str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    result = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=CHILD_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"{kind}/{provider}/{mode} child failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(out.read_text())  # type: ignore[no-any-return]


# --- memory readings -----------------------------------------------------------------------------------


def _status_kib(field_name: str) -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def _max_rss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (and so ru_maxrss) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


# --- tracemalloc: where the bytes are ----------------------------------------------------------------

_STDLIB = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_LAYER = str(ROOT / "layers" / "shared") + os.sep
_FUNCTIONS = str(ROOT / "functions") + os.sep
# Frames that make an allocation a stand-in's, whatever called it: moto (AWS), the transport that
# replaces the network, the Graph sandbox (Meta's servers) and the OpenAI stand-in (OpenAI's).
_STAND_INS = (
    (f"{os.sep}moto{os.sep}", "moto (stand-in)"),
    (f"{os.sep}responses{os.sep}", "moto (stand-in)"),
    (f"httpx{os.sep}_transports{os.sep}mock.py", "httpx MockTransport (stand-in)"),
    (str(ROOT / "local" / "sandbox.py"), "GraphSandbox (stand-in)"),
    (str(ROOT / "bench" / "openai_standin.py"), "OpenAI stand-in"),
    (f"{os.sep}tracemalloc.py", "bench harness"),  # this module's own snapshots and their analysis
)


def _origin(filename: str) -> str | None:
    return next((label for marker, label in _STAND_INS if marker in filename), None)


def _package(filename: str) -> str | None:
    """The top-level package a frame's file belongs to; None for the standard library."""
    if "site-packages" + os.sep in filename:
        return filename.split("site-packages" + os.sep, 1)[1].split(os.sep, 1)[0].removesuffix(".py")
    if filename.startswith(_LAYER):
        return filename.removeprefix(_LAYER).split(os.sep, 1)[0].removesuffix(".py")
    if filename.startswith(_FUNCTIONS):
        return "functions/" + filename.removeprefix(_FUNCTIONS).split(os.sep, 1)[0]
    if filename.startswith((str(ROOT / "bench") + os.sep, str(ROOT / "local") + os.sep)):
        return "bench harness"  # the runner, this module: they call the handler, they are not the processor
    if filename.startswith(str(ROOT) + os.sep):
        return filename.removeprefix(str(ROOT) + os.sep).split(os.sep, 1)[0]
    if filename.startswith(_STDLIB) or filename.startswith("<"):
        return None
    return "other"


def _group(traceback: tracemalloc.Traceback) -> str:
    frames = list(reversed(traceback))  # innermost first
    for frame in frames:
        if (origin := _origin(frame.filename)) is not None:
            return origin
    for frame in frames:
        if (package := _package(frame.filename)) is not None:
            return package
    return "stdlib (no caller within the frames kept)"


def _by_origin(snapshot: tracemalloc.Snapshot) -> dict[str, int]:
    sizes: Counter[str] = Counter()
    for statistic in snapshot.statistics("traceback"):  # one per distinct traceback
        sizes[_group(statistic.traceback)] += statistic.size
    return dict(sizes)


def _mib(size: int) -> float:
    return round(size / MIB, 2)


def _split(sizes: dict[str, int]) -> dict[str, Any]:
    shown = {name: _mib(size) for name, size in sorted(sizes.items(), key=lambda item: -item[1]) if size >= MIB // 100}
    others = sum(size for name, size in sizes.items() if "stand-in" in name or "harness" in name)
    return {
        "traced_mib": _mib(sum(sizes.values())),
        "processor_share_mib": _mib(sum(sizes.values()) - others),
        "stand_ins_and_harness_mib": _mib(others),
        "by_origin_mib": shown,
    }


@dataclass
class AllocationTracer:
    """Traces the processor handler's allocations once ``armed``; checkpoints split the peak by phase."""

    armed: bool = False
    active: bool = False
    phases: list[tuple[str, int]] = field(default_factory=list)  # (phase, traced peak in it)
    largest: tuple[str, int, dict[str, int]] | None = None  # (checkpoint, traced bytes, split)
    model_requests: list[tuple[str, dict[str, int]]] = field(default_factory=list)  # split as each model request arrives
    at_return: int = 0  # traced bytes when the handler returned, before a collection
    retained: dict[str, int] | None = None  # split after the handler returned and gc.collect()
    _previous: str = "handler called"

    def checkpoint(self, label: str, *, split: bool = False) -> None:
        if not self.active:
            return
        current, peak = tracemalloc.get_traced_memory()
        self.phases.append((f"{self._previous} -> {label}", peak))
        self._previous = label
        if split or self.largest is None or current >= self.largest[1] + SNAPSHOT_STEP_BYTES:
            sizes = _by_origin(tracemalloc.take_snapshot())
            if split:
                self.model_requests.append((label, sizes))
            if self.largest is None or current >= self.largest[1] + SNAPSHOT_STEP_BYTES:
                self.largest = (label, current, sizes)
        tracemalloc.reset_peak()  # the snapshot's own allocations are not the handler's

    @contextmanager
    def tracing(self) -> Iterator[None]:
        gc.collect()
        tracemalloc.start(TRACE_FRAMES)
        self.active = True
        try:
            yield
        finally:
            self.checkpoint("handler returned")
            self.active = False
            self.at_return = tracemalloc.get_traced_memory()[0]
            gc.collect()
            self.retained = _by_origin(tracemalloc.take_snapshot())
            tracemalloc.stop()

    def report(self) -> dict[str, Any]:
        if self.largest is None or self.retained is None:
            raise RuntimeError("the handler was never traced")
        peak_phase, peak = max(self.phases, key=lambda phase: phase[1])
        floor = sorted([size for _, size in self.phases] + [0] * PHASES_SHOWN)[-PHASES_SHOWN]
        return {
            "handler_peak_mib": _mib(peak),
            "peak_phase": peak_phase,
            "largest_phases_mib": [[label, _mib(size)] for label, size in self.phases if size >= floor],  # in the order they ran
            "at_largest_checkpoint": {"checkpoint": self.largest[0], **_split(self.largest[2])},
            "at_model_requests": [{"checkpoint": label, **_split(sizes)} for label, sizes in self.model_requests],
            "traced_at_return_mib": _mib(self.at_return),
            "retained_after_gc": _split(self.retained),
            "frames": TRACE_FRAMES,
        }


# --- one case, in this process ---------------------------------------------------------------------


@dataclass
class Router:
    """The MockTransport handler: counts each request, checkpoints the tracer, lets a stand-in answer."""

    graph: Any  # httpx.MockTransport of the GraphSandbox
    openai: Any  # OpenAIStandIn
    tracer: AllocationTracer
    requests: Counter[str] = field(default_factory=Counter)
    downloaded_bytes: int = 0

    def __call__(self, request: Any) -> Any:
        import httpx

        host, path = request.url.host, request.url.path
        label = f"{request.method} {host}{'/sandbox/media/…' if path.startswith('/sandbox/media/') else path}"
        self.tracer.checkpoint(label, split=host == self.openai.host)
        self.requests[label] += 1
        if host == "graph.facebook.com":
            response = self.graph.handle_request(request)
            if path.startswith("/sandbox/media/") and response.status_code == 200:
                self.downloaded_bytes += int(response.headers["content-length"])
            return response
        if host == self.openai.host:
            return self.openai.handle(request)
        return httpx.Response(599, json={"error": f"no stand-in for {host}"})


@dataclass
class Processor:
    """The processor handler with the function's own context; traces one invocation when armed."""

    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    tracer: AllocationTracer

    def __call__(self, event: dict[str, Any], _runner_context: Any) -> dict[str, Any]:
        from local.events import LambdaContext

        # What Lambda gives this function (template.yaml): its Timeout, and its MemorySize, which the
        # runner's context leaves at the default.
        context = LambdaContext(
            function_name=FUNCTION, timeout_seconds=processor_timeout_seconds(), memory_limit_in_mb=processor_memory_mb()
        )
        if not self.tracer.armed:
            return self.handler(event, context)
        self.tracer.armed = False
        with self.tracer.tracing():
            return self.handler(event, context)


@dataclass
class AwsHooks:
    """botocore events on the session every atende client comes from: counts and tracer checkpoints.

    Installed before any client exists: a client copies the session's handlers when it is created.
    """

    tracer: AllocationTracer
    counting: bool = False
    calls: Counter[str] = field(default_factory=Counter)

    def install(self, events: Any) -> None:
        events.register_first("before-send", self._before_send)
        events.register("after-call", self._after_call)

    def _before_send(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".", 2)[1:]
        if self.counting:
            self.calls[f"{service}.{operation}"] += 1
        self.tracer.checkpoint(f"{service}.{operation} sent")

    def _after_call(self, event_name: str, **_: Any) -> None:
        service, operation = event_name.split(".", 2)[1:]
        self.tracer.checkpoint(f"{service}.{operation} answered")


def _webhook_body(kind: str, media_id: str, data: bytes, *, message_id: str, customer: tuple[str, str, str], timestamp: int) -> bytes:
    from local.sandbox import meta_envelope
    from local.seed import DEMO

    wa_id, user_id, name = customer
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    if kind == "voice_note":
        media: dict[str, Any] = {"type": "audio", "audio": {"mime_type": VOICE_MIME, "sha256": digest, "id": media_id, "voice": True}}
    else:
        document = {
            "caption": "Segue o nosso catálogo de Natal",
            "filename": "catalogo-natal-2025.pdf",
            "mime_type": "application/pdf",
            "sha256": digest,
            "id": media_id,
        }
        media = {"type": "document", "document": document}
    value = {
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id, "user_id": user_id}],
        "messages": [{"from": wa_id, "id": message_id, "timestamp": str(timestamp), **media}],
    }
    return meta_envelope(DEMO.phone_number_id, value)


def run_case(kind: str, provider: str, mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    import boto3
    import httpx
    from moto import mock_aws

    from atende.store import aws
    from bench.openai_standin import OpenAIStandIn
    from bench.scenario import REGION, RUNTIME_ENV, STAGE, apply_environment, signed_event
    from local.events import LambdaContext
    from local.functions import load_function_module
    from local.provision import provision
    from local.runner import QueueRunner
    from local.sandbox import GraphSandbox
    from local.seed import DEMO, seed_demo

    for name in ("OPENAI_BASE_URL", "GEMINI_BASE_URL"):  # the SDKs honour them; the template sets none
        os.environ.pop(name, None)
    apply_environment({**RUNTIME_ENV, "POWERTOOLS_TRACE_DISABLED": "true"})
    samples = Path(spec["directory"])
    tracer = AllocationTracer()
    hooks = AwsHooks(tracer)
    with mock_aws():
        aws.reset_clients()
        hooks.install(aws.session().events)
        stack = provision(stage=STAGE, region=REGION)
        seed_demo(stack)
        apply_environment({**stack.function_environment("WebhookFunction"), **stack.function_environment(FUNCTION)})
        if provider == "openai":
            from atende.store.secrets import SecretStore

            SecretStore(max_age=0).put_json(stack.resources["LlmSecret"].ref, {"openai_api_key": "sk-bench-not-a-real-key"})
        sandbox = GraphSandbox(access_tokens={DEMO.access_token})
        openai = OpenAIStandIn(transcript=TRANSCRIPT, reply=REPLY)
        router = Router(sandbox.transport(), openai, tracer)
        from atende.bootstrap import build_reply_service  # after the environment exists, as in Lambda
        from atende.config import ProcessorSettings

        module = load_function_module(FUNCTION)
        service = build_reply_service(ProcessorSettings.from_env(), http_client=httpx.Client(transport=httpx.MockTransport(router)))
        module.use_service(service)  # the seam tests/support.py and bench.processor use
        processor = Processor(module.lambda_handler, tracer)
        runner_sqs = boto3.session.Session(region_name=REGION).client("sqs")  # the event source mapping's, not the function's
        queue = stack.resources["InboundQueue"]
        runner = QueueRunner(runner_sqs, queue.ref, queue.attrs["Arn"], processor, batch_size=5, retry_immediately=True)
        webhook = load_function_module("WebhookFunction")

        def deliver(raw: bytes) -> None:
            response = webhook.lambda_handler(signed_event(raw), LambdaContext(function_name="WebhookFunction"))
            if response["statusCode"] != 200:
                raise RuntimeError(f"webhook answered {response['statusCode']}")
            for result in runner.drain():
                if result.failed:
                    raise RuntimeError(f"processor failed {len(result.failed)} record(s)")

        now = int(time.time())
        gc.collect()
        rss_after_setup = _status_kib("VmRSS")
        warm_up = (samples / f"{kind}_warm_up").read_bytes()
        warm_up_id = sandbox.add_media(warm_up, _mime(kind))
        warm_up_raw = _webhook_body(
            kind, warm_up_id, warm_up, message_id="wamid.BENCHMEDIAWARMUP01", customer=WARM_UP_CUSTOMER, timestamp=now - 10
        )
        deliver(warm_up_raw)
        uploads_before, chats_before, sent_before = len(openai.uploads), len(openai.chat_request_bytes), len(sandbox.sent)

        data = (samples / kind).read_bytes()
        media_id = sandbox.add_media(data, _mime(kind))
        customer = (DEMO.customer_wa_id, DEMO.customer_user_id, DEMO.customer_name)
        raw = _webhook_body(kind, media_id, data, message_id="wamid.BENCHMEDIAMEASURED1", customer=customer, timestamp=now - 5)
        router.requests.clear()
        router.downloaded_bytes = 0
        gc.collect()
        rss_before, peak_before = _status_kib("VmRSS"), _max_rss_kib()
        reset = _reset_peak_rss() if mode == "rss" else False
        tracer.armed = mode == "tracemalloc"
        hooks.counting = True
        deliver(raw)
        peak_after = _max_rss_kib()
        hooks.counting = False

        counts = _outcome(kind, provider, stack, sandbox, openai, router, hooks, data, media_id, customer[0])
        counts["transcription_requests"] = len(openai.uploads) - uploads_before
        counts["chat_requests"] = len(openai.chat_request_bytes) - chats_before
        counts["replies_sent"] = len(sandbox.sent) - sent_before
        if counts["transcription_requests"] != (1 if (kind, provider) == ("voice_note", "openai") else 0):
            raise RuntimeError(f"{counts['transcription_requests']} transcription requests for one {kind} ({provider})")
    if mode == "tracemalloc":
        return {**tracer.report(), "counts": counts}
    return {
        "rss_kib_after_setup": rss_after_setup,
        "rss_kib_before": rss_before,
        "peak_rss_kib_before": peak_before,
        "peak_rss_kib_after": peak_after,
        "peak_reset_before_message": reset,
        "message_delta_kib": peak_after - rss_before if rss_before is not None else None,
        "counts": counts,
    }


def _mime(kind: str) -> str:
    return VOICE_MIME if kind == "voice_note" else "application/pdf"


def _outcome(
    kind: str,
    provider: str,
    stack: Any,
    sandbox: Any,
    openai: Any,
    router: Router,
    hooks: AwsHooks,
    data: bytes,
    media_id: str,
    wa_id: str,
) -> dict[str, Any]:
    """What the message amounted to, checked: downloaded once, stored whole, understood, answered."""
    import boto3

    sha256 = hashlib.sha256(data).hexdigest()
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.resources["AtendeTable"].ref)
    items = [item for item in _scan(table) if item.get("media_sha256") == sha256]
    if len(items) != 1:
        raise RuntimeError(f"expected one inbound item with the media's digest, found {len(items)}")
    item = items[0]
    expected = "transcribed" if kind == "voice_note" else "read"
    if item.get("media_result") != expected:
        raise RuntimeError(f"media_result is {item.get('media_result')!r}, not {expected!r}")
    head = boto3.client("s3", region_name=stack.region).head_object(Bucket=stack.resources["MediaBucket"].ref, Key=item["media_key"])
    if sandbox.media[media_id].downloads != 1 or router.downloaded_bytes != len(data) or head["ContentLength"] != len(data):
        raise RuntimeError("the file was not downloaded once and stored whole")
    replies = [call for call in sandbox.sent if call.to == wa_id]
    if not replies:
        raise RuntimeError("no reply reached the customer")
    counts: dict[str, Any] = {
        "media_bytes": len(data),
        "downloads": sandbox.media[media_id].downloads,
        "downloaded_bytes": router.downloaded_bytes,
        "s3_object_bytes": head["ContentLength"],
        "media_result": item["media_result"],
        "http_requests": dict(sorted(router.requests.items())),
        "aws_calls": dict(sorted(hooks.calls.items())),
    }
    if kind == "voice_note":
        counts["media_seconds"] = int(item["media_seconds"])
    else:
        counts["media_pages"] = int(item["media_pages"])
        counts["understood_chars"] = len(item.get("understood", ""))
    if provider == "openai" and kind == "voice_note":
        upload = openai.uploads[-1]
        if upload.size != len(data) or upload.sha256 != sha256:
            raise RuntimeError("the transcription request did not carry the voice note whole")
        counts["transcription_upload_bytes"] = upload.size
        counts["transcription_request_bytes"] = upload.request_bytes
        counts["transcription_model"] = upload.fields.get("model")
    return counts


def _scan(table: Any) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main(argv: list[str]) -> int:
    kind, provider, mode, spec, out = argv
    if kind not in KINDS or provider not in PROVIDERS or mode not in PASSES:
        choices = " ".join("{" + ",".join(names) + "}" for names in (KINDS, PROVIDERS, PASSES))
        raise SystemExit(f"usage: python -m bench.media_memory {choices} SPEC OUT")
    forbid_remote_connections()
    result = run_case(kind, provider, mode, json.loads(Path(spec).read_text()))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
