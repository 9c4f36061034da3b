"""Timing shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

import time


def timed(fn, repeat: int = 1):
    """(best wall time over `repeat` runs, last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out
