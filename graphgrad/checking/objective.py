"""Functions that checkers differentiate numerically, evaluated through the compiled plan.

:class:`GraphObjective` is the whole graph's output, weighted by the check's cotangent
(graph-format.md "check": <output, u>, or the output itself when it is a scalar), as a
function of one input;
:class:`GateObjective` is one gate's output, weighted by a fixed upstream gradient, as a
function of one of its inputs (for per-gate blame). Both re-run only what the perturbed
value reaches, on a copy of the slot list, and both notice when a perturbation crosses
a kink of a gate (``Gate.kinks``) or the end of its domain (``Gate.edges``).
"""

from __future__ import annotations

import numpy as np

from graphgrad.checker import shared_output
from graphgrad.engine.plan import Plan, Step
from graphgrad.gate import Gate

KinkHit = tuple[str, str, tuple[int, ...]]


def crossed(gate: Gate, base: np.ndarray | None, args: list, node: str, op: str) -> KinkHit | None:
    """The first element whose kink value changed sign (or touches zero) since ``base``."""
    if base is None:
        return None
    new = np.real(np.asarray(gate.kinks(*args)))
    moved = new != base
    if not moved.any():
        return None
    hit = moved & ((np.sign(new) != np.sign(base)) | (base == 0) | (new == 0))
    if not hit.any():
        return None
    index = np.unravel_index(int(np.argmax(hit)), hit.shape) if hit.ndim else ()
    return node, op, tuple(int(i) for i in index)


def _kink_base(gate: Gate, args: list) -> np.ndarray | None:
    k = gate.kinks(*args)
    return None if k is None else np.real(np.asarray(k)).copy()


def _edge_base(gate: Gate, args: list) -> np.ndarray | None:
    e = gate.edges(*args)
    return None if e is None else np.real(np.asarray(e)).copy()


def _edge_ratio(gate: Gate, base: np.ndarray | None, args: list) -> float:
    """How far the perturbation moved toward the end of the gate's domain, as a share of
    the distance: max |e' - e| / |e| over the edge values e (1 or more: it reached or
    crossed the edge). 0 for a gate without edges; inf where e is already 0."""
    if base is None:
        return 0.0
    new = np.real(np.asarray(gate.edges(*args)))
    moved = np.abs(new - base)
    if not moved.any():
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(moved > 0, moved / np.abs(base), 0.0)
    crossed = (np.sign(new) != np.sign(base)) & (base != 0)
    worst = float(np.max(share)) if share.size else 0.0
    return max(worst, 1.0) if crossed.any() else worst


def _at_kink(base: np.ndarray | None) -> bool:
    return base is not None and bool(np.any(base == 0))


def widened(a: np.ndarray) -> np.ndarray:
    """float32 (complex64) widened to float64 (complex128); other arrays as they are.

    The numerical side of a check runs in double precision, as PyTorch's gradcheck asks
    of its users: a float32 graph's finite differences would otherwise drown in its own
    rounding. The analytic gradient stays the float32 engine's, judged with float32
    tolerances."""
    if a is None or a.dtype not in (np.float32, np.complex64):
        return a
    return a.astype(np.complex128 if a.dtype == np.complex64 else np.float64)


def _forward(step: Step, args: list) -> np.ndarray:
    """The step's forward; a deterministic gate's output at a point shared within the
    check scope is computed once for the graph's check and the gate's own."""
    if not type(step.gate).deterministic:
        return step.forward(*args)
    return shared_output(step, args, lambda: step.forward(*args))


class GraphObjective:
    """sum(u * output) as a function of the input in ``slot``; the rest stays as in ``values``.

    ``cotangent`` is u (None: the output is a scalar and is taken as it is).
    """

    def __init__(self, plan: Plan, values: list[np.ndarray], slot: int, cotangent: np.ndarray | None = None):
        self.plan = plan
        self.values = [widened(v) for v in values]
        self.slot = slot
        self.cotangent = None if cotangent is None else np.asarray(cotangent, dtype=np.float64)
        reached = {slot}
        self.steps: list[Step] = []
        for step in plan.steps:
            if reached.intersection(step.ins):
                reached.add(step.out)
                self.steps.append(step)
        wide = self.values  # kinks and edges compared in the precision the points are evaluated in
        self.kink_base = {s.out: _kink_base(s.gate, [wide[i] for i in s.ins]) for s in self.steps}
        self.edge_base = {s.out: _edge_base(s.gate, [wide[i] for i in s.ins]) for s in self.steps}
        self.has_edges = any(e is not None for e in self.edge_base.values())
        self.at_kink = any(_at_kink(b) for b in self.kink_base.values())
        self.pure = all(type(s.gate).deterministic for s in self.steps)
        """No gate it runs writes into its inputs, so a checker may evaluate it at a
        point it shares with other checks (``Directional``)."""
        self.shares_points = self.pure
        """The graph's check of an input makes the points the gates' checks then reuse."""
        refusing = [s for s in self.steps if not type(s.gate).complex_step]
        self.complex_ok = not refusing
        self.complex_refusal = (
            f"node '{refusing[0].name}' ({refusing[0].op}, line {refusing[0].line}) does not "
            "accept complex inputs"
            if refusing
            else ""
        )
        self.last_kink: KinkHit | None = None
        self.last_edge = 0.0

    def __call__(self, x: np.ndarray) -> float | complex:
        values = list(self.values)
        values[self.slot] = widened(x)
        kink, edge = None, 0.0
        with np.errstate(all="ignore"):
            for step in self.steps:
                args = [values[i] for i in step.ins]
                if self.edge_base[step.out] is not None:
                    edge = max(edge, _edge_ratio(step.gate, self.edge_base[step.out], args))
                values[step.out] = np.asarray(_forward(step, args))
                if kink is None:
                    kink = crossed(step.gate, self.kink_base[step.out], args, step.name, step.op)
            out = values[self.plan.output]
            total = np.sum(out) if self.cotangent is None else np.sum(self.cotangent * out)
        self.last_kink, self.last_edge = kink, edge
        return complex(total) if np.iscomplexobj(total) else float(total)


class GateObjective:
    """sum(upstream * gate(..., x_k, ...)) as a function of argument ``k``."""

    def __init__(self, step: Step, args: list[np.ndarray], k: int, upstream: np.ndarray):
        self.step = step
        args = [widened(a) for a in args]
        self.args = args
        self.k = k
        self.upstream = upstream
        self.kink_base = _kink_base(step.gate, args)
        self.edge_base = _edge_base(step.gate, args)
        self.has_edges = self.edge_base is not None
        self.at_kink = _at_kink(self.kink_base)
        self.upstream64 = np.asarray(upstream, dtype=np.float64)
        self.pure = type(step.gate).deterministic
        self.shares_points = False  # reads the graph check's points, makes none
        self.complex_ok = type(step.gate).complex_step
        self.complex_refusal = "" if self.complex_ok else f"gate {step.op} does not accept complex inputs"
        self.last_kink: KinkHit | None = None
        self.last_edge = 0.0

    def __call__(self, x: np.ndarray) -> float | complex:
        """Summed in float64 whatever the gate's dtype: a float32 gate's own rounding is
        its business, the objective's sum must not add to it."""
        args = list(self.args)
        args[self.k] = widened(x)
        self.last_edge = _edge_ratio(self.step.gate, self.edge_base, args)
        with np.errstate(all="ignore"):
            total = np.sum(self.upstream64 * _forward(self.step, args))
        self.last_kink = crossed(self.step.gate, self.kink_base, args, self.step.name, self.step.op)
        return complex(total) if np.iscomplexobj(total) else float(total)
