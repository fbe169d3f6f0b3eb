"""Finite differences element by element: central, forward, sparse and richardson."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import Field

from graphgrad.checker import (
    Checker,
    Kink,
    Objective,
    Verdict,
    relative_error,
    rounding_noise,
    within_one_sided,
)

SHRINKS = 3
EDGE_SHRINKS = 40
EDGE_SHARE = 2e-4
REFINE = (100.0, 1000.0)
REFINE_CAP = 1e-3
CONFIRM = 32


def base_step(h: float, x: float) -> float:
    """The step for an element of value x: ``h`` relative to |x| above 1, so that x + h
    differs from x (a fixed 1e-6 is below the spacing of floats at 2e10)."""
    return h * max(1.0, abs(x)) if np.isfinite(x) else h


def edge_shrink(step: float, share: float, limit: float) -> float:
    """The next step after one that moved ``share`` of the way to a domain edge: scaled
    so that the share falls to half the ``limit`` (it grows linearly with the step), or a
    tenth when the share is unknown (a non-finite value)."""
    if np.isfinite(share) and share > 0:
        return step * min(0.1, 0.5 * limit / share)
    return step / 10


def judge(checker: Checker, analytic: float, numeric: float, noise: float, dtype) -> str:
    """passed, failed or unresolved, for one element (``Checker.unresolved``)."""
    a, n, e = np.array([analytic]), np.array([numeric]), np.array([noise])
    hidden, coarse = checker.unresolved(a, n, e, dtype)
    if hidden[0] or coarse[0]:
        return "unresolved"
    rtol = checker.tolerance(dtype)
    return "failed" if relative_error(a, n, rtol, checker.atol)[0] > rtol else "passed"


def refine_order(checker: Checker, analytic, numeric, noise, skip, dtype) -> list[int]:
    """Which elements to estimate again: every unresolved one, then the ``CONFIRM`` worst
    failing ones, worst first (``skip`` marks those that must keep their step)."""
    rtol = checker.tolerance(dtype)
    hidden, coarse = checker.unresolved(analytic, numeric, noise, dtype)
    err = relative_error(np.asarray(analytic, float), np.asarray(numeric, float), rtol, checker.atol)
    failing = (err > rtol) & ~hidden & ~skip
    worst = np.flatnonzero(failing)[np.argsort(-err[failing], kind="stable")][:CONFIRM]
    return [*np.flatnonzero((hidden | coarse) & ~skip), *worst]


class _Elementwise(Checker):
    """Shared loop: perturb one element at a time on a working copy, then restore it.

    Per element: the step is scaled by |x|. A step that moves a gate's edge value
    (``Gate.edges``) by more than ``edge_share`` of its distance from the end of the
    domain, or gives a non-finite value, shrinks until it does not (the truncation error
    near a pole or a log grows with the step over the distance); an element whose step
    cannot get there is unresolved, never failed. A step that crosses a kink shrinks by
    tens up to ``SHRINKS`` times, then the element is judged against its one-sided
    differences. An element whose estimate rounding leaves unresolved, and each of the
    worst failing ones, is estimated again with Richardson's extrapolation at steps 100
    and 1,000 times larger, up to ``REFINE_CAP`` x max(1, |x|) and never near a kink or
    an edge; what stays unresolved makes the verdict inconclusive.
    """

    edge_share: ClassVar[float] = EDGE_SHARE
    """How close a step may come to a domain edge, as a share of the distance: central
    differences lose about 2 share^2 to truncation near a pole of order 2 (1/x^2), less
    near a log; forward ones about 1.5 share."""

    def indices(self, x: np.ndarray) -> Sequence[tuple[int, ...]]:
        return list(np.ndindex(x.shape))

    def noise(self, magnitude: float, step: float, dtype: np.dtype) -> float:
        """The rounding bound of one estimate at ``step`` (``rounding_noise``)."""
        return rounding_noise(magnitude, step, dtype)

    def check(self, f: Objective, x: np.ndarray, analytic: np.ndarray, *, input: str) -> Verdict:
        h = self.step(x.dtype)
        tol = self.tolerance(x.dtype)
        work = np.array(x, copy=True)
        indices = self.indices(x)
        n = len(indices)
        numeric, noise, steps = np.empty(n), np.empty(n), np.empty(n)
        exempt, near, stuck = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        kinks: list[Kink] = []
        counter = _Counter(f)
        f0: list[float] = []
        for k, idx in enumerate(indices):
            step, first, kink = base_step(h, float(np.real(x[idx]))), None, None
            edge_shrinks = kink_shrinks = 0
            while True:
                counter.magnitude = abs(f0[0]) if f0 else 0.0  # the rounding of this estimate's points
                estimate, kink = self.estimate(counter, work, idx, step, f0)
                share = counter.take_edge()
                if share > self.edge_share or not np.isfinite(estimate):
                    if edge_shrinks < EDGE_SHRINKS:
                        edge_shrinks, step = edge_shrinks + 1, edge_shrink(step, share, self.edge_share)
                        continue
                    stuck[k] = True
                    break
                first = first or kink
                if kink is None or kink_shrinks == SHRINKS:
                    break
                kink_shrinks, step = kink_shrinks + 1, step / 10
            numeric[k], steps[k], near[k] = estimate, step, edge_shrinks > 0
            noise[k] = self.noise(counter.magnitude, step, x.dtype)
            if first is None or stuck[k]:
                continue
            near[k] = True
            kinks.append(Kink(*first, idx, one_sided=kink is not None))
            if kink is not None:
                if not f0:
                    f0.append(float(counter(work)))
                fp, fm, taken = _sides(counter, work, idx, step * 10)
                exempt[k] = within_one_sided(float(analytic[idx]), f0[0], fp, fm, taken, tol, self.atol)
                counter.take_kink()
        picked = np.array([analytic[i] for i in indices], dtype=np.float64)
        self._refine(counter, work, indices, picked, numeric, noise, steps, near | stuck, x)
        note = None
        if stuck.any():
            numeric = np.where(stuck, picked, numeric)  # no estimate: judged unresolved below
            noise = np.where(stuck, np.inf, noise)
            note = f"{int(stuck.sum())} element(s) at the edge of a gate's domain: no step stays inside it"
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
            note=note,
        )

    def _refine(self, counter, work, indices, picked, numeric, noise, steps, near, x) -> None:
        """Richardson at larger steps for the elements rounding left unresolved, and for
        the worst failing ones (up to ``CONFIRM``): a real error persists at a step 100
        times larger, rounding does not (a sum of 10^5 terms is off by far more than a
        few ulps of its value). Always Richardson, never one difference at the larger
        step: its truncation error can equal a real error of a few rtol (a backward
        written as a difference at that step) and would pass it. Never for elements
        ``near`` a kink or a domain edge, nor past ``REFINE_CAP`` x max(1, |x|). Stops
        at the first failure confirmed."""
        dtype = x.dtype
        for k in refine_order(self, picked, numeric, noise, near | (steps <= 0), dtype):
            idx = indices[k]
            cap = base_step(REFINE_CAP, float(np.real(x[idx])))
            state = "unresolved"
            for factor in REFINE:
                big = min(steps[k] * factor, cap)
                if big <= steps[k] * 2:
                    break
                counter.magnitude = 0.0
                coarse_d = _central(counter, work, idx, big)
                fine_d = _central(counter, work, idx, big / 2)
                if counter.take_kink() is not None or counter.take_edge() > self.edge_share:
                    break
                numeric[k] = (4 * fine_d - coarse_d) / 3
                noise[k] = 3 * rounding_noise(counter.magnitude, big, dtype)
                state = judge(self, picked[k], numeric[k], noise[k], dtype)
                if state != "unresolved":
                    break
            if state == "failed":
                return

    def estimate(self, f, work, idx, h, f0) -> tuple[float, tuple | None]:
        raise NotImplementedError


class _Counter:
    """Counts evaluations and remembers the first kink crossed and how close any point
    came to a domain edge."""

    def __init__(self, f: Objective):
        self.f = f
        self.evals = 0
        self.kink = None
        self.edge = 0.0
        self.magnitude = 0.0

    def __call__(self, x: np.ndarray) -> float:
        self.evals += 1
        value = self.f(x)
        share = float(getattr(self.f, "last_edge", 0.0))
        if not np.isfinite(value) and share < 1.0:
            share = float("inf")  # no edge declared: the value alone says the step went too far
        self.edge = max(self.edge, share)
        if share < 1.0:  # past a domain edge, a value says nothing of f's rounding
            self.magnitude = max(self.magnitude, abs(value))
        if self.f.last_kink is not None and self.kink is None:
            self.kink = self.f.last_kink
        return value

    def take_kink(self):
        kink, self.kink = self.kink, None
        return kink

    def take_edge(self) -> float:
        edge, self.edge = self.edge, 0.0
        return edge


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
    return (fp - fm) / (hp - hm) if hp != hm else float("nan")


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
    edge_share: ClassVar[float] = 1e-5
    default_eps: ClassVar[dict[str, float]] = {"float64": 1e-6, "float32": 3e-3}
    default_rtol: ClassVar[dict[str, float]] = {"float64": 1e-4, "float32": 5e-2}

    def estimate(self, f, work, idx, h, f0):
        if not f0:
            f0.append(float(f(work)))
            f.take_kink()
        fp, hp = _at(f, work, idx, work[idx] + h)
        return ((fp - f0[0]) / hp if hp else float("nan")), f.take_kink()


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

    def noise(self, magnitude: float, step: float, dtype: np.dtype) -> float:
        """The table's finest step is step / 2^(levels-1), and extrapolating weighs it by
        about 2: rounding is that much louder than one central difference at ``step``."""
        return 2 * rounding_noise(magnitude, step / 2 ** (self.levels - 1), dtype)

    def estimate(self, f, work, idx, h, f0):
        table = [_central(f, work, idx, h / 2**j) for j in range(self.levels)]
        kink = f.take_kink()
        for m in range(1, self.levels):
            factor = 4.0**m
            table = [(factor * table[j + 1] - table[j]) / (factor - 1) for j in range(len(table) - 1)]
        return table[0], kink


CHECKERS: list[type[Checker]] = [Central, Forward, Sparse, Richardson]
