"""The Checker base class: a numerical estimate of a gradient, compared with the analytic one.

A checker is a pydantic model whose fields are its options. It is given an
:class:`Objective` (the graph's summed output as a function of one input, evaluated
through the compiled plan), the input's value and its analytic gradient, and returns a
:class:`Verdict`. It never raises on a mismatch: a wrong gradient is a result.

Relative error per element is ``|a - n| / max(|a|, |n|, atol / rtol)`` (graph-format.md).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class Kink:
    """A perturbation crossed a point where a gate is not differentiable."""

    node: str
    op: str
    element: tuple[int, ...]
    input_element: tuple[int, ...]
    one_sided: bool = False

    def as_dict(self) -> dict[str, Any]:
        """``one_sided``: no smaller step avoided the kink, so the analytic value was
        judged against the one-sided differences (a valid subgradient lies between)."""
        return {
            "node": self.node,
            "op": self.op,
            "element": list(self.element),
            "input_element": list(self.input_element),
            "one_sided": self.one_sided,
        }


class Objective(Protocol):
    """The graph's output, weighted to a scalar by the check's cotangent, as a function of
    one input.

    After each call, ``last_kink`` names the first kinked gate whose kink lies between
    the unperturbed point and the point just evaluated (or None), and ``last_edge``
    how far the point moved toward the end of a gate's domain (``Gate.edges``), as a
    share of the distance (1 or more: it reached or crossed it). ``at_kink`` says
    whether a gate sits exactly at a kink at the unperturbed point.
    """

    complex_ok: bool
    complex_refusal: str
    last_kink: tuple[str, str, tuple[int, ...]] | None
    last_edge: float
    at_kink: bool

    def __call__(self, x: np.ndarray) -> float | complex: ...


@dataclass(slots=True)
class Verdict:
    """The outcome of one checker on one input."""

    input: str
    checker: str
    passed: bool
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    evals: int
    kinks: list[Kink] = field(default_factory=list)
    note: str | None = None
    inconclusive: bool = False
    """Not passed, not failed: rounding left the numbers unable to tell (``note`` says
    what would resolve it). Counts as not passed."""

    @property
    def status(self) -> str:
        return "passed" if self.passed else "inconclusive" if self.inconclusive else "failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "input": self.input,
            "checker": self.checker,
            "passed": self.passed,
            "max_rel_error": self.max_rel_error,
            "worst_index": list(self.worst_index),
            "analytic": self.analytic,
            "numeric": self.numeric,
            "evals": self.evals,
            "kinks": [k.as_dict() for k in self.kinks],
            "note": self.note,
            "inconclusive": self.inconclusive,
        }


DEFAULT_EPS = {"float64": 1e-6, "float32": 1e-3}
DEFAULT_RTOL = {"float64": 1e-6, "float32": 1e-2}


class Checker(BaseModel):
    """A numerical gradient checker. Subclass it, set ``name``, implement ``check``.

    ``eps`` and ``rtol`` left unset take the per-dtype defaults of graph-format.md,
    or the checker's own ``default_eps`` / ``default_rtol`` where it declares them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: ClassVar[str]
    default_eps: ClassVar[dict[str, float]] = DEFAULT_EPS
    default_rtol: ClassVar[dict[str, float]] = DEFAULT_RTOL

    eps: float | None = Field(default=None, gt=0)
    rtol: float | None = Field(default=None, ge=0)
    atol: float = Field(default=1e-8, ge=0)

    def check(self, f: Objective, x: np.ndarray, analytic: np.ndarray, *, input: str) -> Verdict:
        raise NotImplementedError(f"checker {type(self).__name__} has no check")

    def step(self, dtype: np.dtype) -> float:
        return self.eps if self.eps is not None else self.default_eps[_float_name(dtype)]

    def tolerance(self, dtype: np.dtype) -> float:
        return self.rtol if self.rtol is not None else self.default_rtol[_float_name(dtype)]

    def verdict(
        self,
        input: str,
        analytic: np.ndarray,
        numeric: np.ndarray,
        evals: int,
        dtype: np.dtype,
        *,
        kinks: list[Kink] | None = None,
        exempt: np.ndarray | None = None,
        index_map: list[tuple[int, ...]] | None = None,
        note: str | None = None,
        noise: np.ndarray | None = None,
    ) -> Verdict:
        """Compare analytic and numeric estimates element by element.

        ``noise`` bounds the rounding error of each numeric estimate. An element fails
        only when it differs by more than the tolerance and by more than its noise; one
        whose difference rounding could explain, or whose agreement is finer than the
        numbers can resolve, is unresolved, and a verdict with unresolved elements and
        no failed one is *inconclusive*, never passed. ``exempt`` marks elements already
        judged (a kink whose one-sided bounds hold); ``index_map`` maps flat positions
        back to the input's indexes.
        """
        rtol = self.tolerance(dtype)
        a = np.asarray(analytic, dtype=np.float64).ravel()
        n = np.asarray(numeric, dtype=np.float64).ravel()
        err = relative_error(a, n, rtol, self.atol)
        bad = err > rtol
        unresolved = np.zeros_like(bad)
        if noise is not None:
            hidden, coarse = self.unresolved(a, n, noise, dtype)
            unresolved = hidden | coarse
            bad &= ~hidden
        if exempt is not None:
            keep = ~np.asarray(exempt, dtype=bool).ravel()
            bad &= keep
            unresolved &= keep
            err = np.where(keep, err, 0.0)
        if err.size == 0:
            return Verdict(input, self.name, True, 0.0, (), 0.0, 0.0, evals, kinks or [], note)
        inconclusive = not bad.any() and bool(unresolved.any())
        pool = bad if bad.any() else unresolved if inconclusive else np.ones_like(bad)
        ranked = np.where(pool, np.where(np.isnan(err), np.inf, err), -1.0)
        worst = int(np.argmax(ranked))
        max_err = float(err[worst]) if not np.isnan(err[worst]) else float("inf")
        if inconclusive:
            note = self._unresolved_note(note, np.asarray(noise).ravel()[unresolved], rtol)
        index = index_map[worst] if index_map is not None else ()
        return Verdict(
            input,
            self.name,
            not bad.any() and not inconclusive,
            max_err,
            tuple(int(i) for i in index),
            float(a[worst]),
            float(n[worst]),
            evals,
            kinks or [],
            note,
            inconclusive,
        )

    def _unresolved_note(self, note: str | None, bounds: np.ndarray, rtol: float) -> str | None:
        """What the rounding hid and what would resolve it (elements at a domain edge,
        with no bound at all, are already said by the checker's own note)."""
        finite = bounds[np.isfinite(bounds)]
        if not finite.size:
            return note
        others = [c for c in ("richardson", "complex_step") if c != self.name]
        how = {
            "richardson": "richardson (larger steps, extrapolated)",
            "complex_step": "complex_step (no rounding)",
        }
        extra = (
            f"inconclusive: for {finite.size} element(s) rounding in the output hides differences "
            f"up to {float(finite.max()):.3g}, too coarse for rtol {rtol:g}; to resolve it, take a large "
            "constant out of the output (a smaller offset), or check with --checker "
            + " or ".join(how[c] for c in others)
        )
        return f"{note}; {extra}" if note else extra

    def unresolved(
        self, analytic: np.ndarray, numeric: np.ndarray, noise: np.ndarray, dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray]:
        """Two masks: elements whose difference rounding could explain (``hidden``), and
        elements that agree more closely than the numbers resolve at the scale of this
        input's gradient (``coarse``). A checker may refine both with larger steps."""
        rtol = self.tolerance(dtype)
        a = np.asarray(analytic, dtype=np.float64).ravel()
        n = np.asarray(numeric, dtype=np.float64).ravel()
        noise = np.asarray(noise, dtype=np.float64).ravel()
        atol = self.atol
        bad = relative_error(a, n, rtol, atol) > rtol
        hidden = bad & (np.abs(a - n) <= noise)
        finite = np.concatenate([np.abs(a[np.isfinite(a)]), np.abs(n[np.isfinite(n)]), [0.0]])
        scale = rtol * max(float(finite.max()), atol / rtol if rtol > 0 else 0.0)
        coarse = ~bad & (noise * (RESOLUTION_FACTOR / NOISE_FACTOR) > scale)
        return hidden, coarse


