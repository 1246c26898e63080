"""Section (f): processor CPU per text message, now against the code before the engine rework.

The same measurement as bench.processor's steady state (``measure_steady``: webhook → FIFO
queue → QueueRunner → the real processor handler, under moto) runs in fresh interpreters against
two trees on this machine: the working tree, and BEFORE_COMMIT extracted from git history.
Runs alternate (before, now, now, before, …: drifts of the machine hit both sides alike) and the
verdict is the median of the per-pair ratios now/before, with their standard deviation as the
noise.

Each child imports ``bench`` from this working tree and ``atende``/``local``/``functions``/
``template.yaml`` from the tree under test: its working directory is a scratch folder holding
only a ``bench`` link (first on sys.path with ``-m``), PYTHONPATH names that tree. Both trees
get the same tenant settings (every gate on, computed here with the current code); the older
tree does not read the ones it does not know. Without the commit in the history (a shallow
clone, a source archive) the section is skipped with a note.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.profiles import Profile

ROOT = Path(__file__).resolve().parent.parent
# The last commit before the engine work began (the reply pipeline as named steps came later).
BEFORE_COMMIT = "6daf3e6"
METRIC = "cpu_ms_excluding_fakes"  # the processor's own CPU: neither moto nor the Graph sandbox
RUN_TIMEOUT_SECONDS = 240
NOTE = (
    f"CPU per steady-state text message ({METRIC}: without the CPU of moto and of the Graph sandbox, "
    "which differ between the trees' harnesses; ratios with them left in are reported too), the working "
    f"tree (uncommitted edits included) vs {BEFORE_COMMIT} (git archive), each run a fresh interpreter, runs alternating "
    "ABBA. ratio = median of the per-pair ratios now/before; noise = their standard deviation (one "
    "pair's run-to-run spread; 0 with a single pair); pass = ratio <= 1 + noise. Same scenario and "
    "tenant item in both trees (every gate on for the current code: the older one has no gates)."
)


def measure(profile: Profile) -> dict[str, Any]:
    if not profile.compare_pairs:
        return {"skipped": f"the {profile.name} profile does not compare (make bench does)", "pass": None, "note": NOTE}
    commit = _resolve(BEFORE_COMMIT)
    if commit is None:
        return {"skipped": _why_missing(), "before_commit": BEFORE_COMMIT, "pass": None, "note": NOTE}
    from bench.processor import all_gates_settings

    settings = all_gates_settings(time.time())
    with tempfile.TemporaryDirectory(prefix="atende-before-") as scratch:
        before = Path(scratch) / "tree"
        _extract(commit, before)
        shim = Path(scratch) / "shim"
        shim.mkdir()
        (shim / "bench").symlink_to(ROOT / "bench", target_is_directory=True)
        trees = {"before": before, "now": ROOT}
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "now": []}
        for pair in range(profile.compare_pairs):
            order = ("before", "now") if pair % 2 == 0 else ("now", "before")
            for side in order:
                runs[side].append(_run(trees[side], shim, profile, settings, Path(scratch) / f"{side}-{pair}.json"))
    return _report(commit, runs, profile)


def _report(commit: str, runs: dict[str, list[dict[str, Any]]], profile: Profile) -> dict[str, Any]:
    def ratios(metric: str) -> list[float]:
        return [now[metric] / before[metric] for before, now in zip(runs["before"], runs["now"], strict=True)]

    pairs = ratios(METRIC)
    ratio = statistics.median(pairs)
    noise = statistics.stdev(pairs) if len(pairs) > 1 else 0.0
    return {
        "before_commit": commit,
        "messages_per_run": profile.compare_messages,
        "pairs": len(pairs),
        "metric": METRIC,
        "before_ms": _side(runs["before"]),
        "now_ms": _side(runs["now"]),
        "pair_ratios": [round(r, 3) for r in pairs],
        "ratio_now_over_before": round(ratio, 3),
        "noise": round(noise, 3),
        # The same, with the fakes' CPU left in: moto's share grows with what each tree stores.
        "ratio_excluding_moto_only": round(statistics.median(ratios("cpu_ms_excluding_moto")), 3),
        "ratio_with_moto": round(statistics.median(ratios("cpu_ms")), 3),
        "dynamodb_per_message": {"before": runs["before"][0]["dynamodb"], "now": runs["now"][0]["dynamodb"]},
        "goal": "ratio <= 1 + noise",
        "pass": ratio <= 1 + noise,
        "note": NOTE,
    }


def _side(runs: list[dict[str, Any]]) -> dict[str, Any]:
    own = [run[METRIC] for run in runs]
    return {
        METRIC: [round(x, 3) for x in own],
        "median": round(statistics.median(own), 3),
        # run-to-run spread of one tree (coefficient of variation)
        "cv": round(statistics.stdev(own) / statistics.fmean(own), 3) if len(own) > 1 else 0.0,
        "cpu_ms_with_moto_median": round(statistics.median(run["cpu_ms"] for run in runs), 3),
    }


def _run(tree: Path, shim: Path, profile: Profile, settings: dict[str, Any], out: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.processor_compare",
        "--messages",
        str(profile.compare_messages),
        "--contacts",
        str(profile.processor_contacts),
        "--settings",
        json.dumps(settings),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "layers" / "shared"), str(tree)])}
    result = subprocess.run(
        command, cwd=shim, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"run against {tree} failed ({result.returncode}): {result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.read_text())
    if Path(figures["tree"]) != tree.resolve():
        raise RuntimeError(f"a run meant for {tree} imported atende from {figures['tree']}")
    return figures


# --- git -----------------------------------------------------------------------------------


def _git(*arguments: str, text: bool = True) -> Any:
    return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=text, check=True).stdout


def _resolve(commit: str) -> str | None:
    try:
        return str(_git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")).strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def _why_missing() -> str:
    try:
        shallow = str(_git("rev-parse", "--is-shallow-repository")).strip() == "true"
    except (OSError, subprocess.CalledProcessError):
        return f"no git history here: {BEFORE_COMMIT} cannot be checked out for the comparison"
    if shallow:
        return f"shallow clone: {BEFORE_COMMIT} is not in the history (git fetch --unshallow to compare)"
    return f"{BEFORE_COMMIT} is not in this repository's history"


def _extract(commit: str, into: Path) -> None:
    """The commit's files, read-only for the repository (no worktree registered, no checkout)."""
    archive = _git("archive", "--format=tar", commit, text=False)
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


# --- one run, in the child --------------------------------------------------------------------


def child(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.processor_compare")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--settings", required=True, help="tenant attributes (JSON)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    from moto import mock_aws

    from bench.netguard import forbid_remote_connections
    from bench.processor import apply_tenant_settings, measure_steady, start_pipeline
    from bench.scenario import RUNTIME_ENV, apply_environment

    forbid_remote_connections()
    apply_environment({**RUNTIME_ENV, "POWERTOOLS_TRACE_DISABLED": "true"})
    with mock_aws():
        pipeline = start_pipeline()
        apply_tenant_settings(pipeline.stack, json.loads(args.settings))
        steady = measure_steady(pipeline, args.messages, args.contacts)
    per_message = steady["per_message"]
    keys = ("cpu_ms", "moto_cpu_ms", "graph_sandbox_cpu_ms", "cpu_ms_excluding_moto", METRIC, "dynamodb")
    figures = {key: per_message[key] for key in keys}
    import atende

    tree = Path(atende.__file__).resolve().parents[3]  # <tree>/layers/shared/atende/__init__.py
    Path(args.out).write_text(json.dumps({**figures, "tree": str(tree)}))
    return 0


if __name__ == "__main__":
    sys.exit(child())
