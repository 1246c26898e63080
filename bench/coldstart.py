"""Section (a): webhook cold start against the floor of any boto3-based webhook.

Each run is a fresh ``python -I -S -B`` whose sys.path is only the deployment layout
(bench.layout). The floor imports boto3 and creates one SQS client; the handler imports the
function's module and answers one signed Meta text event, its AWS calls (two secrets, the
channel item, the enqueue) answered by bench.aws_stub at botocore's before-send hook.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.coldstart_child import MARKER
from bench.layout import Layout, build_layout
from bench.profiles import Profile
from bench.scenario import MetaText, signed_event, webhook_environment, webhook_scenario
from bench.stats import ratio, summary
from local.functions import function_dir
from local.template import load_template

GOAL = 1.3
FUNCTION = "WebhookFunction"
CHILD = Path(__file__).with_name("coldstart_child.py")
MODES = ("floor", "handler")
# Un-stubbed AWS requests would go to this closed local port: fail fast, never leave the machine.
_DEAD_PROXY = "http://127.0.0.1:9"

NOTE = (
    "Each run is a fresh `python -I -S -B` with sys.path = function/, layer/python/, runtime/ under "
    "build/bench (deps installed for this machine's architecture, all bytecode precompiled with "
    "unchecked-hash). wall = perf_counter around subprocess.run of the whole child (process spawn and "
    "interpreter start included; the child leaves with os._exit right after reporting, since a Lambda "
    "container is not torn down after its first answer); in_process = from the first line of the child script. Floor: import boto3 + "
    "Session().client('sqs'). Handler: import the function module + one signed Meta text event -> 200, "
    "AWS answered at botocore before-send (signing and parsing still run). One discarded warm-up per "
    f"contender; contenders alternate order every round. Measured on {platform.machine()}; Lambda runs arm64."
)


def measure(profile: Profile) -> dict[str, Any]:
    layout = build_layout(function_dir(FUNCTION), allow_download=profile.allow_download)
    child = _ChildRunner(layout, _write_scenario(layout), _handler_name(), _child_environment())
    for mode in MODES:
        child.run(mode)  # page cache and CPU caches warm; discarded
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for round_number in range(profile.cold_runs):
        for mode in MODES if round_number % 2 == 0 else MODES[::-1]:
            runs[mode].append(child.run(mode))
    return _report(runs)


class _ChildRunner:
    def __init__(self, layout: Layout, scenario: Path, handler: str, env: dict[str, str]) -> None:
        self._layout = layout
        self._scenario = scenario
        self._handler = handler
        self._env = env

    def run(self, mode: str) -> dict[str, Any]:
        command = [sys.executable, "-I", "-S", "-B", str(CHILD), mode, str(self._layout.root), str(self._scenario), self._handler]
        started = time.perf_counter()
        result = subprocess.run(command, env=self._env, capture_output=True, text=True, check=False)
        wall_ms = (time.perf_counter() - started) * 1000
        reported = [line for line in result.stdout.splitlines() if line.startswith(MARKER)]
        if result.returncode != 0 or not reported:
            raise RuntimeError(f"{mode} child failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return {"wall_ms": wall_ms, **json.loads(reported[-1].removeprefix(MARKER))}


def _handler_name() -> str:
    return str(load_template()["Resources"][FUNCTION]["Properties"]["Handler"])


def _write_scenario(layout: Layout) -> Path:
    meta = MetaText.load()
    scenario = {**webhook_scenario(), "event": signed_event(meta.raw)}
    path = layout.root / "scenario.json"
    path.write_text(json.dumps(scenario))
    return path


def _child_environment() -> dict[str, str]:
    """The function's environment and nothing of ours (no PYTHON*, no real AWS settings)."""
    return {
        **webhook_environment(),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",  # as Lambda sets it
        "HTTPS_PROXY": _DEAD_PROXY,
        "HTTP_PROXY": _DEAD_PROXY,
    }


def _report(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def ms(mode: str, key: str) -> dict[str, float]:
        return summary([run[key] for run in runs[mode]])

    floor_wall, handler_wall = ms("floor", "wall_ms"), ms("handler", "wall_ms")
    result = ratio(handler_wall["median"], floor_wall["median"])
    return {
        "floor_ms": {"wall": floor_wall, "in_process": ms("floor", "elapsed_ms")},
        "handler_ms": {
            "wall": handler_wall,
            "in_process": ms("handler", "elapsed_ms"),
            "import": ms("handler", "import_ms"),
            "first_event": ms("handler", "first_event_ms"),
        },
        "ratio_median": result,
        "ratio_p90": ratio(handler_wall["p90"], floor_wall["p90"]),
        "ratio_median_in_process": ratio(ms("handler", "elapsed_ms")["median"], ms("floor", "elapsed_ms")["median"]),
        "aws_calls_first_event": runs["handler"][0]["aws_calls"],
        "goal": GOAL,
        "pass": result <= GOAL,
        "note": NOTE,
    }
