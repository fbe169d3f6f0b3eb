"""Every built-in gate's backward against central differences of its own forward.

The expected gradient comes from forward evaluations only: for a random upstream
gradient u, d/dx sum(u * forward(x, ...)) by central differences must equal the gate's
backward(u, ...) summed back to x's shape. Points are drawn away from kinks; the kinks
themselves have their own tests below.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphgrad.gate import sum_to
from graphgrad.plugins.manager import default_registry
from tests.conftest import central_difference

REG = default_registry()


def away_from_zero(rng, shape):
    x = rng.uniform(0.2, 2.0, shape)
    return x * rng.choice([-1.0, 1.0], shape)


def positive(rng, shape):
    return rng.uniform(0.3, 2.0, shape)


def labels(rng, n, classes):
    return rng.integers(0, classes, n)


# op, attributes, a function of rng giving the inputs (floats, then non-differentiable)
CASES = [
    ("add", {}, lambda r: [r.normal(size=(3, 4)), r.normal(size=(4,))]),
    ("add", {}, lambda r: [r.normal(size=(2, 1, 3)), r.normal(size=(4, 1)), r.normal(size=())]),
    ("sub", {}, lambda r: [r.normal(size=(3, 1)), r.normal(size=(1, 5))]),
    ("mul", {}, lambda r: [r.normal(size=(3, 4)), r.normal(size=(3, 1))]),
    ("mul", {}, lambda r: [r.normal(size=()), r.normal(size=(2, 3))]),
    ("div", {}, lambda r: [r.normal(size=(2, 3)), away_from_zero(r, (3,))]),
    ("neg", {}, lambda r: [r.normal(size=(4,))]),
    ("pow", {"exponent": 3.0}, lambda r: [r.normal(size=(2, 3))]),
    ("pow", {"exponent": -1.5}, lambda r: [positive(r, (5,))]),
    ("exp", {}, lambda r: [r.normal(size=(2, 3))]),
    ("log", {}, lambda r: [positive(r, (2, 3))]),
    ("sqrt", {}, lambda r: [positive(r, (4,))]),
    ("square", {}, lambda r: [r.normal(size=(3, 2))]),
    ("reciprocal", {}, lambda r: [away_from_zero(r, (4,))]),
    ("abs", {}, lambda r: [away_from_zero(r, (3, 3))]),
    ("relu", {}, lambda r: [away_from_zero(r, (3, 4))]),
    ("leaky_relu", {}, lambda r: [away_from_zero(r, (6,))]),
    ("leaky_relu", {"slope": 0.3}, lambda r: [away_from_zero(r, (2, 3))]),
    ("sigmoid", {}, lambda r: [r.normal(size=(2, 3)) * 3]),
    ("tanh", {}, lambda r: [r.normal(size=(5,))]),
    ("max", {}, lambda r: [r.normal(size=(3, 4)), r.normal(size=(4,)) + 0.05]),
    ("min", {}, lambda r: [r.normal(size=(3, 1)), r.normal(size=(1, 4)) + 0.05]),
    ("sum", {}, lambda r: [r.normal(size=(3, 4))]),
    ("sum", {"axis": 0}, lambda r: [r.normal(size=(3, 4))]),
    ("sum", {"axis": [0, -1], "keepdims": True}, lambda r: [r.normal(size=(2, 3, 4))]),
    ("mean", {}, lambda r: [r.normal(size=(3, 4))]),
    ("mean", {"axis": -1}, lambda r: [r.normal(size=(2, 5))]),
    ("mean", {"axis": 1, "keepdims": True}, lambda r: [r.normal(size=(2, 3, 2))]),
    ("matmul", {}, lambda r: [r.normal(size=(3, 4)), r.normal(size=(4, 2))]),
    ("matmul", {}, lambda r: [r.normal(size=(4,)), r.normal(size=(4, 2))]),
    ("matmul", {}, lambda r: [r.normal(size=(3, 4)), r.normal(size=(4,))]),
    ("matmul", {}, lambda r: [r.normal(size=(4,)), r.normal(size=(4,))]),
    ("matmul", {}, lambda r: [r.normal(size=(2, 3, 4)), r.normal(size=(4, 5))]),
    ("matmul", {}, lambda r: [r.normal(size=(2, 1, 3, 4)), r.normal(size=(3, 4, 2))]),
    ("matmul", {}, lambda r: [r.normal(size=(4,)), r.normal(size=(2, 4, 3))]),
    ("transpose", {}, lambda r: [r.normal(size=(2, 3, 4))]),
    ("transpose", {"axes": [1, 0, 2]}, lambda r: [r.normal(size=(2, 3, 4))]),
    ("transpose", {"axes": [-1, 0, 1]}, lambda r: [r.normal(size=(2, 3, 4))]),
    ("reshape", {"shape": [3, -1]}, lambda r: [r.normal(size=(2, 6))]),
    ("softmax", {}, lambda r: [r.normal(size=(3, 5))]),
    ("softmax", {"axis": 0}, lambda r: [r.normal(size=(3, 5))]),
    ("log_softmax", {}, lambda r: [r.normal(size=(2, 4))]),
    ("log_softmax", {"axis": 0}, lambda r: [r.normal(size=(4, 2))]),
    ("cross_entropy", {}, lambda r: [r.normal(size=(5, 4)), labels(r, 5, 4)]),
    ("cross_entropy", {}, lambda r: [r.normal(size=(4,)), np.int64(2)]),
    ("svm_loss", {}, lambda r: [r.normal(size=(6, 4)), labels(r, 6, 4)]),
    ("svm_loss", {"margin": 0.5}, lambda r: [r.normal(size=(5,)), np.int64(1)]),
    ("l2", {}, lambda r: [r.normal(size=(3, 4))]),
]


def _case_id(case):
    op, attrs, _ = case
    return op + ("-" + "-".join(f"{k}{v}" for k, v in attrs.items()) if attrs else "")


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward_matches_central_differences(case, seed):
    op, attrs, make = case
    rng = np.random.default_rng(seed)
    gate = REG[op].cls.model_validate(attrs)
    inputs = [np.asarray(v) for v in make(rng)]
    out = np.asarray(gate.forward(*inputs))
    assert out.shape == gate.shape(*[x.shape for x in inputs])
    upstream = rng.normal(size=out.shape)
    grads = gate.backward(upstream, out, *inputs)
    assert len(grads) == len(inputs)
    for k, x in enumerate(inputs):
        if x.dtype.kind != "f":
            assert grads[k] is None
            continue

        def projected(xk, k=k):
            args = list(inputs)
            args[k] = xk
            return float(np.sum(upstream * gate.forward(*args)))

        expected = central_difference(projected, x)
        got = sum_to(np.asarray(grads[k], dtype=np.float64), x.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8, err_msg=f"{op} input {k}")


def test_every_builtin_gate_is_covered():
    covered = {op for op, _, _ in CASES}
    builtin = {g.op for g in REG if g.plugin == "graphgrad.builtin.gates"}
    assert builtin == covered


def run_gate(op, *inputs, **attrs):
    gate = REG[op].cls.model_validate(attrs)
    inputs = [np.asarray(x, dtype=np.float64) for x in inputs]
    out = np.asarray(gate.forward(*inputs))
    return out, gate.backward(np.ones_like(out), out, *inputs)


def test_max_tie_splits_the_gradient():
    out, (ga, gb) = run_gate("max", [1.0, 2.0, 3.0], [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(out, [1, 5, 3])
    np.testing.assert_array_equal(ga, [0.5, 0, 0.5])
    np.testing.assert_array_equal(gb, [0.5, 1, 0.5])


def test_min_tie_splits_the_gradient():
    _, (ga, gb) = run_gate("min", [0.0, -1.0], [0.0, 4.0])
    np.testing.assert_array_equal(ga, [0.5, 1])
    np.testing.assert_array_equal(gb, [0.5, 0])


def test_max_with_zero_differs_from_relu_at_zero():
    _, (gmax, _) = run_gate("max", [0.0], 0.0)
    _, (grelu,) = run_gate("relu", [0.0])
    assert gmax[0] == 0.5 and grelu[0] == 0.0


def test_abs_and_leaky_relu_at_zero():
    _, (gabs,) = run_gate("abs", [0.0, -2.0, 3.0])
    np.testing.assert_array_equal(gabs, [0, -1, 1])
    _, (gleaky,) = run_gate("leaky_relu", [0.0, 2.0], slope=0.2)
    np.testing.assert_array_equal(gleaky, [0.2, 1])


def test_svm_term_exactly_at_zero_has_no_gradient():
    # s_j - s_y + margin = 0 for j = 1: that term is at its kink and contributes 0
    scores = np.array([[2.0, 1.0, -5.0]])
    gate = REG["svm_loss"].cls()
    out = gate.forward(scores, np.array([0]))
    grad, none = gate.backward(np.float64(1.0), out, scores, np.array([0]))
    assert out == 0.0 and none is None
    np.testing.assert_array_equal(grad, [[0, 0, 0]])


def test_svm_loss_matches_the_lecture_formula():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    y = np.array([0, 1, 2])
    # CS231n's worked example: losses 2.9, 0 and 12.9, mean 5.27
    out = REG["svm_loss"].cls().forward(scores, y)
    assert out == pytest.approx((2.9 + 0 + 12.9) / 3)


def test_softmax_is_stable_for_huge_scores():
    gate = REG["softmax"].cls()
    out = gate.forward(np.array([1000.0, 1001.0, 1002.0]))
    e = np.exp([-2.0, -1.0, 0.0])
    np.testing.assert_allclose(out, e / e.sum())
    logp = REG["log_softmax"].cls().forward(np.array([-1000.0, 1000.0]))
    np.testing.assert_allclose(logp, [-2000.0, 0.0])
    ce = REG["cross_entropy"].cls().forward(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert ce == pytest.approx(2000.0)


def test_sigmoid_is_stable_and_exact_in_the_tails():
    out = REG["sigmoid"].cls().forward(np.array([-800.0, -40.0, 0.0, 40.0, 800.0]))
    assert np.all(np.isfinite(out))
    assert out[1] == pytest.approx(np.exp(-40.0), rel=1e-12)
    np.testing.assert_array_equal(out[[0, 2, 4]], [0.0, 0.5, 1.0])


@pytest.mark.parametrize(
    ("op", "attrs", "shapes", "message"),
    [
        ("add", {}, [(3,), (4,)], "cannot be broadcast"),
        ("matmul", {}, [(2, 3), (4, 5)], "inner dimensions"),
        ("matmul", {}, [(), (3,)], "scalar"),
        ("sum", {"axis": 2}, [(3, 4)], "out of range"),
        ("sum", {"axis": [0, 0]}, [(3, 4)], "repeats"),
        ("transpose", {"axes": [0, 0]}, [(3, 4)], "permutation"),
        ("reshape", {"shape": [5, -1]}, [(3, 4)], "cannot reshape"),
        ("reshape", {"shape": [-1, -1]}, [(3, 4)], "one -1"),
        ("svm_loss", {}, [(3, 4), (2,)], "labels must have shape"),
        ("cross_entropy", {}, [(2, 3, 4), (2,)], "scores must be"),
        ("softmax", {"axis": 3}, [(2, 3)], "out of range"),
    ],
)
def test_shape_rules_refuse_what_numpy_would(op, attrs, shapes, message):
    gate = REG[op].cls.model_validate(attrs)
    with pytest.raises(ValueError, match=message):
        gate.shape(*shapes)
