"""The fast path for graphs of scalars: the plan as one generated function on floats.

NumPy pays about a microsecond per call on a 0-d array, which is nearly all the cost
of a scalar node. A graph whose every value is a float64 scalar and whose every gate
has straight-line code (``codegen``) is therefore compiled once into one Python
function over floats: the lecture's flat gradient code, run directly. Where Python's
float arithmetic would differ from NumPy's (a division by zero, an overflow, a NaN
reaching a comparison) the function raises and the graph runs through the NumPy plan
instead, so results keep NumPy's semantics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from .codegen import Ctx, backward_lines, forward_lines, identifiers, number
from .graph import GraphDef
from .plan import Plan

SCALAR_OPS = frozenset({
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "square", "reciprocal",
    "abs", "relu", "leaky_relu", "sigmoid", "tanh", "max", "min", "sum", "mean", "l2",
})


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


def _relu_rest(a: float) -> float:
    """relu where the inline test ``a > 0`` failed: 0, unless ``a`` is NaN."""
    _ordered(a, a)
    return 0.0


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
    exp=math.exp, log=math.log, sqrt=math.sqrt, tanh=math.tanh, abs=abs, sign=_sign,
    maximum=_maximum, minimum=_minimum, logaddexp=_logaddexp, relu_rest=_relu_rest,
    where=lambda c, a, b: a if c else b, ones_like=lambda _: 1.0, zeros_like=lambda _: 0.0,
    float64=float, sum=_same, mean=_same, broadcast_to=_same, expand_dims=_same,
)
"""The few NumPy functions the templates use, for floats; mismatches raise Fallback.
The generated function calls ``np.exp`` as ``_np_exp``: a name starting ``_``, which no
graph name's identifier does (``codegen.identifiers``)."""

_NP = re.compile(r"\bnp\.")


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
    """The generated function for an all-float64-scalar graph of known gates, else None."""
    if not _eligible(graph):
        return None
    ctx = Ctx(graph, scalar=True)
    ids = identifiers(graph.order)
    forward = forward_lines(ctx, ids, _literal)
    backward, assigned = backward_lines(ctx, plan, ids, _literal)
    values = ", ".join(ids[n] for n in plan.names)
    grads = ", ".join(f"grad_{ids[n]}" if n in assigned else "None" for n in plan.names)
    params = [n for n in plan.names if n in graph.inputs]
    body = (_NP.sub("_np_", line.split("  # ")[0]) for line in forward + backward)
    lines = [
        f"def _scalar_plan({', '.join(ids[n] for n in params)}):",
        *(f"    {line}" for line in body),
        f"    return [{values}], [{grads}]",
    ]
    namespace = {f"_np_{name}": f for name, f in vars(SHIM).items()} | {"_pow": _pow}
    exec(compile("\n".join(lines), f"<scalar plan of {graph.name!r}>", "exec"), namespace)
    grad_slots = {s.name: s.out for s in plan.backward_steps if s.name in assigned}
    return ScalarProgram(namespace["_scalar_plan"], [plan.slot[n] for n in params], grad_slots)


def _literal(a: np.ndarray) -> str:
    return number(float(a))


def _eligible(graph: GraphDef) -> bool:
    if graph.spec.dtype != "float64":
        return False
    if any(d.value.shape != () or d.value.dtype != np.float64 for d in graph.inputs.values()):
        return False
    for node in graph.nodes.values():
        if not type(node.gate).__module__.startswith("graphgrad.gates") or node.op not in SCALAR_OPS:
            return False
        if graph.shapes.get(node.name) != ():
            return False
    return True
