"""Checking one gate alone: its backward against finite differences of its own forward.

Used twice: by ``verify.blame`` (``check_step``) at the values a gate saw in a graph's forward pass, and
by ``graphgrad gates --check`` on random inputs of several shapes, broadcasting ones
included, for every registered gate. The second is what a plugin author runs first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import numpy as np

from graphgrad.builtin.checkers.differences import Central
from graphgrad.builtin.checkers.directional import Directional
from graphgrad.checker import Checker, Verdict
from graphgrad.checking.objective import GateObjective, widened
from graphgrad.engine.plan import Step
from graphgrad.gate import Arity, Gate, arity, has_shape_rule, sum_to, takes_needs
from graphgrad.gate import attributes as attributes_of
from graphgrad.plugins.registry import GateType, Registry

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


def check_step(
    step: Step,
    args: list[np.ndarray],
    upstream: np.ndarray,
    names: list[str],
    make_checker: MakeChecker = default_checkers,
    needed: list[bool] | None = None,
    quick: bool = False,
    out: np.ndarray | None = None,
) -> list[Verdict]:
    """One verdict per float argument (failing ones first), with ``input`` set to its name.

    ``needed`` leaves out arguments whose gradient the graph never uses (an input with
    ``grad: false``): checking them would cost evaluations and blame nothing real.
    ``quick`` checks a small argument with ``directional`` first and runs ``central``
    (which names the wrong element) only when that fails: for a graph whose checks
    passed, where a fault is unlikely and a few evaluations should confirm it.
    ``out``: the gate's output at ``args`` when the caller has it (blame, from the
    forward pass), so that it is not computed again. A gate whose backward takes
    ``needs`` is told ``needed``, as the engine tells it.
    """
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(step.forward(*args)) if out is None else out
            if needed is not None and takes_needs(type(step.gate)):
                local = step.backward(upstream, out, *args, needs=tuple(needed))
            else:
                local = step.backward(upstream, out, *args)
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
    """``gates --check`` for one gate type: how many cases ran and the worst of them.

    ``status`` is passed, failed, inconclusive (rounding hid the answer: not passed) or
    skipped (a gate that could not be built or run on any input: skipped is not failed,
    as in pytest)."""

    op: str
    plugin: str
    cases: int
    failures: list[str]
    worst: float
    skipped: str | None = None
    attribute_sets: list[dict[str, Any]] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures and not self.inconclusive and self.skipped is None

    @property
    def status(self) -> str:
        if self.failures:
            return "failed"
        return "inconclusive" if self.inconclusive else "skipped" if self.skipped else "passed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "plugin": self.plugin,
            "status": self.status,
            "cases": self.cases,
            "passed": self.passed,
            "worst_rel_error": self.worst,
            "failures": self.failures,
            "inconclusive": self.inconclusive,
            "skipped": self.skipped,
            "attribute_sets": self.attribute_sets,
        }


SHAPE_POOL: list[tuple[int, ...]] = [(), (3,), (2, 3), (2, 1), (1, 3), (3, 4), (4, 3), (2, 2, 3)]
SHAPE_SETS = 6
SHAPE_TRIES = 400
RANDOM_ATTRIBUTE_SETS = 3


def candidate_shapes(gate: Gate, arity: int, rng: np.random.Generator | None = None) -> list[tuple]:
    """Input shapes the gate accepts, for any arity: tuples from ``SHAPE_POOL`` (scalars,
    vectors, matrices, broadcasting ones), every combination for up to three inputs and a
    seeded sample beyond, kept where the gate's ``shape`` rule (or, without one, its
    forward) accepts them. Sets where each input in turn is broadcast (as a scalar, and
    along a stretched axis) come first, as the bugs hide there; then other unequal sets,
    then equal ones: at most ``SHAPE_SETS``, or two more than the broadcasting ones."""
    rng = rng or np.random.default_rng(0)
    if len(SHAPE_POOL) ** arity <= SHAPE_TRIES:
        pool = list(product(SHAPE_POOL, repeat=arity))
    else:
        same = [(s,) * arity for s in SHAPE_POOL]
        drawn = [
            tuple(SHAPE_POOL[i] for i in rng.integers(len(SHAPE_POOL), size=arity))
            for _ in range(SHAPE_TRIES)
        ]
        pool = same + drawn
    rule = has_shape_rule(gate)
    accepted: list[tuple] = []
    outputs: list[tuple] = []
    for shapes in pool:
        if shapes in accepted:
            continue
        try:
            if rule:
                out = tuple(gate.shape(*shapes))
            else:
                with np.errstate(all="ignore"):
                    out = np.shape(gate.forward(*[np.ones(s) for s in shapes]))
        except Exception:
            continue
        accepted.append(shapes)
        outputs.append(out)
    # Every input position broadcast at least once (a scalar, then a stretched axis), so a
    # backward that forgets to sum one particular input's gradient is seen.
    picked: list[tuple] = []
    for i in range(arity):
        for kind in (lambda s: s == (), lambda s: s != () and 1 in s):
            for shapes, out in zip(accepted, outputs, strict=True):
                if shapes[i] != out and kind(shapes[i]) and shapes not in picked:
                    picked.append(shapes)
                    break
    rest = [s for s in accepted if len(set(s)) > 1 and s not in picked] + [
        s for s in accepted if len(set(s)) <= 1
    ]
    limit = max(SHAPE_SETS, len(picked) + 2)
    return (picked + [s for s in rest if s not in picked])[:limit]


def attribute_sets(
    cls: type[Gate], rng: np.random.Generator, count: int = RANDOM_ATTRIBUTE_SETS
) -> list[dict]:
    """The class's ``examples``, then ``count`` sets with every attribute drawn from its
    field's type: a float in [0.3, 2.5], an int in [1, 3], a bool either way, a literal
    one of its values; a field of another type keeps its default. A backward that
    forgets an attribute's factor passes at the default (1.0) and fails here."""
    sets = [dict(e) for e in cls.examples]
    for _ in range(count):
        drawn: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            value = _draw(info.annotation, rng)
            if value is not _KEEP:
                drawn[info.alias or name] = value
        if drawn:
            base = sets[0] if sets else {}
            sets.append({**base, **drawn})
    unique: list[dict] = []
    for s in sets:
        if s not in unique:
            unique.append(s)
    return unique


