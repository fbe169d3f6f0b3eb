"""Spec + registry -> a validated networkx DAG: the only module that uses networkx.

Everything that can be wrong with a graph is found here, before anything is computed:
names, references, arity, attributes, cycles, shapes (inferred through every gate) and
the ranges of labels given as inputs (labels a node computes are known only when it
runs: the loss checks them then). A DiGraph merges repeated edges and keeps no argument
order, so each node's ordered arguments live on the node (an edge's ``positions`` say
where its source is used); edges serve order, cycles, reachability and paths, all of
them networkx's algorithms.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np
from pydantic import ValidationError

from graphgrad.errors import GraphFileError, InputError, Issue
from graphgrad.format.expect import Expected, parse_expect
from graphgrad.format.inputs import InputDef, build_inputs, check_shape, to_array
from graphgrad.format.source import Document, Limits, parse
from graphgrad.format.spec import (
    NAME,
    NONFINITE,
    RESERVED,
    GraphSpec,
    NodeSpec,
    Suggester,
    did_you_mean,
    translate,
)
from graphgrad.gate import Gate, InputValueError, Shape, has_shape_rule
from graphgrad.plugins.registry import GateType, Registry

Arg = str | np.ndarray


@dataclass(frozen=True, slots=True)
class NodeDef:
    """A node: its gate instance, its ordered arguments (names or literal arrays)."""

    name: str
    gate: Gate
    gate_type: GateType
    args: tuple[Arg, ...]
    line: int
    doc: str | None = None

    @property
    def op(self) -> str:
        return self.gate_type.op

    def arg_names(self) -> list[str]:
        return [a if isinstance(a, str) else _literal(a) for a in self.args]


@dataclass(frozen=True)
class GraphDef:
    """A valid graph: inputs, nodes, the networkx DAG over them, a topological order
    (file order where the arguments allow it) and inferred shapes.

    ``dag`` has a node per input and per node (names only: ``inputs`` and ``nodes`` hold
    what they are), and an edge per argument name, its ``positions`` the tuple of places
    where it is used (``mul(x, x)`` is one edge with positions (0, 1))."""

    name: str
    path: str
    spec: GraphSpec
    inputs: dict[str, InputDef]
    nodes: dict[str, NodeDef]
    output: str
    order: list[str]
    dag: nx.DiGraph
    shapes: dict[str, Shape | None] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # the inputs' lines; a node's is on its NodeDef
    expected: Expected | None = None

    def line(self, name: str) -> int:
        """The line of an input's or a node's name in the file."""
        return self.lines[name] if name in self.lines else self.nodes[name].line

    def reaching_output(self) -> set[str]:
        """The inputs and nodes that the output depends on, itself included."""
        return _reaching(self.dag, self.output)

    def paths(self, source: str, target: str | None = None) -> Iterator[list[tuple[str, str, int]]]:
        """Every path from ``source`` to ``target`` (the output by default), as the
        arguments it goes through: (argument, node, position) per step. A node that uses
        the same value twice (``mul(x, x)``) gives a path through each use, as the chain
        rule counts them. Lazily, in depth-first order: there may be exponentially many.

        >>> import graphgrad
        >>> g = graphgrad.load("graphgrad: 1\\ninputs: {x: 2}\\nnodes:\\n"
        ...                    "  s: {op: mul, in: [x, x]}\\n  f: {op: add, in: [s, x]}\\noutput: f\\n")
        >>> list(g.definition.paths("x"))
        [[('x', 's', 0), ('s', 'f', 0)], [('x', 's', 1), ('s', 'f', 0)], [('x', 'f', 1)]]
        """
        target = self.output if target is None else target
        if source == target:
            yield []
            return
        for nodes in nx.all_simple_paths(self.dag, source, target):
            steps = [
                [(u, v, p) for p in self.dag.edges[u, v]["positions"]] for u, v in itertools.pairwise(nodes)
            ]
            for choice in itertools.product(*steps):
                yield list(choice)

    def with_inputs(self, values: Mapping[str, Any], limits: Limits | None = None) -> GraphDef:
        """A copy with some input values replaced, checked as at load time.

        Raises :class:`InputError` for an unknown name, a bad value, or shapes and
        labels that no longer fit the graph.
        """
        limits = limits or Limits()
        inputs = dict(self.inputs)
        for name, raw in values.items():
            if name not in inputs:
                hint = did_you_mean(name, list(inputs))
                raise InputError(f"--set {name}: there is no input named '{name}'{hint}")
            old = inputs[name]
            try:
                value = (
                    raw
                    if isinstance(raw, np.ndarray)
                    else to_array(raw, (), None, old.value.dtype.name, limits, who=f"input '{name}'")
                )
            except ValueError as exc:
                raise InputError(f"--set {name}: {exc}") from None
            inputs[name] = replace(old, value=value.astype(old.value.dtype, copy=False))
        shapes, problems = _infer(self.order, self.nodes, inputs, limits)
        problems += _check_values(self.nodes, inputs)
        if not problems:
            problems += _check_total(self.order, self.dag, inputs, shapes, self.output, limits)
        if problems:
            raise InputError("\n".join(f"{self.path}:{self.line(n)}:1: {m}" for n, m in problems))
        return replace(self, inputs=inputs, shapes=shapes)


def _literal(a: np.ndarray) -> str:
    return repr(a.item())


def graph_from_text(
    text: str, path: str, registry: Registry, limits: Limits, *, name: str, seed: int | None = None
) -> tuple[GraphDef, Any]:
    """Parse and validate, locating only what a valid file needs (the lines of nodes and
    inputs); a file with any fault is parsed again with every position, so that each
    message points at its key or value. Returns the graph and the document's data.
    ``seed`` (``check --seed``) replaces the file's ``seed:``, as if the file said it."""
    doc = parse(text, path, limits, positions=False)
    if seed is not None and isinstance(doc.data, dict):
        doc.data["seed"] = seed
    try:
        return build_graph(doc, registry, limits, name=name), doc.data
    except GraphFileError:
        pass  # leave the except block first: its traceback holds the first attempt's arrays
    doc = parse(text, path, limits)
    if seed is not None and isinstance(doc.data, dict):
        doc.data["seed"] = seed
    return build_graph(doc, registry, limits, name=name), doc.data


