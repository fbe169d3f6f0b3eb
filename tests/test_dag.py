"""The graph is a networkx DAG built at load, and its algorithms are networkx's; every
run goes through engine.run, which picks the scalar fast path or the NumPy plan."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

import graphgrad
import graphgrad.engine.backprop as engine
from tests.conftest import GRAPHS

HEAD = "graphgrad: 1\n"


def test_the_dag_is_built_at_load_with_an_edge_per_argument_name():
    g = graphgrad.load(GRAPHS / "sigmoid_neuron.yaml")
    d = g.definition
    assert isinstance(d.dag, nx.DiGraph) and nx.is_directed_acyclic_graph(d.dag)
    assert set(d.dag) == set(d.inputs) | set(d.nodes)
    expected = {(a, n) for n, node in d.nodes.items() for a in node.args if isinstance(a, str)}
    assert set(d.dag.edges) == expected
    assert list(d.order) == list(nx.lexicographical_topological_sort(d.dag, key=list(d.dag).index))


def test_a_file_written_in_order_runs_in_file_order():
    """Kahn's queue used to put `c` (literals only) before `a`; the file's order wins ties."""
    g = graphgrad.load(
        HEAD + "inputs: {x: 1.0}\nnodes:\n  a: {op: exp, in: [x]}\n  b: {op: mul, in: [a, 2]}\n"
        "  c: {op: add, in: [1, 2]}\n  f: {op: add, in: [b, c]}\noutput: f\n"
    )
    assert g.definition.order == ["x", "a", "b", "c", "f"]


def test_a_file_out_of_order_is_sorted_with_file_order_breaking_ties():
    g = graphgrad.load(
        HEAD + "inputs: {x: 1.0}\nnodes:\n  f: {op: add, in: [b, a]}\n  b: {op: exp, in: [a]}\n"
        "  a: {op: neg, in: [x]}\n  z: {op: square, in: [x]}\noutput: f\n"
    )
    assert g.definition.order == ["x", "a", "b", "f", "z"]
    assert float(g.run().value) == pytest.approx(math.exp(-1.0) - 1.0)


def test_a_cycle_at_the_end_of_a_long_chain_is_found_without_recursion():
    n = 50_000
    chain = "".join(f"  n{i}: {{op: exp, in: [{'x' if i == 0 else f'n{i - 1}'}]}}\n" for i in range(n))
    cycle = "  p: {op: add, in: [n49999, r]}\n  q: {op: exp, in: [p]}\n  r: {op: exp, in: [q]}\n"
    with pytest.raises(graphgrad.GraphFileError) as err:
        graphgrad.load(HEAD + "inputs: {x: 0.0}\nnodes:\n" + chain + cycle + "output: r\n")
    [issue] = err.value.issues
    assert (issue.line, issue.column) == (n + 4, 3)
    assert issue.message == "node 'p' is on a cycle: p -> q -> r -> p; a graph must be acyclic"


def test_a_cycle_is_listed_from_its_first_node_in_the_file_in_the_direction_values_flow():
    text = HEAD + "inputs: {x: 1}\nnodes:\n  c: {op: exp, in: [b]}\n  a: {op: add, in: [x, c]}\n"
    text += "  b: {op: exp, in: [a]}\n  after: {op: exp, in: [c]}\noutput: after\n"
    with pytest.raises(graphgrad.GraphFileError) as err:
        graphgrad.load(text)
    assert [i.message for i in err.value.issues] == [
        "node 'c' is on a cycle: c -> a -> b -> c; a graph must be acyclic"
    ]


def test_unused_nodes_are_what_does_not_reach_the_output():
    g = graphgrad.load(
        HEAD + "inputs: {x: 1.0, y: 2.0}\nnodes:\n  a: {op: exp, in: [x]}\n  b: {op: exp, in: [y]}\n"
        "  f: {op: neg, in: [a]}\noutput: f\n"
    )
    assert g.definition.reaching_output() == {"x", "a", "f"}
    assert g.check().unused == ["y", "b"]


def test_paths_count_each_use_of_a_repeated_argument():
    g = graphgrad.load(
        HEAD + "inputs: {x: 3.0}\nnodes:\n  s: {op: mul, in: [x, x]}\n  f: {op: add, in: [s, x]}\noutput: f\n"
    )
    from graphgrad.explain.flow import gradient_flow, paths

    terms = paths(gradient_flow(g), "x")
    assert [t.nodes for t in terms] == [["x", "s", "f"], ["x", "s", "f"], ["x", "f"]]
    assert sum(t.product for t in terms) == float(g.run().grads["x"]) == 7.0


def test_the_input_that_is_the_output_has_one_empty_path():
    g = graphgrad.load(HEAD + "inputs: {x: 3.0}\nnodes: {}\noutput: x\n")
    assert list(g.definition.paths("x")) == [[]]


def test_engine_run_takes_the_fast_path_only_when_given_a_program_and_no_seed():
    g = graphgrad.load(GRAPHS / "simple.yaml")
    program = g.scalar_program
    assert program is not None
    fast = engine.run(g.plan, program)
    plain = engine.run(g.plan)
    seeded = engine.run(g.plan, program, seed=np.array(2.0))
    assert fast.program is program and plain.program is None and seeded.program is None
    x = g.plan.slot["x"]
    assert fast.grads[x] == float(plain.grads[x]) == -4.0
    assert float(seeded.grads[x]) == -8.0  # the seed scales the backward


def test_engine_run_falls_back_to_numpy_where_floats_would_differ():
    g = graphgrad.Graph("edge")
    g.reciprocal(g.input("a", 0.0), name="f")
    done = engine.run(g.plan, g.scalar_program)
    assert g.scalar_program is not None and done.program is None
    assert np.isinf(done.values[g.plan.output])


def test_graph_run_goes_through_engine_run(monkeypatch):
    g = graphgrad.load(GRAPHS / "simple.yaml")
    calls = []
    real = engine.run
    monkeypatch.setattr(engine, "run", lambda *a, **k: calls.append(a[1:]) or real(*a, **k))
    g.run()
    g.run()
    assert calls == [(None,), (g.scalar_program,)]  # the second run compiles the program
    # checking: one run (built-in gates are deterministic)
    assert g.check().status == "passed" and len(calls) == 3
