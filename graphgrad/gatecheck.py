"""Checking one gate alone: its backward against finite differences of its own forward.

Used twice: by ``verify.blame`` at the values a gate saw in a graph's forward pass, and
by ``graphgrad gates --check`` on random inputs of several shapes, broadcasting ones
included, for every registered gate. The second is what a plugin author runs first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np

from .checker import Checker, Verdict
from .checkers.differences import Central
from .checkers.directional import Directional
from .gate import Gate, sum_to
from .objective import GateObjective, widened
from .plan import Step
from .registry import GateType, Registry

LOCAL_FULL = 1_000
MakeChecker = Callable[[str, np.dtype, np.ndarray], Checker]


FLOAT32_FLOOR = 1e-4


def float32_tolerance(
    cls: type[Checker], settings: dict, dtype: np.dtype, analytic: np.ndarray | None = None
) -> Checker:
    """``cls`` built from ``settings``; for a float32 input (whose numerical side runs in
    float64, ``objective.widened``) with float32's tolerance unless rtol is set, and an
    absolute floor of at least ``FLOAT32_FLOOR`` of the gradient's largest element: the
    float32 sums that computed it are off by some ulps of their terms."""
    if np.dtype(dtype) not in (np.float32, np.complex64):
        return cls.model_validate(settings)
    settings = dict(settings)
    if settings.get("rtol") is None:
        settings["rtol"] = cls.default_rtol["float32"]
    if analytic is not None and analytic.size:
        largest = float(np.max(np.abs(analytic), initial=0.0, where=np.isfinite(analytic)))
        settings["atol"] = max(settings.get("atol", 1e-8), FLOAT32_FLOOR * largest)
    return cls.model_validate(settings)


def default_checkers(name: str, dtype: np.dtype, analytic: np.ndarray | None = None) -> Checker:
    return float32_tolerance({"central": Central, "directional": Directional}[name], {}, dtype, analytic)


def check_gate(
    step: Step,
    args: list[np.ndarray],
    upstream: np.ndarray,
    names: list[str],
    make_checker: MakeChecker = default_checkers,
    needed: list[bool] | None = None,
    quick: bool = False,
) -> list[Verdict]:
    """One verdict per float argument (failing ones first), with ``input`` set to its name.

    ``needed`` leaves out arguments whose gradient the graph never uses (an input with
    ``grad: false``): checking them would cost evaluations and blame nothing real.
    ``quick`` checks a small argument with ``directional`` first and runs ``central``
    (which names the wrong element) only when that fails: for a graph whose checks
    passed, where a fault is unlikely and a few evaluations should confirm it.
    """
    try:
        with np.errstate(all="ignore"):
            local = step.backward(upstream, np.asarray(step.forward(*args)), *args)
        if local is None or len(local) != len(args):
            raise ValueError(
                f"backward returned {0 if local is None else len(local)} gradients for {len(args)} inputs"
            )
    except Exception as exc:  # a plugin's backward may raise anything
        return [
            Verdict(names[0] if names else "?", "local", False, float("inf"), (), 0.0, 0.0, 0, note=repr(exc))
        ]
    verdicts = []
    for k, a in enumerate(args):
        if a.dtype.kind != "f" or names[k] == "literal" or (needed is not None and not needed[k]):
            continue
        if local[k] is None:
            verdicts.append(
                Verdict(
                    names[k],
                    "local",
                    False,
                    float("inf"),
                    (),
                    0.0,
                    0.0,
                    0,
                    note="backward returned None for a float input",
                )
            )
            continue
        try:
            g = sum_to(np.asarray(local[k]), a.shape)
        except ValueError as exc:
            verdicts.append(Verdict(names[k], "local", False, float("inf"), (), 0.0, 0.0, 0, note=str(exc)))
            continue
        objective = GateObjective(step, args, k, upstream)
        full = a.size <= LOCAL_FULL
        wide = widened(a)
        verdict = make_checker("central" if full and not quick else "directional", a.dtype, g).check(
            objective, wide, g, input=names[k]
        )
        if quick and full and not verdict.passed:
            verdict = make_checker("central", a.dtype, g).check(objective, wide, g, input=names[k])
        verdicts.append(verdict)
    return sorted(verdicts, key=lambda v: v.passed)


@dataclass(slots=True)
class GateCheck:
    """``gates --check`` for one gate type: how many cases ran and the worst of them."""

    op: str
    plugin: str
    cases: int
    failures: list[str]
    worst: float
    skipped: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.skipped is None


UNARY = [(), (3,), (2, 3)]
BINARY = [
    ((), ()),
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((2, 3), (3, 4)),
    ((3,), (3, 2)),
    ((2, 2, 3), (3, 4)),
]


def candidate_shapes(gate: Gate, arity: int) -> list[tuple[tuple[int, ...], ...]]:
    """Shape sets the gate's shape rule accepts, from a fixed list with broadcasting ones."""
    if arity == 1:
        pool = [(s,) for s in UNARY]
    elif arity == 2:
        pool = BINARY
    else:
        pool = [tuple(shapes) for shapes in product([(3,), (2, 3), (2, 1)], repeat=arity)][:6]
    if not callable(getattr(type(gate), "shape", None)):
        return list(pool)
    accepted = []
    for shapes in pool:
        try:
            gate.shape(*shapes)
            accepted.append(shapes)
        except (ValueError, TypeError):
            continue
    return accepted