def build_graph(doc: Document, registry: Registry, limits: Limits, *, name: str) -> GraphDef:
    """Validate a parsed document into a :class:`GraphDef`, or raise every issue found."""
    try:
        return _build_graph(doc, registry, limits, name=name)
    except GraphFileError as exc:
        if not doc.refused:
            raise
        first = set(doc.issues)
        kept = [i for i in exc.issues if i in first or (i.line, i.column) not in doc.refused]
        raise GraphFileError(kept) from None


def _build_graph(doc: Document, registry: Registry, limits: Limits, *, name: str) -> GraphDef:
    issues = list(doc.issues)
    if not isinstance(doc.data, dict):
        if doc.data is not None:
            issues.append(Issue(doc.path, 1, 1, _NOT_A_MAPPING))
        raise GraphFileError(issues)
    raw_inputs = doc.data.get("inputs")
    raw_nodes = doc.data.get("nodes")
    count = sum(len(s) for s in (raw_inputs, raw_nodes) if isinstance(s, dict))
    if count > limits.max_nodes:
        msg = f"{count} inputs and nodes, over the limit of {limits.max_nodes} (raise it with --max-nodes)"
        raise GraphFileError(issues + [Issue(doc.path, 1, 1, msg)])
    doc.data = _numbers_restored(doc.data)
    spec, bad = _validate_spec(doc, issues)
    if spec is None:
        raise GraphFileError(issues)
    _check_names(spec, doc, issues)
    inputs, input_issues = build_inputs(spec.inputs, doc, dtype=spec.dtype, seed=spec.seed, limits=limits)
    issues += input_issues
    expected = parse_expect(spec.expect, doc, inputs, limits, issues) if spec.expect else None
    _check_section(spec, doc, inputs, registry, issues)
    # With `inputs:` or `nodes:` missing or malformed, which names exist is unknown:
    # a reference is then not reported, so one missing key does not cascade.
    names_known = not ({"inputs", "nodes"} & bad)
    nodes = _build_nodes(spec, doc, registry, issues, report_unknown=names_known)
    if "output" not in bad and spec.output not in spec.inputs and spec.output not in spec.nodes:
        hint = did_you_mean(spec.output, [*spec.nodes, *spec.inputs])
        issues.append(doc.issue(("output",), f"'output': no node or input named '{spec.output}'{hint}"))
    # Cycles, shapes and labels over the part of the graph that was built: the nodes whose
    # arguments all resolved to valid inputs and nodes. Errors elsewhere in the file (a
    # missing key, a bad input, an unknown op) do not hide them, and do not cascade.
    dag = _dag(inputs, nodes)
    sound = _sound(dag, inputs, nodes) if issues else nodes  # without issues, every node resolved
    order, cycle = _topological(dag, doc)
    if cycle is not None:
        issues.append(cycle)
    shapes, problems = _infer(order, sound, inputs, limits)
    problems += _check_values(sound, inputs)
    if not problems and not issues:
        problems += _check_total(order, dag, inputs, shapes, spec.output, limits)
    where = {n: ("inputs" if n in inputs else "nodes", n) for n, _ in problems}
    issues += [doc.issue(where[n], m, key=True) for n, m in problems]
    if issues:
        raise GraphFileError(issues)
    lines = {n: doc.locate(("inputs", n), key=True)[0] for n in inputs}
    return GraphDef(
        name=spec.name or name,
        path=doc.path,
        spec=spec,
        inputs=inputs,
        nodes=nodes,
        output=spec.output,
        order=order,
        dag=dag,
        shapes=shapes,
        lines=lines,
        expected=expected,
    )


