"""Straight-line code for a graph: the forward pass node by node, then
``grad_<name> = upstream x local`` backwards, summing at fan-out.

The lines come from the gates themselves (``Gate.forward_code``, ``Gate.backward_code``):
nothing here knows an op. One set of lines serves two readers: the ``python`` exporter
(the lecture's flat gradient code, on NumPy arrays) and the scalar plan (the same lines
on Python floats, which is how an all-scalar graph runs fast). A gate that gives no code
is noted in ``Ctx.missing`` and its lines left out; the caller refuses or falls back.
"""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from graphgrad.errors import GraphgradError
from graphgrad.gate import Code, number
from graphgrad.graph.dag import GraphDef, NodeDef

if TYPE_CHECKING:
    from graphgrad.engine.plan import Plan


class Ctx:
    """One generation: the graph (for shapes), whether the code runs on Python floats
    (``scalar``) rather than NumPy arrays, the helper functions the gates offered, and
    the ops whose gate gave no code (``missing``: no flat export, no fast path)."""

    def __init__(self, graph: GraphDef, *, scalar: bool = False):
        self.graph = graph
        self.scalar = scalar
        self.helpers: dict[str, str] = {}
        self.missing: set[str] = set()
        self._codes: dict[str, Code] = {}

    def code(self, node: NodeDef) -> Code:
        """What the node's gate sees when it writes its code (one for its forward and
        backward lines: a graph of 10^4 nodes makes 10^4, not twice as many)."""
        code = self._codes.get(node.name)
        if code is None:
            shapes = [self.graph.shapes[a] if isinstance(a, str) else np.shape(a) for a in node.args]
            code = self._codes[node.name] = Code(
                self.scalar, shapes, self.graph.shapes[node.name], self.helpers
            )
        return code

    def used(self, lines: list[str]) -> list[str]:
        """The helpers ``lines`` call, and those they call in turn, by name."""
        return helpers_used(lines, self.helpers)


_CALL = re.compile(r"\b(_[A-Za-z0-9_]+)\(")


def helpers_used(lines: list[str], helpers: dict[str, str]) -> list[str]:
    """The names in ``helpers`` that ``lines`` call, and those they call in turn: only
    the helpers a module uses are written into it."""
    found: set[str] = set()
    if not helpers:
        return []
    todo = [m for line in lines for m in _CALL.findall(line)]
    while todo:
        name = todo.pop()
        if name in helpers and name not in found:
            found.add(name)
            todo.extend(_CALL.findall(helpers[name]))
    return sorted(found)


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
            expr = node.gate.forward_code(ctx.code(node), *args)
            if expr is None:
                ctx.missing.add(node.op)
                continue
            lines.append(f"{ids[name]} = {expr}  # {comment(node.op)}")
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
        exprs = node.gate.backward_code(ctx.code(node), f"grad_{ids[step.name]}", ids[step.name], *args)
        if exprs is None:
            ctx.missing.add(node.op)
            continue
        if len(exprs) != len(node.args):
            raise GraphgradError(
                f"gate '{node.op}' ({type(node.gate).__qualname__}): backward_code gave {len(exprs)} "
                f"expression(s) for {len(node.args)} input(s) at node '{step.name}'; give one per input"
            )
        for arg, slot, expr in zip(node.args, step.ins, exprs, strict=True):
            if expr is None or not isinstance(arg, str) or not plan.requires_grad[slot]:
                continue
            target = f"grad_{ids[arg]}"
            if arg in assigned:
                lines.append(f"{target} = {target} + {expr}  # fan-out: {comment(node.op)} adds")
            else:
                lines.append(f"{target} = {expr}  # {comment(node.op)} -> {comment(arg)}")
                assigned.add(arg)
    return lines, assigned
