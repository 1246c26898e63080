"""``make bench``: run every section, write bench/results/latest.json, print the same JSON.

    PYTHONPATH=layers/shared:. .venv/bin/python -m bench.run [--quick] [--strict] [--allow-download]

Each section runs in its own interpreter (this module again, with ``--section``) because they
must not share a process: moto patches botocore process-wide, the handlers cache clients and
settings per process exactly as per Lambda container, and their logs go to stdout, which here
carries only the report. Sections write their JSON to a file; their stdout is discarded.

Exit status: 0 when every section produced figures (goals may still fail, see "pass"), 1 when
a section crashed, or with ``--strict`` when any goal failed. A section that cannot run here
says why under "skipped" (its "pass" is null) and fails no goal.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.netguard import forbid_remote_connections
from bench.profiles import FULL, QUICK, Profile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results") / "latest.json"
SECTIONS = {
    "webhook_cold_start": "bench.coldstart",
    "webhook_warm_cpu": "bench.webhook_warm",
    "verify_normalise_vs_pywa": "bench.normalise",
    "processor": "bench.processor",
    "processor_tools": "bench.tools",
    "media_memory": "bench.media_memory",
    "processor_cpu_vs_before": "bench.processor_compare",
}
SECTION_TIMEOUT_SECONDS = 180
# media_memory builds a 16 MB voice note (Ogg CRCs in pure Python) and runs 8 fresh interpreters;
# processor_cpu_vs_before runs 12 (6 pairs), each ~15-25 s on a 2-core machine.
SECTION_TIMEOUTS = {"media_memory": 600, "processor_cpu_vs_before": 600}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    profile = replace(QUICK if args.quick else FULL, allow_download=args.allow_download)
    if args.section:
        _run_section_here(args.section, profile, Path(args.out))
        return 0
    report = _run_all(profile, args)
    text = json.dumps(report, indent=2)
    # A quick run is a smoke test (figures not to quote): it must not replace the real results.
    results = RESULTS.with_name("quick.json") if args.quick else RESULTS
    results.parent.mkdir(exist_ok=True)
    results.write_text(text + "\n")
    print(text)
    if any("error" in report[name] for name in SECTIONS):
        return 1
    return 1 if args.strict and not report["all_pass"] else 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer iterations: a smoke test, not figures to quote")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any goal is missed")
    parser.add_argument("--allow-download", action="store_true", help="let uv fetch wheels missing from its cache (cold-start layout)")
    parser.add_argument("--section", choices=sorted(SECTIONS), help=argparse.SUPPRESS)  # internal: one section, in this process
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.section and not args.out:
        parser.error("--section needs --out")
    return args


def _run_section_here(name: str, profile: Profile, out: Path) -> None:
    forbid_remote_connections()
    result = importlib.import_module(SECTIONS[name]).measure(profile)
    out.write_text(json.dumps(result))


def _run_all(profile: Profile, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    report: dict[str, Any] = {"machine": _machine(), "profile": asdict(profile)}
    with tempfile.TemporaryDirectory(prefix="atende-bench-") as scratch:
        for name in SECTIONS:
            report[name] = _run_section_process(name, args, Path(scratch) / f"{name}.json")
    # A skipped section (e.g. no git history to compare with) has no verdict: it fails nothing.
    report["all_pass"] = all(report[name].get("pass") is True or "skipped" in report[name] for name in SECTIONS)
    report["goals"] = {name: report[name].get("pass") for name in SECTIONS}
    report["duration_s"] = round(time.perf_counter() - started, 1)
    return report


def _run_section_process(name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    flags = [flag for flag, on in (("--quick", args.quick), ("--allow-download", args.allow_download)) if on]
    command = [sys.executable, "-m", "bench.run", "--section", name, "--out", str(out), *flags]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=SECTION_TIMEOUTS.get(name, SECTION_TIMEOUT_SECONDS),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {SECTION_TIMEOUTS.get(name, SECTION_TIMEOUT_SECONDS)} s"}
    if result.returncode != 0 or not out.exists():
        return {"error": f"exit status {result.returncode}", "stderr_tail": result.stderr[-4000:]}
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "architecture": platform.machine(),
        "cpu_count": os.cpu_count(),
        # Other work on the machine skews every figure; worth knowing when comparing runs.
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "git": _git(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _git() -> dict[str, Any]:
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


if __name__ == "__main__":
    sys.exit(main())
