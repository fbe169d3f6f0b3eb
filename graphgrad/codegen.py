"""Straight-line code for a graph: the forward pass node by node, then
``grad_<name> = upstream x local`` backwards, summing at fan-out.

One set of templates serves two readers: the ``python`` exporter (the lecture's flat
gradient code, on NumPy arrays) and the scalar plan (the same lines on Python floats,
which is how an all-scalar graph runs fast).
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .gates.reduction import normalize_axes
from .graph import GraphDef, NodeDef

if TYPE_CHECKING:
    from .plan import Plan

HELPERS = {
    "_sum_to": '''
def _sum_to(g, shape):
    """Sum a broadcast gradient back to an input's shape."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return (g.sum(axis=axes, keepdims=True) if axes else g).reshape(shape)
''',
    "_stream": '''
def _stream(seed, name):
    """The random stream graphgrad gives each input: from (seed, name)."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, key]))
''',
    "_softmax": '''
def _softmax(a, axis):
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
''',
    "_log_softmax": '''
def _log_softmax(a, axis):
    shifted = a - np.max(a, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
''',
    "_cross_entropy": '''
def _cross_entropy(s, y):
    s2, y1 = np.atleast_2d(s), np.atleast_1d(y)
    return -np.mean(_log_softmax(s2, 1)[np.arange(len(y1)), y1])
''',
    "_cross_entropy_grad": '''
def _cross_entropy_grad(g, s, y):
    s2, y1 = np.atleast_2d(s), np.atleast_1d(y)
    d = _softmax(s2, 1)
    d[np.arange(len(y1)), y1] -= 1
    return g * d.reshape(s.shape) / len(y1)
''',
    "_svm_margins": '''
def _svm_margins(s, y, margin):
    s2, y1 = np.atleast_2d(s), np.atleast_1d(y)
    rows = np.arange(len(y1))
    m = s2 - s2[rows, y1][:, None] + margin
    m[rows, y1] = 0
    return m, rows, y1
''',
    "_svm_loss": '''
def _svm_loss(s, y, margin):
    m, rows, y1 = _svm_margins(s, y, margin)
    return np.maximum(m, 0).sum() / len(y1)
''',
    "_svm_loss_grad": '''
def _svm_loss_grad(g, s, y, margin):
    m, rows, y1 = _svm_margins(s, y, margin)
    active = (m > 0).astype(m.dtype)
    active[rows, y1] = -active.sum(axis=1)
    return g * active.reshape(s.shape) / len(y1)
''',
    "_matmul_2d": '''
def _matmul_2d(g, a, b):
    """a and b as matrices and g to match: numpy.matmul's treatment of vectors."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a.ndim == 1:
        g = np.expand_dims(g, -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        g = np.expand_dims(g, -1)
    return g, a2, b2
''',
    "_matmul_grad_a": '''
def _matmul_grad_a(g, a, b):
    g2, a2, b2 = _matmul_2d(g, a, b)
    return _sum_to(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
''',
    "_matmul_grad_b": '''
def _matmul_grad_b(g, a, b):
    g2, a2, b2 = _matmul_2d(g, a, b)
    return _sum_to(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
''',
}
NEEDS = {
    "_cross_entropy": ["_log_softmax"],
    "_cross_entropy_grad": ["_softmax"],
    "_svm_loss": ["_svm_margins"],
    "_svm_loss_grad": ["_svm_margins"],
    "_matmul_grad_a": ["_matmul_2d", "_sum_to"],
    "_matmul_grad_b": ["_matmul_2d", "_sum_to"],
}
BROADCASTING = {"add", "sub", "mul", "div", "max", "min"}

Template = Callable[["Ctx", NodeDef, list[str], str, str], list[str]]


class Ctx:
    """What a template may need: shapes, the helpers it uses, and whether the code
    runs on Python floats (``scalar``) rather than NumPy arrays."""

    def __init__(self, graph: GraphDef, *, scalar: bool = False):
        self.graph = graph
        self.scalar = scalar
        self.used: set[str] = set()

    def power(self, base: str, exponent: float) -> str:
        """``base ** exponent``; on floats a guarded call (a negative base would give
        Python a complex number where NumPy gives NaN)."""
        return f"_pow({base}, {number(exponent)})" if self.scalar else f"{base} ** {number(exponent)}"

    def use(self, helper: str) -> str:
        self.used.add(helper)
        for dep in NEEDS.get(helper, []):
            self.use(dep)
        return helper

    def ndim(self, arg: str | np.ndarray) -> int:
        return len(self.graph.shapes[arg]) if isinstance(arg, str) else np.ndim(arg)


def _axes(ctx: Ctx, node: NodeDef) -> tuple[int, ...]:
    return normalize_axes(node.gate.axis, ctx.ndim(node.args[0]))


def _reduce_back(ctx: Ctx, node: NodeDef, a: str, g: str, *, mean: bool) -> str:
    if ctx.scalar:
        return g
    axes = _axes(ctx, node)
    spread = g if node.gate.keepdims else f"np.expand_dims({g}, {axes})"
    expr = f"np.broadcast_to({spread}, {a}.shape)"
    if mean:
        shape = ctx.graph.shapes[node.args[0]] if isinstance(node.args[0], str) else ()
        expr += f" / {math.prod(shape[i] for i in axes)}"
    return expr


FORWARD: dict[str, Callable[[Ctx, NodeDef, list[str]], str]] = {
    "add": lambda c, n, a: " + ".join(a),
    "sub": lambda c, n, a: f"{a[0]} - {a[1]}",
    "mul": lambda c, n, a: f"{a[0]} * {a[1]}",
    "div": lambda c, n, a: f"{a[0]} / {a[1]}",
    "neg": lambda c, n, a: f"-{a[0]}",
    "pow": lambda c, n, a: c.power(a[0], n.gate.exponent),
    "exp": lambda c, n, a: f"np.exp({a[0]})",
    "log": lambda c, n, a: f"np.log({a[0]})",
    "sqrt": lambda c, n, a: f"np.sqrt({a[0]})",
    "square": lambda c, n, a: f"{a[0]} * {a[0]}",
    "reciprocal": lambda c, n, a: f"1 / {a[0]}",
    "abs": lambda c, n, a: f"np.abs({a[0]})",
    "relu": lambda c, n, a: (
        f"({a[0]} if {a[0]} > 0.0 else np.relu_rest({a[0]}))" if c.scalar else f"np.maximum({a[0]}, 0)"
    ),
    "leaky_relu": lambda c, n, a: f"np.where({a[0]} > 0, {a[0]}, {number(n.gate.slope)} * {a[0]})",
    "sigmoid": lambda c, n, a: (
        f"1.0 / (1.0 + np.exp(-{a[0]}))" if c.scalar else f"np.exp(-np.logaddexp(0, -{a[0]}))"
    ),
    "tanh": lambda c, n, a: f"np.tanh({a[0]})",
    "max": lambda c, n, a: f"np.maximum({a[0]}, {a[1]})",
    "min": lambda c, n, a: f"np.minimum({a[0]}, {a[1]})",
    "sum": lambda c, n, a: f"np.sum({a[0]}, axis={_axes(c, n)}, keepdims={n.gate.keepdims})",
    "mean": lambda c, n, a: f"np.mean({a[0]}, axis={_axes(c, n)}, keepdims={n.gate.keepdims})",
    "matmul": lambda c, n, a: f"np.matmul({a[0]}, {a[1]})",
    "transpose": lambda c, n, a: f"np.transpose({a[0]}, {n.gate._perm(c.ndim(n.args[0]))})",
    "reshape": lambda c, n, a: f"np.reshape({a[0]}, {list(n.gate.target)})",
    "softmax": lambda c, n, a: f"{c.use('_softmax')}({a[0]}, {n.gate.axis})",
    "log_softmax": lambda c, n, a: f"{c.use('_log_softmax')}({a[0]}, {n.gate.axis})",
    "cross_entropy": lambda c, n, a: f"{c.use('_cross_entropy')}({a[0]}, {a[1]})",
    "svm_loss": lambda c, n, a: f"{c.use('_svm_loss')}({a[0]}, {a[1]}, {number(n.gate.margin)})",
    "l2": lambda c, n, a: f"np.sum({a[0]} * {a[0]})",
}


def _router(win: str) -> Template:
    def back(c, n, a, out, g):
        to_a = f"(({a[0]} {win} {a[1]}) + 0.5 * ({a[0]} == {a[1]}))"
        return [f"{g} * {to_a}", f"{g} * (1 - {to_a})"]

    return back


BACKWARD: dict[str, Template] = {
    "add": lambda c, n, a, out, g: [g] * len(a),
    "sub": lambda c, n, a, out, g: [g, f"-{g}"],
    "mul": lambda c, n, a, out, g: [f"{g} * {a[1]}", f"{g} * {a[0]}"],
    "div": lambda c, n, a, out, g: [f"{g} / {a[1]}", f"-{g} / {a[1]} * {out}"],
    "neg": lambda c, n, a, out, g: [f"-{g}"],
    "pow": lambda c, n, a, out, g: [
        f"{g} * {number(n.gate.exponent)} * {c.power(a[0], n.gate.exponent - 1)}"
    ],
    "exp": lambda c, n, a, out, g: [f"{g} * {out}"],
    "log": lambda c, n, a, out, g: [f"{g} / {a[0]}"],
    "sqrt": lambda c, n, a, out, g: [f"{g} * 0.5 / {out}"],
    "square": lambda c, n, a, out, g: [f"{g} * 2 * {a[0]}"],
    "reciprocal": lambda c, n, a, out, g: [f"-{g} * {out} * {out}"],
    "abs": lambda c, n, a, out, g: [f"{g} * np.sign({a[0]})"],
    "relu": lambda c, n, a, out, g: [f"{g} * ({a[0]} > 0)"],
    "leaky_relu": lambda c, n, a, out, g: [f"{g} * np.where({a[0]} > 0, 1.0, {number(n.gate.slope)})"],
    "sigmoid": lambda c, n, a, out, g: [f"{g} * {out} * (1 - {out})"],
    "tanh": lambda c, n, a, out, g: [f"{g} * (1 - {out} * {out})"],
    "max": _router(">"),
    "min": _router("<"),
    "sum": lambda c, n, a, out, g: [_reduce_back(c, n, a[0], g, mean=False)],
    "mean": lambda c, n, a, out, g: [_reduce_back(c, n, a[0], g, mean=True)],
    "matmul": lambda c, n, a, out, g: [
        f"{c.use('_matmul_grad_a')}({g}, {a[0]}, {a[1]})",
        f"{c.use('_matmul_grad_b')}({g}, {a[0]}, {a[1]})",
    ],
    "transpose": lambda c, n, a, out, g: [
        f"np.transpose({g}, {[int(i) for i in np.argsort(n.gate._perm(c.ndim(n.args[0])))]})"
    ],
    "reshape": lambda c, n, a, out, g: [f"np.reshape({g}, {a[0]}.shape)"],
    "softmax": lambda c, n, a, out, g: [
        f"{out} * ({g} - np.sum({g} * {out}, axis={n.gate.axis}, keepdims=True))"
    ],
    "log_softmax": lambda c, n, a, out, g: [
        f"{g} - np.exp({out}) * np.sum({g}, axis={n.gate.axis}, keepdims=True)"
    ],
    "cross_entropy": lambda c, n, a, out, g: [f"{c.use('_cross_entropy_grad')}({g}, {a[0]}, {a[1]})", None],
    "svm_loss": lambda c, n, a, out, g: [
        f"{c.use('_svm_loss_grad')}({g}, {a[0]}, {a[1]}, {number(n.gate.margin)})",
        None,
    ],
    "l2": lambda c, n, a, out, g: [f"{g} * 2 * {a[0]}"],
}


GENERATED = frozenset({"np", "hashlib", "inputs", "forward_backward", "main", "values", "value", "grads"})
"""The generated code's own names other than those starting ``_`` or ``grad_``."""

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_UNUSABLE = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | GENERATED


def plain(name: str) -> bool:
    """Whether a graph name can be its own Python identifier: a letter first, no dot, and
    nothing generated code uses (keywords, builtins, ``GENERATED``, ``grad_...``); every
    other name generated code uses starts with ``_``."""
    return name not in _UNUSABLE and _PLAIN.fullmatch(name) is not None and not name.startswith("grad_")


def identifiers(names: list[str]) -> dict[str, str]:
    """A Python identifier for every graph name, derived, never copied blindly.

    A plain name (:func:`plain`) stands for itself. Any other becomes its letters and
    digits with a numbered suffix (``float`` -> ``float_1``, ``a.b`` -> ``a_b_1``,
    ``grad_x`` -> ``v_grad_x_1``) that no plain name, keyword or builtin has; so values,
    ``grad_<identifier>`` gradients and the code's own ``_``-names never meet.

    >>> identifiers(["x", "float", "grad_x", "a.b", "float_1"])
    {'x': 'x', 'float': 'float_2', 'grad_x': 'v_grad_x_1', 'a.b': 'a_b_1', 'float_1': 'float_1'}
    """
    out = {n: n for n in names if plain(n)}
    taken = set(GENERATED) | set(out)
    for name in names:
        if name in out:
            continue
        stem = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "v"
        if not stem[0].isalpha() or stem == "grad" or stem.startswith("grad_"):
            stem = "v_" + stem
        k = 1
        while f"{stem}_{k}" in taken:
            k += 1
        out[name] = f"{stem}_{k}"
        taken.add(out[name])
    return {n: out[n] for n in names}


def number(value: float | int) -> str:
    """Python source for a number that evaluates to it: ``repr``, but ``float('nan')``,
    ``float('inf')`` and ``(-float('inf'))`` where ``repr`` would give a bare name."""
    if isinstance(value, bool | int | np.integer):
        return repr(int(value))
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "float('nan')"
    return "float('inf')" if value > 0 else "(-float('inf'))"


def literal(data: object) -> str:
    """Python source for a number or nested list of numbers (``tolist()`` output)."""
    if isinstance(data, list | tuple):
        return "[" + ", ".join(literal(x) for x in data) + "]"
    if isinstance(data, bool):
        return repr(data)
    return number(data)  # type: ignore[arg-type]


def comment(text: object) -> str:
    """Text that is safe inside a ``#`` comment: no line break, no NUL, quotes kept."""
    return repr(str(text))[1:-1]


def string_body(text: str) -> str:
    """The inside of a triple-quoted literal that evaluates to ``text`` exactly and
    cannot close early: every quote and backslash escaped, every character that is not
    printable (NUL, CR, line and paragraph separators, surrogates) as an escape; line
    feeds and tabs stay, so a docstring still reads as text."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\t" or ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append(f"\\{'xuU'[(width > 2) + (width > 4)]}{code:0{width}x}")
    return "".join(out)


def forward_lines(ctx: Ctx, ids: dict[str, str], literal: Callable[[np.ndarray], str]) -> list[str]:
    """``node = expression  # op`` for every node, in topological order."""
    d = ctx.graph
    lines = []
    for name in d.order:
        node = d.nodes.get(name)
        if node is not None:
            args = [ids[a] if isinstance(a, str) else literal(a) for a in node.args]
            lines.append(f"{ids[name]} = {FORWARD[node.op](ctx, node, args)}  # {comment(node.op)}")
    return lines


def backward_lines(
    ctx: Ctx, plan: Plan, ids: dict[str, str], literal: Callable[[np.ndarray], str]
) -> tuple[list[str], set[str]]:
    """``grad_<name> = upstream x local`` in reverse order, summed at fan-out; and the
    names whose gradient was assigned."""
    d = ctx.graph
    if not plan.requires_grad[plan.output]:
        return [], set()
    assigned = {d.output}
    lines = [f"grad_{ids[d.output]} = np.ones_like({ids[d.output]})"]
    for step in reversed(plan.backward_steps):
        node = d.nodes[step.name]
        if step.name not in assigned:
            continue
        args = [ids[a] if isinstance(a, str) else literal(a) for a in node.args]
        exprs = BACKWARD[node.op](ctx, node, args, ids[step.name], f"grad_{ids[step.name]}")
        for arg, slot, expr in zip(node.args, step.ins, exprs, strict=True):
            if expr is None or not isinstance(arg, str) or not plan.requires_grad[slot]:
                continue
            if node.op in BROADCASTING and d.shapes[arg] != d.shapes[step.name]:
                expr = f"{ctx.use('_sum_to')}({expr}, {tuple(d.shapes[arg])})"
            target = f"grad_{ids[arg]}"
            if arg in assigned:
                lines.append(f"{target} = {target} + {expr}  # fan-out: {comment(node.op)} adds")
            else:
                lines.append(f"{target} = {expr}  # {comment(node.op)} -> {comment(arg)}")
                assigned.add(arg)
    return lines, assigned