def _check_section(
    spec: GraphSpec, doc: Document, inputs: dict, registry: Registry, issues: list[Issue]
) -> None:
    """``check:``: a known checker, its options valid by its own schema, ``wrt`` inputs."""
    if spec.check is None:
        return
    name, extras = spec.check.checker, dict(spec.check.model_extra or {})
    known = ["auto", *(c.name for c in registry.checkers())]
    if name not in known:
        msg = f"check: unknown checker '{name}'{did_you_mean(name, known)}"
        issues.append(doc.issue(("check", "checker"), msg))
    elif name == "auto" and extras:
        msg = f"check: auto takes no options (got {', '.join(extras)}); name a checker to set its options"
        issues.append(doc.issue(("check", next(iter(extras))), msg, key=True))
    elif name != "auto":
        cls = registry.checker(name).cls
        try:
            cls.model_validate(extras)
        except ValidationError as exc:
            issues += translate(exc, doc, cls, root=("check",))
    wrt = spec.check.wrt
    options = Suggester(n for n, d in inputs.items() if d.grad)
    for i, name in enumerate(wrt or ()):
        if name not in options:
            msg = f"check: wrt names '{name}', which is no differentiable input{did_you_mean(name, options)}"
            issues.append(doc.issue(("check", "wrt", i), msg))


def _number(value: Any) -> Any:
    return NONFINITE[value] if isinstance(value, str) and value in NONFINITE else value


def _numbers_restored(data: dict) -> dict:
    """The document with the strings "nan", "inf", "-inf" read as numbers in the scalar
    places that want a number (how the JSON form writes them): a plain input, an
    initialiser's parameters, and the tolerances of ``expect`` and ``check``. Arrays are
    read by ``inputs.to_array``, ``in`` lists by ``_resolve_args``, gate attributes by
    ``_make_gate``. Changed parts are copies: the caller's data is left as it was, and a
    file without such strings costs one pass over its inputs."""
    out = data
    inputs = data.get("inputs")
    if isinstance(inputs, dict):
        fixed: dict[str, Any] = {}
        for name, spec in inputs.items():
            if isinstance(spec, str) and spec in NONFINITE:
                fixed[name] = NONFINITE[spec]
            elif isinstance(spec, dict) and "init" in spec and _INIT_NUMBERS.intersection(spec):
                fixed[name] = {k: _number(v) if k in _INIT_NUMBERS else v for k, v in spec.items()}
        if fixed:
            out = {**out, "inputs": {**inputs, **fixed}}
    for section, keys in (("expect", ("rtol", "atol")), ("check", ("eps", "rtol", "atol"))):
        if isinstance(data.get(section), dict):
            out = {**out, section: {k: _number(v) if k in keys else v for k, v in data[section].items()}}
    return out


_INIT_NUMBERS = frozenset({"mean", "std", "low", "high"})


_NOT_A_MAPPING = "a graph file is a mapping with the keys graphgrad, inputs, nodes and output"


