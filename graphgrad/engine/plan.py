"""A graph compiled once into a flat list of steps over numbered value slots.

Running a plan never touches networkx: forward is one loop over the steps, backward one
loop over the steps that lead to the output and carry a gradient, in reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from graphgrad.gate import Gate, takes_needs
from graphgrad.graph.dag import GraphDef


@dataclass(frozen=True, slots=True)
class Step:
    """One gate application: read ``ins`` slots, write ``out``. ``needs``: which inputs'
    gradients are used, for a gate whose backward takes it (None for one that does not)."""

    name: str
    op: str
    gate: Gate
    forward: Callable
    backward: Callable
    ins: tuple[int, ...]
    out: int
    line: int
    needs: tuple[bool, ...] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Slots, steps and which slots carry gradients."""

    names: list[str]
    slot: dict[str, int]
    initial: list[np.ndarray | None]
    steps: list[Step]
    backward_steps: list[Step]
    requires_grad: list[bool]
    output: int
    path: str


def compile_plan(graph: GraphDef) -> Plan:
    """Compile a validated graph into a :class:`Plan`.

    Slots 0..k-1 hold inputs and nodes in topological order; literals follow them.
    """
    names = list(graph.order)
    slot = {n: i for i, n in enumerate(names)}
    initial: list[np.ndarray | None] = [graph.inputs[n].value if n in graph.inputs else None for n in names]
    requires = [n in graph.inputs and graph.inputs[n].grad for n in names]
    steps = []
    for name in names:
        node = graph.nodes.get(name)
        if node is None:
            continue
        ins = []
        for arg in node.args:
            if isinstance(arg, str):
                ins.append(slot[arg])
            else:
                ins.append(len(initial))
                initial.append(arg)
                requires.append(False)
        requires[slot[name]] = any(requires[i] for i in ins)
        gate = node.gate
        needs = tuple(requires[i] for i in ins) if takes_needs(type(gate)) else None
        steps.append(
            Step(name, node.op, gate, gate.forward, gate.backward, tuple(ins), slot[name], node.line, needs)
        )
    feeds_output = graph.reaching_output()
    backward_steps = [s for s in steps if requires[s.out] and s.name in feeds_output]
    return Plan(
        names=names,
        slot=slot,
        initial=initial,
        steps=steps,
        backward_steps=backward_steps,
        requires_grad=requires,
        output=slot[graph.output],
        path=graph.path,
    )
