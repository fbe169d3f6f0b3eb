"""python: the lecture's "flat" gradient code, one straight-line function.

The forward pass computes each node in topological order; the backward pass writes
``grad_<name> = upstream x local`` line by line in reverse, summing at fan-out. The
module imports NumPy only and runs without graphgrad.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from ..errors import GraphgradError
from ..exporter import Exporter
from ..gates.reduction import normalize_axes
from ..graph import GraphDef, NodeDef

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

Template = Callable[["_Ctx", NodeDef, list[str], str, str], list[str]]


class _Ctx:
    """What a template may need: shapes, the helpers it uses."""

    def __init__(self, graph: GraphDef):
        self.graph = graph
        self.used: set[str] = set()

    def use(self, helper: str) -> str:
        self.used.add(helper)
        for dep in NEEDS.get(helper, []):
            self.use(dep)
        return helper

    def ndim(self, arg: str | np.ndarray) -> int:
        return len(self.graph.shapes[arg]) if isinstance(arg, str) else np.ndim(arg)


def _axes(ctx: _Ctx, node: NodeDef) -> tuple[int, ...]:
    return normalize_axes(node.gate.axis, ctx.ndim(node.args[0]))


def _reduce_back(ctx: _Ctx, node: NodeDef, a: str, g: str, *, mean: bool) -> str:
    axes = _axes(ctx, node)
    spread = g if node.gate.keepdims else f"np.expand_dims({g}, {axes})"
    expr = f"np.broadcast_to({spread}, {a}.shape)"
    if mean:
        shape = ctx.graph.shapes[node.args[0]] if isinstance(node.args[0], str) else ()
        expr += f" / {math.prod(shape[i] for i in axes)}"
    return expr


FORWARD: dict[str, Callable[[_Ctx, NodeDef, list[str]], str]] = {
    "add": lambda c, n, a: " + ".join(a),
    "sub": lambda c, n, a: f"{a[0]} - {a[1]}",
    "mul": lambda c, n, a: f"{a[0]} * {a[1]}",
    "div": lambda c, n, a: f"{a[0]} / {a[1]}",
    "neg": lambda c, n, a: f"-{a[0]}",
    "pow": lambda c, n, a: f"{a[0]} ** {n.gate.exponent!r}",
    "exp": lambda c, n, a: f"np.exp({a[0]})",
    "log": lambda c, n, a: f"np.log({a[0]})",
    "sqrt": lambda c, n, a: f"np.sqrt({a[0]})",
    "square": lambda c, n, a: f"{a[0]} * {a[0]}",
    "reciprocal": lambda c, n, a: f"1 / {a[0]}",
    "abs": lambda c, n, a: f"np.abs({a[0]})",
    "relu": lambda c, n, a: f"np.maximum({a[0]}, 0)",
    "leaky_relu": lambda c, n, a: f"np.where({a[0]} > 0, {a[0]}, {n.gate.slope!r} * {a[0]})",
    "sigmoid": lambda c, n, a: f"np.exp(-np.logaddexp(0, -{a[0]}))",
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
    "svm_loss": lambda c, n, a: f"{c.use('_svm_loss')}({a[0]}, {a[1]}, {n.gate.margin!r})",
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
    "pow": lambda c, n, a, out, g: [f"{g} * {n.gate.exponent!r} * {a[0]} ** {n.gate.exponent - 1!r}"],
    "exp": lambda c, n, a, out, g: [f"{g} * {out}"],
    "log": lambda c, n, a, out, g: [f"{g} / {a[0]}"],
    "sqrt": lambda c, n, a, out, g: [f"{g} * 0.5 / {out}"],
    "square": lambda c, n, a, out, g: [f"{g} * 2 * {a[0]}"],
    "reciprocal": lambda c, n, a, out, g: [f"-{g} * {out} * {out}"],
    "abs": lambda c, n, a, out, g: [f"{g} * np.sign({a[0]})"],
    "relu": lambda c, n, a, out, g: [f"{g} * ({a[0]} > 0)"],
    "leaky_relu": lambda c, n, a, out, g: [f"{g} * np.where({a[0]} > 0, 1.0, {n.gate.slope!r})"],
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
        f"{c.use('_svm_loss_grad')}({g}, {a[0]}, {a[1]}, {n.gate.margin!r})",
        None,
    ],
    "l2": lambda c, n, a, out, g: [f"{g} * 2 * {a[0]}"],
}


def identifiers(names: list[str]) -> dict[str, str]:
    """Python names for graph names ('.' is not allowed; keywords and clashes get '_')."""
    taken = {"np", "hashlib", "inputs", "forward_backward", "main", "values", *HELPERS}
    out = {}
    for name in names:
        ident = re.sub(r"\W", "_", name)
        while keyword.iskeyword(ident) or ident in taken or ident.startswith("grad_"):
            ident += "_"
        taken.add(ident)
        out[name] = ident
    return out


def flat_code(graph) -> str:
    """The module text for a loaded graph (see the module docstring)."""
    d = graph.definition
    missing = sorted({n.op for n in d.nodes.values() if n.op not in FORWARD})
    if missing:
        plugins = ", ".join(f"{op} ({graph.registry[op].plugin})" for op in missing)
        raise GraphgradError(f"the python exporter has no flat code for: {plugins}")
    ctx = _Ctx(d)
    ids = identifiers(d.order)
    scalar = "np.float32" if d.spec.dtype == "float32" else "np.float64"
    body = ["    # forward pass"]
    for name in d.order:
        node = d.nodes.get(name)
        if node is not None:
            args = [ids[a] if isinstance(a, str) else f"{scalar}({a.item()!r})" for a in node.args]
            body.append(f"    {ids[name]} = {FORWARD[node.op](ctx, node, args)}  # {node.op}")
    body += _backward(ctx, graph, ids, scalar)
    returned = ", ".join(f'"{n}": {_grad_or_zero(ids, n, body)}' for n, i in d.inputs.items() if i.grad)
    body.append(f"    return {ids[d.output]}, {{{returned}}}")
    if any(_is_init(d.spec.inputs[n]) for n in d.inputs):
        ctx.use("_stream")
    return _module(graph, ctx, ids, body)


def _backward(ctx: _Ctx, graph, ids: dict[str, str], scalar: str) -> list[str]:
    d, plan = graph.definition, graph.plan
    lines = ["", "    # backward pass: downstream = local x upstream, summed at fan-out"]
    if not plan.requires_grad[plan.output]:
        return lines
    assigned = {d.output}
    lines.append(f"    grad_{ids[d.output]} = np.ones_like({ids[d.output]})")
    for step in reversed(plan.backward_steps):
        node = d.nodes[step.name]
        if step.name not in assigned:
            continue
        args = [ids[a] if isinstance(a, str) else f"{scalar}({a.item()!r})" for a in node.args]
        exprs = BACKWARD[node.op](ctx, node, args, ids[step.name], f"grad_{ids[step.name]}")
        for arg, slot, expr in zip(node.args, step.ins, exprs, strict=True):
            if expr is None or not isinstance(arg, str) or not plan.requires_grad[slot]:
                continue
            if node.op in BROADCASTING and d.shapes[arg] != d.shapes[step.name]:
                expr = f"{ctx.use('_sum_to')}({expr}, {tuple(d.shapes[arg])})"
            target = f"grad_{ids[arg]}"
            if arg in assigned:
                lines.append(f"    {target} = {target} + {expr}  # fan-out: {node.op} adds")
            else:
                lines.append(f"    {target} = {expr}  # {node.op} -> {arg}")
                assigned.add(arg)
    return lines


def _grad_or_zero(ids: dict[str, str], name: str, body: list[str]) -> str:
    target = f"grad_{ids[name]}"
    assigned = any(line.lstrip().startswith(f"{target} =") for line in body)
    return target if assigned else f"np.zeros_like({ids[name]})"


def _is_init(raw) -> bool:
    return isinstance(raw, dict) and "init" in raw


def _input_code(name: str, raw, value: np.ndarray, seed: int) -> str:
    if _is_init(raw):
        shape = tuple(raw["shape"])
        dtype = value.dtype.name
        init = raw["init"]
        if init in ("zeros", "ones"):
            return f"np.{init}({shape}, dtype=np.{dtype})"
        if init == "normal":
            call = f"normal({raw.get('mean', 0.0)!r}, {raw.get('std', 1.0)!r}, {shape})"
        elif init == "uniform":
            call = f"uniform({raw.get('low', -1.0)!r}, {raw.get('high', 1.0)!r}, {shape})"
        else:
            low, high = raw.get("low", 0), raw["high"]
            return f"_stream({seed}, {name!r}).integers({low!r}, {high!r}, {shape}, dtype=np.int64)"
        return f"_stream({seed}, {name!r}).{call}.astype(np.{dtype})"
    return f"np.array({value.tolist()!r}, dtype=np.{value.dtype.name})"


def _module(graph, ctx: _Ctx, ids: dict[str, str], body: list[str]) -> str:
    d = graph.definition
    params = ", ".join(ids[n] for n in d.inputs)
    helpers = "".join(HELPERS[h] + "\n" for h in HELPERS if h in ctx.used)
    values = "\n".join(
        f"        {n!r}: {_input_code(n, d.spec.inputs[n], d.inputs[n].value, d.spec.seed)},"
        for n in d.inputs
    )
    call = ", ".join(f"{ids[n]}=values[{n!r}]" for n in d.inputs)
    doc = f"{d.spec.doc}\n\n" if d.spec.doc else ""
    return (
        f'"""Flat gradient code for the graph {d.name!r}, generated by graphgrad.\n\n'
        f"{doc}NumPy only: forward_backward(...) returns the output and the gradient of every\n"
        'differentiable input; inputs() gives the values in the graph file.\n"""\n\n'
        "import hashlib\n\nimport numpy as np\n\n"
        f"{helpers}\n"
        f"def inputs():\n    return {{\n{values}\n    }}\n\n\n"
        f"def forward_backward({params}):\n" + "\n".join(body) + "\n\n\n"
        "def main():\n"
        "    values = inputs()\n"
        f"    value, grads = forward_backward({call})\n"
        f'    print("{d.output} =", value)\n'
        "    for name, grad in grads.items():\n"
        '        print(f"grad_{name} =", grad)\n\n\n'
        'if __name__ == "__main__":\n    main()\n'
    )


class PythonExporter(Exporter):
    """The lecture's flat gradient code: one straight-line NumPy function."""

    name: ClassVar[str] = "python"
    suffix: ClassVar[str] = ".py"

    def export(self, graph) -> str:
        return flat_code(graph)


EXPORTERS: list[type[Exporter]] = [PythonExporter]
