"""Summaries and CPU timing shared by the sections."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def summary(samples: Sequence[float], digits: int = 2) -> dict[str, float]:
    """Median and p90 first: a few slow outliers (GC, a noisy neighbour) should not move the verdict."""
    if not samples:
        raise ValueError("no samples to summarise")
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), digits),
        "p90": round(_p90(ordered), digits),
        "mean": round(statistics.fmean(ordered), digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
    }


def _p90(ordered: Sequence[float]) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=10, method="inclusive")[8]


def ratio(ours: float, floor: float) -> float:
    return round(ours / floor, 3) if floor else float("inf")


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def cpu_us_per_call(fn: Callable[[Any], object], args: Iterable[Any]) -> float:
    """Mean process CPU (µs) per call over one block.

    One clock read per block, not per call: at tens of µs per call the clock itself would
    otherwise be a visible share of what is measured.
    """
    args = list(args)
    started = time.process_time()
    for arg in args:
        fn(arg)
    return (time.process_time() - started) * 1e6 / len(args)


def interleaved_cpu(contenders: dict[str, Callable[[Any], object]], blocks: Sequence[Sequence[Any]]) -> dict[str, list[float]]:
    """µs/call per block for each contender, taking turns block by block.

    Taking turns spreads slow drifts of the machine (frequency scaling, other load) evenly over
    every contender instead of penalising whichever happened to run last.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for block in blocks:
        for name, fn in contenders.items():
            samples[name].append(cpu_us_per_call(fn, block))
    return samples
