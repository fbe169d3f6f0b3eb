"""Finite differences element by element: central, forward, sparse and richardson."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import Field

from ..checker import Checker, Kink, Objective, Verdict, rounding_noise, within_one_sided

SHRINKS = 3


class _Elementwise(Checker):
    """Shared loop: perturb one element at a time on a working copy, then restore it."""

    def indices(self, x: np.ndarray) -> Sequence[tuple[int, ...]]:
        return list(np.ndindex(x.shape))

    def check(self, f: Objective, x: np.ndarray, analytic: np.ndarray, *, input: str) -> Verdict:
        h = self.step(x.dtype)
        tol = self.tolerance(x.dtype)
        work = np.array(x, copy=True)
        indices = self.indices(x)
        numeric = np.empty(len(indices))
        noise = np.empty(len(indices))
        exempt = np.zeros(len(indices), dtype=bool)
        kinks: list[Kink] = []
        counter = _Counter(f)
        f0: list[float] = []
        for k, idx in enumerate(indices):
            step, first = h, None
            for _ in range(SHRINKS + 1):
                estimate, kink = self.estimate(counter, work, idx, step, f0)
                first = first or kink
                if kink is None:
                    break
                step /= 10
            numeric[k] = estimate
            noise[k] = rounding_noise(counter.magnitude, step, x.dtype)
            if first is None:
                continue
            kinks.append(Kink(*first, idx, one_sided=kink is not None))
            if kink is not None:
                if not f0:
                    f0.append(float(counter(work)))
                fp, fm, taken = _sides(counter, work, idx, step * 10)
                exempt[k] = within_one_sided(float(analytic[idx]), f0[0], fp, fm, taken, tol)
                counter.take_kink()
        picked = np.array([analytic[i] for i in indices], dtype=np.float64)
        return self.verdict(
            input,
            picked,
            numeric,
            counter.evals,
            x.dtype,
            kinks=kinks,
            exempt=exempt,
            index_map=list(indices),
            noise=noise,
        )

    def estimate(self, f, work, idx, h, f0) -> tuple[float, tuple | None]:
        raise NotImplementedError


class _Counter:
    """Counts evaluations and remembers the first kink crossed."""

    def __init__(self, f: Objective):
        self.f = f
        self.evals = 0
        self.kink = None
        self.magnitude = 0.0

    def __call__(self, x: np.ndarray) -> float:
        self.evals += 1
        value = self.f(x)
        self.magnitude = max(self.magnitude, abs(value))
        if self.f.last_kink is not None and self.kink is None:
            self.kink = self.f.last_kink
        return value

    def take_kink(self):
        kink, self.kink = self.kink, None
        return kink


def _at(f, work, idx, value) -> tuple[float, float]:
    """f with one element set to ``value``; returns (f, the step actually taken)."""
    original = work[idx]
    work[idx] = value
    taken = float(work[idx] - original)
    out = float(f(work))
    work[idx] = original
    return out, taken


def _central(f, work, idx, h) -> float:
    original = work[idx]
    fp, hp = _at(f, work, idx, original + h)
    fm, hm = _at(f, work, idx, original - h)
    return (fp - fm) / (hp - hm)


def _sides(f, work, idx, h) -> tuple[float, float, float]:
    original = work[idx]
    fp, hp = _at(f, work, idx, original + h)
    fm, _ = _at(f, work, idx, original - h)
    return fp, fm, hp


class Central(_Elementwise):
    """Every element, (f(x+h) - f(x-h)) / 2h: 2 evaluations per element.

    The default for inputs of up to 10,000 elements: exact up to O(h^2) and rounding.
    """

    name: ClassVar[str] = "central"

    def estimate(self, f, work, idx, h, f0):
        value = _central(f, work, idx, h)
        return value, f.take_kink()


class Forward(_Elementwise):
    """Every element, (f(x+h) - f(x)) / h: 1 evaluation per element (plus one).

    For when evaluations are dear. Its error is O(h), so its default tolerance is 1e-4
    (5e-2 in float32) rather than central's 1e-6.
    """

    name: ClassVar[str] = "forward"
    default_eps: ClassVar[dict[str, float]] = {"float64": 1e-6, "float32": 3e-3}
    default_rtol: ClassVar[dict[str, float]] = {"float64": 1e-4, "float32": 5e-2}

    def estimate(self, f, work, idx, h, f0):
        if not f0:
            f0.append(float(f(work)))
            f.take_kink()
        fp, hp = _at(f, work, idx, work[idx] + h)
        return (fp - f0[0]) / hp, f.take_kink()


class Sparse(Central):
    """Central differences at ``samples`` random elements (seeded), as CS231n's
    grad_check_sparse does: cheap for large inputs, blind to the elements it skips."""

    name: ClassVar[str] = "sparse"
    samples: int = Field(default=20, ge=1)
    seed: int = Field(default=0, ge=0)

    def indices(self, x: np.ndarray) -> list[tuple[int, ...]]:
        count = min(self.samples, x.size)
        if count == 0:
            return []
        flat = np.random.default_rng(self.seed).choice(x.size, size=count, replace=False)
        return [tuple(int(i) for i in np.unravel_index(k, x.shape)) for k in sorted(flat)]


class Richardson(_Elementwise):
    """Central differences at h, h/2, h/4, ... extrapolated (Richardson's table).

    For when float noise or curvature makes one step unreliable: a larger base step keeps
    rounding error down, and extrapolation removes the truncation error.
    2 x ``levels`` evaluations per element.
    """

    name: ClassVar[str] = "richardson"
    default_eps: ClassVar[dict[str, float]] = {"float64": 1e-3, "float32": 5e-2}
    levels: int = Field(default=4, ge=2, le=8)

    def estimate(self, f, work, idx, h, f0):
        table = [_central(f, work, idx, h / 2**j) for j in range(self.levels)]
        kink = f.take_kink()
        for m in range(1, self.levels):
            factor = 4.0**m
            table = [(factor * table[j + 1] - table[j]) / (factor - 1) for j in range(len(table) - 1)]
        return table[0], kink


CHECKERS: list[type[Checker]] = [Central, Forward, Sparse, Richardson]
