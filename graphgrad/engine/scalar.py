"""The fast path for graphs of scalars: the plan as one generated function on floats.

NumPy pays about a microsecond per call on a 0-d array, which is nearly all the cost
of a scalar node. A graph whose every value is a float64 scalar and whose every gate
gives code (``Gate.forward_code``, ``backward_code``: built-in or plugin alike) that
uses only the NumPy functions ``SHIM`` has for floats is therefore compiled once into
one Python function over floats: the lecture's flat gradient code, run directly. Where Python's
float arithmetic would differ from NumPy's (a division by zero, an overflow, a NaN
reaching a comparison) the function raises and the graph runs through the NumPy plan
instead, so results keep NumPy's semantics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from graphgrad.engine.codegen import Ctx, backward_lines, forward_lines, helpers_used, identifiers, number
from graphgrad.engine.plan import Plan
from graphgrad.gate import Code, Gate, Shape, has_shape_rule
from graphgrad.graph.dag import GraphDef


class Fallback(ArithmeticError):
    """Python floats cannot mirror NumPy here; run the NumPy plan."""


def _ordered(a: float, b: float) -> None:
    if a != a or b != b:
        raise Fallback


def _maximum(a: float, b: float) -> float:
    _ordered(a, b)
    return a if a >= b else b


def _minimum(a: float, b: float) -> float:
    _ordered(a, b)
    return a if a <= b else b


def _sign(a: float) -> float:
    _ordered(a, a)
    return float((a > 0) - (a < 0))


def _logaddexp(a: float, b: float) -> float:
    _ordered(a, b)
    top = a if a > b else b
    return top + math.log1p(math.exp(-abs(a - b)))


def _pow(a: float, e: float) -> float:
    if a < 0 and not float(e).is_integer():
        raise Fallback
    return math.pow(a, e)


def _same(x, *_, **__):
    return x


SHIM = SimpleNamespace(
    exp=math.exp,
    expm1=math.expm1,
    log=math.log,
    log1p=math.log1p,
    sqrt=math.sqrt,
    sin=math.sin,
    cos=math.cos,
    tan=math.tan,
    arctan=math.atan,
    sinh=math.sinh,
    cosh=math.cosh,
    tanh=math.tanh,
    abs=abs,
    sign=_sign,
    power=_pow,
    maximum=_maximum,
    minimum=_minimum,
    logaddexp=_logaddexp,
    where=lambda c, a, b: a if c else b,
    ones_like=lambda _: 1.0,
    zeros_like=lambda _: 0.0,
    float64=float,
    sum=_same,
    mean=_same,
    broadcast_to=_same,
    expand_dims=_same,
)
"""The NumPy functions gates' code may use on floats (``np.exp`` and so on); where
floats and NumPy part ways they raise (``math.log(-1)`` a ValueError, ``math.exp(1000)``
an OverflowError, a NaN compared a Fallback) and the NumPy plan runs instead. Code
that calls any other ``np.`` function gets no fast path. The generated function calls
``np.exp`` as ``_np_exp``: a name starting ``_``, which no graph name's identifier
does (``codegen.identifiers``)."""

_NP = re.compile(r"\bnp\.")
_NP_NAMES = re.compile(r"\bnp\.([A-Za-z_][A-Za-z0-9_]*)")


class ScalarProgram:
    """``run(initial)`` -> (values, grads): Python floats per slot, None where a slot has
    no gradient; raises ArithmeticError or ValueError where NumPy must decide.
    ``grad_slots`` names the slots whose gradient the program computes."""

    def __init__(self, function: Callable, inputs: list[int], grad_slots: dict[str, int]):
        self._function = function
        self._inputs = inputs
        self.grad_slots = grad_slots

    def run(self, initial: list) -> tuple[list, list]:
        return self._function(*[float(initial[i]) for i in self._inputs])


def compile_scalar(graph: GraphDef, plan: Plan) -> ScalarProgram | None:
    """The generated function for an all-float64-scalar graph whose gates all give code
    that runs on floats, else None."""
    if not _eligible(graph):
        return None
    ctx = Ctx(graph, scalar=True)
    ids = identifiers(graph.order)
    forward = forward_lines(ctx, ids, _literal)
    backward, assigned = backward_lines(ctx, plan, ids, _literal)
    if ctx.missing:
        return None
    values = ", ".join(ids[n] for n in plan.names)
    grads = ", ".join(f"grad_{ids[n]}" if n in assigned else "None" for n in plan.names)
    params = [n for n in plan.names if n in graph.inputs]
    body = [line.split("  # ")[0] for line in forward + backward]
    function = _define(
        "_scalar_plan",
        [ids[n] for n in params],
        body,
        f"[{values}], [{grads}]",
        ctx.helpers,
        scalar=True,
        filename=f"<scalar plan of {graph.name!r}>",
    )
    if function is None:
        return None
    grad_slots = {s.name: s.out for s in plan.backward_steps if s.name in assigned}
    return ScalarProgram(function, [plan.slot[n] for n in params], grad_slots)


def gate_function(gate: Gate, shapes: Sequence[Shape], *, scalar: bool) -> Callable | None:
    """One gate's code alone, compiled as the flat export (``scalar`` false, on NumPy
    arrays) or the fast path (on floats) would run it: ``f(*inputs, grad)`` returns the
    output and one gradient per input (None where the code gives none). None when the
    gate gives no code, or on floats calls a NumPy function ``SHIM`` lacks. What the
    meta-test compares with ``forward`` and ``backward``; a plugin's tests may too."""
    if has_shape_rule(gate):
        out_shape = gate.shape(*shapes)
    else:
        out_shape = np.shape(gate.forward(*[np.ones(s) for s in shapes]))
    code = Code(scalar, shapes, () if scalar else out_shape)
    args = [f"a{i}" for i in range(len(shapes))]
    forward = gate.forward_code(code, *args)
    backward = gate.backward_code(code, "grad", "out", *args)
    if forward is None or backward is None:
        return None
    grads = "".join(f"{'None' if e is None else e}, " for e in backward)
    return _define(
        "_gate",
        [*args, "grad"],
        [f"out = {forward}"],
        f"out, ({grads})",
        code.helpers,
        scalar=scalar,
        filename=f"<code of gate {gate.op!r}>",
    )


def _define(
    name: str,
    params: list[str],
    body: list[str],
    returned: str,
    helpers: dict[str, str],
    *,
    scalar: bool,
    filename: str,
) -> Callable | None:
    """Compile ``def name(params): body; return returned`` with the helpers it calls; on
    floats with ``np.f`` as ``_np_f`` from ``SHIM`` (None if SHIM lacks one), else
    with NumPy as ``np``."""
    function = "\n".join([f"def {name}({', '.join(params)}):", *(f"    {line}" for line in body)])
    function += f"\n    return {returned}"
    source = "\n".join([*(helpers[h] for h in helpers_used([function], helpers)), function])
    if scalar:
        if not set(_NP_NAMES.findall(source)) <= vars(SHIM).keys():
            return None
        source = _NP.sub("_np_", source)
        namespace: dict[str, Any] = {f"_np_{f}": v for f, v in vars(SHIM).items()}
    else:
        namespace = {"np": np}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def _literal(a: np.ndarray) -> str:
    return number(float(a))


def _eligible(graph: GraphDef) -> bool:
    if graph.spec.dtype != "float64":
        return False
    if any(d.value.shape != () or d.value.dtype != np.float64 for d in graph.inputs.values()):
        return False
    return all(graph.shapes.get(name) == () for name in graph.nodes)
