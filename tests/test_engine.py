"""The engine through the public API: fan-out, broadcasting, dtypes, literals, deep
graphs, runtime errors and input replacement. Expected gradients come from closed
forms or from central differences over forward passes."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad
from tests.conftest import central_difference


def load(body: str, **kw) -> graphgrad.Graph:
    return graphgrad.load("graphgrad: 1\n" + body, **kw)


def test_mul_x_x_keeps_both_arguments():
    g = load("inputs: {x: 3}\nnodes:\n  f: {op: mul, in: [x, x]}\noutput: f\n")
    assert float(g.run().grads["x"]) == 6.0  # d(x^2)/dx = 2x
    assert g.dag.number_of_edges() == 1
    assert g.dag.edges["x", "f"]["positions"] == (0, 1)


def test_add_with_a_repeated_input_and_a_literal():
    g = load("inputs: {x: 2}\nnodes:\n  f: {op: add, in: [x, x, 5, x]}\noutput: f\n")
    r = g.run()
    assert float(r.value) == 11 and float(r.grads["x"]) == 3


def test_broadcast_gradients_are_summed_back_to_each_shape():
    g = load(
        "inputs:\n  a: {shape: [3, 1], init: normal}\n  b: {shape: [4], init: normal}\n"
        "nodes:\n  p: {op: mul, in: [a, b]}\n  f: {op: sum, in: [p]}\noutput: f\n"
    )
    r = g.run()
    a, b = r.values["a"], r.values["b"]
    np.testing.assert_allclose(r.grads["a"], np.full((3, 1), b.sum()))
    np.testing.assert_allclose(r.grads["b"], np.full(4, a.sum()))


def test_non_scalar_output_is_seeded_with_ones():
    g = load("inputs: {x: [1.0, 2.0, 3.0]}\nnodes:\n  f: {op: square, in: [x]}\noutput: f\n")
    np.testing.assert_array_equal(g.run().grads["x"], [2, 4, 6])


def test_output_may_be_an_input():
    r = load("inputs: {x: [1.0, 2.0]}\nnodes: {}\noutput: x\n").run()
    np.testing.assert_array_equal(r.grads["x"], [1, 1])


def test_int_and_bool_inputs_get_no_gradient_and_promote_like_numpy():
    g = load(
        "inputs:\n  x: [1.5, 2.5]\n  k: {value: [2, 3], dtype: int64}\n"
        "  m: {value: [true, false], dtype: bool}\n"
        "nodes:\n  a: {op: mul, in: [x, k]}\n  b: {op: mul, in: [a, m]}\n  f: {op: sum, in: [b]}\noutput: f\n"
    )
    r = g.run()
    assert set(r.grads) == {"x"}
    np.testing.assert_array_equal(r.grads["x"], [2, 0])
    assert r.values["k"].dtype == np.int64 and r.values["a"].dtype == np.float64


def test_integers_in_a_float_list_are_floats():
    r = load("inputs: {x: [1, 2]}\nnodes: {}\noutput: x\n").run()
    assert r.values["x"].dtype == np.float64


def test_yaml_12_numbers_and_names():
    g = load("inputs:\n  no: 1e-6\n  yes: 1E+3\nnodes:\n  f: {op: add, in: [no, yes, .5]}\noutput: f\n")
    assert g.run().value == pytest.approx(1000.500001)
    assert set(g.definition.inputs) == {"no", "yes"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtypes_are_kept_through_forward_and_backward(dtype):
    g = load(
        f"dtype: {dtype}\ninputs:\n  x: {{shape: [4, 3], init: normal}}\n  y: {{shape: [4], init: integers, high: 3}}\n"
        "nodes:\n  h: {op: max, in: [x, 0.1]}\n  s: {op: mul, in: [h, 2]}\n  L: {op: cross_entropy, in: [s, y]}\noutput: L\n"
    )
    r = g.run()
    assert r.value.dtype == dtype
    assert r.grads["x"].dtype == dtype
    assert all(v.dtype == dtype for k, v in r.values.items() if k != "y")


def test_unused_input_gets_zeros_and_unused_node_is_computed():
    r = load(
        "inputs: {x: 2, u: [1.0, 1.0]}\nnodes:\n  f: {op: exp, in: [x]}\n  lone: {op: neg, in: [u]}\noutput: f\n"
    ).run()
    np.testing.assert_array_equal(r.grads["u"], [0, 0])
    np.testing.assert_array_equal(r.values["lone"], [-1, -1])
    assert "lone" not in r.node_grads


def test_grad_false_input_is_not_differentiated():
    r = load(
        "inputs:\n  x: 2\n  c: {value: 3, grad: false}\nnodes:\n  f: {op: mul, in: [x, c]}\noutput: f\n"
    ).run()
    assert set(r.grads) == {"x"} and float(r.grads["x"]) == 3


def test_node_grads_match_central_differences_through_a_chain():
    g = load(
        "inputs: {x: [0.3, -0.7, 1.1]}\nnodes:\n  a: {op: tanh, in: [x]}\n  b: {op: exp, in: [a]}\n"
        "  c: {op: mul, in: [b, a]}\n  f: {op: mean, in: [c]}\noutput: f\n"
    )
    x = g.definition.inputs["x"].value
    numeric = central_difference(lambda v: float(g.run(inputs={"x": v}).value), x)
    np.testing.assert_allclose(g.run().grads["x"], numeric, rtol=1e-7)


def test_fan_out_sums_are_right_when_gates_share_gradient_arrays():
    """add returns its upstream array for every input, so several contributions to one
    slot may be one array; the engine's in-place summing must not write into it."""
    g = load(
        "inputs: {x: [0.3, -0.7, 1.1, 0.2]}\nnodes:\n  a: {op: add, in: [x, x, x]}\n"
        "  b: {op: mul, in: [a, x]}\n  c: {op: add, in: [b, a]}\n  d: {op: exp, in: [x]}\n"
        "  e: {op: add, in: [c, d, x]}\n  f: {op: sum, in: [e]}\noutput: f\n"
    )
    x = g.definition.inputs["x"].value
    numeric = central_difference(lambda v: float(g.run(inputs={"x": v}).value), x)
    first, second = g.run(), g.run()
    np.testing.assert_allclose(first.grads["x"], numeric, rtol=1e-7)
    np.testing.assert_array_equal(first.grads["x"], second.grads["x"])
    np.testing.assert_allclose(first.grads["x"], 6 * x + 3 + np.exp(x) + 1, rtol=1e-12)


