"""From a failing check to the smallest graph file that still fails the same way.

Blame names the gate at fault; a person then still needs a small case to debug it. The
shrinker builds one: it cuts the graph at the blamed gate (the values that fed it become
inputs holding the values they had), removes or bypasses the nodes left between blamed
gates, and cuts the inputs to the smallest shapes that still fail. Every candidate is
an ordinary graph file, loaded and checked as a file would be, and is kept only if it
fails the same way: status ``failed``, with every blamed (op, plugin) of the original
still blamed, under the same checker. A graph that passes is never written. The search
is bounded by seconds and tries, and says how far it got.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import graphgrad.engine.backprop as engine
from graphgrad.api import Graph
from graphgrad.builtin.exporters.document import node_document
from graphgrad.builtin.exporters.textual import to_yaml
from graphgrad.checking.verify import FileReport, GateFault, check_graph
from graphgrad.errors import GraphgradError
from graphgrad.graph.dag import graph_from_text

SECONDS = 30.0
TRIES = 300


@dataclass
class _Case:
    """A candidate: inputs with their values, nodes as graph-file data, the output."""

    inputs: dict[str, tuple[np.ndarray, bool]]
    nodes: dict[str, dict[str, Any]]
    output: str

    def references(self, name: str) -> list[str]:
        return [a for a in self.nodes[name]["in"] if isinstance(a, str)]

    def pruned(self) -> _Case:
        """Only what the output depends on."""
        keep, todo = set(), [self.output]
        while todo:
            n = todo.pop()
            if n in keep:
                continue
            keep.add(n)
            if n in self.nodes:
                todo += self.references(n)
        return _Case(
            {n: v for n, v in self.inputs.items() if n in keep},
            {n: d for n, d in self.nodes.items() if n in keep},
            self.output,
        )

    def ancestors(self, name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in self.nodes:
                todo += self.references(n)
        return seen

    def descendants(self, names: list[str]) -> set[str]:
        """The nodes that depend on any of ``names``, and those names."""
        users: dict[str, list[str]] = {}
        for n in self.nodes:
            for a in self.references(n):
                users.setdefault(a, []).append(n)
        seen, todo = set(), list(names)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo += users.get(n, [])
        return seen

    @property
    def elements(self) -> int:
        return sum(v.size for v, _ in self.inputs.values())


@dataclass
class ShrinkResult:
    """What shrinking found: the file's text (None when nothing is written) and how far
    the search got."""

    written: bool
    reason: str
    text: str | None = None
    nodes: tuple[int, int] = (0, 0)
    elements: tuple[int, int] = (0, 0)
    kept: list[str] = field(default_factory=list)
    tries: int = 0
    seconds: float = 0.0
    stopped: str | None = None
    """``seconds`` or ``tries`` when a bound ended the search, None when it finished."""
    blame: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "reason": self.reason,
            "nodes": {"before": self.nodes[0], "after": self.nodes[1]},
            "elements": {"before": self.elements[0], "after": self.elements[1]},
            "kept": self.kept,
            "tries": self.tries,
            "seconds": round(self.seconds, 3),
            "finished": self.stopped is None,
            "stopped_by": self.stopped,
            "blame": self.blame,
            "text": self.text,
        }


def summary(shrink: dict[str, Any], path: str | None = None) -> str:
    """One line about a shrink (``as_dict``), for the text output of ``check``."""
    if not shrink["written"]:
        return f"shrink: nothing written: {shrink['reason']}"
    n, e = shrink["nodes"], shrink["elements"]
    how = (
        "finished"
        if shrink["finished"]
        else f"stopped by its {shrink['stopped_by']} limit: a smaller graph may still fail"
    )
    where = f"wrote {path}: " if path else ""
    return (
        f"shrink: {where}{n['after']} of {n['before']} nodes, {e['after']} of {e['before']} input elements; "
        f"{shrink['tries']} tries in {shrink['seconds']:g} s, {how}"
    )


class _Search:
    def __init__(self, graph: Graph, report: FileReport, checker: str | None, seconds: float, tries: int):
        self.graph, self.report, self.checker = graph, report, checker
        self.deadline = time.perf_counter() + seconds
        self.limit = tries
        self.tries = 0
        self.stopped: str | None = None
        self.target = {(f.op, f.plugin) for f in report.blame}
        spec = graph.definition.spec
        self.head: dict[str, Any] = {"graphgrad": 1, "name": f"{graph.name}-shrunk"}
        if spec.seed:
            self.head["seed"] = spec.seed
        if spec.dtype != "float64":
            self.head["dtype"] = spec.dtype
        check = dict(spec.check.model_dump(exclude_defaults=True)) if spec.check else {}
        check.update((spec.check.model_extra or {}) if spec.check else {})
        check.pop("wrt", None)  # the inputs are new: every differentiable one is checked
        if checker is not None:
            check["checker"] = checker
        self.check = check
        self.last: FileReport | None = None

    def out_of_budget(self) -> bool:
        if self.stopped is None:
            if self.tries >= self.limit:
                self.stopped = "tries"
            elif time.perf_counter() > self.deadline:
                self.stopped = "seconds"
        return self.stopped is not None

    def document(self, case: _Case, expect: dict | None = None) -> dict[str, Any]:
        dtype = self.head.get("dtype", "float64")
        inputs = {}
        for name, (value, grad) in case.inputs.items():
            item: dict[str, Any] = {"value": value.tolist()}
            kind = (
                "int64"
                if value.dtype.kind in "iu"
                else "bool"
                if value.dtype.kind == "b"
                else str(value.dtype)
            )
            if kind != dtype:
                item["dtype"] = kind
            if not grad and value.dtype.kind == "f":
                item["grad"] = False
            inputs[name] = item
        doc = {**self.head, "inputs": inputs, "nodes": dict(case.nodes), "output": case.output}
        if expect is not None:
            doc["expect"] = expect
        if self.check:
            doc["check"] = self.check
        return doc

    def load(self, text: str) -> Graph:
        g = self.graph
        definition, data = graph_from_text(text, "<shrink>", g.registry, g.limits, name=self.head["name"])
        return Graph.from_definition(definition, g.registry, g.limits, data=data)

    def fails(self, case: _Case) -> bool:
        """One try: does this candidate load, and fail the same way?"""
        if self.out_of_budget():
            return False
        self.tries += 1
        try:
            report = check_graph(self.load(to_yaml(self.document(case))), checker=self.checker)
        except GraphgradError:  # a shape the gates refuse, a label out of range: not a candidate
            return False
        same = report.status == "failed" and self.target <= {(f.op, f.plugin) for f in report.blame}
        if same:
            self.last = report
        return same


def _start(graph: Graph) -> tuple[_Case, dict[str, np.ndarray], dict[str, bool]]:
    """The whole graph with every input as its value, and every name's value."""
    plan, definition = graph.plan, graph.definition
    done = engine.run(plan)
    values = {n: np.asarray(done.values[plan.slot[n]]) for n in plan.names}
    grad = {n: bool(plan.requires_grad[plan.slot[n]]) for n in plan.names}
    inputs = {n: (values[n], grad[n]) for n in definition.inputs}
    nodes = {n: node_document(definition.nodes[n]) for n in definition.order if n in definition.nodes}
    return _Case(inputs, nodes, definition.output).pruned(), values, grad


