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
    """Median time of each workload, timed in rotation (see :func:`rotation`)."""
    return rotation(fns, repeats).medians


class Rotation:
    """Times of workloads run in rotation: ``rounds[k][i]`` is the median call time of
    workload ``i`` in round ``k``."""

    def __init__(self, samples: list[list[float]], rounds: list[list[float]]):
        self.medians = [statistics.median(s) for s in samples]
        self.rounds = rounds

    def ratio(self, i: int, j: int) -> float:
        """Median over rounds of workload i's time over workload j's in the same round:
        a slow spell of the machine (this VM has them, seconds long, at up to 2x) falls
        on both sides of each ratio."""
        return statistics.median(r[i] / r[j] for r in self.rounds)


def rotation(fns: list[Callable[[], object]], repeats: int) -> Rotation:
    """Several workloads timed in rotation, so that a machine that slows down or speeds
    up during the run affects all alike.

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
    samples: list[list[float]] = [[] for _ in fns]
    rounds: list[list[float]] = []
    for _ in range(repeats):
        this_round = []
        for fn, count, out in zip(fns, calls, samples, strict=True):
            gc.collect()
            block = []
            for _ in range(count):
                start = time.perf_counter()
                fn()
                block.append(time.perf_counter() - start)
            out.extend(block)
            this_round.append(statistics.median(block))
        rounds.append(this_round)
    return Rotation(samples, rounds)