def test_gradient_sums_reuse_only_arrays_nothing_else_holds():
    import weakref

    from graphgrad.engine.backprop import _accumulate

    owned = [np.ones(3)]
    before = weakref.ref(owned[0])
    _accumulate(owned, 0, np.full(3, 2.0))
    assert owned[0] is before() and owned[0].tolist() == [3, 3, 3]

    shared = np.ones(3)
    grads = [shared]
    _accumulate(grads, 0, np.full(3, 2.0))
    assert shared.tolist() == [1, 1, 1] and grads[0].tolist() == [3, 3, 3]

    base = np.ones(6)
    view = [base[:3]]
    _accumulate(view, 0, np.ones(3))
    assert base.tolist() == [1] * 6 and view[0].tolist() == [2, 2, 2]


def test_plain_nodes_of_one_op_share_a_gate_and_each_bad_one_is_reported():
    g = load("inputs: {x: 2.0}\nnodes:\n  a: {op: tanh, in: [x]}\n  b: {op: tanh, in: [a]}\noutput: b\n")
    assert g.definition.nodes["a"].gate is g.definition.nodes["b"].gate
    with pytest.raises(graphgrad.GraphFileError) as caught:
        load("inputs: {x: 2.0}\nnodes:\n  a: {op: pow, in: [x]}\n  b: {op: pow, in: [a]}\noutput: b\n")
    assert [str(i).split(": ", 1)[1] for i in caught.value.issues] == [
        "node 'a': the required key 'exponent' is missing",
        "node 'b': the required key 'exponent' is missing",
    ]


def test_a_100000_node_chain_loads_and_runs():
    n = 100_000
    body = "".join(f"  n{i}: {{op: add, in: [n{i - 1}, 1]}}\n" for i in range(1, n))
    g = load("inputs: {x: 0.5}\nnodes:\n  n0: {op: mul, in: [x, 1]}\n" + body + f"output: n{n - 1}\n")
    r = g.run()
    assert float(r.value) == 0.5 + (n - 1) and float(r.grads["x"]) == 1.0