def _cut(case: _Case, blamed: list[str], output: str, values: dict, grad: dict) -> _Case:
    """The nodes on paths from the blamed ones to ``output``; whatever else feeds them
    becomes an input with the value it had."""
    on_path = case.ancestors(output) & case.descendants(blamed) & set(case.nodes)
    inputs: dict[str, tuple[np.ndarray, bool]] = {}
    for n in on_path:
        for a in case.references(n):
            if a not in on_path:
                inputs[a] = (values[a], grad[a])
    nodes = {n: d for n, d in case.nodes.items() if n in on_path}
    return _Case(inputs, nodes, output).pruned()


def _freeze(case: _Case, name: str, values: dict, grad: dict) -> _Case | None:
    """The node replaced by an input holding its value (what fed it goes away)."""
    if name == case.output:
        return None
    nodes = {n: d for n, d in case.nodes.items() if n != name}
    return _Case({**case.inputs, name: (values[name], grad[name])}, nodes, case.output).pruned()


def _bypass(case: _Case, name: str, values: dict) -> _Case | None:
    """The node merged into its first argument of the same shape and dtype: its users
    read that argument instead (``f(a)`` -> ``a``)."""
    v = values[name]
    same = [a for a in case.references(name) if values[a].shape == v.shape and values[a].dtype == v.dtype]
    if not same or name == case.output and same[0] not in case.nodes:
        return None
    into = same[0]
    nodes = {}
    for n, d in case.nodes.items():
        if n != name:
            nodes[n] = {**d, "in": [into if a == name else a for a in d["in"]]}
    output = into if case.output == name else case.output
    return _Case(dict(case.inputs), nodes, output).pruned()


