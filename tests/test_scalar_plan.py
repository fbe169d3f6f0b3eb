"""The scalar fast path: generated code on floats must give what the NumPy plan gives,
and hand over to it wherever Python floats and NumPy would part ways."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad
import graphgrad.engine.backprop as engine
from tests.conftest import GRAPHS

OPS = [
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "exp",
    "log",
    "sqrt",
    "square",
    "reciprocal",
    "abs",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "max",
    "min",
    "sum",
    "mean",
    "l2",
    "pow",
]


def numpy_path(graph: graphgrad.Graph):
    done = engine.run(graph.plan)  # no program given: the NumPy plan
    assert done.program is None
    return done.values, done.grads


def assert_same_as_numpy(graph: graphgrad.Graph, *, exact: bool = False) -> None:
    graph.run()
    result = graph.run()  # the second run uses the scalar program
    values, grads = numpy_path(graph)
    plan = graph.plan
    # exp, log, tanh... come from Python's libm on one path and NumPy's own code on the
    # other: they may differ in the last bit, and a cancellation later (a - b with a ~ b)
    # turns one ulp of 1 into a large relative error on a tiny result: hence an absolute
    # floor of 1e-12 beside the relative tolerance; arithmetic alone is compared exactly.
    compare = (
        np.testing.assert_array_equal
        if exact
        else (lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True))
    )
    for name in plan.names:
        compare(result.values[name], values[plan.slot[name]])
    for name, grad in result.grads.items():
        expected = grads[plan.slot[name]]
        compare(grad, np.zeros(()) if expected is None else expected)
    for name, grad in result.node_grads.items():
        compare(grad, grads[plan.slot[name]])


@pytest.mark.parametrize("name", ["simple", "sigmoid_neuron", "sigmoid_gate", "gate_patterns", "copy_gate"])
def test_lecture_graphs_take_the_fast_path_and_agree(name):
    g = graphgrad.load(GRAPHS / f"{name}.yaml")
    assert g.scalar_program is not None
    assert engine.run(g.plan, g.scalar_program).program is g.scalar_program  # it ran, no fallback
    assert_same_as_numpy(g)


@st.composite
def scalar_graphs(draw):
    g = graphgrad.Graph("fuzz")
    names = [g.input(f"i{k}", draw(st.floats(-3, 3, allow_nan=False))) for k in range(3)]
    for k in range(draw(st.integers(1, 12))):
        op = draw(st.sampled_from(OPS))
        if op in ("add", "sub", "mul", "div", "max", "min"):
            args = [draw(st.sampled_from(names)), draw(st.sampled_from(names))]
            names.append(g.node(op, *args, name=f"n{k}"))
        elif op == "pow":
            names.append(
                g.node(
                    op,
                    draw(st.sampled_from(names)),
                    name=f"n{k}",
                    exponent=draw(st.sampled_from([2.0, 3.0, 0.5, -1.0, 1.5])),
                )
            )
        elif op == "leaky_relu":
            names.append(g.node(op, draw(st.sampled_from(names)), name=f"n{k}", slope=0.2))
        else:
            names.append(g.node(op, draw(st.sampled_from(names)), name=f"n{k}"))
    return g


@settings(max_examples=150, deadline=None, derandomize=True)
@given(scalar_graphs())
def test_random_scalar_graphs_agree_with_numpy(g):
    assert g.scalar_program is not None
    assert_same_as_numpy(g)


@pytest.mark.parametrize(
    ("op", "x"),
    [
        ("reciprocal", 0.0),
        ("log", 0.0),
        ("log", -1.0),
        ("sqrt", -1.0),
        ("exp", 1000.0),
        ("div", 0.0),
        ("relu", math.nan),
        ("abs", math.nan),
        ("max", math.nan),
        ("relu", -0.0),
        ("relu", -2.0),
        ("sigmoid", -1000.0),
        ("sigmoid", 1000.0),
        ("sigmoid", math.nan),
    ],
)
def test_where_floats_and_numpy_differ_numpy_decides(op, x):
    g = graphgrad.Graph("edge")
    a = g.input("a", x)
    if op == "div":
        g.div(g.input("b", 1.0), a, name="f")
    elif op == "max":
        g.max(a, 0.5, name="f")
    else:
        g.node(op, a, name="f")
    assert g.scalar_program is not None
    assert_same_as_numpy(g, exact=True)


def test_negative_base_fractional_power_is_nan_as_in_numpy():
    g = graphgrad.Graph("pow")
    g.pow(g.input("a", -2.0), name="f", exponent=0.5)
    assert_same_as_numpy(g, exact=True)
    assert math.isnan(float(g.run().value))


def test_compiled_from_the_second_run_and_shared_with_new_inputs():
    g = graphgrad.load(GRAPHS / "simple.yaml")
    g.run()
    assert g._scalar is graphgrad.api._UNSET  # one run compiles nothing
    g.run()
    program = g._scalar
    assert program is not None
    assert g.with_inputs({"x": 1.0})._scalar is program
    assert float(g.run(inputs={"z": 2.0}).grads["x"]) == 2.0


@pytest.mark.parametrize(
    "text",
    [
        "inputs: {x: [1.0, 2.0]}\nnodes:\n  f: {op: sum, in: [x]}\noutput: f\n",
        "dtype: float32\ninputs: {x: 1.0}\nnodes:\n  f: {op: exp, in: [x]}\noutput: f\n",
        "inputs: {x: 1.0, k: {value: 2, dtype: int64}}\nnodes:\n  f: {op: mul, in: [x, k]}\noutput: f\n",
    ],
)
def test_arrays_float32_and_ints_keep_the_numpy_plan(text):
    g = graphgrad.load("graphgrad: 1\n" + text)
    first = g.run()
    second = g.run()  # where an all-scalar float64 graph would have compiled its program
    assert g._scalar is None and g.scalar_program is None
    values, grads = numpy_path(g)
    for result in (first, second):
        assert type(result.values) is dict  # NumPy arrays, not the fast path's floats
        np.testing.assert_array_equal(result.value, values[g.plan.output])
        for name, grad in result.grads.items():
            np.testing.assert_array_equal(grad, grads[g.plan.slot[name]])
