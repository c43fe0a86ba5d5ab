"""benchmarks/measuring.py: the benchmarks' latency statistics."""

from __future__ import annotations

import pytest

from benchmarks.measuring import latency_summary, p95


def test_p95_is_the_nearest_rank_and_refuses_no_values():
    assert p95(range(1, 101)) == 95
    assert p95(range(1, 21)) == 19  # ceil(0.95 * 20) = 19th smallest
    assert p95([7.0]) == 7.0
    assert p95([5, 1, 4, 2, 3]) == 5  # order does not matter
    with pytest.raises(ValueError, match="at least one value"):
        p95([])


def test_latency_summary_skips_missing_values():
    assert latency_summary([None, 10.0, 30.0, None, 20.0]) == {"n": 3, "median_ms": 20.0, "p95_ms": 30.0, "max_ms": 30.0}
    assert latency_summary([None]) == {"n": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