_KEEP = object()


def _draw(annotation: Any, rng: np.random.Generator) -> Any:
    if annotation is bool:
        return bool(rng.integers(2))
    if annotation is float:
        return float(np.round(rng.uniform(0.3, 2.5), 3))
    if annotation is int:
        return int(rng.integers(1, 4))
    if get_origin(annotation) is Literal:
        choices = get_args(annotation)
        return choices[int(rng.integers(len(choices)))]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        return _draw(args[0], rng)
    return _KEEP


def _values(rng: np.random.Generator, shapes, positive: bool) -> list[np.ndarray]:
    out = []
    for shape in shapes:
        v = rng.uniform(0.3, 2.0, shape) * (1 if positive else rng.choice([-1.0, 1.0], shape))
        out.append(np.asarray(v))
    return out


def check_gate(
    gate: type[Gate] | Gate,
    *,
    attributes: list[dict[str, Any]] | None = None,
    inputs: list[tuple[np.ndarray, ...]] | None = None,
    seed: int = 0,
    plugin: str = "",
) -> GateCheck:
    """Check a gate's backward against finite differences of its forward, as
    ``torch.library.opcheck`` checks an operator: for a plugin author's own test suite.

    ``gate`` is a class (built with each attribute set: ``attributes``, or its
    ``examples`` and sets drawn from each field's type) or an instance (checked as it
    is). ``inputs`` gives the input sets; without them, the gate's ``sample_inputs`` or
    random values of every shape set its ``shape`` rule accepts, broadcasting included.
    Every input of every case is checked with central differences against a random
    upstream gradient; the result says how many cases ran, the worst relative error and
    each failure in words.

    >>> import graphgrad
    >>> class Double(graphgrad.Gate):
    ...     op = "double"
    ...     def forward(self, a): return 2 * a
    ...     def backward(self, grad, out, a): return (grad,)  # forgot the 2
    >>> check_gate(Double).status
    'failed'
    """
    cls = gate if isinstance(gate, type) else type(gate)
    result = GateCheck(cls.op, plugin or cls.__module__, 0, [], 0.0)
    rng = np.random.default_rng(seed)
    if isinstance(gate, type):
        sets = attributes if attributes is not None else attribute_sets(cls, rng)
        built, refused = [], []
        for attrs in sets:
            try:
                built.append((attrs, cls.model_validate(attrs)))
            except Exception as exc:
                refused.append(f"cannot build it from {attrs}: {exc}".replace("\n", " "))
        if not built:
            result.skipped = f"{refused[0]}; set `examples` on the class"
            return result
    else:
        built = [(attributes_of(gate), gate)]
    arity_ = arity(cls)
    for attrs, instance in built:
        cases = (
            [list(map(np.asarray, case)) for case in inputs]
            if inputs is not None
            else _cases(instance, arity_, rng)
        )
        ran = 0
        for args in cases:
            with np.errstate(all="ignore"):
                try:
                    out = np.asarray(instance.forward(*args))
                except Exception as exc:
                    result.failures.append(
                        f"{attrs or ''} forward raised {exc!r} on shapes {[list(a.shape) for a in args]}"
                    )
                    continue
            if out.dtype.kind != "f" or not np.isfinite(out).all():
                continue
            if has_shape_rule(instance):
                try:
                    said = tuple(instance.shape(*[a.shape for a in args]))
                except Exception as exc:
                    said = f"an error ({exc})"
                if said != out.shape:
                    shapes = [list(a.shape) for a in args]
                    result.failures.append(
                        f"{attrs or ''} on shapes {shapes} forward gives shape {list(out.shape)}, "
                        f"its shape rule says {list(said) if isinstance(said, tuple) else said}".strip()
                    )
                    continue
            step = Step(cls.op, cls.op, instance, instance.forward, instance.backward, (), 0, 0)
            upstream = rng.normal(size=out.shape)
            names = [f"input {i} {list(a.shape)}" for i, a in enumerate(args)]
            result.cases += 1
            ran += 1
            if cls.deterministic:
                broken = _breaks_determinism(instance, args, upstream)
                if broken:
                    shapes = [list(a.shape) for a in args]
                    result.failures.append(f"{attrs or ''} on shapes {shapes}: {broken}".strip())
            for v in check_step(step, args, upstream, names):
                if v.checker != "local":
                    result.worst = max(result.worst, v.max_rel_error)
                if v.status == "failed":
                    result.failures.append(f"{attrs or ''} {_describe(v)}".strip())
                elif v.inconclusive:
                    result.inconclusive.append(f"{attrs or ''} {_describe(v)}".strip())
        if ran:
            result.attribute_sets.append(attrs)
    if result.cases == 0 and not result.failures:
        result.skipped = "no input it accepts gave a finite float output; define `sample_inputs` on the class"
    return result


