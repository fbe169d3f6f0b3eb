"""The lecture's numbers, worked by hand there, from the shipped graph files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import graphgrad
from tests.conftest import GRAPHS, central_difference, graphgrad_cli


def test_simple_by_hand():
    result = graphgrad.load(GRAPHS / "simple.yaml").run()
    # q = x + y = 3, f = q z = -12; df/dz = q = 3; df/dq = z = -4 flows to x and y.
    assert result.value == -12
    assert {k: float(v) for k, v in result.grads.items()} == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert float(result.node_grads["q"]) == -4.0
    assert float(result.values["q"]) == 3.0


def test_simple_from_the_command_line():
    proc = graphgrad_cli("run", "graphs/simple.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "f = -12" in proc.stdout
    rows = {line.split()[0]: line.split()[-1] for line in proc.stdout.splitlines()[3:]}
    assert rows == {"x": "-4", "y": "-4", "z": "3"}


@pytest.mark.parametrize("name", ["sigmoid_neuron.yaml", "sigmoid_gate.yaml"])
def test_sigmoid_neuron_matches_the_lecture(name):
    proc = graphgrad_cli("run", f"graphs/{name}", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # the lecture's rounded figures
    assert round(out["value"], 2) == 0.73
    lecture = {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert {k: round(v, 2) for k, v in out["grads"].items()} == lecture
    # and exactly: sigmoid(1) and its derivative s (1 - s), times the other factor
    s = 1 / (1 + math.exp(-1))
    ds = s * (1 - s)
    exact = {"w0": -1 * ds, "x0": 2 * ds, "w1": -2 * ds, "x1": -3 * ds, "w2": ds}
    assert out["value"] == pytest.approx(s, rel=1e-15)
    for k, v in exact.items():
        assert out["grads"][k] == pytest.approx(v, rel=1e-14)


def test_gate_patterns():
    r = graphgrad.load(GRAPHS / "gate_patterns.yaml").run()
    # add distributes the upstream 2, mul swaps (x gets y*2, y gets x*2), max routes to z
    assert {k: float(v) for k, v in r.grads.items()} == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}


def test_copy_gate_sums_at_fan_out():
    r = graphgrad.load(GRAPHS / "copy_gate.yaml").run()
    assert float(r.grads["x"]) == -4 + 2 * 3
    assert float(r.grads["y"]) == 3


def numpy_two_layer(X, y, W1, W2, reg, loss, b1=None, b2=None):
    """The lecture's net written by hand in NumPy, forward and backward."""
    N = X.shape[0]
    h = X @ W1 + (0 if b1 is None else b1)
    a = np.maximum(h, 0)
    s = a @ W2 + (0 if b2 is None else b2)
    rows = np.arange(N)
    if loss == "svm":
        margins = np.maximum(0, s - s[rows, y][:, None] + 1)
        margins[rows, y] = 0
        data = margins.sum() / N
        ds = (margins > 0).astype(float)
        ds[rows, y] = -ds.sum(axis=1)
        ds /= N
    else:
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        data = -np.log(p[rows, y]).mean()
        ds = p.copy()
        ds[rows, y] -= 1
        ds /= N
    L = data + reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dW2 = a.T @ ds + 2 * reg * W2
    da = ds @ W2.T
    dh = da * (h > 0)
    dW1 = X.T @ dh + 2 * reg * W1
    grads = {"X": dh @ W1.T, "W1": dW1, "W2": dW2, "b1": dh.sum(0), "b2": ds.sum(0)}
    return L, grads


@pytest.mark.parametrize(("name", "loss"), [("two_layer_svm", "svm"), ("two_layer_softmax", "ce")])
def test_two_layer_net_matches_hand_written_numpy(name, loss):
    graph = graphgrad.load(GRAPHS / f"{name}.yaml")
    r = graph.run()
    v = r.values
    L, grads = numpy_two_layer(v["X"], v["y"], v["W1"], v["W2"], 0.001, loss, v.get("b1"), v.get("b2"))
    assert r.value == pytest.approx(L, rel=1e-12)
    assert set(r.grads) == set(grads) & set(r.grads)
    for k, g in r.grads.items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_two_layer_gradient_by_central_differences():
    graph = graphgrad.load(GRAPHS / "two_layer_softmax.yaml")
    W2 = graph.definition.inputs["W2"].value
    analytic = graph.run().grads["W2"]
    numeric = central_difference(lambda w: float(graph.run(inputs={"W2": w}).value), W2)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("path", sorted(GRAPHS.rglob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_graph_meets_its_expectations(path):
    proc = graphgrad_cli("run", path, "--json")
    assert proc.returncode == 0, proc.stderr
