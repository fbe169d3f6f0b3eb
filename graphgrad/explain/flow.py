"""The gradient flow of one run, edge by edge, in the lecture's words.

For every gate application in backward order: its upstream gradient, the local
gradient to each input (the gate's backward with an upstream of ones) and the
downstream gradient it sends to each input (upstream x local). Summing the downstream
gradients that reach one value gives its gradient: the copy gate's adder, made visible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphgrad.api import Graph, Result
from graphgrad.errors import GraphgradError
from graphgrad.gate import sum_to


class _Meanings(dict):
    """The lecture's words for the patterns (a gate names its own: ``Gate.pattern``); a
    pattern the lecture has no words for is left for its gate's docs to explain."""

    def __missing__(self, pattern: str) -> str:
        return "a pattern its gate declares (see the gate's documentation)"


MEANING = _Meanings(
    {
        "distributor": "passes the upstream gradient unchanged to every input (add)",
        "swap multiplier": "gives each input the other input times the upstream (mul)",
        "router": "sends the whole upstream to the winning input, a tie splits it (max, min)",
        "adder": "a value used several times gets the sum of the gradients of its uses",
    }
)


@dataclass(frozen=True, slots=True)
class Edge:
    """One argument of one node, with what flows along it."""

    source: str
    target: str
    position: int
    op: str
    value: np.ndarray
    upstream: np.ndarray
    local: np.ndarray | None
    downstream: np.ndarray | None


@dataclass(frozen=True)
class Flow:
    """A run, with every edge's local and downstream gradient, in backward order."""

    graph: Graph
    result: Result
    edges: list[Edge]

    def into(self, name: str) -> list[Edge]:
        """The edges whose downstream gradients sum to ``name``'s gradient."""
        return [e for e in self.edges if e.source == name and e.downstream is not None]


def gradient_flow(graph: Graph, result: Result | None = None) -> Flow:
    """Every edge's local and downstream gradient for one run of ``graph``.

    >>> import graphgrad
    >>> g = graphgrad.load("graphgrad: 1\\ninputs: {x: -2, y: 5, z: -4}\\nnodes:\\n"
    ...                    "  q: {op: add, in: [x, y]}\\n  f: {op: mul, in: [q, z]}\\noutput: f\\n")
    >>> [(e.source, e.target, float(e.local), float(e.downstream)) for e in gradient_flow(g).edges]
    [('q', 'f', -4.0, -4.0), ('z', 'f', 3.0, 3.0), ('x', 'q', 1.0, -4.0), ('y', 'q', 1.0, -4.0)]
    """
    result = result or graph.run()
    plan = graph.plan
    values = result.values
    edges = []
    for step in reversed(plan.backward_steps):
        upstream = result.node_grads.get(step.name)
        if upstream is None:
            continue
        node = graph.definition.nodes[step.name]
        args = [values[a] if isinstance(a, str) else a for a in node.args]
        out = values[step.name]
        with np.errstate(all="ignore"):
            local = step.backward(np.ones_like(out), out, *args)
            down = step.backward(upstream, out, *args)
        for k, arg in enumerate(node.args):
            if not isinstance(arg, str):
                continue
            wants = plan.requires_grad[plan.slot[arg]]
            edges.append(
                Edge(
                    arg,
                    step.name,
                    k,
                    node.op,
                    values[arg],
                    upstream,
                    _fit(local[k], args[k]) if wants else None,
                    _fit(down[k], args[k]) if wants else None,
                )
            )
    return Flow(graph, result, edges)


def _fit(grad, value: np.ndarray) -> np.ndarray | None:
    return None if grad is None else sum_to(np.asarray(grad), np.shape(value))


@dataclass(frozen=True, slots=True)
class PathTerm:
    """One path from an input to the output, and the product of its local gradients."""

    nodes: list[str]
    locals: list[float]
    product: float


def paths(flow: Flow, source: str, *, limit: int = 200) -> list[PathTerm]:
    """Every path from a scalar input to the output with the product of the locals on
    it; their sum is the input's gradient (the chain rule, summed over fan-out).

    Raises :class:`GraphgradError` when a value on the way is not a scalar or the paths
    are more than ``limit``.
    """
    graph = flow.graph
    if source not in graph.definition.inputs:
        raise GraphgradError(f"--paths: no input named '{source}'")
    local: dict[tuple[str, str, int], float] = {}
    for e in flow.edges:
        if e.local is not None:
            if np.ndim(e.local) or np.ndim(e.value):
                raise GraphgradError(
                    f"--paths needs scalars: the edge {e.source} -> {e.target} carries shape "
                    f"{list(np.shape(e.value))}; use explain without --paths for arrays"
                )
            local[e.source, e.target, e.position] = float(e.local)
    found: list[PathTerm] = []
    for steps in graph.definition.paths(source):
        if any(step not in local for step in steps):
            continue  # through a value that carries no gradient
        if len(found) == limit:
            raise GraphgradError(
                f"--paths: more than {limit} paths from '{source}' to '{graph.output}'; "
                "too many to list (the gradient is their sum all the same)"
            )
        locs = [local[step] for step in steps]
        nodes = [source, *(target for _, target, _ in steps)]
        found.append(PathTerm(nodes, locs, float(np.prod(locs)) if locs else 1.0))
    return found


def short(value: np.ndarray) -> str:
    """A number for a scalar; shape and a few numbers for an array."""
    value = np.asarray(value)
    if value.ndim == 0:
        return f"{value.item():.4g}" if value.dtype.kind in "fc" else str(value.item())
    flat = value.ravel()
    head = ", ".join(f"{v:.3g}" for v in flat[:3])
    return f"[{'×'.join(map(str, value.shape))}] {head}{', …' if flat.size > 3 else ''}"
