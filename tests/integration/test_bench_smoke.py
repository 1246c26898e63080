"""`make bench` must keep running as the code changes. Timings are not asserted here — speed is
measured by `make bench`, not by tests; this only proves every section still produces figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("webhook_cold_start", "webhook_warm_cpu", "verify_normalise_vs_pywa", "processor", "media_memory", "processor_cpu_vs_before")


@pytest.mark.slow
@pytest.mark.enable_socket  # child processes; they talk to nothing but in-process stubs
def test_quick_bench_runs_every_section():
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
    result = subprocess.run([sys.executable, "-m", "bench.run", "--quick"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for section in SECTIONS:
        assert "error" not in report[section], report[section]
    assert report["webhook_cold_start"]["aws_calls_first_event"] == {"secretsmanager.BatchGetSecretValue": 1, "sqs.SendMessageBatch": 1}
    _assert_processor_measured(report["processor"])
    _assert_bursts_measured(report["processor"]["bursts"])
    _assert_compared_with_before(report["processor_cpu_vs_before"])
    _assert_media_memory_measured(report["media_memory"])


def _assert_processor_measured(processor):
    # Every gate on, a message not part of a burst: snapshot, claim with its reply, commit.
    assert processor["tenant"] == {
        "hours_configured": True,
        "open_now": True,
        "out_of_hours": "notice",
        "flood_limit_per_minute": 20,
        "burst_pause_seconds": 3,
    }
    expected = {"dynamodb.BatchGetItem": 1, "dynamodb.UpdateItem": 1, "dynamodb.TransactWriteItems": 1}
    assert processor["per_message"]["by_operation"] == expected
    assert processor["goals"]["dynamodb_round_trips"] is True
    assert processor["llm_calls_per_message"] == 1
    cpu = processor["per_message"]
    assert cpu["cpu_ms"] > cpu["cpu_ms_excluding_moto"] > cpu["cpu_ms_excluding_fakes"] > 0


def _assert_bursts_measured(bursts):
    # The simulated clock makes these exact: the first message waits out the pause (3 s), comes
    # back with the others, and the last one of the burst waits for what is left of its own pause.
    expected = {"3": [2, 1, 2], "5": [2, 1, 1, 1, 2]}
    for size, deliveries in expected.items():
        burst = bursts[size]
        assert (burst["llm_calls"], burst["replies"], burst["llm_read_every_message"]) == (1, 1, True), burst["timeline"]
        assert burst["deliveries_per_message"] == deliveries, burst["timeline"]
        assert burst["held"] == 2
        assert burst["pass"] is True


def _assert_compared_with_before(comparison):
    # Fresh interpreters against two trees take too long for a smoke run: said, not failed.
    assert comparison["skipped"] == "the quick profile does not compare (make bench does)"
    assert comparison["pass"] is None


def _assert_media_memory_measured(media):
    assert sorted(media["cases"]) == ["pdf_openai", "voice_note_openai"]  # the quick profile: the SDK path only
    assert media["processor_memory_size_mb"] == 1024  # template.yaml
    for kind, result in (("voice_note", "transcribed"), ("pdf", "read")):
        case, size = media["cases"][f"{kind}_openai"], media["samples"][kind]["bytes"]
        counts = case["counts"]
        assert (counts["media_bytes"], counts["downloads"], counts["downloaded_bytes"], counts["s3_object_bytes"]) == (size, 1, size, size)
        assert counts["media_result"] == result
        assert counts["aws_calls"]["s3.PutObject"] == 1
        assert case["rss"]["peak_reset_before_message"] is True
        assert case["rss"]["peak_rss_kib_after"] >= case["rss"]["rss_kib_before"] > 0
        assert case["peak_rss_mb"] == round(case["rss"]["peak_rss_kib_after"] / 1024, 1)
        # The processor holds the downloaded file at least once while it handles the message.
        assert case["tracemalloc"]["handler_peak_mib"] >= size / 2**20
    voice = media["cases"]["voice_note_openai"]["counts"]
    assert (voice["transcription_requests"], voice["transcription_upload_bytes"]) == (1, media["samples"]["voice_note"]["bytes"])
    assert voice["media_seconds"] == media["samples"]["voice_note"]["seconds"]
    assert media["cases"]["pdf_openai"]["counts"]["media_pages"] == media["samples"]["pdf"]["pages"]
