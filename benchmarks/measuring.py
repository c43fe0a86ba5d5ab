"""Small helpers the benchmarks share: a timestamped progress line and latency summaries."""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Iterable


def log(*parts) -> None:
    """A progress line on stderr, e.g. ``[11:32:05] class of 30: starting a fresh server``."""
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


def p95(values: Iterable[float]) -> float:
    """Nearest-rank 95th percentile: the smallest value that at least 95 % of the values do not exceed."""
    s = sorted(values)
    if not s:
        raise ValueError("p95 needs at least one value, got none")
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def latency_summary(values: Iterable[float | None]) -> dict:
    """``{"n", "median_ms", "p95_ms", "max_ms"}`` of the values that are not None (all None when none are)."""
    xs = [v for v in values if v is not None]
    if not xs:
        return {"n": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    return {"n": len(xs), "median_ms": round(statistics.median(xs), 1), "p95_ms": round(p95(xs), 1),
            "max_ms": round(max(xs), 1)}