def _breaks_determinism(gate: Gate, args: list[np.ndarray], upstream: np.ndarray) -> str:
    """What contradicts ``deterministic = True`` on these inputs (empty: nothing): two
    calls of forward and backward must agree bit for bit and leave the inputs as they
    were, since ``check`` then trusts one run."""
    kept = [a.copy() for a in args]
    with np.errstate(all="ignore"):
        try:
            runs = []
            for _ in range(2):
                out = np.asarray(gate.forward(*args))
                runs.append((out, gate.backward(upstream, out, *args)))
        except Exception:
            return ""  # check_step reports a raising backward
    if any(not np.array_equal(a, k, equal_nan=True) for a, k in zip(args, kept, strict=True)):
        return "declares deterministic = True, yet forward or backward changed an input in place"
    (out1, g1), (out2, g2) = runs
    if not isinstance(g1, tuple | list) or not isinstance(g2, tuple | list):
        return ""  # not a tuple of gradients: check_step reports it
    same = np.array_equal(out1, out2, equal_nan=True) and len(g1) == len(g2)
    same = same and all(
        (a is None and b is None)
        or (a is not None and b is not None and np.array_equal(a, b, equal_nan=True))
        for a, b in zip(g1, g2, strict=True)
    )
    return "" if same else "declares deterministic = True, yet two calls gave different results"


def _describe(v: Verdict) -> str:
    """A failure in words: the numbers where there are numbers, else what went wrong
    (never "0.0 vs 0.0, relative error inf" for a gradient of the wrong shape)."""
    if v.checker == "local":
        return f"{v.input}: {v.note}"
    at = f" at {list(v.worst_index)}" if v.worst_index else ""
    return (
        f"{v.input}{at}: backward gives {v.analytic!r}, finite differences {v.numeric!r} "
        f"(relative error {v.max_rel_error:.3g})" + (f"; {v.note}" if v.note else "")
    )


def check_gate_type(gate_type: GateType, *, seed: int = 0) -> GateCheck:
    """``gates --check`` for one registered gate."""
    return check_gate(gate_type.cls, seed=seed, plugin=gate_type.plugin)


def _cases(gate: Gate, arity_: Arity, rng: np.random.Generator) -> list[list[np.ndarray]]:
    custom = gate.sample_inputs(rng)
    if custom is not None:
        return [[np.asarray(a) for a in case] for case in custom]
    counts = [arity_.minimum] + ([arity_.minimum + 1] if arity_.maximum is None else [])
    cases = []
    for n in counts:
        for shapes in candidate_shapes(gate, n, rng):
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
