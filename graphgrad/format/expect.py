"""A file's ``expect:`` section: parsed at load time, compared after a run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphgrad.errors import Issue
from graphgrad.format.inputs import InputDef, to_array
from graphgrad.format.source import Document, Limits
from graphgrad.format.spec import ExpectSpec, Suggester, did_you_mean


@dataclass(frozen=True, slots=True)
class Expected:
    """Known answers as arrays, with the tolerances to compare them by."""

    value: np.ndarray | None
    grads: dict[str, np.ndarray]
    rtol: float
    atol: float


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One expectation that did not hold, with the worst element."""

    what: str
    index: tuple[int, ...]
    expected: float
    actual: float
    rtol: float = 1e-7
    atol: float = 1e-9

    def __str__(self) -> str:
        at = f" at {list(self.index)}" if self.index else ""
        return (
            f"{self.what}{at}: expected {self.expected!r}, got {self.actual!r} "
            f"(beyond rtol {self.rtol:g}, atol {self.atol:g}; loosen with expect.rtol)"
        )


def parse_expect(
    spec: ExpectSpec, doc: Document, inputs: dict[str, InputDef], limits: Limits, issues: list[Issue]
) -> Expected:
    """Arrays for ``expect.value`` and ``expect.grads``; bad entries become issues."""
    value = _array(spec.value, ("expect", "value"), doc, limits, issues, "expect value")
    grads = {}
    options = Suggester(n for n, d in inputs.items() if d.grad)
    for name, raw in spec.grads.items():
        loc = ("expect", "grads", name)
        if name not in options:
            hint = did_you_mean(name, options)
            issues.append(doc.issue(loc, f"expect: no differentiable input named '{name}'{hint}", key=True))
            continue
        grad = _array(raw, loc, doc, limits, issues, f"expect grads.{name}")
        if grad is not None and not _broadcasts(grad.shape, inputs[name].value.shape):
            msg = (
                f"expect: grads.{name} has shape {list(grad.shape)}, but input '{name}' "
                f"has shape {list(inputs[name].value.shape)}"
            )
            issues.append(doc.issue(loc, msg))
        elif grad is not None:
            grads[name] = grad
    return Expected(value, grads, spec.rtol, spec.atol)


def _array(raw, loc, doc, limits, issues, who) -> np.ndarray | None:
    if raw is None:
        return None
    try:
        return to_array(raw, loc, None, "float64", limits, who=who)
    except ValueError as exc:
        issues.append(doc.issue(loc, str(exc)))
        return None


def _broadcasts(small: tuple, shape: tuple) -> bool:
    try:
        return np.broadcast_shapes(small, shape) == shape
    except ValueError:
        return False


def compare(expected: Expected, value: np.ndarray, grads: dict[str, np.ndarray]) -> list[Mismatch]:
    """Every expectation that ``numpy.allclose`` with the file's tolerances rejects."""
    pairs = [("value", expected.value, value)]
    pairs += [(f"gradient of {n}", e, grads[n]) for n, e in expected.grads.items()]
    out = []
    for what, want, got in pairs:
        if want is None:
            continue
        got = np.asarray(got, dtype=np.float64)
        want = np.broadcast_to(want, got.shape)
        close = np.isclose(got, want, rtol=expected.rtol, atol=expected.atol, equal_nan=False)
        if not close.all():
            excess = np.where(close, -np.inf, np.abs(got - want) - expected.rtol * np.abs(want))
            excess = np.where(np.isnan(excess), np.inf, excess)
            idx = np.unravel_index(int(np.argmax(excess)), got.shape)
            index = tuple(int(i) for i in idx)
            out.append(Mismatch(what, index, float(want[idx]), float(got[idx]), expected.rtol, expected.atol))
    return out