def _resized(case: _Case, picks: dict[tuple[str, int], slice]) -> _Case:
    inputs = {}
    for n, (v, g) in case.inputs.items():
        index = tuple(picks.get((n, axis), slice(None)) for axis in range(v.ndim))
        inputs[n] = (np.ascontiguousarray(v[index]) if index else v, g)
    return _Case(inputs, case.nodes, case.output)


def _shrink_shapes(search: _Search, case: _Case) -> _Case:
    """Cut axes to length 1, else to half (the first or the last part), first every axis
    of one length across all inputs at once (shapes that must agree), then one by one."""
    changed = True
    while changed and not search.out_of_budget():
        changed = False
        lengths = sorted({d for v, _ in case.inputs.values() for d in v.shape if d > 1}, reverse=True)
        groups = [
            [(n, axis) for n, (v, _) in case.inputs.items() for axis, d in enumerate(v.shape) if d == length]
            for length in lengths
        ]
        groups += [
            [(n, axis)] for n, (v, _) in case.inputs.items() for axis, d in enumerate(v.shape) if d > 1
        ]
        for group in groups:
            d = case.inputs[group[0][0]][0].shape[group[0][1]]
            for m in dict.fromkeys((1, math.ceil(d / 2))):
                for part in (slice(0, m), slice(d - m, d)):
                    candidate = _resized(case, dict.fromkeys(group, part))
                    if search.fails(candidate):
                        case, changed = candidate, True
                        break
                if changed or search.out_of_budget():
                    break
            if changed or search.out_of_budget():
                break
    return case


