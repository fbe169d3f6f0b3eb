"""Directional derivatives: a few evaluations, whatever the size of the input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
from pydantic import Field

from graphgrad.builtin.checkers.differences import (
    EDGE_SHARE,
    EDGE_SHRINKS,
    REFINE,
    REFINE_CAP,
    edge_shrink,
    judge,
    refine_order,
)
from graphgrad.checker import (
    Checker,
    Kink,
    Objective,
    Verdict,
    may_share,
    remembered,
    rounding_noise,
    scratch,
    share_points,
    within_one_sided,
)

MAX_DIRECTIONS = 100


class Directional(Checker):
    """Random unit directions v: the analytic g.v against (f(x+hv) - f(x-hv)) / 2h.

    v is drawn uniformly from the cube [-1/2, 1/2]^n and normalised: a continuous,
    symmetric distribution like the Gaussian (so an error is orthogonal to it with
    probability zero), at a quarter of the cost of drawing normals for a large input.

    2 evaluations per direction whatever the size of x: what makes checking a
    million-parameter graph cheap. One direction sums every element's error, so a bug
    confined to a few elements of a large input can hide below the tolerance; a bug
    whose error is orthogonal to every direction drawn cannot be seen at all. ``auto``
    pairs it with per-gate checks for that reason.
    """

    name: ClassVar[str] = "directional"
    edge_share: ClassVar[float] = EDGE_SHARE
    directions: int = Field(default=3, ge=1, le=MAX_DIRECTIONS)
    seed: int = Field(default=0, ge=0)

    def check(self, f: Objective, x: np.ndarray, analytic: np.ndarray, *, input: str) -> Verdict:
        """Steps, kinks, domain edges and unresolved directions are handled as the
        elementwise checkers handle elements (``differences._Elementwise``)."""
        scale = max(1.0, remembered(("largest", id(x)), (x,), lambda: largest(x)))
        h = self.step(x.dtype) * scale
        tol = self.tolerance(x.dtype)
        g = np.asarray(analytic, dtype=np.float64)
        numeric, exact, exempt, kinks, noise, near, sizes, stuck = [], [], [], [], [], [], [], []
        self._evals = 0
        f0 = None
        self._buffers = scratch(x.shape, x.dtype, 1)
        directions = list(self._directions(x.shape))
        for d, v in enumerate(directions):
            size, first, kink = h, None, None
            edge_shrinks = kink_shrinks = 0
            stuck.append(False)
            while True:
                shared = d == 0 and size == h and getattr(f, "pure", False)
                (fp, fm), kink, share = self._pair(f, x, v, size, shared=shared)
                if share > self.edge_share:
                    if edge_shrinks < EDGE_SHRINKS:
                        edge_shrinks, size = edge_shrinks + 1, edge_shrink(size, share, self.edge_share)
                        continue
                    stuck[-1] = True
                    break
                first = first or kink
                if kink is None or kink_shrinks == 3:
                    break
                kink_shrinks, size = kink_shrinks + 1, size / 10
            exact.append(float(np.vdot(g, v)))
            if stuck[-1]:
                numeric.append(exact[-1])  # no estimate: unresolved (infinite noise) below
                noise.append(float("inf"))
            else:
                numeric.append((fp - fm) / (2 * size))
                noise.append(rounding_noise(max(abs(fp), abs(fm)), 2 * size, x.dtype))
            exempt.append(False)
            near.append(first is not None or edge_shrinks > 0)
            sizes.append(size)
            if first is not None and not stuck[-1]:
                kinks.append(Kink(*first, (d,), one_sided=kink is not None))
                if kink is not None:
                    if f0 is None:
                        f0 = float(f(x))
                        self._evals += 1
                    exempt[-1] = within_one_sided(exact[-1], f0, fp, fm, size, tol, self.atol)
        numeric_a, noise_a = np.array(numeric), np.array(noise)
        exact_a = np.array(exact)
        cap = REFINE_CAP * scale
        for d in refine_order(self, exact_a, numeric_a, noise_a, np.array(near, dtype=bool), x.dtype):
            state = "unresolved"
            for factor in REFINE:
                big = min(sizes[d] * factor, cap)
                if big <= sizes[d] * 2:
                    break
                (bp, bm), kink_b, share_b = self._pair(f, x, directions[d], big)
                (sp, sm), kink_s, share_s = self._pair(f, x, directions[d], big / 2)
                if kink_b or kink_s or max(share_b, share_s) > self.edge_share:
                    break
                numeric_a[d] = (4 * (sp - sm) / big - (bp - bm) / (2 * big)) / 3
                noise_a[d] = 3 * rounding_noise(max(abs(bp), abs(bm)), 2 * big, x.dtype)
                state = judge(self, exact_a[d], numeric_a[d], noise_a[d], x.dtype)
                if state != "unresolved":
                    break
            if state == "failed":
                break
        note = f"{self.directions} random directions; worst_index is not an element"
        if any(stuck):
            note += f"; {sum(stuck)} direction(s) at the edge of a gate's domain: no step stays inside it"
        return self.verdict(
            input,
            exact_a,
            numeric_a,
            self._evals,
            x.dtype,
            kinks=kinks,
            exempt=np.array(exempt),
            index_map=[() for _ in exact],
            noise=noise_a,
            note=note,
        )

    def _pair(self, f: Objective, x: np.ndarray, v: np.ndarray, size: float, *, shared: bool = False):
        """f(x + size v) and f(x - size v), the first kink crossed, and how close either
        point came to a domain edge (inf for a non-finite value). Each perturbed point is
        written into one buffer: the objectives keep nothing of their argument, and a
        fresh array of 10^6 elements per evaluation costs page faults worth a tenth of a
        pass. ``shared`` (the first step of a direction, for an objective whose gates are
        all deterministic and so never write into it): the two points are made once per
        check scope, and every check of this input at this step evaluates the same two
        arrays (``checker.share_points``)."""
        points = None
        if shared:
            makes = getattr(f, "shares_points", False) and may_share(2 * x.nbytes)
            make = (lambda: self._points(x, v, size)) if makes else None
            points = remembered(("points", id(x), id(v), size), (x, v), make)
        if points is not None:
            plus, minus = points
        else:  # one scratch array, written twice: x + size v, then x - size v
            (plus,) = self._buffers
            np.multiply(v, size, out=plus, casting="same_kind")
            plus += x
            minus = plus
        fp = float(f(plus))
        kink, share = f.last_kink, float(getattr(f, "last_edge", 0.0))
        if minus is plus:
            np.multiply(v, -size, out=plus, casting="same_kind")
            plus += x
        fm = float(f(minus))
        kink, share = kink or f.last_kink, max(share, float(getattr(f, "last_edge", 0.0)))
        self._evals += 2
        finite = np.isfinite(fp) and np.isfinite(fm)
        return (fp, fm), kink, share if finite or share >= 1.0 else float("inf")

    def _points(self, x: np.ndarray, v: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        """x + size v and x - size v (the same numbers as ``_pair``'s buffers hold), each
        made in its own array without a step array: a fresh array of 10^6 elements costs
        about a millisecond of page faults the first time it is written."""
        plus, minus = np.multiply(v, size, dtype=x.dtype), np.multiply(v, -size, dtype=x.dtype)
        plus += x
        minus += x
        share_points(plus, minus)
        return plus, minus

    def _directions(self, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        """The first k directions of a seed are the same for any count, so a scope keeps
        the longest list drawn for (seed, shape) and every check takes its first k."""
        drawn = remembered(("directions", self.seed, shape), (), list)
        if len(drawn) < self.directions:
            drawn[:] = _draw(self.seed, shape, self.directions)
        yield from drawn[: self.directions]


def largest(x: np.ndarray) -> float:
    """max |x| (0 for an empty x), without the temporary ``np.abs(x)`` that costs a
    page-faulted array the size of x (1.3 ms at 10^6 elements, three times a check)."""
    if x.size == 0:
        return 0.0
    if x.dtype.kind == "c":
        return float(np.max(np.abs(x)))
    return max(float(np.max(x)), -float(np.min(x)))


def _draw(seed: int, shape: tuple[int, ...], count: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        v = rng.random(shape)
        v -= 0.5
        v /= np.linalg.norm(v) or 1.0
        yield v


CHECKERS: list[type[Checker]] = [Directional]
