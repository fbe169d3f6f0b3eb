"""Directional derivatives: a few evaluations, whatever the size of the input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ClassVar

import numpy as np
from pydantic import Field

from ..checker import Checker, Kink, Objective, Verdict, rounding_noise, within_one_sided


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
    directions: int = Field(default=3, ge=1)
    seed: int = Field(default=0, ge=0)

    def check(self, f: Objective, x: np.ndarray, analytic: np.ndarray, *, input: str) -> Verdict:
        """Each perturbed point is written into one buffer: the objectives keep nothing of
        their argument, and a fresh array of 10^6 elements per evaluation costs page
        faults worth a tenth of a pass."""
        h = self.step(x.dtype)
        tol = self.tolerance(x.dtype)
        g = np.asarray(analytic, dtype=np.float64)
        numeric, exact, exempt, kinks, noise = [], [], [], [], []
        evals = 0
        f0 = None
        step, point = np.empty_like(x), np.empty_like(x)
        for d, v in enumerate(self._directions(x.shape)):
            size, first = h, None
            for _ in range(4):
                np.multiply(v, size, out=step, casting="same_kind")
                fp = float(f(np.add(x, step, out=point)))
                kink = f.last_kink
                fm = float(f(np.subtract(x, step, out=point)))
                kink = kink or f.last_kink
                evals += 2
                first = first or kink
                if kink is None:
                    break
                size /= 10
            numeric.append((fp - fm) / (2 * size))
            noise.append(rounding_noise(max(abs(fp), abs(fm)), 2 * size, x.dtype))
            exact.append(float(np.vdot(g, v)))
            exempt.append(False)
            if first is not None:
                kinks.append(Kink(*first, (d,), one_sided=kink is not None))
            if kink is not None:
                if f0 is None:
                    f0 = float(f(x))
                    evals += 1
                exempt[-1] = within_one_sided(exact[-1], f0, fp, fm, size, tol)
        return self.verdict(
            input,
            np.array(exact),
            np.array(numeric),
            evals,
            x.dtype,
            kinks=kinks,
            exempt=np.array(exempt),
            index_map=[() for _ in exact],
            noise=np.array(noise),
            note=f"{self.directions} random directions; worst_index is not an element",
        )

    def _directions(self, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        shared = _SHARED.get()
        if shared is None:
            yield from _draw(self.seed, shape, self.directions)
            return
        key = (self.seed, shape, self.directions)
        if key not in shared:
            shared[key] = list(_draw(self.seed, shape, self.directions))
        yield from shared[key]


def _draw(seed: int, shape: tuple[int, ...], count: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    for _ in range(count):
        v = rng.random(shape)
        v -= 0.5
        v /= np.linalg.norm(v) or 1.0
        yield v


_SHARED: ContextVar[dict | None] = ContextVar("graphgrad_shared_directions", default=None)


@contextmanager
def shared_directions() -> Iterator[None]:
    """Within this block, directional checks with the same seed and shape reuse their
    directions: a graph check looks at a large input once as a whole and again in every
    gate that reads it, and drawing 3 directions of 10^6 elements costs about a forward
    pass of the 10^6-parameter net each time. The directions live only as long as the
    block."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


CHECKERS: list[type[Checker]] = [Directional]