def _validate_spec(doc: Document, issues: list[Issue]) -> tuple[GraphSpec | None, set[str]]:
    """The top-level structure, and the top-level keys that were missing or invalid. On
    errors, go on with the keys that were valid (a missing section counts as empty) so
    that the sections after a bad or missing key are still checked and reported."""
    try:
        return GraphSpec.model_validate(doc.data), set()
    except ValidationError as exc:
        issues += translate(exc, doc, GraphSpec)
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    salvaged = {k: v for k, v in doc.data.items() if k in GraphSpec.model_fields and k not in bad}
    salvaged["graphgrad"] = 1
    for key, empty in (("inputs", {}), ("nodes", {}), ("output", "")):
        salvaged.setdefault(key, empty)
    try:
        return GraphSpec.model_validate(salvaged), bad
    except ValidationError:
        return None, bad


def _check_names(spec: GraphSpec, doc: Document, issues: list[Issue]) -> None:
    for section in ("inputs", "nodes"):
        for name in getattr(spec, section):
            if not NAME.fullmatch(name) or name in RESERVED:
                why = "is reserved" if name in RESERVED else "is not a valid name"
                msg = (  # repr: a name may hold a line break, and a message is one line
                    f"{section[:-1]} {name!r}: the name {why}; a name matches "
                    "[A-Za-z_][A-Za-z0-9_.]* and is none of inf, nan, true, false, null"
                )
                issues.append(doc.issue((section, name), msg, key=True))
    for name in set(spec.inputs) & set(spec.nodes):
        first, second = (doc.locate((s, name), key=True) for s in ("inputs", "nodes"))
        later = ("nodes", name) if second >= first else ("inputs", name)
        msg = f"'{name}' names both an input and a node (first on line {min(first, second)[0]})"
        issues.append(doc.issue(later, msg, key=True))


def _build_nodes(
    spec: GraphSpec, doc: Document, registry: Registry, issues: list[Issue], *, report_unknown: bool = True
) -> dict[str, NodeDef]:
    names = Suggester([*spec.inputs, *spec.nodes])
    ops = Suggester(registry.ops())
    known = set(names.options)
    nodes = {}
    plain: dict[str, Gate | None] = {}
    for name, raw in spec.nodes.items():
        loc = ("nodes", name)
        try:
            node = NodeSpec.model_validate(raw)
        except ValidationError as exc:
            issues += translate(exc, doc, NodeSpec, root=loc)
            continue
        if node.op not in registry:
            hint = did_you_mean(node.op, ops)
            msg = f"node '{name}': unknown op '{node.op}'{hint}"
            issues.append(doc.issue(loc + ("op",), msg))
            continue
        gate_type = registry[node.op]
        gate = plain.get(node.op) if not node.attributes else None
        if gate is None:
            gate = _make_gate(gate_type, node, loc, doc, issues)
            if not node.attributes:
                plain[node.op] = gate
        args = _resolve_args(name, node, loc, doc, known, names, spec.dtype, issues if report_unknown else [])
        if not gate_type.arity.accepts(len(node.args)):
            msg = f"node '{name}': {node.op} takes {gate_type.arity} inputs, got {len(node.args)}"
            issues.append(doc.issue(loc + ("in",), msg))
            continue
        if gate is not None and args is not None:
            line = doc.locate(loc, key=True)[0]
            nodes[name] = NodeDef(name, gate, gate_type, args, line, node.doc)
    return nodes


def _make_gate(
    gate_type: GateType, node: NodeSpec, loc: tuple, doc: Document, issues: list[Issue]
) -> Gate | None:
    try:
        return gate_type.cls.model_validate(node.attributes)
    except ValidationError as exc:
        numbers = {k: _number(v) for k, v in node.attributes.items()}
        if numbers != node.attributes:  # "inf" where the gate wants a float: the JSON form
            try:
                return gate_type.cls.model_validate(numbers)
            except ValidationError:
                pass
        issues += translate(exc, doc, gate_type.cls, root=loc)
    except Exception as exc:
        issues.append(doc.issue(loc, f"node '{loc[1]}': gate {node.op} refused its attributes: {exc}"))
    return None


