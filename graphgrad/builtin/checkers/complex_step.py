"""The complex step: exact to machine precision, for gates that accept complex inputs."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from graphgrad.builtin.checkers.differences import Central
from graphgrad.checker import Checker, Objective, Verdict


class ComplexStep(Checker):
    """Every element, Im f(x + ih) / h: 1 evaluation per element, no cancellation.

    Exact to machine precision whatever h, for graphs whose gates all accept complex
    inputs (``Gate.complex_step = True``; every built-in gate does). A graph with a gate
    that does not is refused with a message naming it, never given a wrong answer.
    """

    name: ClassVar[str] = "complex_step"
    default_eps: ClassVar[dict[str, float]] = {"float64": 1e-20, "float32": 1e-10}

    def check(self, f: Objective, x: np.ndarray, analytic: np.ndarray, *, input: str) -> Verdict:
        if not f.complex_ok:
            return Verdict(
                input,
                self.name,
                False,
                float("inf"),
                (),
                0.0,
                0.0,
                0,
                note=f"complex_step cannot check this graph: {f.complex_refusal}",
            )
        if getattr(f, "at_kink", False):
            # i h moves no real part, so no kink is ever seen crossed, and the imaginary
            # part of max(0, ih) is one branch of the kink: central differences judge the
            # element against both one-sided slopes instead.
            verdict = Central.model_validate(self.model_dump(include={"rtol", "atol"})).check(
                f, x, analytic, input=input
            )
            verdict.checker = self.name
            extra = "a gate sits exactly at a kink: central differences (one-sided at the kink) used"
            verdict.note = f"{verdict.note}; {extra}" if verdict.note else extra
            return verdict
        h = self.step(x.dtype)
        work = x.astype(np.complex64 if x.dtype == np.float32 else np.complex128)
        indices = list(np.ndindex(x.shape))
        numeric = np.empty(len(indices))
        for k, idx in enumerate(indices):
            original = work[idx]
            work[idx] = original + 1j * h
            numeric[k] = np.imag(f(work)) / h
            work[idx] = original
        picked = np.array([analytic[i] for i in indices], dtype=np.float64)
        return self.verdict(input, picked, numeric, len(indices), x.dtype, index_map=indices)


CHECKERS: list[type[Checker]] = [ComplexStep]
