"""The public entry points: ``load`` a graph, ``run`` it forward and backward.

>>> import graphgrad
>>> g = graphgrad.load('''
... graphgrad: 1
... inputs: {x: -2, y: 5, z: -4}
... nodes:
...   q: {op: add, in: [x, y]}
...   f: {op: mul, in: [q, z]}
... output: f
... ''')
>>> r = g.run()
>>> float(r.value), {k: float(v) for k, v in r.grads.items()}
(-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})
>>> float(g.run(inputs={"z": 2}).grads["x"])
2.0
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from . import engine
from .graph import GraphDef, build_graph
from .plan import Plan, compile_plan
from .plugins import PluginRef, load_registry
from .registry import Registry
from .source import Limits, parse, read_text


@dataclass(frozen=True)
class Result:
    """What a forward and backward pass gives.

    ``grads``: input name -> gradient, for every input with ``grad: true`` (zeros where
    the output does not depend on it). ``values``: every input's and node's value.
    ``node_grads``: node name -> gradient, for every node on a differentiable path to
    the output.
    """

    output: str
    value: np.ndarray
    grads: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    node_grads: dict[str, np.ndarray]


class Graph:
    """A loaded, validated graph, compiled once and runnable many times."""

    def __init__(self, definition: GraphDef, registry: Registry, limits: Limits):
        self.definition = definition
        self.registry = registry
        self.limits = limits
        self.plan: Plan = compile_plan(definition)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def dag(self) -> nx.DiGraph:
        """The graph as a networkx DAG: inputs and nodes, an edge per argument."""
        return self.definition.dag

    @property
    def output(self) -> str:
        return self.definition.output

    def with_inputs(self, inputs: Mapping[str, Any]) -> Graph:
        """A copy with input values replaced, validated (shapes, labels) as at load."""
        return Graph(self.definition.with_inputs(inputs, self.limits), self.registry, self.limits)

    def run(self, inputs: Mapping[str, Any] | None = None) -> Result:
        """Forward, then backward from the output seeded with ones.

        NumPy's floating-point warnings are silenced: a NaN or infinity is a value in
        the result (and reported by checking), not a warning on stderr.
        """
        target = self.with_inputs(inputs) if inputs else self
        plan = target.plan
        with np.errstate(all="ignore"):
            values = engine.forward(plan, list(plan.initial))
            grads = engine.backward(plan, values)
        return _result(target.definition, plan, values, grads)


def _result(graph: GraphDef, plan: Plan, values: list, grads: list) -> Result:
    def grad_of(name: str) -> np.ndarray:
        g = grads[plan.slot[name]]
        return np.zeros_like(values[plan.slot[name]]) if g is None else g

    return Result(
        output=graph.output,
        value=values[plan.output],
        grads={n: grad_of(n) for n, d in graph.inputs.items() if d.grad},
        values={n: values[plan.slot[n]] for n in plan.names},
        node_grads={s.name: grads[s.out] for s in plan.backward_steps if grads[s.out] is not None},
    )


def load(
    source: str | os.PathLike,
    *,
    plugins: Iterable[PluginRef] = (),
    limits: Limits | None = None,
) -> Graph:
    """Load and validate a graph from a path, or from YAML text (a str with a newline).

    Raises :class:`graphgrad.GraphFileError` with every located issue of a bad file,
    or :class:`graphgrad.PluginError` when a plugin cannot be loaded.
    """
    limits = limits or Limits()
    registry = load_registry(plugins)
    if isinstance(source, str) and "\n" in source:
        path, text, stem = "<text>", source, "graph"
    else:
        path, stem = os.fspath(source), Path(source).stem
        text = read_text(path, limits)
    doc = parse(text, path, limits)
    return Graph(build_graph(doc, registry, limits, name=stem), registry, limits)
