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

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import graphgrad.engine.backprop as engine
from graphgrad.engine.plan import Plan, compile_plan
from graphgrad.errors import GraphgradError
from graphgrad.format.source import STDIN, STDIN_NAME, Document, Limits, read_text
from graphgrad.format.writing import write_atomic
from graphgrad.graph.dag import GraphDef, build_graph, graph_from_text
from graphgrad.plugins.manager import PluginRef, load_registry
from graphgrad.plugins.registry import Registry

if TYPE_CHECKING:
    import networkx as nx

    from graphgrad.checking.verify import FileReport
    from graphgrad.engine.scalar import ScalarProgram


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


_UNSET = object()


class ScalarArrays(Mapping):
    """name -> 0-d float64 array over the floats of the scalar fast path, each array
    made when first read: a result is often read only in part."""

    def __init__(self, slots: dict[str, int], floats: list):
        self._slots = slots
        self._floats = floats

    def __getitem__(self, name: str) -> np.ndarray:
        """The value as a 0-d array; a gradient the output does not reach is 0."""
        f = self._floats[self._slots[name]]
        return np.array(0.0 if f is None else f)

    def __iter__(self):
        return iter(self._slots)

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class NodeRef(str):
    """The name of an input or node made by the builder; pass it to later gates."""


class Graph:
    """A graph: loaded from a file with :func:`load`, or built here in Python.

    Built graphs are validated exactly like files, when first run or exported.

    >>> g = Graph("simple", doc="f = (x + y) z")
    >>> x, y, z = g.input("x", -2.0), g.input("y", 5.0), g.input("z", -4.0)
    >>> q = g.add(x, y, name="q")
    >>> f = g.mul(q, z, name="f")
    >>> r = g.run()
    >>> float(r.value), float(r.grads["x"]), float(r.grads["z"])
    (-12.0, -4.0, 3.0)
    >>> print(g.to_yaml().splitlines()[8])
      q: {op: add, in: [x, y]}
    """

    def __init__(
        self,
        name: str = "graph",
        *,
        doc: str | None = None,
        seed: int = 0,
        dtype: str = "float64",
        plugins: Iterable[PluginRef] = (),
        limits: Limits | None = None,
    ):
        self.registry = load_registry(plugins)
        self.limits = limits or Limits()
        self._data: dict[str, Any] = {"graphgrad": 1, "name": name}
        self._data.update({k: v for k, v in (("doc", doc), ("seed", seed)) if v})
        if dtype != "float64":
            self._data["dtype"] = dtype
        self._data.update(inputs={}, nodes={})
        self._definition: GraphDef | None = None
        self._plan: Plan | None = None
        self._scalar: Any = _UNSET
        self._runs = 0

    @classmethod
    def from_definition(
        cls,
        definition: GraphDef,
        registry: Registry,
        limits: Limits,
        data: dict | None = None,
        scalar: Any = _UNSET,
    ) -> Graph:
        """A graph around an already validated definition (what :func:`load` returns)."""
        graph = cls.__new__(cls)
        graph.registry, graph.limits = registry, limits
        graph._data = data if data is not None else {}
        graph._definition, graph._plan = definition, compile_plan(definition)
        graph._scalar = scalar
        graph._runs = 0
        return graph

    @property
    def definition(self) -> GraphDef:
        """The validated graph (built and checked on first use after a change)."""
        if self._definition is None:
            data = dict(self._data)
            if "output" not in data:
                data["output"] = next(reversed(data["nodes"] or data["inputs"]), "")
            doc = Document(data=data, path=f"<graph {data.get('name', 'graph')}>")
            self._definition = build_graph(doc, self.registry, self.limits, name=data.get("name", "graph"))
            self._plan = None
        return self._definition

    @property
    def plan(self) -> Plan:
        """The compiled plan that runs the graph."""
        if self._plan is None:
            self._plan = compile_plan(self.definition)
        return self._plan

    @property
    def scalar_program(self) -> ScalarProgram | None:
        """The plan as generated code on floats, for an all-scalar graph (else None)."""
        if self._scalar is _UNSET:
            self._scalar = _compile_scalar(self.definition, self.plan)
        return self._scalar

    def _count_run(self) -> None:
        """Compile the scalar program once the graph is run again and again: compiling
        costs about one NumPy run up to 20,000 nodes and several above (CPython compiles
        one long function in superlinear time), so on the second run, or the tenth."""
        self._runs += 1
        if self._scalar is _UNSET and self._runs >= (2 if len(self.plan.steps) <= 20_000 else 10):
            self._scalar = _compile_scalar(self.definition, self.plan)

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

    @output.setter
    def output(self, name: str) -> None:
        self._change()["output"] = str(name)

    def with_inputs(self, inputs: Mapping[str, Any]) -> Graph:
        """A copy with input values replaced, validated (shapes, labels) as at load."""
        changed = self.definition.with_inputs(inputs, self.limits)
        same = all(
            (d.value.shape, d.value.dtype) == (changed.inputs[n].value.shape, changed.inputs[n].value.dtype)
            for n, d in self.definition.inputs.items()
        )
        scalar = self._scalar if same else _UNSET
        return Graph.from_definition(changed, self.registry, self.limits, scalar=scalar)

    def run(self, inputs: Mapping[str, Any] | None = None) -> Result:
        """Forward, then backward from the output seeded with ones (``engine.run``:
        the scalar fast path once compiled, else the NumPy plan).

        NumPy's floating-point warnings are silenced: a NaN or infinity is a value in
        the result (and reported by checking), not a warning on stderr.
        """
        self._count_run()
        target = self.with_inputs(inputs) if inputs else self
        program = target._scalar if target._scalar is not _UNSET else None
        done = engine.run(target.plan, program)
        if done.program is not None:
            return _scalar_result(target.definition, target.plan, done.program, done.values, done.grads)
        return _result(target.definition, target.plan, done.values, done.grads)

    def check(self, checker: str | None = None) -> FileReport:
        """Check this graph's gradients as ``graphgrad check`` does, and return its report:
        ``status`` (passed, failed, inconclusive or error), ``checks`` (one verdict per
        input and checker), ``blame`` (the gates at fault), ``expect`` and ``messages()``.

        >>> import graphgrad
        >>> text = "graphgrad: 1\\ninputs: {x: 3.0}\\nnodes:\\n  f: {op: square, in: [x]}\\noutput: f\\n"
        >>> g = graphgrad.load(text)
        >>> report = g.check()
        >>> report.status, report.checks[0].analytic
        ('passed', 6.0)
        """
        from graphgrad.checking.verify import check_graph

        return check_graph(self, checker=checker)

    # Building

    def _change(self) -> dict[str, Any]:
        if not self._data:
            raise GraphgradError("this graph has no source data to change; build it with graphgrad.Graph()")
        self._definition = self._plan = None
        self._scalar = _UNSET
        return self._data

    def input(
        self,
        name: str,
        value: Any = None,
        *,
        shape: list[int] | None = None,
        init: str | None = None,
        dtype: str | None = None,
        grad: bool | None = None,
        doc: str | None = None,
        **params: Any,
    ) -> NodeRef:
        """Add an input: a value (number, list or array), or ``shape`` and ``init``.

        Python numbers and lists take the file's float dtype, as in a file; a NumPy
        array of ints or bools keeps its kind (int64, bool), as labels need.
        """
        if value is not None:
            array = np.asarray(value)
            spec: dict[str, Any] = {"value": array.tolist()}
            if dtype is not None or (
                isinstance(value, np.ndarray | np.generic) and array.dtype.kind in "biu"
            ):
                spec["dtype"] = dtype or ("bool" if array.dtype.kind == "b" else "int64")
        else:
            spec = {"shape": list(shape or []), "init": init or "zeros", **params}
            if dtype is not None:
                spec["dtype"] = dtype
        spec.update({k: v for k, v in (("grad", grad), ("doc", doc)) if v is not None})
        plain = list(spec) == ["value"] and not isinstance(spec["value"], bool)
        self._change()["inputs"][name] = spec["value"] if plain else spec
        return NodeRef(name)

    def node(
        self, op: str, *args: Any, name: str | None = None, doc: str | None = None, **attrs: Any
    ) -> NodeRef:
        """Add a node applying gate ``op`` to ``args`` (names or numbers)."""
        data = self._change()
        if name is None:
            count = sum(1 for n in data["nodes"] if n.startswith(f"{op}_"))
            name = f"{op}_{count + 1}"
        entry: dict[str, Any] = {"op": op, "in": [a if isinstance(a, str) else _number(a) for a in args]}
        entry.update(attrs)
        if doc:
            entry["doc"] = doc
        data["nodes"][name] = entry
        return NodeRef(name)

    def __getattr__(self, op: str) -> Any:
        registry = self.__dict__.get("registry")
        if registry is None or op.startswith("_") or op not in registry:
            raise AttributeError(f"{type(self).__name__!s} has no attribute or gate {op!r}")
        return functools.partial(self.node, op)

    def set_expect(self, value: Any = None, grads: Mapping[str, Any] | None = None) -> None:
        """Known answers, compared by ``graphgrad check`` and ``run``."""
        expect: dict[str, Any] = {}
        if value is not None:
            expect["value"] = np.asarray(value).tolist()
        if grads:
            expect["grads"] = {k: np.asarray(v).tolist() for k, v in grads.items()}
        self._change()["expect"] = expect

    def to_yaml(self) -> str:
        """The graph in the file format (validated first)."""
        return self.export("yaml")

    def export(self, fmt: str, **options: Any) -> str:
        """The graph in a registered format: yaml, json, dot, mermaid, python, ..."""
        return self.registry.exporter(fmt).cls(**options).export(self)

    def save(self, path: str | os.PathLike) -> None:
        """Write the graph as a YAML (or, for .json, JSON) graph file."""
        fmt = "json" if Path(path).suffix == ".json" else "yaml"
        write_atomic(path, self.export(fmt), what="save")