def _values(rng: np.random.Generator, shapes, positive: bool) -> list[np.ndarray]:
    out = []
    for shape in shapes:
        v = rng.uniform(0.3, 2.0, shape) * (1 if positive else rng.choice([-1.0, 1.0], shape))
        out.append(np.asarray(v))
    return out


def check_gate_type(gate_type: GateType, *, seed: int = 0) -> GateCheck:
    """Check a registered gate on random inputs of every shape set it accepts."""
    cls = gate_type.cls
    result = GateCheck(gate_type.op, gate_type.plugin, 0, [], 0.0)
    rng = np.random.default_rng(seed)
    for attrs in cls.examples:
        try:
            gate = cls.model_validate(attrs)
        except Exception as exc:
            result.skipped = f"cannot build it from examples {attrs}: {exc}; set `examples` on the class"
            return result
        for args in _cases(gate, gate_type, rng):
            step = Step(gate_type.op, gate_type.op, gate, gate.forward, gate.backward, (), 0, 0)
            with np.errstate(all="ignore"):
                out = np.asarray(gate.forward(*args))
            if out.dtype.kind != "f":
                continue
            upstream = rng.normal(size=out.shape)
            names = [f"input {i} {list(a.shape)}" for i, a in enumerate(args)]
            result.cases += 1
            for v in check_gate(step, args, upstream, names):
                result.worst = max(result.worst, v.max_rel_error)
                if not v.passed:
                    at = f" at {list(v.worst_index)}" if v.worst_index else ""
                    result.failures.append(
                        f"{attrs or ''} {v.input}{at}: backward gives {v.analytic!r}, finite "
                        f"differences {v.numeric!r} (relative error {v.max_rel_error:.3g})"
                        + (f" {v.note}" if v.note else "")
                    )
    if result.cases == 0 and result.skipped is None:
        result.skipped = "no input shapes it accepts; define `sample_inputs` on the class"
    return result


def _cases(gate: Gate, gate_type: GateType, rng: np.random.Generator) -> list[list[np.ndarray]]:
    custom = gate.sample_inputs(rng)
    if custom is not None:
        return [[np.asarray(a) for a in case] for case in custom]
    cases = []
    for shapes in candidate_shapes(gate, gate_type.arity.minimum):
        for positive in (False, True):
            args = _values(rng, shapes, positive)
            try:
                with np.errstate(all="ignore"):
                    out = np.asarray(gate.forward(*args))
            except Exception:
                continue
            if np.isfinite(out).all():
                cases.append(args)
                break
    return cases


def check_all(registry: Registry, *, seed: int = 0) -> list[GateCheck]:
    """``gates --check`` for every registered gate, plugins included."""
    return [check_gate_type(g, seed=seed) for g in registry]