def _resolve_args(name, node, loc, doc, known, names, dtype, issues) -> tuple[Arg, ...] | None:
    args: list[Arg] = []
    ok = True
    for i, arg in enumerate(node.args):
        if isinstance(arg, str) and arg in NONFINITE:  # a reserved name: the JSON form of a number
            args.append(np.asarray(NONFINITE[arg], dtype=dtype))
        elif isinstance(arg, str):
            if arg not in known:
                hint = did_you_mean(arg, names)
                issues.append(doc.issue(loc + ("in", i), f"node '{name}': unknown name '{arg}'{hint}"))
                ok = False
            args.append(arg)
        else:
            try:
                args.append(np.asarray(arg, dtype=dtype))
            except OverflowError:
                shown = f"{str(arg)[:12]}...{str(arg)[-12:]} ({len(str(arg))} digits)"
                msg = f"node '{name}': the number {shown} is beyond the range of {dtype}"
                issues.append(doc.issue(loc + ("in", i), msg))
                ok = False
    return tuple(args) if ok else None


def _dag(inputs: dict[str, InputDef], nodes: dict[str, NodeDef]) -> nx.DiGraph:
    """The DiGraph of the inputs and the built nodes, inputs first, then nodes in file
    order (the tie-break of the topological order). A node named like an input is left
    out (its name is an error already), and so are arguments naming what was not built.

    Lean, as it lives as long as the graph: nodes carry no attributes (``definition.inputs``
    and ``definition.nodes`` say what a name is), and equal ``positions`` are one shared
    tuple. An attribute dict costs 120 bytes a node, a list 88 bytes an edge (bench/memory.py)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(inputs)
    dag.add_nodes_from(n for n in nodes if n not in inputs)
    dag.add_edges_from(_edges(dag, inputs, nodes))
    return dag


def _edges(dag: nx.DiGraph, inputs: dict[str, InputDef], nodes: dict[str, NodeDef]) -> Iterator[tuple]:
    """(argument, node, {"positions": ...}) per distinct argument name in ``dag``."""
    shared: dict[tuple[int, ...], tuple[int, ...]] = {}
    for name, node in nodes.items():
        if name in inputs:
            continue
        args = node.args
        names = [a for a in args if isinstance(a, str)]
        if len(names) == len(args) and len(set(names)) == len(
            names
        ):  # the usual node: no repeats, no literals
            for i, arg in enumerate(names):
                if arg in dag:
                    yield arg, name, {"positions": shared.setdefault((i,), (i,))}
            continue
        positions: dict[str, list[int]] = {}  # lists: a name repeated n times is O(n), not O(n^2)
        for i, arg in enumerate(args):
            if isinstance(arg, str):
                positions.setdefault(arg, []).append(i)
        for arg, where in positions.items():
            if arg in dag:
                p = tuple(where)
                yield arg, name, {"positions": shared.setdefault(p, p)}


def _sound(dag: nx.DiGraph, inputs: dict[str, InputDef], nodes: dict[str, NodeDef]) -> dict[str, NodeDef]:
    """The nodes whose every argument is a built input or another sound node: the part of
    a faulty file whose cycles, shapes and labels can still be checked. The faulty nodes
    and everything downstream of them (one breadth-first search from all of them, so
    linear) are removed from ``dag``; nodes on a cycle stay, so the cycle is found."""
    faulty = [
        n
        for n, d in nodes.items()
        if n not in inputs and any(isinstance(a, str) and a not in dag for a in d.args)
    ]
    if faulty:
        dag.remove_nodes_from([n for layer in nx.bfs_layers(dag, faulty) for n in layer])
    return {n: d for n, d in nodes.items() if n not in inputs and n in dag}


def _topological(dag: nx.DiGraph, doc: Document) -> tuple[list[str], Issue | None]:
    """The topological order, ties broken by file order (a file written in order keeps
    it). On a cycle, the order holds what is not on or after one, and the issue lists
    the whole cycle, located at its first node in the file."""
    position = {name: i for i, name in enumerate(dag)}
    order: list[str] = []
    try:
        for name in nx.lexicographical_topological_sort(dag, key=position.__getitem__):
            order.append(name)
    except nx.NetworkXUnfeasible:
        done = set(order)
        return order, _cycle_issue(dag.subgraph(n for n in dag if n not in done), position, doc)
    return order, None


def _cycle_issue(stuck: nx.DiGraph, position: dict[str, int], doc: Document) -> Issue:
    """Every node left after the sort waits on another left node, so walking back along
    arguments from the first of them in the file reaches a cycle (``nx.find_cycle``)."""
    start = min(stuck, key=position.__getitem__)
    edges = nx.find_cycle(stuck, source=start, orientation="reverse")
    cycle = [u for u, _, _ in reversed(edges)]  # (argument, user) edges, walked backwards
    first = min(cycle, key=position.__getitem__)
    cycle = cycle[cycle.index(first) :] + cycle[: cycle.index(first)]
    path = " -> ".join([*cycle, first])
    msg = f"node '{first}' is on a cycle: {path}; a graph must be acyclic"
    return doc.issue(("nodes", first), msg, key=True)


def _reaching(dag: nx.DiGraph, output: str) -> set[str]:
    """What the output depends on, itself included."""
    return nx.ancestors(dag, output) | {output}


def _infer(
    order: list[str], nodes: dict[str, NodeDef], inputs: dict[str, InputDef], limits: Limits
) -> tuple[dict[str, Shape | None], list[tuple[str, str]]]:
    """Shapes through every gate, each bounded by ``max_elements``; problems as (node, message)."""
    shapes: dict[str, Shape | None] = {n: d.value.shape for n, d in inputs.items()}
    problems = []
    for name in order:
        node = nodes.get(name)
        if node is None:
            continue
        arg_shapes = [shapes[a] if isinstance(a, str) else a.shape for a in node.args]
        shapes[name] = None
        if any(s is None for s in arg_shapes) or not has_shape_rule(node.gate):
            continue
        try:
            shapes[name] = tuple(node.gate.shape(*arg_shapes))
        except (ValueError, TypeError) as exc:
            described = ", ".join(f"{n} {list(s)}" for n, s in zip(node.arg_names(), arg_shapes, strict=True))
            problems.append((name, f"node '{name}' ({node.op}): {exc} (inputs: {described})"))
            continue
        size = math.prod(shapes[name])
        if size <= limits.max_elements and (problem := check_shape(shapes[name], limits)) is not None:
            shapes[name] = None
            problems.append((name, f"node '{name}' ({node.op}): its output: {problem}"))
        elif size > limits.max_elements:
            shape, shapes[name] = shapes[name], None
            problems.append(
                (
                    name,
                    (
                        f"node '{name}' ({node.op}): its output of shape {list(shape)} would have "
                        f"{size} elements, over the limit of {limits.max_elements} "
                        "(raise it with --max-elements)"
                    ),
                )
            )
    return shapes, problems


def _check_values(nodes: dict[str, NodeDef], inputs: dict[str, InputDef]) -> list[tuple[str, str]]:
    problems = []
    for name, node in nodes.items():
        known = [(inputs[a].value if a in inputs else None) if isinstance(a, str) else a for a in node.args]
        if all(v is None for v in known):
            continue
        try:
            node.gate.check_values(*known)
        except InputValueError as exc:
            who = node.arg_names()[exc.index]
            problems.append((name, f"node '{name}' ({node.op}): input '{who}': {exc}"))
    return problems


def _check_total(
    order: list[str],
    dag: nx.DiGraph,
    inputs: dict[str, InputDef],
    shapes: dict[str, Shape | None],
    output: str,
    limits: Limits,
) -> list[tuple[str, str]]:
    """The elements a run holds at once, before it runs: every input's and node's value,
    and the gradient of every differentiable input and of every node between one and the
    output. Over ``limits.total_elements`` it is a problem at the largest contributor.
    Nodes of a gate without a shape rule are not counted (their shape is not known)."""
    sources = [n for n, d in inputs.items() if d.grad]
    differentiable = {n for layer in nx.bfs_layers(dag, sources) for n in layer} if sources else set()
    reaching = _reaching(dag, output)
    held: dict[str, tuple[int, bool]] = {}
    for name in order:
        shape = shapes.get(name)
        if shape is None:
            continue
        grad = name in differentiable and (name in inputs or name in reaching)
        held[name] = (math.prod(shape), grad)
    total = sum(size * (2 if grad else 1) for size, grad in held.values())
    if total <= limits.total_elements:
        return []
    largest = sorted(held, key=lambda n: held[n][0] * (2 if held[n][1] else 1), reverse=True)[:3]

    def described(name: str) -> str:
        size, grad = held[name]
        kind = "input" if name in inputs else "node"
        return f"{kind} '{name}' {list(shapes[name] or ())} ({size}{' + its gradient' if grad else ''})"

    message = (
        f"running the graph would hold {total} elements at once (values and gradients), over the "
        f"limit of {limits.total_elements} (raise it with --max-total-elements); the largest: "
        + ", ".join(described(n) for n in largest)
    )
    return [(largest[0], message)]
