"""Medians over repeats, with workloads timed in rotation."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

BLOCK_SECONDS = 0.02


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rotated_medians(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Medians of several workloads timed in rotation, so that a machine that slows down
    or speeds up during the run affects all alike.

    Each round runs every workload as a block of calls lasting about 20 ms (one call for
    slower ones): the first calls after another workload run with cold caches, and a
    sub-millisecond workload would otherwise be timed only cold. The garbage collector
    runs between blocks, untimed, so that cycles one workload leaves (micrograd's
    closures) are not collected inside the next one's time.
    """
    calls = []
    for fn in fns:
        start = time.perf_counter()
        fn()
        calls.append(max(1, min(50, int(BLOCK_SECONDS / max(time.perf_counter() - start, 1e-9)))))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, count, out in zip(fns, calls, times, strict=True):
            gc.collect()
            for _ in range(count):
                start = time.perf_counter()
                fn()
                out.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]