def test_running_twice_gives_the_same_result_and_leaves_inputs_alone():
    g = graphgrad.load(_two_layer())
    before = g.definition.inputs["W1"].value.copy()
    a, b = g.run(), g.run()
    np.testing.assert_array_equal(a.grads["W1"], b.grads["W1"])
    np.testing.assert_array_equal(g.definition.inputs["W1"].value, before)


def _two_layer() -> str:
    from tests.conftest import GRAPHS

    return str(GRAPHS / "two_layer_svm.yaml")


def test_seeded_inputs_are_reproducible_and_independent():
    base = "seed: 7\ninputs:\n  a: {shape: [3], init: normal}\n{extra}nodes: {}\noutput: a\n"
    one = load(base.replace("{extra}", "")).run().values["a"]
    two = load(base.replace("{extra}", "  b: {shape: [3], init: uniform}\n")).run().values["a"]
    other_seed = load(base.replace("{extra}", "").replace("seed: 7", "seed: 8")).run().values["a"]
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, other_seed)


def test_run_with_new_inputs_reinfers_shapes():
    g = load("inputs: {x: [1.0, 2.0]}\nnodes:\n  f: {op: l2, in: [x]}\noutput: f\n")
    r = g.run(inputs={"x": [1.0, 2.0, 3.0]})
    assert float(r.value) == 14 and r.grads["x"].shape == (3,)


def test_run_with_bad_inputs_raises_input_error():
    g = load(
        "inputs:\n  s: {shape: [2, 3], init: normal}\n  y: {value: [0, 1], dtype: int64}\n"
        "nodes:\n  L: {op: svm_loss, in: [s, y]}\noutput: L\n"
    )
    with pytest.raises(graphgrad.InputError, match=r"<text>:6:1: node 'L' \(svm_loss\): input 'y': label 3"):
        g.run(inputs={"y": [0, 3]})
    with pytest.raises(graphgrad.InputError, match="labels must have shape"):
        g.run(inputs={"y": [0, 1, 2]})
    with pytest.raises(graphgrad.InputError, match="no input named 'z'"):
        g.run(inputs={"z": 1})
    with pytest.raises(graphgrad.InputError, match="not a valid int64"):
        g.run(inputs={"y": [0.5, 1]})


def test_a_gate_failing_at_run_time_is_located():
    class Broken(graphgrad.Gate):
        op = "broken"

        def forward(self, x):
            return x

        def backward(self, grad, out, x):
            raise RuntimeError("boom")

    import types

    module = types.ModuleType("broken_plugin")
    module.graphgrad_gates = graphgrad.hookimpl(lambda: [Broken])
    g = load("inputs: {x: 1}\nnodes:\n  b: {op: broken, in: [x]}\noutput: b\n", plugins=[module])
    with pytest.raises(
        graphgrad.GateRuntimeError,
        match=r"<text>:4:1: node 'b' \(broken\): backward failed: RuntimeError: boom",
    ):
        g.run()


def test_a_gate_returning_the_wrong_number_of_gradients_is_an_error():
    class TooFew(graphgrad.Gate):
        op = "too_few"

        def forward(self, a, b):
            return a * b

        def backward(self, grad, out, a, b):
            return (grad * b,)

    import types

    module = types.ModuleType("too_few_plugin")
    module.graphgrad_gates = graphgrad.hookimpl(lambda: [TooFew])
    g = load("inputs: {x: 1, y: 2}\nnodes:\n  b: {op: too_few, in: [x, y]}\noutput: b\n", plugins=[module])
    with pytest.raises(graphgrad.GateRuntimeError, match="returned 1 gradients for 2 inputs"):
        g.run()


def test_load_from_path_and_text_agree(tmp_path):
    text = "graphgrad: 1\ninputs: {x: 2}\nnodes:\n  f: {op: square, in: [x]}\noutput: f\n"
    path = tmp_path / "sq.yaml"
    path.write_text(text)
    from_path, from_text = graphgrad.load(path), graphgrad.load(text)
    assert from_path.name == "sq" and from_text.name == "graph"
    assert float(from_path.run().grads["x"]) == float(from_text.run().grads["x"]) == 4
    assert sorted(from_path.dag.edges) == sorted(from_text.dag.edges) == [("x", "f")]