def shrink(
    graph: Graph,
    report: FileReport,
    *,
    checker: str | None = None,
    seconds: float = SECONDS,
    tries: int = TRIES,
    source: str | None = None,
) -> ShrinkResult:
    """The smallest graph file found that fails like ``report`` (a check of ``graph``).

    Written only for a failed check with a blamed gate: a passing, inconclusive or
    unblamed one gives ``written=False`` and the reason. ``seconds`` and ``tries`` bound
    the search; the best file found by then is returned, and ``stopped`` says which bound
    ended it."""
    start = time.perf_counter()
    if report.status != "failed":
        return ShrinkResult(False, f"the check {report.status}: there is no failure to keep")
    if not report.blame:
        return ShrinkResult(
            False,
            "no gate is blamed (the failure is in expect:, a non-finite value or determinism): "
            "shrinking keeps a blamed gate",
        )
    search = _Search(graph, report, checker, seconds, tries)
    full, values, grad = _start(graph)
    best = full
    blamed = list(dict.fromkeys(_first_per_gate(report.blame)))
    # 1. cut at the blamed gates: the first node (in the order the graph runs) that depends
    # on all of them, or the output
    common = set.intersection(*(full.descendants([b]) for b in blamed))
    first = next((n for n in full.nodes if n in common), full.output)
    for output in dict.fromkeys([first, full.output]):
        candidate = _cut(full, blamed, output, values, grad)
        if search.fails(candidate):
            best = candidate
            break
    # 2. nodes other than the blamed ones: bypassed or frozen into inputs, while it still fails
    changed = True
    while changed and not search.out_of_budget():
        changed = False
        for name in reversed(list(best.nodes)):
            if name in blamed or name not in best.nodes:
                continue
            for candidate in (_bypass(best, name, values), _freeze(best, name, values, grad)):
                if candidate is not None and search.fails(candidate):
                    best, changed = candidate, True
                    break
    # 3. smaller shapes
    best = _shrink_shapes(search, best)
    text, faults = _final_text(search, best, full, source, report)
    if text is None:
        return ShrinkResult(False, "the smallest graph found did not fail the same way on its own")
    return ShrinkResult(
        True,
        "the check failed and blamed a gate",
        text,
        (len(full.nodes), len(best.nodes)),
        (full.elements, best.elements),
        list(best.nodes),
        search.tries,
        time.perf_counter() - start,
        search.stopped,
        [str(f) for f in faults],
    )


def _first_per_gate(faults: list[GateFault]) -> list[str]:
    """One blamed node per (op, plugin): the first, in the order the graph runs."""
    seen: dict[tuple[str, str], str] = {}
    for f in faults:
        seen.setdefault((f.op, f.plugin), f.node)
    return list(seen.values())


def _final_text(
    search: _Search, best: _Case, full: _Case, source: str | None, report: FileReport
) -> tuple[str | None, list[GateFault]]:
    """The file with its ``expect:`` and comment, checked once more as it will be read:
    (None, []) if it does not fail the same way on its own."""
    graph = search.load(to_yaml(search.document(best)))
    result = graph.run()
    expect = {
        "value": np.asarray(result.value).tolist(),
        "grads": {n: np.asarray(g).tolist() for n, g in result.grads.items()},
    }
    body = to_yaml(search.document(best, expect))
    again = check_graph(search.load(body), checker=search.checker)
    if again.status != "failed" or not search.target <= {(f.op, f.plugin) for f in again.blame}:
        return None, []
    removed = [n for n in full.nodes if n not in best.nodes]
    fed = [n for n in best.inputs if n in full.nodes]
    shown = ", ".join(removed[:12]) + (f" and {len(removed) - 12} more" if len(removed) > 12 else "")
    checker = search.check.get("checker", "auto")
    bound = (
        "the search finished"
        if search.stopped is None
        else f"the search stopped at its {search.stopped} limit: a smaller graph may still fail"
    )
    lines = [
        f"Shrunk by graphgrad check --shrink from {source or report.file} (checker {checker}, seed "
        f"{report.seed}): {len(best.nodes)} of {len(full.nodes)} nodes kept, "
        f"{best.elements} of {full.elements} input elements.",
        f"Removed: {shown or 'no node'}."
        + (f" Input(s) {', '.join(fed)}: the values those nodes gave in the original." if fed else ""),
        "Inputs are cut to the first or last part of each axis where the failure stayed;"
        " attributes are as in the original.",
        "It still fails the same way, as `graphgrad check` on this file shows:",
        *(f"  {f}" for f in again.blame[:4]),
        f"expect: is what the engine gave for this file. {search.tries} tries, {bound}.",
    ]
    # the check read the file without this comment: its line numbers move down by its height
    faults = [replace(f, line=f.line + len(lines)) for f in again.blame]
    lines[4 : 4 + len(faults[:4])] = [f"  {f}" for f in faults[:4]]
    return to_yaml(search.document(best, expect), comment="\n".join(lines)), faults