def _number(value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise GraphgradError(f"a gate argument is a name or a number, not {value!r}")
    return value.item() if isinstance(value, np.number) else value


def _compile_scalar(graph: GraphDef, plan: Plan) -> ScalarProgram | None:
    """The scalar fast path's program, its code generator imported when a graph first
    compiles one (on its second run): a single run does without."""
    from graphgrad.engine.scalar import compile_scalar

    return compile_scalar(graph, plan)


def _scalar_result(graph: GraphDef, plan: Plan, program: ScalarProgram, values: list, grads: list) -> Result:
    differentiable = {n: plan.slot[n] for n, d in graph.inputs.items() if d.grad}
    return Result(
        output=graph.output,
        value=np.array(values[plan.output]),
        grads=ScalarArrays(differentiable, grads),
        values=ScalarArrays(plan.slot, values),
        node_grads=ScalarArrays(program.grad_slots, grads),
    )


def _result(graph: GraphDef, plan: Plan, values: list, grads: list) -> Result:
    seen: set[int] = set()

    def grad_of(name: str) -> np.ndarray:
        """Each input's own array: an add passes one upstream array to both its inputs,
        and ``grads['x'] *= 0.1`` must not change y's gradient."""
        g = grads[plan.slot[name]]
        if g is None:
            return np.zeros_like(values[plan.slot[name]])
        if id(g) in seen:
            g = g.copy()
        seen.add(id(g))
        return g

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
    seed: int | None = None,
) -> Graph:
    """Load and validate a graph from a path, or from YAML text (a str with a newline).

    ``seed`` replaces the file's ``seed:`` (``check --seed``): its initialisers, the
    check's cotangent and blame's upstream gradients all draw from it.

    Raises :class:`graphgrad.GraphFileError` with every located issue of a bad file,
    or :class:`graphgrad.PluginError` when a plugin cannot be loaded.
    """
    limits = limits or Limits()
    registry = load_registry(plugins)
    if isinstance(source, str) and "\n" in source:
        path, text, stem = "<text>", source, "graph"
    elif os.fspath(source) == STDIN:
        path, stem = STDIN_NAME, "stdin"
        text = read_text(STDIN, limits)
    else:
        path, stem = os.fspath(source), Path(source).stem
        text = read_text(path, limits)
    definition, data = graph_from_text(text, path, registry, limits, name=stem, seed=seed)
    return Graph.from_definition(definition, registry, limits, data=data)