def relative_error(a: np.ndarray, n: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """|a - n| / max(|a|, |n|, atol / rtol), elementwise.

    >>> float(relative_error(np.array([1.0]), np.array([1.001]), 1e-6, 1e-8)[0]) < 1e-3
    True
    """
    floor = atol / rtol if rtol > 0 else 0.0
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    diff = np.abs(a - n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, diff / np.where(denom > 0, denom, 1.0), np.where(diff > 0, np.inf, 0.0))
    return np.where(np.isnan(a) | np.isnan(n), np.inf, out)


NOISE_FACTOR = 64
RESOLUTION_FACTOR = 4


def rounding_noise(f_values: float, step: float, dtype: np.dtype) -> float:
    """A bound on the rounding error of a difference quotient of f over ``step``.

    f is a sum of many terms, so its own rounding error is a small multiple of machine
    epsilon times its magnitude; divided by the step, that is the noise floor below
    which a finite difference says nothing (``NOISE_FACTOR`` ulps: a bound). A few ulps
    (``RESOLUTION_FACTOR``) are what it resolves at best: a pass claimed below that
    is not supported by the numbers.
    """
    eps = np.finfo(np.float32 if _float_name(dtype) == "float32" else np.float64).eps
    return NOISE_FACTOR * eps * abs(f_values) / abs(step)


def within_one_sided(
    analytic: float, f0: float, f_plus: float, f_minus: float, h: float, tol: float, atol: float = 1e-8
) -> bool:
    """At a kink, an analytic value between the one-sided differences is a valid subgradient
    (with a slack relative to them, and ``atol`` for one-sided slopes of zero)."""
    right = (f_plus - f0) / h
    left = (f0 - f_minus) / h
    lo, hi = min(left, right), max(left, right)
    slack = tol * max(abs(lo), abs(hi)) + atol
    return lo - slack <= analytic <= hi + slack


def _float_name(dtype: np.dtype) -> str:
    return "float32" if np.dtype(dtype) in (np.float32, np.complex64) else "float64"


_SCOPE: ContextVar[dict | None] = ContextVar("graphgrad_check_scope", default=None)


@contextmanager
def check_scope() -> Iterator[None]:
    """One graph's check: within it, work that several checks of the same input repeat
    is done once. A large input is checked as a whole and again in every gate that
    reads it, with the same random directions and the same step, so at the same
    points: checkers share their directions, scratch arrays and those points
    (``remembered``, ``scratch``), and objectives the outputs of deterministic gates at
    a shared point (``shared_output``). Points are made only by the graph's own check
    of an input (``shares_points`` on its objective) and only read by the gates' checks,
    so the scope holds at most two copies of the checked inputs. Everything lives only
    as long as the block."""
    token = _SCOPE.set({})
    try:
        yield
    finally:
        _SCOPE.reset(token)


def remembered(key: tuple, anchors: tuple, make: Callable[[], Any] | None) -> Any:
    """``make()``, once per ``key`` within a ``check_scope`` (always outside one);
    ``make=None`` only looks: the value if one was made, else None.

    ``anchors`` are the objects the value was made from (keys hold their ``id``s): they
    are kept alive with it and compared by identity, so an id reused by a new object
    can never return a stale value."""
    scope = _SCOPE.get()
    if scope is None:
        return make() if make is not None else None
    hit = scope.get(key)
    if hit is not None and len(hit[0]) == len(anchors) and all(map(operator.is_, hit[0], anchors)):
        return hit[1]
    if make is None:
        return None
    value = make()
    scope[key] = (anchors, value)
    return value


def scratch(shape: tuple[int, ...], dtype: np.dtype, count: int = 2) -> tuple[np.ndarray, ...]:
    """``count`` scratch arrays; within a ``check_scope`` the last set made is kept and
    handed out again while the shape and dtype stay the same (consecutive checks of one
    input: a fresh array of 10^6 elements costs about a millisecond of page faults).
    One set only, so the scope holds no more scratch memory than one check needs."""
    scope = _SCOPE.get()
    held = scope.get("scratch") if scope is not None else None
    if held is not None and held[0] == (shape, np.dtype(dtype).str, count):
        return held[1]
    arrays = tuple(np.empty(shape, dtype) for _ in range(count))
    if scope is not None:
        scope["scratch"] = ((shape, np.dtype(dtype).str, count), arrays)
    return arrays


SHARE_BUDGET = 256 * 2**20
"""Bytes of shared points and remembered outputs a scope may hold beyond the first
input's points (which it always may): the reuse saves passes, never memory."""


def may_share(nbytes: int) -> bool:
    """Whether the scope can hold ``nbytes`` more of points or outputs."""
    scope = _SCOPE.get()
    if scope is None:
        return False
    held = scope.get("shared_bytes", 0)
    return held == 0 or held + nbytes <= SHARE_BUDGET


def share_points(*points: np.ndarray) -> None:
    """Mark arrays (points a checker evaluates an objective at, never written again
    within the scope) whose gate outputs objectives may remember (``shared_output``)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.setdefault("points", {}).update({id(p): p for p in points})
        scope["shared_bytes"] = scope.get("shared_bytes", 0) + sum(p.nbytes for p in points)


def shared_output(owner: object, args: list, compute: Callable[[], Any]) -> Any:
    """A deterministic gate's output at ``args`` when one of them is a shared point:
    computed by the first objective that evaluates it, then reused (the graph's check
    and the gate's own check evaluate ``X @ (W + hv)`` alike), within ``SHARE_BUDGET``.
    Else ``compute()``."""
    scope = _SCOPE.get()
    points = scope.get("points") if scope is not None else None
    if not points or not any(id(a) in points for a in args):
        return compute()
    key, anchors = ("output", id(owner), *map(id, args)), (owner, *args)
    held = remembered(key, anchors, None)
    if held is not None:
        return held
    out = compute()
    nbytes = int(getattr(out, "nbytes", 0))
    if may_share(nbytes):
        remembered(key, anchors, lambda: out)
        scope["shared_bytes"] = scope.get("shared_bytes", 0) + nbytes
    return out
