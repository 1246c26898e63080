"""How much work each section does: the full run for `make bench`, a quick one for smoke tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    cold_runs: int  # fresh interpreters per contender (plus one discarded warm-up each)
    warm_messages: int  # signed Meta events through the warm webhook, after warm-up
    warmup_messages: int
    normalise_messages: int  # payloads through verify + normalise, ours and pywa's
    blocks: int  # CPU samples per contender: messages are timed in this many blocks, taking turns
    processor_messages: int  # inbound texts through webhook -> queue -> processor under moto
    processor_contacts: int  # spread over this many customers (memory grows per contact)
    # media_memory: file sizes as a fraction of a tenant's default caps (1.0 = the largest allowed),
    # and the understanding providers measured (each case runs twice, in fresh interpreters)
    media_fraction_of_limits: float
    media_providers: tuple[str, ...]
    # processor_compare: alternating pairs of fresh interpreters (before, now), texts per run (0 = skipped)
    compare_pairs: int
    compare_messages: int
    allow_download: bool = False  # let uv fetch wheels missing from its cache


FULL = Profile(
    name="full",
    cold_runs=25,
    warm_messages=2000,
    warmup_messages=200,
    normalise_messages=5000,
    blocks=20,
    processor_messages=200,
    processor_contacts=20,
    media_fraction_of_limits=1.0,
    media_providers=("openai", "local"),
    compare_pairs=6,
    compare_messages=80,
)

QUICK = Profile(
    # A smoke test (tests/integration/test_bench_smoke.py runs it on every `make test`): each
    # section's whole path once, with as few repetitions as still produce every figure. Fresh
    # interpreters are what it costs: one cold run per contender (after its warm-up) and the four
    # media children (each pays its imports and a provisioned stack) are most of its ~60 s.
    name="quick",
    cold_runs=1,
    warm_messages=50,
    warmup_messages=10,
    normalise_messages=100,
    blocks=5,
    processor_messages=8,
    processor_contacts=4,
    media_fraction_of_limits=1 / 16,  # 1 MiB voice note, 640 KiB PDF: proves the path, not the peak (smaller files
    # can leave the RSS peak below the RSS before the message, which the smoke test asserts)
    media_providers=("openai",),  # the SDK path (HTTP to a model); the offline one only in the full run
    # Two fresh interpreters cost ~16 s even with a handful of messages: the full profile only.
    compare_pairs=0,
    compare_messages=0,
)
