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


@pytest.mark.slow
@pytest.mark.enable_socket  # child processes; they talk to nothing but in-process stubs
def test_quick_bench_runs_every_section():
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
    result = subprocess.run([sys.executable, "-m", "bench.run", "--quick"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    for section in ("webhook_cold_start", "webhook_warm_cpu", "verify_normalise_vs_pywa", "processor"):
        assert "error" not in report[section], report[section]
    assert report["processor"]["per_message"]["dynamodb"] == 3  # claim, profile, commit
    assert report["webhook_cold_start"]["aws_calls_first_event"] == {"secretsmanager.BatchGetSecretValue": 1, "sqs.SendMessageBatch": 1}
